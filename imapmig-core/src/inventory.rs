//! Inventory before copying: sizes per folder and mailbox (from STATUS,
//! including RFC 8438 `SIZE`, or summed RFC822.SIZE), whale detection
//! against a per-seat or pooled destination quota, outliers among the
//! mailboxes, and the transfer time each would take.

use std::fmt;
use std::time::Duration;

use crate::Error;
use crate::ids::{Uid, UidValidity};
use crate::observation::FolderStatus;
use crate::throttle::Limits;

/// The status items of a STATUS response (RFC 3501 §7.2.4, RFC 9051
/// §7.2.4, RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ, RFC 9208
/// DELETED-STORAGE). Items the server did not send are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct StatusItems {
    /// `MESSAGES`
    pub messages: Option<u32>,
    /// `RECENT` (IMAP4rev1 only)
    pub recent: Option<u32>,
    /// `UIDNEXT`
    pub uid_next: Option<Uid>,
    /// `UIDVALIDITY`
    pub uid_validity: Option<UidValidity>,
    /// `UNSEEN`
    pub unseen: Option<u32>,
    /// `SIZE` (RFC 8438): total octets of the mailbox's messages.
    pub size: Option<u64>,
    /// `HIGHESTMODSEQ` (RFC 7162); 0 when the mailbox has no mod-sequences.
    pub highest_modseq: Option<u64>,
    /// `DELETED` (RFC 9051)
    pub deleted: Option<u32>,
    /// `DELETED-STORAGE` (RFC 9208)
    pub deleted_storage: Option<u64>,
}

impl StatusItems {
    /// A [`FolderStatus`] for planning, when UIDVALIDITY and MESSAGES are
    /// present.
    pub fn folder_status(&self) -> Option<FolderStatus> {
        Some(FolderStatus {
            uid_validity: self.uid_validity?,
            uid_next: self.uid_next,
            highest_modseq: self
                .highest_modseq
                .and_then(|m| crate::ids::ModSeq::try_from(m).ok()),
            messages: self.messages?,
        })
    }
}

/// A parsed `* STATUS` response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StatusResponse {
    /// The mailbox name as sent (modified UTF-7, or UTF-8 under
    /// UTF8=ACCEPT), with quoting and escapes removed. Raw bytes: decoding
    /// is the job of a mailbox-name crate.
    pub mailbox: Vec<u8>,
    /// The status items.
    pub items: StatusItems,
}

/// Longest input [`parse_status`] accepts (a STATUS line is short; a
/// mailbox literal may be long, but not this long).
pub const MAX_STATUS_LEN: usize = 64 * 1024;

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> Error {
        Error::StatusSyntax {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), Error> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), Error> {
        let end = self.pos + word.len();
        match self.input.get(self.pos..end) {
            Some(got) if got.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos = end;
                Ok(())
            }
            _ => Err(self.err("expected \"* STATUS \"")),
        }
    }

    /// RFC 3501 `atom`-like run: bytes that are not specials.
    fn atom(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7f || b"(){%*\"\\".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// RFC 3501 `astring` for the mailbox (`quoted`, `literal` or atom
    /// including `]`, as ASTRING-CHAR allows). 8-bit bytes are accepted in
    /// atoms and quoted strings (UTF8=ACCEPT, RFC 6855).
    fn mailbox(&mut self) -> Result<Vec<u8>, Error> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => {
                let atom = self.atom();
                if atom.is_empty() {
                    return Err(self.err("expected a mailbox name"));
                }
                Ok(atom.to_vec())
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, Error> {
        self.expect(b'"', "expected '\"'")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(self.err("bad escape in quoted string")),
                    }
                }
                Some(b'\r' | b'\n' | 0) => {
                    return Err(self.err("CR, LF or NUL in quoted string"));
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, Error> {
        self.expect(b'{', "expected '{'")?;
        let len = self.number()?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}', "expected '}'")?;
        self.expect(b'\r', "expected CRLF after literal length")?;
        self.expect(b'\n', "expected CRLF after literal length")?;
        let len = usize::try_from(len).map_err(|_| self.err("literal too long"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.input.len())
            .ok_or_else(|| self.err("literal longer than the input"))?;
        let bytes = self.input[self.pos..end].to_vec();
        if bytes.contains(&0) {
            return Err(self.err("NUL in literal"));
        }
        self.pos = end;
        Ok(bytes)
    }

    fn number(&mut self) -> Result<u64, Error> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or(Error::StatusSyntax {
                    offset: start,
                    reason: "number too large",
                })?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a number"));
        }
        Ok(n)
    }

    fn number32(&mut self) -> Result<u32, Error> {
        let at = self.pos;
        let n = self.number()?;
        u32::try_from(n).map_err(|_| Error::StatusSyntax {
            offset: at,
            reason: "number over 2^32-1",
        })
    }

    /// Skips the value of an unknown status item: a number, an atom, NIL,
    /// a quoted string or a parenthesised list (depth-limited).
    fn skip_value(&mut self, depth: usize) -> Result<(), Error> {
        if depth > 8 {
            return Err(self.err("value nested too deeply"));
        }
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        Some(b')') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        Some(b' ') => self.pos += 1,
                        None => return Err(self.err("unterminated list")),
                        _ => self.skip_value(depth + 1)?,
                    }
                }
            }
            Some(b'"') => self.quoted().map(drop),
            _ => {
                if self.atom().is_empty() {
                    Err(self.err("expected a status item value"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Parses one `* STATUS` response: `* STATUS <mailbox> (<item> <value> ...)`
/// with optional trailing spaces and CRLF.
///
/// Unlike imap-proto 0.17 it understands RFC 8438 `SIZE` and
/// `DELETED-STORAGE`, skips unknown items instead of failing, and keeps
/// the mailbox name's bytes exactly. Input over [`MAX_STATUS_LEN`] bytes is
/// refused. Errors carry the byte offset.
///
/// ```
/// use imapmig_core::inventory::parse_status;
/// let r = parse_status(b"* STATUS \"Sent Items\" (MESSAGES 231 SIZE 44040320 UIDVALIDITY 1)\r\n")?;
/// assert_eq!(r.mailbox, b"Sent Items");
/// assert_eq!((r.items.messages, r.items.size), (Some(231), Some(44_040_320)));
/// # Ok::<(), imapmig_core::Error>(())
/// ```
pub fn parse_status(input: &[u8]) -> Result<StatusResponse, Error> {
    if input.len() > MAX_STATUS_LEN {
        return Err(Error::StatusSyntax {
            offset: MAX_STATUS_LEN,
            reason: "response longer than the limit",
        });
    }
    let mut p = Parser { input, pos: 0 };
    p.keyword("* STATUS ")?;
    let mailbox = p.mailbox()?;
    p.expect(b' ', "expected ' ' after the mailbox name")?;
    p.expect(b'(', "expected '('")?;
    let mut items = StatusItems::default();
    let mut first = true;
    loop {
        if p.peek() == Some(b')') {
            p.pos += 1;
            break;
        }
        if !first {
            p.expect(b' ', "expected ' ' or ')'")?;
        }
        first = false;
        let name_at = p.pos;
        let name = p.atom().to_ascii_uppercase();
        if name.is_empty() {
            return Err(p.err("expected a status item name"));
        }
        p.expect(b' ', "expected ' ' after the item name")?;
        let seen = match name.as_slice() {
            b"MESSAGES" => items.messages.replace(p.number32()?).is_some(),
            b"RECENT" => items.recent.replace(p.number32()?).is_some(),
            b"UNSEEN" => items.unseen.replace(p.number32()?).is_some(),
            b"DELETED" => items.deleted.replace(p.number32()?).is_some(),
            b"SIZE" => items.size.replace(p.number()?).is_some(),
            b"DELETED-STORAGE" => items.deleted_storage.replace(p.number()?).is_some(),
            b"HIGHESTMODSEQ" => items.highest_modseq.replace(p.number()?).is_some(),
            b"UIDNEXT" => {
                let at = p.pos;
                let uid = Uid::try_from(p.number32()?).map_err(|_| Error::StatusSyntax {
                    offset: at,
                    reason: "UIDNEXT must not be zero",
                })?;
                items.uid_next.replace(uid).is_some()
            }
            b"UIDVALIDITY" => {
                let at = p.pos;
                let v = UidValidity::try_from(p.number32()?).map_err(|_| Error::StatusSyntax {
                    offset: at,
                    reason: "UIDVALIDITY must not be zero",
                })?;
                items.uid_validity.replace(v).is_some()
            }
            _ => {
                p.skip_value(0)?;
                false
            }
        };
        if seen {
            return Err(Error::StatusSyntax {
                offset: name_at,
                reason: "status item repeated",
            });
        }
    }
    while p.peek() == Some(b' ') {
        p.pos += 1;
    }
    if p.peek() == Some(b'\r') {
        p.pos += 1;
    }
    if p.peek() == Some(b'\n') {
        p.pos += 1;
    }
    if p.pos != input.len() {
        return Err(p.err("trailing bytes after the status list"));
    }
    Ok(StatusResponse { mailbox, items })
}

/// Size of one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FolderSize {
    /// Folder name (decoded, for display).
    pub name: String,
    /// Number of messages.
    pub messages: u64,
    /// Total octets.
    pub bytes: u64,
}

impl FolderSize {
    /// From STATUS items, when the server sent `MESSAGES` and `SIZE`.
    pub fn from_status(name: impl Into<String>, items: &StatusItems) -> Option<Self> {
        Some(FolderSize {
            name: name.into(),
            messages: u64::from(items.messages?),
            bytes: items.size?,
        })
    }

    /// From the RFC822.SIZE of each message (when SIZE is not offered).
    pub fn from_message_sizes(
        name: impl Into<String>,
        sizes: impl IntoIterator<Item = u64>,
    ) -> Self {
        let (messages, bytes) = sizes
            .into_iter()
            .fold((0u64, 0u64), |(n, b), s| (n + 1, b.saturating_add(s)));
        FolderSize {
            name: name.into(),
            messages,
            bytes,
        }
    }
}

/// One mailbox (account) to migrate, with its folders.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MailboxInventory {
    /// The mailbox, e.g. the user's address.
    pub mailbox: String,
    /// Its folders.
    pub folders: Vec<FolderSize>,
}

impl MailboxInventory {
    /// Total messages.
    pub fn messages(&self) -> u64 {
        self.folders.iter().map(|f| f.messages).sum()
    }

    /// Total octets.
    pub fn bytes(&self) -> u64 {
        self.folders
            .iter()
            .fold(0u64, |b, f| b.saturating_add(f.bytes))
    }
}

/// The destination's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Quota {
    /// Each mailbox gets this many octets.
    PerSeat(u64),
    /// All mailboxes share this many octets.
    Pooled(u64),
    /// No quota.
    Unlimited,
}

/// How the inventory is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InventoryPolicy {
    /// The destination quota.
    pub quota: Quota,
    /// A mailbox this many times the median size (or more) is an outlier
    /// (default 5).
    pub outlier_factor: f64,
    /// ... and only when it is at least this big (default 1 GB).
    pub outlier_min_bytes: u64,
    /// Limits used for the transfer-time estimate.
    pub limits: Limits,
}

impl Default for InventoryPolicy {
    fn default() -> Self {
        InventoryPolicy {
            quota: Quota::Unlimited,
            outlier_factor: 5.0,
            outlier_min_bytes: 1_000_000_000,
            limits: Limits::default(),
        }
    }
}

/// The verdict on one mailbox, before any copying.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Verdict {
    /// Fits.
    Fits,
    /// Fits, but far larger than its peers: expect it to finish last.
    Outlier {
        /// Its size over the median mailbox size.
        times_median: f64,
    },
    /// Does not fit: refuse to start it.
    Whale {
        /// Octets it needs.
        needed: u64,
        /// Octets available to it.
        available: u64,
    },
}

impl Verdict {
    /// True for a whale (the plan must refuse it).
    pub fn refused(&self) -> bool {
        matches!(self, Verdict::Whale { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Fits => f.write_str("fits"),
            Verdict::Outlier { times_median } => {
                write!(f, "outlier ({times_median:.1}x the median mailbox)")
            }
            Verdict::Whale { needed, available } => {
                write!(f, "whale: needs {needed} bytes, {available} available")
            }
        }
    }
}

/// The judgement of one mailbox.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MailboxReport {
    /// The mailbox.
    pub mailbox: String,
    /// Its messages.
    pub messages: u64,
    /// Its octets.
    pub bytes: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// How long copying it takes under the policy's limits (`None`: never,
    /// e.g. a zero daily budget).
    pub transfer_time: Option<Duration>,
}

/// The judgement of a whole inventory.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InventoryReport {
    /// One report per mailbox, in input order.
    pub mailboxes: Vec<MailboxReport>,
    /// Total octets.
    pub total_bytes: u64,
    /// Total messages.
    pub total_messages: u64,
}

impl InventoryReport {
    /// True when any mailbox is refused.
    pub fn refused(&self) -> bool {
        self.mailboxes.iter().any(|m| m.verdict.refused())
    }
}

/// Judges every mailbox against the quota before copying starts.
///
/// Per seat, a mailbox larger than the seat is a whale. Pooled, mailboxes
/// are admitted smallest first (ties by name) while the pool has room; the
/// ones that would overflow it are whales, so the verdict says which
/// mailboxes to move elsewhere. Outliers (at least `outlier_factor` times
/// the median of three or more mailboxes) are flagged but not refused.
pub fn assess(mailboxes: &[MailboxInventory], policy: &InventoryPolicy) -> InventoryReport {
    let sizes: Vec<u64> = mailboxes.iter().map(MailboxInventory::bytes).collect();
    let median = if sizes.len() >= 3 {
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        Some(sorted[sorted.len() / 2])
    } else {
        None
    };
    let mut whales: Vec<Option<(u64, u64)>> = vec![None; mailboxes.len()];
    match policy.quota {
        Quota::Unlimited => {}
        Quota::PerSeat(seat) => {
            for (i, bytes) in sizes.iter().enumerate() {
                if *bytes > seat {
                    whales[i] = Some((*bytes, seat));
                }
            }
        }
        Quota::Pooled(pool) => {
            let mut order: Vec<usize> = (0..mailboxes.len()).collect();
            order.sort_by(|a, b| {
                sizes[*a]
                    .cmp(&sizes[*b])
                    .then_with(|| mailboxes[*a].mailbox.cmp(&mailboxes[*b].mailbox))
            });
            let mut left = pool;
            for i in order {
                if sizes[i] <= left {
                    left -= sizes[i];
                } else {
                    whales[i] = Some((sizes[i], left));
                }
            }
        }
    }
    let reports = mailboxes
        .iter()
        .zip(&sizes)
        .zip(whales)
        .map(|((m, bytes), whale)| {
            let verdict = match (whale, median) {
                (Some((needed, available)), _) => Verdict::Whale { needed, available },
                (None, Some(median))
                    if *bytes >= policy.outlier_min_bytes
                        && *bytes as f64 >= policy.outlier_factor * median.max(1) as f64 =>
                {
                    Verdict::Outlier {
                        times_median: *bytes as f64 / median.max(1) as f64,
                    }
                }
                _ => Verdict::Fits,
            };
            let messages = m.messages();
            MailboxReport {
                mailbox: m.mailbox.clone(),
                messages,
                bytes: *bytes,
                verdict,
                transfer_time: policy.limits.transfer_time(*bytes, messages, u64::MAX),
            }
        })
        .collect();
    InventoryReport {
        mailboxes: reports,
        total_bytes: sizes.iter().fold(0u64, |a, b| a.saturating_add(*b)),
        total_messages: mailboxes.iter().map(MailboxInventory::messages).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        /// (input, mailbox, MESSAGES, SIZE)
        type Case = (&'static [u8], &'static [u8], Option<u32>, Option<u64>);
        let ok: &[Case] = &[
            (
                b"* STATUS INBOX (MESSAGES 17 SIZE 123456)",
                b"INBOX",
                Some(17),
                Some(123_456),
            ),
            (
                b"* STATUS \"Sent Items\" (MESSAGES 0)\r\n",
                b"Sent Items",
                Some(0),
                None,
            ),
            (
                b"* STATUS \"a \\\"q\\\" \\\\ b\" (SIZE 1)",
                b"a \"q\" \\ b",
                None,
                Some(1),
            ),
            (
                b"* STATUS {5}\r\nIN)BO (MESSAGES 3)\r\n",
                b"IN)BO",
                Some(3),
                None,
            ),
            (
                b"* STATUS &AMQ-pfel (MESSAGES 1 UNKNOWN-ITEM (a (b c) \"d\") X NIL)",
                b"&AMQ-pfel",
                Some(1),
                None,
            ),
            (
                b"* status [Gmail]/All\xc3\xa9 (messages 2 size 18446744073709551615) ",
                b"[Gmail]/All\xc3\xa9",
                Some(2),
                Some(u64::MAX),
            ),
            (b"* STATUS blurdybloop ()", b"blurdybloop", None, None),
        ];
        for (input, mailbox, messages, size) in ok {
            let r = parse_status(input)
                .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(input)));
            assert_eq!(r.mailbox, *mailbox);
            assert_eq!((r.items.messages, r.items.size), (*messages, *size));
        }
        let full = parse_status(
            b"* STATUS INBOX (MESSAGES 231 RECENT 1 UIDNEXT 44292 UIDVALIDITY 1384 UNSEEN 3 HIGHESTMODSEQ 7011231777 DELETED 2 DELETED-STORAGE 999 SIZE 5)",
        )
        .unwrap();
        let status = full.items.folder_status().unwrap();
        assert_eq!(status.uid_validity.get(), 1384);
        assert_eq!(status.uid_next.map(Uid::get), Some(44292));
        assert_eq!(status.highest_modseq.map(|m| m.get()), Some(7_011_231_777));
        assert_eq!(
            (full.items.recent, full.items.unseen, full.items.deleted),
            (Some(1), Some(3), Some(2))
        );
        assert_eq!(full.items.deleted_storage, Some(999));
    }

    #[test]
    fn status_errors_have_offsets() {
        let bad: &[(&[u8], usize)] = &[
            (b"", 0),
            (b"* LIST () \"/\" INBOX", 0),
            (b"* STATUS ", 9),
            (b"* STATUS INBOX", 14),
            (b"* STATUS INBOX (MESSAGES)", 24),
            (b"* STATUS INBOX (MESSAGES x)", 25),
            (b"* STATUS INBOX (MESSAGES 4294967296)", 25),
            (b"* STATUS INBOX (SIZE 18446744073709551616)", 21),
            (b"* STATUS INBOX (UIDVALIDITY 0)", 28),
            (b"* STATUS INBOX (MESSAGES 1 MESSAGES 2)", 27),
            (b"* STATUS INBOX (MESSAGES 1) junk", 28),
            (b"* STATUS \"unterminated (MESSAGES 1)", 35),
            (b"* STATUS {99}\r\nshort (MESSAGES 1)", 15),
            (b"* STATUS {3}\nabc (MESSAGES 1)", 12),
            (b"* STATUS INBOX (X ((((((((((1))))))))))", 27),
        ];
        for (input, offset) in bad {
            match parse_status(input) {
                Err(Error::StatusSyntax { offset: got, .. }) => {
                    assert_eq!(got, *offset, "{}", String::from_utf8_lossy(input))
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(input)),
            }
        }
        let long = vec![b'a'; MAX_STATUS_LEN + 1];
        assert!(parse_status(&long).is_err());
    }

    fn mailbox(name: &str, gb: u64) -> MailboxInventory {
        MailboxInventory {
            mailbox: name.into(),
            folders: vec![
                FolderSize {
                    name: "INBOX".into(),
                    messages: gb * 10,
                    bytes: gb * 1_000_000_000 / 2,
                },
                FolderSize::from_message_sizes(
                    "Sent",
                    std::iter::repeat_n(1_000_000_000 / 2 / 10, (gb * 10) as usize),
                ),
            ],
        }
    }

    #[test]
    fn whales_and_outliers() {
        let gb = 1_000_000_000;
        let boxes = [
            mailbox("a", 2),
            mailbox("b", 3),
            mailbox("c", 4),
            mailbox("d", 60),
        ];
        assert_eq!(boxes[3].bytes(), 60 * gb);
        assert_eq!(boxes[3].messages(), 1200);
        let per_seat = assess(
            &boxes,
            &InventoryPolicy {
                quota: Quota::PerSeat(50 * gb),
                ..InventoryPolicy::default()
            },
        );
        let verdicts: Vec<_> = per_seat.mailboxes.iter().map(|m| m.verdict).collect();
        assert_eq!(verdicts[..3], [Verdict::Fits; 3]);
        assert_eq!(
            verdicts[3],
            Verdict::Whale {
                needed: 60 * gb,
                available: 50 * gb
            }
        );
        assert!(per_seat.refused());
        assert_eq!(per_seat.total_bytes, 69 * gb);

        let unlimited = assess(&boxes, &InventoryPolicy::default());
        assert_eq!(
            unlimited.mailboxes[3].verdict,
            Verdict::Outlier { times_median: 15.0 }
        );
        assert!(!unlimited.refused());

        // Pooled 10 GB: a, b and c fit (9 GB), d does not; with 70 GB all fit.
        let pooled = assess(
            &boxes,
            &InventoryPolicy {
                quota: Quota::Pooled(10 * gb),
                ..InventoryPolicy::default()
            },
        );
        assert_eq!(
            pooled.mailboxes[3].verdict,
            Verdict::Whale {
                needed: 60 * gb,
                available: gb
            }
        );
        assert!(
            pooled.mailboxes[..3]
                .iter()
                .all(|m| m.verdict == Verdict::Fits)
        );
        let pooled = assess(
            &boxes,
            &InventoryPolicy {
                quota: Quota::Pooled(7 * gb),
                ..InventoryPolicy::default()
            },
        );
        let refused: Vec<_> = pooled
            .mailboxes
            .iter()
            .filter(|m| m.verdict.refused())
            .map(|m| m.mailbox.as_str())
            .collect();
        assert_eq!(refused, ["c", "d"]);

        let gmail = assess(
            &boxes,
            &InventoryPolicy {
                limits: Limits::GMAIL_SOURCE,
                ..InventoryPolicy::default()
            },
        );
        // 60 GB at 2.5 GB a day: 23 more windows after the first.
        assert_eq!(
            gmail.mailboxes[3].transfer_time,
            Some(crate::throttle::DAY * 23)
        );
        assert_eq!(gmail.mailboxes[0].transfer_time, Some(Duration::ZERO));
        assert_eq!(
            Verdict::Whale {
                needed: 2,
                available: 1
            }
            .to_string(),
            "whale: needs 2 bytes, 1 available"
        );
    }
}
