//! IMAP response framing over a byte stream, with `bytes` buffers.
//!
//! A server response is one line, unless the line ends in a literal announcement `{n}` (or
//! `{n+}`): then n raw bytes follow and the response continues on the next line, and so on. A
//! [`FrameReader`] cuts the stream into such whole responses ("frames"). It reads into one
//! [`BytesMut`]; a finished frame is split off and frozen into a [`Bytes`], so a message body
//! inside it can be handed out as a zero-copy slice ([`Bytes::slice_ref`]) of the very buffer
//! the socket wrote into.
//!
//! Before it reads a literal, [`FrameReader::step`] stops and reports its length
//! ([`Step::Literal`]), so the caller can reserve memory for it first; it then reserves the whole
//! literal in the buffer and reads exactly up to its end, so the body is read once, in place.
//! Lines are bounded ([`Limits::max_line`]), literals too ([`Limits::max_literal`]); each read
//! waits at most the inactivity timeout, so a slow but steady transfer of any size passes while
//! a stalled server is detected.
//!
//! [`classify`] then sorts a frame: continuation request, tagged completion (its status, typed
//! response code and text, parsed by imapmig-core's reply splitter), an untagged response
//! imap-proto 0.17 parses (it takes an empty `* QUOTA "ROOT" ()` too), or one of the
//! untagged responses it cannot (`* NAMESPACE`, `* STATUS` with `SIZE`, LIST/LSUB whose raw
//! bytes the folder parser wants anyway, Courier's `* QUOTA "ROOT"` without any list).
//! Anything else is [`Classified::Unparseable`].

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use imap_proto::Response;
use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::ReplyCode;

/// How much a line-mode read asks for at once.
const LINE_CHUNK: usize = 64 * 1024;

/// Room left after a large literal for the rest of its response (`)` CRLF, usually).
const CLOSING_ROOM: usize = LINE_CHUNK;

/// A line-mode read into less room than this grows the buffer first.
const MIN_READ: usize = 4096;

/// Bounds on what one response may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The longest line (CRLF included, literals not counted).
    pub(crate) max_line: usize,
    /// The largest literal.
    pub(crate) max_literal: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 1 << 20,
            max_literal: 2 << 30,
        }
    }
}

/// Why a frame could not be read. The connection is unusable after any of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The peer closed the connection.
    Closed,
    /// A read failed.
    Io(String),
    /// No byte arrived within the inactivity timeout.
    Idle(Duration),
    /// A line longer than [`Limits::max_line`] (`at` bytes read without its end).
    LineTooLong {
        /// Bytes of the line so far.
        at: usize,
        /// The limit.
        limit: usize,
    },
    /// A literal announced larger than [`Limits::max_literal`].
    LiteralTooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

/// What [`FrameReader::step`] found.
#[derive(Debug)]
pub(crate) enum Step {
    /// A literal of this many bytes is announced and will be read by the next step.
    Literal(u64),
    /// A whole response, CRLF included.
    Frame(Bytes),
}

/// Cuts a byte stream into whole responses. Its `Debug` shows sizes, never content.
pub(crate) struct FrameReader {
    buf: BytesMut,
    limits: Limits,
    /// Where the current line starts.
    line_start: usize,
    /// Where to go on looking for the line's LF.
    scan: usize,
    /// A literal announced by the last step, not yet reserved.
    announced: Option<usize>,
    /// The end of the literal being read.
    literal_end: Option<usize>,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.buf.len())
            .field("limits", &self.limits)
            .field("literal_end", &self.literal_end)
            .finish()
    }
}

impl FrameReader {
    /// An empty reader with these limits.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            buf: BytesMut::new(),
            limits,
            line_start: 0,
            scan: 0,
            announced: None,
            literal_end: None,
        }
    }

    /// Bytes received but not yet part of a returned frame (after STARTTLS this must be 0:
    /// anything the server sent before the handshake must not be taken as protected).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Reads until the next literal announcement or the end of the response, waiting at most
    /// `idle` for each read.
    pub(crate) async fn step<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        idle: Duration,
    ) -> Result<Step, ReadFailure> {
        loop {
            if let Some(end) = self.literal_end {
                if self.buf.len() >= end {
                    self.literal_end = None;
                    self.line_start = end;
                    self.scan = end;
                    continue;
                }
                let want = end - self.buf.len();
                self.read_more(io, idle, want).await?;
                continue;
            }
            if let Some(n) = self.announced.take() {
                let end = self.scan.saturating_add(n);
                // The whole literal, reserved before its first byte is read: the body lands in
                // its final place, read once. A large one gets a buffer of its own, sized
                // exactly, so no growth policy doubles it and no earlier frame pins it.
                let missing = end.saturating_sub(self.buf.len());
                if missing > LINE_CHUNK && self.buf.capacity() < end {
                    let mut fresh = BytesMut::with_capacity(end + CLOSING_ROOM);
                    fresh.extend_from_slice(&self.buf);
                    self.buf = fresh;
                } else {
                    self.buf.reserve(missing);
                }
                self.literal_end = Some(end);
                continue;
            }
            match memchr::memchr(b'\n', &self.buf[self.scan..]) {
                Some(i) => {
                    let line_end = self.scan + i + 1;
                    if line_end - self.line_start > self.limits.max_line {
                        return Err(ReadFailure::LineTooLong {
                            at: line_end - self.line_start,
                            limit: self.limits.max_line,
                        });
                    }
                    if let Some(n) = literal_at_end(&self.buf[self.line_start..line_end]) {
                        if n > self.limits.max_literal {
                            return Err(ReadFailure::LiteralTooLarge {
                                size: n,
                                limit: self.limits.max_literal,
                            });
                        }
                        let Ok(len) = usize::try_from(n) else {
                            return Err(ReadFailure::LiteralTooLarge {
                                size: n,
                                limit: self.limits.max_literal,
                            });
                        };
                        self.scan = line_end;
                        self.announced = Some(len);
                        return Ok(Step::Literal(n));
                    }
                    let frame = self.buf.split_to(line_end).freeze();
                    if frame.len() > LINE_CHUNK {
                        // Let go of the large allocation: it belongs to the frame now.
                        self.buf = BytesMut::from(&self.buf[..]);
                    }
                    self.line_start = 0;
                    self.scan = 0;
                    return Ok(Step::Frame(frame));
                }
                None => {
                    let at = self.buf.len() - self.line_start;
                    if at > self.limits.max_line {
                        return Err(ReadFailure::LineTooLong {
                            at,
                            limit: self.limits.max_line,
                        });
                    }
                    self.scan = self.buf.len();
                    self.read_more(io, idle, LINE_CHUNK).await?;
                }
            }
        }
    }

    /// Reads the next whole response, reading any literals in it without stopping.
    pub(crate) async fn frame<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        idle: Duration,
    ) -> Result<Bytes, ReadFailure> {
        loop {
            if let Step::Frame(f) = self.step(io, idle).await? {
                return Ok(f);
            }
        }
    }

    /// One read of at most `most` bytes (at least 1), within `idle`.
    async fn read_more<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        idle: Duration,
        most: usize,
    ) -> Result<(), ReadFailure> {
        let most = most.max(1);
        // Grow only when little room is left: after a large literal the room reserved behind
        // it takes the rest of the response, and a buffer holding 100 MB is never grown (its
        // growth policy would double it).
        if self.buf.capacity() - self.buf.len() < MIN_READ.min(most) {
            self.buf.reserve(most.min(LINE_CHUNK));
        }
        let mut limited = (&mut self.buf).limit(most);
        match tokio::time::timeout(idle, io.read_buf(&mut limited)).await {
            Err(_) => Err(ReadFailure::Idle(idle)),
            Ok(Err(e)) => Err(ReadFailure::Io(e.to_string())),
            Ok(Ok(0)) => Err(ReadFailure::Closed),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

/// `{n}` or `{n+}` (or `~{n}`) just before the line end: the length of the literal that follows.
pub(crate) fn literal_at_end(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let body = body.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The status of a tagged completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DoneStatus {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
}

/// A tagged completion, its parts typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Done {
    /// The tag.
    pub(crate) tag: String,
    /// OK, NO or BAD.
    pub(crate) status: DoneStatus,
    /// The response code's atom, typed.
    pub(crate) code: Option<ReplyCode>,
    /// The whole bracketed code with its arguments (`APPENDUID 38505 3955`).
    pub(crate) code_text: Option<String>,
    /// The text after the code.
    pub(crate) text: String,
}

impl Done {
    /// `[APPENDUID uidvalidity uid]` (RFC 4315): the first UID of the set.
    pub(crate) fn append_uid(&self) -> Option<(u32, u32)> {
        let args = self.code_text.as_deref()?;
        let mut words = args.split(' ');
        if !words.next()?.eq_ignore_ascii_case("APPENDUID") {
            return None;
        }
        let validity = words.next()?.parse().ok()?;
        let set = words.next()?;
        let first = set.split([',', ':']).next()?.parse().ok()?;
        Some((validity, first))
    }
}

/// The untagged responses imap-proto 0.17 cannot parse that we read with our own parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKind {
    /// `* NAMESPACE` (RFC 2342), for imapmig-folders.
    Namespace,
    /// `* STATUS` (with RFC 8438 `SIZE`), for `imapmig_core::inventory::parse_status`.
    Status,
    /// `* LIST` / `* LSUB` that imap-proto refused (the folder parser reads them raw).
    List,
    /// `* ENABLED`, `* ID`, `* ESEARCH`, `* METADATA`, `* QUOTAROOT`, `* CAPABILITY`…: a
    /// well-formed untagged response a migration does not need.
    Ignored,
}

/// What a frame is.
#[derive(Debug)]
pub(crate) enum Classified<'a> {
    /// `+ …`: the server waits for a literal or a SASL response.
    Continue,
    /// A tagged completion.
    Done(Done),
    /// An untagged response imap-proto parsed.
    Untagged(Response<'a>),
    /// An untagged response we read ourselves.
    Raw(RawKind),
    /// Not IMAP as we know it.
    Unparseable,
}

/// Words after `* ` that name an untagged response we accept without imap-proto.
const RAW_WORDS: &[(&[u8], RawKind)] = &[
    (b"NAMESPACE", RawKind::Namespace),
    (b"STATUS", RawKind::Status),
    (b"LIST", RawKind::List),
    (b"LSUB", RawKind::List),
    (b"XLIST", RawKind::List),
    (b"ENABLED", RawKind::Ignored),
    (b"ID", RawKind::Ignored),
    (b"ESEARCH", RawKind::Ignored),
    (b"METADATA", RawKind::Ignored),
    (b"QUOTAROOT", RawKind::Ignored),
    (b"CAPABILITY", RawKind::Ignored),
    (b"FLAGS", RawKind::Ignored),
];

/// Sorts a frame (see [`Classified`]).
pub(crate) fn classify(frame: &[u8]) -> Classified<'_> {
    if frame.starts_with(b"+") {
        return Classified::Continue;
    }
    if !frame.starts_with(b"* ") {
        return match tagged(frame) {
            Some(done) => Classified::Done(done),
            None => Classified::Unparseable,
        };
    }
    if let Ok((rest, r)) = Response::parse(frame)
        && rest.is_empty()
    {
        return Classified::Untagged(r);
    }
    let rest = &frame[2..];
    let word_end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    let word = &rest[..word_end];
    if let Some((_, kind)) = RAW_WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)) {
        return Classified::Raw(*kind);
    }
    // Courier 5 answers GETQUOTAROOT without a quota with `* QUOTA "ROOT"` and no resource
    // list at all: no quota, as an empty list would say.
    if word.eq_ignore_ascii_case(b"QUOTA") && !rest.contains(&b'(') {
        return Classified::Raw(RawKind::Ignored);
    }
    // Status responses with codes or texts imap-proto does not take.
    if untagged_status(frame).is_some() {
        return Classified::Raw(RawKind::Ignored);
    }
    Classified::Unparseable
}

/// A tagged status line, split.
fn tagged(frame: &[u8]) -> Option<Done> {
    let line = String::from_utf8_lossy(frame);
    if line.trim_end().contains('\n') {
        return None;
    }
    let reply = imapmig_core::throttle::parse_reply(&line)?;
    let tag = reply.tag?;
    if !tag.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
        return None;
    }
    use imapmig_core::throttle::Status as S;
    let status = match reply.status {
        S::Ok => DoneStatus::Ok,
        S::No => DoneStatus::No,
        S::Bad => DoneStatus::Bad,
        _ => return None,
    };
    Some(Done {
        tag: tag.to_owned(),
        status,
        code: reply.code.map(ReplyCode::from_atom),
        code_text: reply.code_text.map(str::to_owned),
        text: reply.text.to_owned(),
    })
}

/// The code and text of an untagged `OK`/`NO`/`BAD`/`BYE`/`PREAUTH`.
pub(crate) fn untagged_status(
    frame: &[u8],
) -> Option<(imapmig_core::throttle::Status, Option<ReplyCode>, String)> {
    if !frame.starts_with(b"* ") {
        return None;
    }
    let line = String::from_utf8_lossy(frame);
    let reply = imapmig_core::throttle::parse_reply(&line)?;
    Some((
        reply.status,
        reply.code.map(ReplyCode::from_atom),
        reply.text.to_owned(),
    ))
}

/// One command to send, cut where a synchronising literal must wait for the server's `+`.
///
/// A mailbox name is an IMAP string of the exact bytes the server listed
/// ([`imapmig_folders::MailboxName::wire`]): a quoted string when every byte may stand in
/// one (7-bit, no CR, LF, `"` or `\`), else a literal, `{n+}` when the server has LITERAL+
/// (RFC 7888) and `{n}` otherwise. Nothing is re-encoded on the way, so a raw 8-bit name of
/// an old server is selected by the very bytes it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command<'a> {
    /// `(wait for "+" first, bytes)`; the first piece starts after the tag.
    pieces: Vec<(bool, Cow<'a, [u8]>)>,
    literal_plus: bool,
}

/// A name that no IMAP string can carry (it holds NUL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotSendable {
    /// Where the NUL is.
    pub(crate) offset: usize,
}

impl<'a> Command<'a> {
    /// A command starting with `text` (e.g. `SELECT `); literals are non-synchronising when
    /// `literal_plus`.
    pub(crate) fn new(literal_plus: bool, text: &[u8]) -> Self {
        Self {
            pieces: vec![(false, Cow::Owned(text.to_vec()))],
            literal_plus,
        }
    }

    /// Appends plain command text.
    pub(crate) fn text(&mut self, text: &[u8]) -> &mut Self {
        match self.pieces.last_mut() {
            Some((_, Cow::Owned(v))) => v.extend_from_slice(text),
            _ => self.pieces.push((false, Cow::Owned(text.to_vec()))),
        }
        self
    }

    /// Appends a string argument (a mailbox name): quoted when it can be, else a literal.
    pub(crate) fn string(&mut self, bytes: &[u8]) -> Result<&mut Self, NotSendable> {
        if let Some(offset) = memchr::memchr(0, bytes) {
            return Err(NotSendable { offset });
        }
        if quotable(bytes) {
            let mut q = Vec::with_capacity(bytes.len() + 2);
            q.push(b'"');
            q.extend_from_slice(bytes);
            q.push(b'"');
            self.text(&q);
            return Ok(self);
        }
        Ok(self.literal(Cow::Owned(bytes.to_vec())))
    }

    /// Appends a literal (its announcement, then the bytes), borrowed when it can be.
    pub(crate) fn literal(&mut self, bytes: Cow<'a, [u8]>) -> &mut Self {
        let plus = if self.literal_plus { "+" } else { "" };
        self.text(format!("{{{}{plus}}}\r\n", bytes.len()).as_bytes());
        self.pieces.push((!self.literal_plus, bytes));
        self
    }

    /// The pieces: whether to wait for the server's `+` before each, and its bytes.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = (bool, &[u8])> {
        self.pieces.iter().map(|(w, b)| (*w, b.as_ref()))
    }

    /// The command as it goes on the wire after the tag and before the final CRLF.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.pieces
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }
}

/// Whether `bytes` may stand in a quoted string as they are: 7-bit, no CR or LF, and none of
/// the quoted-specials (which old servers unescape in different ways).
fn quotable(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| (0x01..0x80).contains(&b) && !matches!(b, b'\r' | b'\n' | b'"' | b'\\'))
}

/// At most the first 16 bytes of `frame`, escaped, for an error message that must not carry
/// mail content.
pub(crate) fn head_escaped(frame: &[u8]) -> String {
    frame
        .iter()
        .take(16)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests;
