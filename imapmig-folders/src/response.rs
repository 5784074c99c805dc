//! LIST, LSUB and NAMESPACE responses as servers send them.
//!
//! A hand-written parser over raw response bytes, because imap-proto 0.17
//! has no NAMESPACE, leaves quoted strings escaped and replaces 8-bit names
//! lossily. It understands:
//!
//! - `mailbox-list` (RFC 3501 §7.2.2, §9): attributes, a quoted or `NIL`
//!   delimiter, the name as atom, quoted string (unescaped) or literal
//!   (`{5}\r\nhello`, also `{5+}`), and the LIST-EXTENDED extended items
//!   (RFC 5258 §9, such as `("CHILDINFO" ("SUBSCRIBED"))`);
//! - special-use attributes (RFC 6154) and the old XLIST ones (`\AllMail`,
//!   `\Spam`, `\Starred`, `\Inbox`, `\Important`);
//! - `namespace-response` (RFC 2342 §5) with its extensions.
//!
//! Input is bounded by [`MAX_RESPONSE_LEN`]; the parser never panics and
//! reports the byte offset of what it could not read.
//!
//! ```
//! use imapmig_folders::{Listing, Attribute};
//!
//! let raw = b"* LIST (\\HasNoChildren \\Sent) \".\" \"INBOX.Sent \\\"old\\\"\"\r\n\
//!             * LIST (\\HasChildren) \".\" {5}\r\nINBOX\r\n\
//!             * NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n\
//!             A1 OK done\r\n";
//! let listing = Listing::parse(raw).unwrap();
//! assert_eq!(listing.entries()[0].name().as_str(), "INBOX.Sent \"old\"");
//! assert!(listing.entries()[0].attributes().contains(&Attribute::Sent));
//! assert_eq!(listing.entries()[1].name().as_str(), "INBOX");
//! assert_eq!(listing.namespaces().unwrap().personal()[0].prefix().as_str(), "INBOX.");
//! ```

use crate::error::Error;
use crate::name::MailboxName;

/// The largest response (including literals) the parsers accept, in bytes.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The largest whole server output [`Listing::parse`] accepts, in bytes.
pub const MAX_LISTING_LEN: usize = 64 * 1024 * 1024;

/// A mailbox attribute from a LIST or LSUB response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Attribute {
    /// `\Noinferiors` (RFC 3501).
    NoInferiors,
    /// `\Noselect` (RFC 3501).
    NoSelect,
    /// `\Marked` (RFC 3501).
    Marked,
    /// `\Unmarked` (RFC 3501).
    Unmarked,
    /// `\NonExistent` (RFC 5258).
    NonExistent,
    /// `\Subscribed` (RFC 5258).
    Subscribed,
    /// `\Remote` (RFC 5258).
    Remote,
    /// `\HasChildren` (RFC 3348 / 5258).
    HasChildren,
    /// `\HasNoChildren` (RFC 3348 / 5258).
    HasNoChildren,
    /// `\All` (RFC 6154), also XLIST's `\AllMail`.
    All,
    /// `\Archive` (RFC 6154).
    Archive,
    /// `\Drafts` (RFC 6154).
    Drafts,
    /// `\Flagged` (RFC 6154), also XLIST's `\Starred`.
    Flagged,
    /// `\Junk` (RFC 6154), also XLIST's `\Spam`.
    Junk,
    /// `\Sent` (RFC 6154).
    Sent,
    /// `\Trash` (RFC 6154).
    Trash,
    /// `\Important` (RFC 8457, and Gmail's XLIST).
    Important,
    /// XLIST's `\Inbox` (Gmail's localised INBOX).
    XlistInbox,
    /// Anything else, as sent (with its backslash when it had one).
    Other(String),
}

impl Attribute {
    /// Reads one attribute (`\Noselect`, `\AllMail`, an extension flag), case-insensitively.
    pub fn from_flag(flag: &str) -> Self {
        let Some(word) = flag.strip_prefix('\\') else {
            return Self::Other(flag.to_owned());
        };
        match word.to_ascii_lowercase().as_str() {
            "noinferiors" => Self::NoInferiors,
            "noselect" => Self::NoSelect,
            "marked" => Self::Marked,
            "unmarked" => Self::Unmarked,
            "nonexistent" => Self::NonExistent,
            "subscribed" => Self::Subscribed,
            "remote" => Self::Remote,
            "haschildren" => Self::HasChildren,
            "hasnochildren" => Self::HasNoChildren,
            "all" | "allmail" => Self::All,
            "archive" => Self::Archive,
            "drafts" => Self::Drafts,
            "flagged" | "starred" => Self::Flagged,
            "junk" | "spam" => Self::Junk,
            "sent" => Self::Sent,
            "trash" => Self::Trash,
            "important" => Self::Important,
            "inbox" => Self::XlistInbox,
            _ => Self::Other(flag.to_owned()),
        }
    }
}

/// Whether a line was a LIST (or XLIST) or an LSUB response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ListKind {
    /// `* LIST` or `* XLIST`.
    List,
    /// `* LSUB`.
    Lsub,
}

/// One parsed LIST/LSUB response: a mailbox, its attributes and delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ListEntry {
    kind: ListKind,
    attributes: Vec<Attribute>,
    delimiter: Option<char>,
    name: MailboxName,
    child_info: Vec<String>,
}

impl ListEntry {
    /// Builds an entry from parts (for adapters from other IMAP parsers).
    pub fn new(
        kind: ListKind,
        attributes: Vec<Attribute>,
        delimiter: Option<char>,
        name: MailboxName,
    ) -> Self {
        Self {
            kind,
            attributes,
            delimiter,
            name,
            child_info: Vec::new(),
        }
    }

    /// Parses one response line (`* LIST (...) "/" name`), with its
    /// literals inline and with or without the final CRLF.
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        match parse_response(line)? {
            Response::List(entry) => Ok(entry),
            _ => Err(Error::Response {
                response: "LIST",
                offset: 0,
                reason: "not a LIST or LSUB response",
            }),
        }
    }

    /// LIST or LSUB.
    pub fn kind(&self) -> ListKind {
        self.kind
    }

    /// The attributes, in the order sent.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The hierarchy delimiter, `None` for `NIL` (a flat namespace).
    pub fn delimiter(&self) -> Option<char> {
        self.delimiter
    }

    /// The mailbox name.
    pub fn name(&self) -> &MailboxName {
        &self.name
    }

    /// The `CHILDINFO` extended data (RFC 5258 §4), e.g. `["SUBSCRIBED"]`.
    pub fn child_info(&self) -> &[String] {
        &self.child_info
    }

    /// Whether the mailbox can be selected (no `\Noselect` or `\NonExistent`).
    pub fn is_selectable(&self) -> bool {
        !self
            .attributes
            .iter()
            .any(|a| matches!(a, Attribute::NoSelect | Attribute::NonExistent))
    }
}

/// One namespace of a NAMESPACE response: a prefix and its delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Namespace {
    prefix: MailboxName,
    delimiter: Option<char>,
    extensions: Vec<(String, Vec<String>)>,
}

impl Namespace {
    /// Builds a namespace from parts.
    pub fn new(prefix: MailboxName, delimiter: Option<char>) -> Self {
        Self {
            prefix,
            delimiter,
            extensions: Vec::new(),
        }
    }

    /// The prefix, e.g. `INBOX.` or the empty name.
    pub fn prefix(&self) -> &MailboxName {
        &self.prefix
    }

    /// The hierarchy delimiter, `None` for `NIL`.
    pub fn delimiter(&self) -> Option<char> {
        self.delimiter
    }

    /// Extension data (RFC 2342 §5 `Namespace_Response_Extension`), e.g. translations.
    pub fn extensions(&self) -> &[(String, Vec<String>)] {
        &self.extensions
    }
}

/// A NAMESPACE response (RFC 2342): personal, other users' and shared namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Namespaces {
    personal: Vec<Namespace>,
    other_users: Vec<Namespace>,
    shared: Vec<Namespace>,
}

impl Namespaces {
    /// Builds from parts.
    pub fn new(
        personal: Vec<Namespace>,
        other_users: Vec<Namespace>,
        shared: Vec<Namespace>,
    ) -> Self {
        Self {
            personal,
            other_users,
            shared,
        }
    }

    /// Parses one `* NAMESPACE ...` response line.
    pub fn parse(line: &[u8]) -> Result<Self, Error> {
        match parse_response(line)? {
            Response::Namespace(ns) => Ok(ns),
            _ => Err(Error::Response {
                response: "NAMESPACE",
                offset: 0,
                reason: "not a NAMESPACE response",
            }),
        }
    }

    /// The personal namespaces; the first is the user's own mailboxes.
    pub fn personal(&self) -> &[Namespace] {
        &self.personal
    }

    /// Other users' namespaces.
    pub fn other_users(&self) -> &[Namespace] {
        &self.other_users
    }

    /// Shared namespaces.
    pub fn shared(&self) -> &[Namespace] {
        &self.shared
    }
}

/// Everything useful in a server's output for `NAMESPACE`, `LIST "" ""`,
/// `LIST "" "*"` or `LSUB`: list entries and the namespace response.
///
/// Other untagged and tagged lines are ignored, so the raw output of a
/// session can be handed over as it came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Listing {
    entries: Vec<ListEntry>,
    root: Option<ListEntry>,
    namespaces: Option<Namespaces>,
}

impl Listing {
    /// An empty listing, to [`push`](Self::push) entries into.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a server's raw output: responses split on CRLF (or LF),
    /// literals followed, lines that are not LIST/LSUB/NAMESPACE skipped.
    ///
    /// A `LIST "" ""` answer (the entry with the empty name) is kept apart as
    /// [`root`](Self::root): it carries the delimiter, not a mailbox.
    pub fn parse(raw: &[u8]) -> Result<Self, Error> {
        if raw.len() > MAX_LISTING_LEN {
            return Err(Error::TooLarge {
                response: "listing",
                len: raw.len(),
                limit: MAX_LISTING_LEN,
            });
        }
        let mut listing = Self::new();
        let mut pos = 0;
        while pos < raw.len() {
            let end = response_end(raw, pos);
            let line = &raw[pos..end];
            let at = pos;
            pos = end;
            if !is_interesting(line) {
                continue;
            }
            match parse_response(line) {
                Ok(Response::List(entry)) => listing.push(entry),
                Ok(Response::Namespace(ns)) => listing.namespaces = Some(ns),
                Ok(Response::Other) => {}
                Err(e) => return Err(shift(e, at)),
            }
        }
        Ok(listing)
    }

    /// Adds one entry (the root entry, with the empty name, goes to [`root`](Self::root)).
    pub fn push(&mut self, entry: ListEntry) {
        if entry.name.wire().is_empty() {
            self.root = Some(entry);
        } else {
            self.entries.push(entry);
        }
    }

    /// Sets the NAMESPACE response.
    pub fn set_namespaces(&mut self, namespaces: Namespaces) {
        self.namespaces = Some(namespaces);
    }

    /// The mailbox entries, in the order sent.
    pub fn entries(&self) -> &[ListEntry] {
        &self.entries
    }

    /// The `LIST "" ""` answer, if it was in the output.
    pub fn root(&self) -> Option<&ListEntry> {
        self.root.as_ref()
    }

    /// The NAMESPACE response, if it was in the output.
    pub fn namespaces(&self) -> Option<&Namespaces> {
        self.namespaces.as_ref()
    }
}

fn shift(e: Error, by: usize) -> Error {
    match e {
        Error::Response {
            response,
            offset,
            reason,
        } => Error::Response {
            response,
            offset: offset + by,
            reason,
        },
        other => other,
    }
}

fn is_interesting(line: &[u8]) -> bool {
    let mut p = Parser::new(line, "LIST");
    if p.bytes(b"* ").is_err() {
        return false;
    }
    matches!(
        p.atom().map(|a| a.to_ascii_uppercase()).as_deref(),
        Ok(b"LIST" | b"LSUB" | b"XLIST" | b"NAMESPACE")
    )
}

/// The end (exclusive, after the line break) of the response starting at
/// `pos`, following `{N}` / `{N+}` literals.
fn response_end(raw: &[u8], mut pos: usize) -> usize {
    loop {
        let Some(nl) = raw[pos..].iter().position(|&b| b == b'\n').map(|i| pos + i) else {
            return raw.len();
        };
        let line_end = if nl > pos && raw[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        match literal_len(&raw[pos..line_end]) {
            Some(n) if n <= raw.len() - (nl + 1) => pos = nl + 1 + n,
            Some(_) => return raw.len(),
            None => return nl + 1,
        }
    }
}

/// `N` if `line` ends with `{N}` or `{N+}`.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

enum Response {
    List(ListEntry),
    Namespace(Namespaces),
    Other,
}

/// `response-data` restricted to `mailbox-data` LIST/LSUB (RFC 3501 §9) and
/// `Namespace_Response` (RFC 2342 §5).
fn parse_response(line: &[u8]) -> Result<Response, Error> {
    if line.len() > MAX_RESPONSE_LEN {
        return Err(Error::TooLarge {
            response: "LIST",
            len: line.len(),
            limit: MAX_RESPONSE_LEN,
        });
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut p = Parser::new(line, "LIST");
    p.bytes(b"* ")?;
    let word = p.atom()?.to_ascii_uppercase();
    let resp = match word.as_slice() {
        b"LIST" | b"XLIST" => {
            p.sp()?;
            Response::List(mailbox_list(&mut p, ListKind::List)?)
        }
        b"LSUB" => {
            p.what = "LSUB";
            p.sp()?;
            Response::List(mailbox_list(&mut p, ListKind::Lsub)?)
        }
        b"NAMESPACE" => {
            p.what = "NAMESPACE";
            p.sp()?;
            let personal = namespace(&mut p)?;
            p.sp()?;
            let other_users = namespace(&mut p)?;
            p.sp()?;
            let shared = namespace(&mut p)?;
            Response::Namespace(Namespaces {
                personal,
                other_users,
                shared,
            })
        }
        _ => return Ok(Response::Other),
    };
    // Tolerate trailing blanks some servers send.
    while p.peek() == Some(b' ') {
        p.pos += 1;
    }
    if p.pos != p.input.len() {
        return Err(p.error("unexpected data after the response"));
    }
    Ok(resp)
}

/// `mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox [SP mbox-list-extended]`
/// (RFC 3501 §9, RFC 5258 §9).
fn mailbox_list(p: &mut Parser<'_>, kind: ListKind) -> Result<ListEntry, Error> {
    p.bytes(b"(")?;
    let mut attributes = Vec::new();
    while p.peek() != Some(b')') {
        if !attributes.is_empty() {
            p.sp()?;
        }
        let flag = p.flag()?;
        attributes.push(Attribute::from_flag(&flag));
    }
    p.bytes(b")")?;
    p.sp()?;
    let delimiter = delimiter(p)?;
    p.sp()?;
    let raw = p.astring()?;
    let name =
        MailboxName::from_wire(raw).map_err(|_| p.error("mailbox name with NUL, CR or LF"))?;
    let mut child_info = Vec::new();
    if p.peek() == Some(b' ') && p.input.get(p.pos + 1) == Some(&b'(') {
        p.sp()?;
        // mbox-list-extended = "(" [item *(SP item)] ")"; item = tag SP tagged-ext-val
        p.bytes(b"(")?;
        let mut first = true;
        while p.peek() != Some(b')') {
            if !first {
                p.sp()?;
            }
            first = false;
            let tag = p.astring()?;
            p.sp()?;
            let values = p.ext_value(0)?;
            if tag.eq_ignore_ascii_case(b"CHILDINFO") {
                child_info = values;
            }
        }
        p.bytes(b")")?;
    }
    Ok(ListEntry {
        kind,
        attributes,
        delimiter,
        name,
        child_info,
    })
}

/// `DQUOTE QUOTED-CHAR DQUOTE / nil`.
fn delimiter(p: &mut Parser<'_>) -> Result<Option<char>, Error> {
    if p.peek() == Some(b'"') {
        let s = p.quoted()?;
        if s.len() != 1 || !s[0].is_ascii() {
            return Err(p.error("delimiter must be one ascii character"));
        }
        Ok(Some(char::from(s[0])))
    } else {
        p.nil()?;
        Ok(None)
    }
}

/// `Namespace = nil / "(" 1*( "(" string SP (DQUOTE QUOTED_CHAR DQUOTE / nil)
/// *(Namespace_Response_Extension) ")" ) ")"` (RFC 2342 §5).
fn namespace(p: &mut Parser<'_>) -> Result<Vec<Namespace>, Error> {
    if p.peek() != Some(b'(') {
        p.nil()?;
        return Ok(Vec::new());
    }
    p.bytes(b"(")?;
    let mut out = Vec::new();
    while p.peek() == Some(b'(') {
        p.bytes(b"(")?;
        let raw = p.string()?;
        let prefix =
            MailboxName::from_wire(raw).map_err(|_| p.error("prefix with NUL, CR or LF"))?;
        p.sp()?;
        let delimiter = delimiter(p)?;
        let mut extensions = Vec::new();
        // Namespace_Response_Extension = SP string SP "(" string *(SP string) ")"
        while p.peek() == Some(b' ') {
            p.sp()?;
            let key = String::from_utf8_lossy(&p.string()?).into_owned();
            p.sp()?;
            p.bytes(b"(")?;
            let mut values = Vec::new();
            while p.peek() != Some(b')') {
                if !values.is_empty() {
                    p.sp()?;
                }
                values.push(String::from_utf8_lossy(&p.string()?).into_owned());
            }
            p.bytes(b")")?;
            extensions.push((key, values));
        }
        p.bytes(b")")?;
        out.push(Namespace {
            prefix,
            delimiter,
            extensions,
        });
        // Some servers put a space between the namespace descriptions.
        if p.peek() == Some(b' ') && p.input.get(p.pos + 1) == Some(&b'(') {
            p.pos += 1;
        }
    }
    if out.is_empty() {
        return Err(p.error("empty namespace list"));
    }
    p.bytes(b")")?;
    Ok(out)
}

/// A cursor over one response.
struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    what: &'static str,
}

/// Nesting limit for extended data values.
const MAX_DEPTH: usize = 8;

impl<'a> Parser<'a> {
    fn new(input: &'a [u8], what: &'static str) -> Self {
        Self {
            input,
            pos: 0,
            what,
        }
    }

    fn error(&self, reason: &'static str) -> Error {
        Error::Response {
            response: self.what,
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn bytes(&mut self, expected: &[u8]) -> Result<(), Error> {
        if self.input[self.pos..].starts_with(expected) {
            self.pos += expected.len();
            Ok(())
        } else {
            Err(self.error(match expected {
                b"(" => "expected '('",
                b")" => "expected ')'",
                b"* " => "expected '* '",
                _ => "unexpected character",
            }))
        }
    }

    fn sp(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b' ') {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error("expected a space"))
        }
    }

    fn nil(&mut self) -> Result<(), Error> {
        match self.input.get(self.pos..self.pos + 3) {
            Some(w) if w.eq_ignore_ascii_case(b"NIL") => {
                self.pos += 3;
                Ok(())
            }
            _ => Err(self.error("expected a quoted string or NIL")),
        }
    }

    /// `atom = 1*ATOM-CHAR`, here also allowing `]` (for astring).
    fn atom(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' '
                || b >= 0x7f
                || matches!(b, b'(' | b')' | b'{' | b'"' | b'\\' | b'%' | b'*')
            {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected an atom"));
        }
        Ok(&self.input[start..self.pos])
    }

    /// `flag-extension = "\" atom`, or a bare atom (some servers), plus
    /// the `\*` seen in some responses.
    fn flag(&mut self) -> Result<String, Error> {
        let start = self.pos;
        if self.peek() == Some(b'\\') {
            self.pos += 1;
            if self.peek() == Some(b'*') {
                self.pos += 1;
                return Ok("\\*".to_owned());
            }
        }
        self.atom()?;
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`, unescaped. 8-bit bytes are
    /// kept (broken servers send them; RFC 6855 allows UTF-8).
    fn quoted(&mut self) -> Result<Vec<u8>, Error> {
        self.bytes(b"\"")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted string")),
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
                        _ => return Err(self.error("bad escape in quoted string")),
                    }
                }
                Some(b'\r' | b'\n' | 0) => return Err(self.error("CR, LF or NUL in quoted string")),
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8`.
    fn literal(&mut self) -> Result<Vec<u8>, Error> {
        self.bytes(b"{")?;
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.input[start..self.pos];
        if digits.is_empty() || digits.len() > 9 {
            return Err(self.error("bad literal length"));
        }
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| self.error("bad literal length"))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.bytes(b"}")?;
        if self.input[self.pos..].starts_with(b"\r\n") {
            self.pos += 2;
        } else if self.peek() == Some(b'\n') {
            self.pos += 1;
        } else {
            return Err(self.error("expected CRLF after literal length"));
        }
        if self.input.len() - self.pos < n {
            return Err(self.error("literal longer than the response"));
        }
        let out = self.input[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// `string = quoted / literal`.
    fn string(&mut self) -> Result<Vec<u8>, Error> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(self.error("expected a string")),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`; 8-bit bytes accepted in atoms
    /// too (broken servers send raw names).
    fn astring(&mut self) -> Result<Vec<u8>, Error> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b <= b' ' || b == 0x7f || matches!(b, b'(' | b')' | b'{' | b'"' | b'\\') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.error("expected a mailbox name"));
                }
                Ok(self.input[start..self.pos].to_vec())
            }
        }
    }

    /// `tagged-ext-val` (RFC 4466): a simple value or a parenthesised list,
    /// flattened to its strings.
    fn ext_value(&mut self, depth: usize) -> Result<Vec<String>, Error> {
        if depth > MAX_DEPTH {
            return Err(self.error("extended data nested too deep"));
        }
        if self.peek() != Some(b'(') {
            return Ok(vec![String::from_utf8_lossy(&self.astring()?).into_owned()]);
        }
        self.bytes(b"(")?;
        let mut out = Vec::new();
        let mut first = true;
        while self.peek() != Some(b')') {
            if !first {
                self.sp()?;
            }
            first = false;
            out.extend(self.ext_value(depth + 1)?);
        }
        self.bytes(b")")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &[u8]) -> ListEntry {
        ListEntry::parse(line).unwrap()
    }

    #[test]
    fn list_lines_table() {
        // (line, name on the wire, delimiter, number of attributes)
        type Case<'a> = (&'a [u8], &'a [u8], Option<char>, usize);
        let cases: &[Case<'_>] = &[
            (b"* LIST () \"/\" blurdybloop", b"blurdybloop", Some('/'), 0),
            (b"* LIST (\\Noselect) \".\" #news.", b"#news.", Some('.'), 1),
            (
                b"* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n",
                b"~/Mail/foo",
                Some('/'),
                1,
            ),
            (
                b"* LSUB () \".\" #news.comp.mail.misc",
                b"#news.comp.mail.misc",
                Some('.'),
                0,
            ),
            (b"* LIST (\\HasNoChildren) NIL INBOX", b"INBOX", None, 1),
            (b"* LIST () \"\\\\\" \"a\\\\b\"", b"a\\b", Some('\\'), 0),
            (b"* LIST () \"/\" \"a\\\"b\"", b"a\"b", Some('/'), 0),
            (b"* LIST () \"/\" {3}\r\na b", b"a b", Some('/'), 0),
            (b"* LIST () \"/\" {3+}\r\na)b", b"a)b", Some('/'), 0),
            (
                b"* list (\\HASCHILDREN \\Sent) \".\" \"INBOX.&AMk-coles\"",
                b"INBOX.&AMk-coles",
                Some('.'),
                2,
            ),
            (b"* LIST () \"/\" Caf\xe9", b"Caf\xe9", Some('/'), 0),
            (
                b"* XLIST (\\AllMail \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"",
                b"[Gmail]/All Mail",
                Some('/'),
                2,
            ),
            (b"* LIST (\\Noselect) \"/\" \"\"", b"", Some('/'), 1),
        ];
        for (line, name, delim, n_attr) in cases {
            let e = entry(line);
            assert_eq!(
                e.name().wire(),
                *name,
                "{:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(e.delimiter(), *delim);
            assert_eq!(e.attributes().len(), *n_attr);
        }
    }

    #[test]
    fn attributes_map_xlist_and_special_use() {
        let e = entry(
            b"* XLIST (\\AllMail \\Spam \\Starred \\Inbox \\Important \\Drafts \\X-Foo) \"/\" x",
        );
        assert_eq!(
            e.attributes(),
            &[
                Attribute::All,
                Attribute::Junk,
                Attribute::Flagged,
                Attribute::XlistInbox,
                Attribute::Important,
                Attribute::Drafts,
                Attribute::Other("\\X-Foo".into()),
            ]
        );
    }

    #[test]
    fn list_extended_childinfo() {
        let e = entry(b"* LIST (\\Subscribed) \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        assert_eq!(e.child_info(), &["SUBSCRIBED".to_owned()]);
        let e = entry(
            b"* LIST () \"/\" \"Bar\" (\"OLDNAME\" (\"Foo\") \"CHILDINFO\" (\"SUBSCRIBED\" \"X\"))",
        );
        assert_eq!(e.child_info().len(), 2);
    }

    #[test]
    fn namespace_table() {
        let ns = Namespaces::parse(b"* NAMESPACE ((\"\" \"/\")) NIL NIL").unwrap();
        assert_eq!(ns.personal().len(), 1);
        assert_eq!(ns.personal()[0].prefix().as_str(), "");
        assert_eq!(ns.personal()[0].delimiter(), Some('/'));
        let ns = Namespaces::parse(
            b"* NAMESPACE ((\"INBOX.\" \".\")) ((\"#Users.\" \".\")) ((\"#Public/\" \"/\" \"X-PARAM\" (\"FLAG1\" \"FLAG2\"))(\"#ftp/\" \"/\"))",
        )
        .unwrap();
        assert_eq!(ns.personal()[0].prefix().as_str(), "INBOX.");
        assert_eq!(ns.other_users()[0].prefix().as_str(), "#Users.");
        assert_eq!(ns.shared().len(), 2);
        assert_eq!(ns.shared()[0].extensions()[0].1, vec!["FLAG1", "FLAG2"]);
        let ns = Namespaces::parse(b"* NAMESPACE ((\"\" NIL)) NIL NIL").unwrap();
        assert_eq!(ns.personal()[0].delimiter(), None);
    }

    #[test]
    fn errors_carry_offsets() {
        let cases: &[(&[u8], usize)] = &[
            (b"* LIST (\\Noselect \"/\" foo", 18),
            (b"* LIST () \"/\" \"unterminated", 27),
            (b"* LIST () \"//\" foo", 14),
            (b"* LIST () \"/\" {9}\r\nab", 19),
            (b"* LIST () \"/\"", 13),
            (b"* NAMESPACE (\"\" \"/\") NIL NIL", 13),
            (b"* NAMESPACE () NIL NIL", 13),
            (b"* LIST () \"/\" foo bar", 18),
        ];
        for (line, offset) in cases {
            match parse_response(line) {
                Err(Error::Response { offset: got, .. }) => {
                    assert_eq!(got, *offset, "{:?}", String::from_utf8_lossy(line))
                }
                other => panic!("{:?}: {:?}", String::from_utf8_lossy(line), other.is_ok()),
            }
        }
    }

    #[test]
    fn listing_splits_literals_and_skips_other_lines() {
        let raw = b"* OK hi\r\n* LIST (\\Noselect) \"/\" \"\"\r\n* LIST () \"/\" {4}\r\na\r\nb\r\n* LIST () \"/\" x\r\nA1 OK LIST done\r\n";
        // A literal holding CRLF cannot be a mailbox name; the parse fails at that response.
        assert!(Listing::parse(raw).is_err());
        let raw = b"* OK hi\r\n* LIST (\\Noselect) \"/\" \"\"\r\n* LIST () \"/\" {4}\r\na{b}\r\n* LIST () \"/\" x\r\n* SEARCH 1\r\nA1 OK LIST done\r\n";
        let l = Listing::parse(raw).unwrap();
        assert_eq!(l.root().unwrap().delimiter(), Some('/'));
        let names: Vec<_> = l
            .entries()
            .iter()
            .map(|e| e.name().as_str().to_owned())
            .collect();
        assert_eq!(names, ["a{b}", "x"]);
    }

    #[test]
    fn literal_len_table() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"* LIST () \"/\" {5}", Some(5)),
            (b"* LIST () \"/\" {5+}", Some(5)),
            (b"x {}", None),
            (b"x {1234567890}", None),
            (b"x", None),
        ];
        for (line, want) in cases {
            assert_eq!(literal_len(line), *want);
        }
    }
}
