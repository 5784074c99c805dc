//! Exchange LegacyExchangeDN recovery: IMCEAEX addresses, X.500 DNs, `X500:` proxies.
//!
//! When a mailbox moves to a new Exchange organisation (or to Microsoft 365),
//! its old LegacyExchangeDN disappears, and replies to old threads, whose
//! cached recipients still carry it, bounce with an `IMCEAEX-…` address. The
//! fix is to add the old DN to the new mailbox as an `X500:` proxy address
//! (`Set-Mailbox -EmailAddresses @{add="X500:/o=…"}`). This module recovers
//! those DNs from mail:
//!
//! * [`decode_imceaex`] decodes one IMCEA-encapsulated address
//!   (MS-OXCMAIL §2.1.3.1.8): `IMCEA`, the address type (`EX`), `-`, the
//!   encoded DN, `@domain`. In the encoded DN `_` stands for `/` and `+XX`
//!   for the octet `0xXX` (a literal `_` travels as `+5F`); decoding is one
//!   left-to-right pass, so an escaped `_` is never turned into `/`.
//! * [`scan`] finds IMCEAEX addresses anywhere in a message (address
//!   headers, and the bodies of non-delivery reports, where they appear most)
//!   and raw X.500 DNs (`/O=…/OU=…/CN=…`) in address header fields.
//! * [`Recovery`] collects them over many messages, merges spellings that
//!   differ only in case (Exchange compares DNs case-insensitively), counts
//!   the messages each was seen in, and groups them by identity.
//!
//! ```
//! use imapmig_mime::exchange;
//!
//! let dn = exchange::decode_imceaex(
//!     "IMCEAEX-_O=ORG_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP+20+28FYDIBOHF23SPDLT+29_CN=RECIPIENTS_CN=jsmith@example.com",
//! )?;
//! assert_eq!(dn.as_str(), "/O=ORG/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=jsmith");
//! assert_eq!(dn.to_x500(), format!("X500:{dn}"));
//! assert_eq!(dn.alias(), "jsmith");
//! # Ok::<(), imapmig_mime::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use memchr::memmem;

use crate::Error;
use crate::header::{self, LineKind};

/// Longest LegacyExchangeDN accepted (Exchange's own limit is 1024 characters).
pub const MAX_DN_LEN: usize = 2048;

/// A LegacyExchangeDN: an X.500 distinguished name in Exchange's form,
/// `/O=org/OU=group/CN=RECIPIENTS/CN=alias`.
///
/// Built by [`LegacyExchangeDn::parse`] (or `FromStr`/`TryFrom`), which
/// checks the form: a leading `/O=`, then `/KEY=value` components with an
/// alphabetic key and a non-empty value, printable text, at most
/// [`MAX_DN_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct LegacyExchangeDn(String);

impl LegacyExchangeDn {
    /// Check and wrap a DN.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDn`] with the offset where the form broke.
    pub fn parse(dn: &str) -> Result<Self, Error> {
        let bad = |offset, reason| Err(Error::InvalidDn { offset, reason });
        if dn.len() > MAX_DN_LEN {
            return bad(MAX_DN_LEN, "longer than the limit");
        }
        if let Some(i) = dn.bytes().position(|b| b.is_ascii_control()) {
            return bad(i, "control character");
        }
        let bytes = dn.as_bytes();
        if bytes.len() < 3
            || bytes[0] != b'/'
            || !bytes[1].eq_ignore_ascii_case(&b'o')
            || bytes[2] != b'='
        {
            return bad(0, "does not start with /O=");
        }
        let mut start = 0;
        while start < bytes.len() {
            // bytes[start] == '/'
            let end =
                memchr::memchr(b'/', &bytes[start + 1..]).map_or(bytes.len(), |i| start + 1 + i);
            let component = &bytes[start + 1..end];
            let Some(eq) = memchr::memchr(b'=', component) else {
                return bad(start + 1, "component without '='");
            };
            if eq == 0 || !component[..eq].iter().all(u8::is_ascii_alphabetic) {
                return bad(start + 1, "component key is not alphabetic");
            }
            if component[eq + 1..].trim_ascii().is_empty() {
                return bad(start + 1 + eq + 1, "empty component value");
            }
            start = end;
        }
        Ok(Self(dn.to_owned()))
    }

    /// The DN as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The proxy address to add to the new mailbox: `X500:` and the DN.
    pub fn to_x500(&self) -> String {
        format!("X500:{}", self.0)
    }

    /// The value of the last `CN=` component: the mailbox's alias (or, in
    /// Microsoft 365, a GUID-like value with the alias at its end).
    pub fn alias(&self) -> &str {
        self.0
            .rsplit('/')
            .find_map(|c| {
                let (key, value) = c.split_once('=')?;
                key.eq_ignore_ascii_case("cn").then_some(value)
            })
            .unwrap_or("")
    }

    /// The key under which spellings that differ only in case are one DN.
    fn fold(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for LegacyExchangeDn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for LegacyExchangeDn {
    type Err = Error;

    fn from_str(dn: &str) -> Result<Self, Self::Err> {
        Self::parse(dn)
    }
}

impl TryFrom<&str> for LegacyExchangeDn {
    type Error = Error;

    fn try_from(dn: &str) -> Result<Self, Self::Error> {
        Self::parse(dn)
    }
}

/// An IMCEA-encapsulated address, decoded (MS-OXCMAIL §2.1.3.1.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imcea<'a> {
    /// The address type: `EX` for an Exchange LegacyExchangeDN, or another
    /// (`FAX`, `X400`...), as written.
    pub address_type: &'a str,
    /// The decoded address.
    pub address: String,
    /// The domain after the last `@`, if there is one.
    pub domain: Option<&'a str>,
}

/// Decode any IMCEA-encapsulated address: `IMCEA<type>-<encoded>@<domain>`.
///
/// `IMCEA` is matched case-insensitively; in the encoded part `_` decodes to
/// `/`, `+XX` (two hex digits, either case) to the octet `0xXX`, and
/// letters, digits, `-` and `=` stand for themselves. The decoded octets
/// must be UTF-8.
///
/// # Errors
///
/// [`Error::NotImcea`] when the prefix or a character is wrong, and
/// [`Error::InvalidEscape`] for a `+` not followed by two hex digits; both
/// with the offset in `address`.
pub fn decode_imcea(address: &str) -> Result<Imcea<'_>, Error> {
    let bytes = address.as_bytes();
    if bytes.len() < 5 || !bytes[..5].eq_ignore_ascii_case(b"IMCEA") {
        return Err(Error::NotImcea {
            offset: 0,
            reason: "does not start with IMCEA",
        });
    }
    let Some(dash) = memchr::memchr(b'-', &bytes[5..]).map(|i| 5 + i) else {
        return Err(Error::NotImcea {
            offset: bytes.len(),
            reason: "no '-' after the address type",
        });
    };
    let address_type = &address[5..dash];
    if address_type.is_empty() || !address_type.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::NotImcea {
            offset: 5,
            reason: "address type is not alphanumeric",
        });
    }
    let (encoded_end, domain) = match memchr::memrchr(b'@', bytes) {
        Some(at) if at > dash => (at, Some(&address[at + 1..])),
        _ => (bytes.len(), None),
    };
    let mut out = Vec::with_capacity(encoded_end - dash);
    // The input offset of each decoded octet, to report errors where they are.
    let mut origins = Vec::with_capacity(encoded_end - dash);
    let mut i = dash + 1;
    while i < encoded_end {
        origins.push(i);
        match bytes[i] {
            b'_' => out.push(b'/'),
            b'+' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (
                    bytes
                        .get(i + 1)
                        .filter(|_| i + 1 < encoded_end)
                        .copied()
                        .and_then(hex),
                    bytes
                        .get(i + 2)
                        .filter(|_| i + 2 < encoded_end)
                        .copied()
                        .and_then(hex),
                ) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => return Err(Error::InvalidEscape { offset: i }),
                }
                i += 2;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'=' => out.push(b),
            _ => {
                return Err(Error::NotImcea {
                    offset: i,
                    reason: "character not allowed in an encoded address (needs a +XX escape)",
                });
            }
        }
        i += 1;
    }
    let decoded = String::from_utf8(out).map_err(|e| Error::NotImcea {
        offset: origins
            .get(e.utf8_error().valid_up_to())
            .copied()
            .unwrap_or(dash + 1),
        reason: "decoded address is not UTF-8",
    })?;
    Ok(Imcea {
        address_type,
        address: decoded,
        domain,
    })
}

/// Decode an `IMCEAEX-…` address into the LegacyExchangeDN it carries.
///
/// # Errors
///
/// As [`decode_imcea`]; [`Error::NotImcea`] when the address type is not
/// `EX`; [`Error::InvalidDn`] when the decoded text is not a DN.
pub fn decode_imceaex(address: &str) -> Result<LegacyExchangeDn, Error> {
    let imcea = decode_imcea(address)?;
    if !imcea.address_type.eq_ignore_ascii_case("EX") {
        return Err(Error::NotImcea {
            offset: 5,
            reason: "address type is not EX",
        });
    }
    LegacyExchangeDn::parse(&imcea.address)
}

/// Encode a DN as an `IMCEAEX-…@domain` address (the inverse of [`decode_imceaex`]).
///
/// ```
/// use imapmig_mime::exchange::{decode_imceaex, encode_imceaex, LegacyExchangeDn};
/// let dn = LegacyExchangeDn::parse("/O=ORG/OU=First Group/CN=RECIPIENTS/CN=j_smith.2")?;
/// let address = encode_imceaex(&dn, "example.com");
/// assert_eq!(address, "IMCEAEX-_O=ORG_OU=First+20Group_CN=RECIPIENTS_CN=j+5Fsmith+2E2@example.com");
/// assert_eq!(decode_imceaex(&address)?, dn);
/// # Ok::<(), imapmig_mime::Error>(())
/// ```
pub fn encode_imceaex(dn: &LegacyExchangeDn, domain: &str) -> String {
    let mut out = String::with_capacity(dn.0.len() * 2 + domain.len() + 10);
    out.push_str("IMCEAEX-");
    for b in dn.0.bytes() {
        match b {
            b'/' => out.push('_'),
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'=' => out.push(b as char),
            b => out.push_str(&format!("+{b:02X}")),
        }
    }
    out.push('@');
    out.push_str(domain);
    out
}

/// How a DN was written in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Origin {
    /// An `IMCEAEX-…@domain` address.
    Imceaex,
    /// A raw X.500 DN (`/O=…`) in an address header field.
    X500,
}

/// One DN found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Sighting {
    /// The LegacyExchangeDN.
    pub dn: LegacyExchangeDn,
    /// How it was written.
    pub origin: Origin,
    /// Where, in the message's bytes.
    pub range: Range<usize>,
    /// The display name before the address (`"Smith, Anna" <…>`), when in a
    /// header field and not itself the encoded address.
    pub display_name: Option<String>,
}

/// Address header fields (RFC 5322 §3.6.2, §3.6.3, §3.6.6, and the common
/// extensions) searched for raw X.500 DNs.
const ADDRESS_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "return-path",
    "delivered-to",
    "x-original-to",
    "disposition-notification-to",
    "original-recipient",
    "final-recipient",
    "x-ms-exchange-organization-originalsender",
];

/// Find every LegacyExchangeDN in a message (see the [module docs](self)).
///
/// IMCEAEX addresses are found anywhere in the raw bytes; raw X.500 DNs in
/// the address fields of the top-level header block. A DN found twice is
/// reported at each place. Undecodable IMCEAEX text is skipped.
pub fn scan(message: &[u8]) -> Vec<Sighting> {
    let mut found = Vec::new();
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    let header_end = header_fields(message, |name, value| {
        if ADDRESS_FIELDS
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        {
            display_names(message, value.clone(), &mut names);
            raw_dns(message, value, &mut found);
        }
    });
    let _ = header_end;
    imceaex_anywhere(message, &mut found);
    for s in &mut found {
        s.display_name = names.get(&s.range.start).cloned();
    }
    found.sort_by_key(|s| s.range.start);
    found
}

/// Walk the top-level header fields, calling `f(name, value range)`.
fn header_fields(message: &[u8], mut f: impl FnMut(&[u8], Range<usize>)) -> usize {
    let mut pos = 0;
    let mut current: Option<(Range<usize>, Range<usize>)> = None;
    let mut flush = |current: &mut Option<(Range<usize>, Range<usize>)>| {
        if let Some((name, value)) = current.take() {
            f(&message[name], value);
        }
    };
    while pos < message.len() {
        let line = header::line_at(message, pos, message.len());
        match header::line_kind(message, line) {
            LineKind::Empty => {
                flush(&mut current);
                return line.end;
            }
            LineKind::Continuation => {
                if let Some((_, value)) = current.as_mut() {
                    value.end = line.content_end;
                }
            }
            LineKind::Field { name_end, colon } => {
                flush(&mut current);
                current = Some((line.start..name_end, colon + 1..line.content_end));
            }
            LineKind::Envelope | LineKind::BadName => flush(&mut current),
            LineKind::NoColon => {
                flush(&mut current);
                return line.start;
            }
        }
        pos = line.end;
    }
    flush(&mut current);
    pos
}

/// For each `<` in an address list, the display name before it, keyed by the
/// offset just after the `<`.
fn display_names(message: &[u8], value: Range<usize>, out: &mut BTreeMap<usize, String>) {
    let text = &message[value.clone()];
    let mut quoted = false;
    let mut phrase_start = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b',' | b':' | b';' | b'>' if !quoted => phrase_start = i + 1,
            b'<' if !quoted => {
                let phrase = header::unfold(&text[phrase_start..i]);
                let phrase = phrase.trim().trim_matches('"').trim();
                if !phrase.is_empty() && !phrase.to_ascii_uppercase().starts_with("IMCEA") {
                    out.insert(value.start + i + 1, phrase.to_owned());
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Raw `/O=…` DNs in an address field value.
fn raw_dns(message: &[u8], value: Range<usize>, out: &mut Vec<Sighting>) {
    let text = &message[value.clone()];
    let mut search = 0;
    while let Some(i) = find_ci(&text[search..], b"/o=") {
        let start = search + i;
        // A DN starts an address: after '<', white space, ':' or the start;
        // not in the middle of a URL or an IMCEA address.
        let ok_before = start == 0
            || matches!(
                text[start - 1],
                b'<' | b' ' | b'\t' | b':' | b'"' | b',' | b';' | b'\n'
            );
        let end = dn_end(text, start);
        search = end.max(start + 1);
        if !ok_before {
            continue;
        }
        // Unfolding removes the line breaks of a fold and keeps its white
        // space (RFC 5322 §2.2.3), so a DN folded at a space reads whole.
        let raw = header::unfold(&text[start..end]);
        if let Ok(dn) = LegacyExchangeDn::parse(raw.trim_end()) {
            out.push(Sighting {
                dn,
                origin: Origin::X500,
                range: value.start + start..value.start + end,
                display_name: None,
            });
        }
    }
}

/// Where a DN that starts at `start` ends: at an address delimiter, or at a
/// line break that is not a fold (a fold is CRLF or LF followed by white
/// space, and Outlook folds long DNs at their spaces).
fn dn_end(text: &[u8], start: usize) -> usize {
    let mut j = start;
    while let Some(&b) = text.get(j) {
        match b {
            b'>' | b'"' | b',' | b';' => return j,
            b'\r' | b'\n' => {
                let after = if b == b'\r' && text.get(j + 1) == Some(&b'\n') {
                    j + 2
                } else {
                    j + 1
                };
                if !matches!(text.get(after), Some(b' ' | b'\t')) {
                    return j;
                }
                j = after;
            }
            _ => j += 1,
        }
    }
    text.len()
}

/// `IMCEAEX-…@domain` anywhere in the message.
fn imceaex_anywhere(message: &[u8], out: &mut Vec<Sighting>) {
    let upper = memmem::Finder::new(b"IMCEAEX-");
    let lower = memmem::Finder::new(b"imceaex-");
    let mut starts: Vec<usize> = upper
        .find_iter(message)
        .chain(lower.find_iter(message))
        .collect();
    starts.sort_unstable();
    for start in starts {
        let is_encoded =
            |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'=' | b'_' | b'+');
        let mut end = start + 8;
        end += message[end..].iter().take_while(|b| is_encoded(b)).count();
        if message.get(end) == Some(&b'@') {
            let domain = message[end + 1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
                .count();
            end += 1 + domain;
            while end > start && message[end - 1] == b'.' {
                end -= 1;
            }
        }
        let Ok(text) = std::str::from_utf8(&message[start..end]) else {
            continue;
        };
        if let Ok(dn) = decode_imceaex(text) {
            out.push(Sighting {
                dn,
                origin: Origin::Imceaex,
                range: start..end,
                display_name: None,
            });
        }
    }
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// One recovered DN over a set of messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Recovered {
    /// The DN, spelled as first seen.
    pub dn: LegacyExchangeDn,
    /// In how many messages it was seen.
    pub messages: usize,
    /// Display names seen with it, sorted.
    pub display_names: Vec<String>,
}

impl Recovered {
    /// The `X500:` proxy address.
    pub fn x500(&self) -> String {
        self.dn.to_x500()
    }
}

/// The DNs of one person: every DN with the same alias (last `CN=` value,
/// compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Identity {
    /// The alias, lowercase.
    pub alias: String,
    /// The DNs, sorted.
    pub dns: Vec<Recovered>,
}

impl Identity {
    /// A PowerShell line adding every DN as a proxy address to `mailbox`.
    ///
    /// ```
    /// use imapmig_mime::exchange::Recovery;
    /// let mut r = Recovery::new();
    /// r.add_message(b"From: IMCEAEX-_O=ORG_OU=X_CN=RECIPIENTS_CN=ann@example.com\r\n\r\n");
    /// let who = &r.identities()[0];
    /// assert_eq!(who.set_mailbox_command("ann@new.example"),
    ///     r#"Set-Mailbox -Identity "ann@new.example" -EmailAddresses @{add="X500:/O=ORG/OU=X/CN=RECIPIENTS/CN=ann"}"#);
    /// ```
    pub fn set_mailbox_command(&self, mailbox: &str) -> String {
        let adds: Vec<String> = self
            .dns
            .iter()
            .map(|r| format!("\"{}\"", r.x500().replace('"', "`\"")))
            .collect();
        format!(
            "Set-Mailbox -Identity \"{}\" -EmailAddresses @{{add={}}}",
            mailbox.replace('"', "`\""),
            adds.join(",")
        )
    }
}

/// Collects DNs over many messages (see the [module docs](self)).
///
/// ```
/// use imapmig_mime::exchange::Recovery;
///
/// let mut recovery = Recovery::new();
/// recovery.add_message(b"From: \"Ann\" <IMCEAEX-_O=ORG_OU=X_CN=RECIPIENTS_CN=ann@example.com>\r\n\r\nhi\r\n");
/// recovery.add_message(b"To: Ann </o=org/ou=x/cn=Recipients/cn=ANN>\r\n\r\nagain\r\n");
/// let all = recovery.recovered();
/// assert_eq!(all.len(), 1, "case-insensitive merge");
/// assert_eq!(all[0].x500(), "X500:/O=ORG/OU=X/CN=RECIPIENTS/CN=ann");
/// assert_eq!(all[0].messages, 2);
/// assert_eq!(all[0].display_names, ["Ann"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    entries: BTreeMap<String, Recovered>,
    messages: usize,
}

impl Recovery {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scan one message; returns how many distinct DNs it held.
    pub fn add_message(&mut self, message: &[u8]) -> usize {
        self.messages += 1;
        let mut seen: BTreeMap<String, ()> = BTreeMap::new();
        for sighting in scan(message) {
            let key = sighting.dn.fold();
            let entry = self
                .entries
                .entry(key.clone())
                .or_insert_with(|| Recovered {
                    dn: sighting.dn.clone(),
                    messages: 0,
                    display_names: Vec::new(),
                });
            if let Some(name) = sighting.display_name
                && let Err(at) = entry.display_names.binary_search(&name)
            {
                entry.display_names.insert(at, name);
            }
            if seen.insert(key, ()).is_none() {
                entry.messages += 1;
            }
        }
        seen.len()
    }

    /// How many messages were scanned.
    pub fn messages_scanned(&self) -> usize {
        self.messages
    }

    /// Every distinct DN, sorted case-insensitively.
    pub fn recovered(&self) -> Vec<Recovered> {
        self.entries.values().cloned().collect()
    }

    /// The DNs grouped by identity (alias), sorted by alias.
    pub fn identities(&self) -> Vec<Identity> {
        let mut groups: BTreeMap<String, Vec<Recovered>> = BTreeMap::new();
        for r in self.entries.values() {
            groups
                .entry(r.dn.alias().to_ascii_lowercase())
                .or_default()
                .push(r.clone());
        }
        groups
            .into_iter()
            .map(|(alias, dns)| Identity { alias, dns })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        let cases: &[(&str, &str)] = &[
            ("IMCEAEX-_O=ORG_CN=a@x.com", "/O=ORG/CN=a"),
            ("imceaex-_o=org_cn=a@x.com", "/o=org/cn=a"),
            ("IMCEAEX-_O=ORG_CN=j+5Fsmith@x.com", "/O=ORG/CN=j_smith"),
            ("IMCEAEX-_O=ORG_CN=j+2Esmith@x.com", "/O=ORG/CN=j.smith"),
            ("IMCEAEX-_O=ORG_CN=j+2esmith@x.com", "/O=ORG/CN=j.smith"),
            ("IMCEAEX-_O=ORG_CN=a+40b@x.com", "/O=ORG/CN=a@b"),
            ("IMCEAEX-_O=ORG_CN=a+2B+2Bb@x.com", "/O=ORG/CN=a++b"),
            ("IMCEAEX-_O=ORG_CN=M+C3+BCller@x.com", "/O=ORG/CN=Müller"),
            ("IMCEAEX-_O=ORG_CN=nodomain", "/O=ORG/CN=nodomain"),
        ];
        for (input, want) in cases {
            assert_eq!(decode_imceaex(input).unwrap().as_str(), *want, "{input}");
        }
    }

    #[test]
    fn decode_errors() {
        let cases: &[(&str, &str)] = &[
            ("SMTP:a@x.com", "not imcea at 0"),
            ("IMCEAEX_O=ORG@x.com", "not imcea at 19"),
            ("IMCEA-_O=ORG@x.com", "not imcea at 5"),
            ("IMCEAFAX-+15551234@x.com", "not imcea at 5"),
            ("IMCEAEX-_O=ORG_CN=a+2@x.com", "escape at 19"),
            ("IMCEAEX-_O=ORG_CN=a+ZZ@x.com", "escape at 19"),
            ("IMCEAEX-_O=ORG_CN=a.b@x.com", "not imcea at 19"),
            ("IMCEAEX-_O=ORG_CN=a+FF@x.com", "not imcea at 19"),
            ("IMCEAEX-CN=a@x.com", "dn at 0"),
            ("IMCEAEX-_O=ORG_CN=@x.com", "dn at 10"),
        ];
        for (input, want) in cases {
            let got = match decode_imceaex(input) {
                Err(Error::NotImcea { offset, .. }) => format!("not imcea at {offset}"),
                Err(Error::InvalidEscape { offset }) => format!("escape at {offset}"),
                Err(Error::InvalidDn { offset, .. }) => format!("dn at {offset}"),
                other => format!("{other:?}"),
            };
            assert_eq!(got, *want, "{input}");
        }
    }

    #[test]
    fn other_imcea_types_decode() {
        let fax = decode_imcea("IMCEAFAX-+2B15551234@example.com").unwrap();
        assert_eq!(fax.address_type, "FAX");
        assert_eq!(fax.address, "+15551234");
        assert_eq!(fax.domain, Some("example.com"));
    }

    #[test]
    fn folded_dns_read_whole() {
        // Outlook folds a long To: line at a space inside the DN; a DN
        // ending at a line break that is not a fold stays as it is.
        let cases: &[(&[u8], &[&str])] = &[
            (
                b"To: Jane <\r\n /O=CONTOSO/OU=EXCHANGE\r\n ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=JDOE>\r\n\r\nbody\r\n",
                &["/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=JDOE"],
            ),
            (
                b"To: </O=A/OU=B\n C/CN=D>, </O=A/CN=E>\n\nbody\n",
                &["/O=A/OU=B C/CN=D", "/O=A/CN=E"],
            ),
            (
                b"To: /O=A/CN=F\r\nSubject: x\r\n\r\n",
                &["/O=A/CN=F"],
            ),
        ];
        for (msg, want) in cases {
            let got: Vec<String> = scan(msg).iter().map(|s| s.dn.as_str().to_owned()).collect();
            assert_eq!(&got, want, "{}", String::from_utf8_lossy(msg));
        }
    }

    #[test]
    fn scan_finds_headers_and_bodies() {
        let msg = b"From: \"Smith, Anna\" </O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=ASMITH>\r\n\
To: bob@example.com, IMCEAEX-_O=CONTOSO_OU=First+20Administrative+20Group_CN=Recipients_CN=bob@contoso.example\r\n\
Subject: see http://x.example/o=not-a-dn\r\n\
\r\n\
Delivery has failed to: IMCEAEX-_O=CONTOSO_CN=carol@contoso.example.\r\n";
        let found = scan(msg);
        let got: Vec<(&str, Origin, Option<&str>)> = found
            .iter()
            .map(|s| (s.dn.as_str(), s.origin, s.display_name.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=ASMITH",
                    Origin::X500,
                    Some("Smith, Anna")
                ),
                (
                    "/O=CONTOSO/OU=First Administrative Group/CN=Recipients/CN=bob",
                    Origin::Imceaex,
                    None
                ),
                ("/O=CONTOSO/CN=carol", Origin::Imceaex, None),
            ]
        );
        for s in &found {
            let text = std::str::from_utf8(&msg[s.range.clone()]).unwrap();
            assert!(
                text.starts_with("/O=") || text.starts_with("IMCEAEX-"),
                "{text}"
            );
        }
    }

    #[test]
    fn dn_validation() {
        for ok in [
            "/O=ORG",
            "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=5e3d-jsmith",
        ] {
            assert!(LegacyExchangeDn::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "O=ORG",
            "/OU=X",
            "/O=ORG/",
            "/O=ORG/CN",
            "/O=ORG/C N=x",
            "/O=ORG/CN=a\nb",
        ] {
            assert!(LegacyExchangeDn::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identities_group_by_alias() {
        let mut r = Recovery::new();
        r.add_message(
            b"From: </O=OLD/OU=FIRST ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=JSMITH>\r\n\r\n",
        );
        r.add_message(b"From: </O=NEW/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=jsmith>\r\nCc: </O=NEW/CN=ann>\r\n\r\n");
        let ids = r.identities();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0].alias, "ann");
        assert_eq!(ids[1].alias, "jsmith");
        assert_eq!(ids[1].dns.len(), 2);
        assert_eq!(r.messages_scanned(), 2);
    }
}
