//! The opt-in repair of raw 8-bit header text: RFC 2047 encoded words (see
//! [`encode_8bit_headers`](crate::encode_8bit_headers)).
//!
//! Only the message's own header block is rewritten (the one a server such as
//! Cyrus IMAP inspects on APPEND). Within it, RFC 2047 §5 says where an
//! encoded word may stand, and nowhere else is one written:
//!
//! * unstructured text: `Subject`, `Comments`, `Content-Description`,
//!   `Thread-Topic` and every `X-` extension field (§5 (1));
//! * phrases: the display names of `From`, `To`, `Cc`, `Bcc`, `Reply-To`,
//!   `Sender` and their `Resent-` forms (§5 (3)); the addresses themselves
//!   (`addr-spec`) never.
//!
//! Everything else (`Message-ID`, `References`, `Received`, `Date`,
//! `Content-Type`, an address with 8-bit bytes...) stays byte for byte as it
//! is and is reported as an [`Unencoded`] field with its [`LeftReason`].

use std::fmt;

use base64::Engine as _;

use crate::charset::Charset;
use crate::header::{self, LineKind, MimeValue};

/// Why a header field with raw 8-bit bytes was left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum LeftReason {
    /// `structured-field`: a field in which RFC 2047 §5 forbids encoded words
    /// (`Message-ID`, `References`, `Received`, `Date`, `Content-Type`...).
    StructuredField,
    /// `address`: the 8-bit bytes are in an address (`addr-spec`), or the
    /// address list could not be split into display names and addresses
    /// (group syntax, unbalanced quotes or brackets).
    Address,
    /// `no-charset`: the bytes are not UTF-8 and the message declares no
    /// charset, so what they say is unknown.
    NoCharset,
    /// `undecodable`: the bytes are not UTF-8 and not valid in the charset the
    /// message's `Content-Type` declares (or no decoder knows that charset).
    Undecodable,
}

impl LeftReason {
    /// The reason's code (`structured-field`, `address`, `no-charset`, `undecodable`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::StructuredField => "structured-field",
            Self::Address => "address",
            Self::NoCharset => "no-charset",
            Self::Undecodable => "undecodable",
        }
    }
}

impl fmt::Display for LeftReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A header field whose raw 8-bit bytes the repair left as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Unencoded {
    /// The field's name as written (`Message-ID`).
    pub field: String,
    /// Byte offset of the field's first line in the repaired message.
    pub offset: usize,
    /// Why it was left.
    pub reason: LeftReason,
}

impl fmt::Display for Unencoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.field, self.offset, self.reason)
    }
}

/// What one pass over the header block did.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// The rewritten message, when a field was encoded.
    pub(crate) bytes: Option<Vec<u8>>,
    /// Names of the fields encoded, in order.
    pub(crate) encoded: Vec<String>,
    /// Fields left with their 8-bit bytes.
    pub(crate) unencoded: Vec<Unencoded>,
}

/// The longest encoded word RFC 2047 §2 allows.
const MAX_WORD: usize = 75;
/// `=?UTF-8?B?` and `?=`.
const WORD_OVERHEAD: usize = 12;
/// Text bytes per encoded word: base64 of 30 bytes is 40 characters, 52 in
/// all, so that the first word still fits on the line of a field name as
/// long as `Content-Description:` within [`LINE`].
const WORD_BYTES: usize = 30;
const _: () = assert!(WORD_OVERHEAD + WORD_BYTES.div_ceil(3) * 4 <= MAX_WORD);
/// Lines with encoded words are folded to at most this many characters where
/// the text allows (RFC 2047 §2: 76; RFC 5322 §2.1.1 recommends 78).
const LINE: usize = 76;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Text,
    Addresses,
    Structured,
}

fn class_of(name: &[u8]) -> Class {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if ["subject", "comments", "content-description", "thread-topic"]
        .iter()
        .any(|n| is(n))
        || (name.len() > 2 && name[..2].eq_ignore_ascii_case(b"x-"))
    {
        return Class::Text;
    }
    let base = if name.len() > 7 && name[..7].eq_ignore_ascii_case(b"resent-") {
        &name[7..]
    } else {
        name
    };
    let base_is = |n: &str| base.eq_ignore_ascii_case(n.as_bytes());
    if ["from", "to", "cc", "bcc", "reply-to", "sender"]
        .iter()
        .any(|n| base_is(n))
    {
        return Class::Addresses;
    }
    Class::Structured
}

/// One field of the top-level header block: its first line's start, the
/// colon, its end (past the last line ending) and the end of its content.
struct FieldAt {
    start: usize,
    name_end: usize,
    colon: usize,
    content_end: usize,
    end: usize,
}

/// Encode the raw 8-bit text of `bytes`'s top-level header block.
pub(crate) fn encode(bytes: &[u8]) -> Pass {
    let mut pass = Pass::default();
    let (fields, header_end) = top_fields(bytes);
    if bytes[..header_end].is_ascii() {
        return pass;
    }
    let declared = declared_charset(bytes, &fields);
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + 256);
    let mut pos = 0;
    for f in &fields {
        let raw = &bytes[f.start..f.end];
        if raw.is_ascii() {
            continue;
        }
        let name = &bytes[f.start..f.name_end];
        let name_text = String::from_utf8_lossy(name).into_owned();
        let offset_in_out = out.len() + (f.start - pos);
        let mut leave = |reason| {
            pass.unencoded.push(Unencoded {
                field: name_text.clone(),
                offset: offset_in_out,
                reason,
            })
        };
        let class = class_of(name);
        if class == Class::Structured {
            leave(LeftReason::StructuredField);
            continue;
        }
        let value: Vec<u8> = bytes[f.colon + 1..f.content_end]
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        let (text, utf8) = match String::from_utf8(value) {
            Ok(t) => (t, true),
            Err(e) => match decode_declared(declared.as_deref(), e.as_bytes()) {
                Ok(t) => (t, false),
                Err(reason) => {
                    leave(reason);
                    continue;
                }
            },
        };
        let new_value = match class {
            Class::Text => encode_text(&text),
            _ => match encode_addresses(&text) {
                Some((v, false)) => v,
                // Nothing but an address holds 8-bit text.
                Some((v, true)) if v == text => {
                    leave(LeftReason::Address);
                    continue;
                }
                Some((v, true)) if utf8 => {
                    // The display names are encoded; the address stays in
                    // its own bytes (written back unchanged, as UTF-8).
                    leave(LeftReason::Address);
                    v
                }
                _ => {
                    leave(LeftReason::Address);
                    continue;
                }
            },
        };
        let eol = &bytes[f.content_end..f.end];
        out.extend_from_slice(&bytes[pos..f.start]);
        let head = &bytes[f.start..=f.colon];
        out.extend_from_slice(head);
        fold(&new_value, head.len(), eol_or_crlf(eol), &mut out);
        out.extend_from_slice(eol);
        pos = f.end;
        pass.encoded.push(name_text);
    }
    if !pass.encoded.is_empty() {
        out.extend_from_slice(&bytes[pos..]);
        pass.bytes = Some(out);
    }
    pass
}

fn eol_or_crlf(eol: &[u8]) -> &[u8] {
    if eol.is_empty() { b"\r\n" } else { eol }
}

/// The fields of the top-level header block and where it ends.
fn top_fields(bytes: &[u8]) -> (Vec<FieldAt>, usize) {
    let mut fields: Vec<FieldAt> = Vec::new();
    let mut pos = 0;
    let mut in_field = false;
    while pos < bytes.len() {
        let line = header::line_at(bytes, pos, bytes.len());
        match header::line_kind(bytes, line) {
            LineKind::Empty => return (fields, line.start),
            LineKind::Field { name_end, colon } => {
                fields.push(FieldAt {
                    start: line.start,
                    name_end,
                    colon,
                    content_end: line.content_end,
                    end: line.end,
                });
                in_field = true;
            }
            LineKind::Continuation if in_field => {
                if let Some(f) = fields.last_mut() {
                    f.content_end = line.content_end;
                    f.end = line.end;
                }
            }
            _ => in_field = false,
        }
        pos = line.end;
    }
    (fields, bytes.len())
}

/// The charset the top-level `Content-Type` declares, if any.
fn declared_charset(bytes: &[u8], fields: &[FieldAt]) -> Option<Vec<u8>> {
    let ct = fields
        .iter()
        .find(|f| bytes[f.start..f.name_end].eq_ignore_ascii_case(b"content-type"))?;
    let value = &bytes[ct.colon + 1..ct.content_end];
    MimeValue::parse(value).param("charset").map(<[u8]>::to_vec)
}

/// Decode non-UTF-8 header bytes in the declared charset, strictly.
fn decode_declared(declared: Option<&[u8]>, raw: &[u8]) -> Result<String, LeftReason> {
    let Some(label) = declared else {
        return Err(LeftReason::NoCharset);
    };
    match Charset::resolve(Some(label)) {
        Charset::Known(encoding) => encoding
            .decode_without_bom_handling_and_without_replacement(raw)
            .map(|t| t.into_owned())
            .ok_or(LeftReason::Undecodable),
        Charset::Lenient => Err(LeftReason::NoCharset),
        Charset::Unchecked | Charset::Unknown => Err(LeftReason::Undecodable),
    }
}

/// `text` as white space and words: `(leading white space, word)` pairs and
/// the trailing white space.
fn words(text: &str) -> (Vec<(&str, &str)>, &str) {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let ws_len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let (ws, after) = rest.split_at(ws_len);
        if after.is_empty() {
            return (out, ws);
        }
        let word_len = after.find([' ', '\t']).unwrap_or(after.len());
        let (word, next) = after.split_at(word_len);
        out.push((ws, word));
        rest = next;
    }
}

/// Whether a word is an RFC 2047 encoded word already (§2: `=?charset?B|Q?text?=`, all
/// printable ASCII, no `?` in the text). A word that only starts with `=?` and ends with
/// `?=` but carries raw 8-bit bytes or another shape is text to encode: kept as it is, it
/// would leave 8-bit in the header and a second pass would encode it after all.
fn looks_encoded(word: &str) -> bool {
    let Some(inner) = word.strip_prefix("=?").and_then(|w| w.strip_suffix("?=")) else {
        return false;
    };
    let mut parts = inner.splitn(3, '?');
    let (Some(charset), Some(encoding), Some(text)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !charset.is_empty()
        && charset.bytes().all(|b| b.is_ascii_graphic())
        && matches!(encoding, "B" | "b" | "Q" | "q")
        && !text.contains('?')
        && text.bytes().all(|b| b.is_ascii_graphic())
}

/// Unstructured text with every run of words holding non-ASCII characters as
/// encoded words. White space inside a run is encoded with it; white space
/// between a new encoded word and an existing one too, since a reader drops
/// white space between adjacent encoded words (RFC 2047 §6.2).
fn encode_text(text: &str) -> String {
    let (pieces, trailing) = words(text);
    let mut out = String::with_capacity(text.len() * 2);
    let mut i = 0;
    while i < pieces.len() {
        let (ws, word) = pieces[i];
        if word.is_ascii() {
            out.push_str(ws);
            out.push_str(word);
            i += 1;
            continue;
        }
        // The run ends at the last non-ASCII word before an encoded word.
        let mut last = i;
        let mut k = i + 1;
        while k < pieces.len() && !looks_encoded(pieces[k].1) {
            if !pieces[k].1.is_ascii() {
                last = k;
            }
            k += 1;
        }
        let mut run = String::new();
        if i > 0 && looks_encoded(pieces[i - 1].1) {
            out.push(' ');
            run.push_str(ws);
        } else if ws.is_empty() {
            out.push(' ');
        } else {
            out.push_str(ws);
        }
        run.push_str(word);
        for (ws, word) in &pieces[i + 1..=last] {
            run.push_str(ws);
            run.push_str(word);
        }
        let next_encoded = pieces.get(last + 1).filter(|p| looks_encoded(p.1));
        if let Some((ws, _)) = next_encoded {
            run.push_str(ws);
        }
        push_encoded_words(&run, &mut out);
        i = last + 1;
        if let Some((_, word)) = next_encoded {
            out.push(' ');
            out.push_str(word);
            i += 1;
        }
    }
    out.push_str(trailing);
    out
}

/// `text` as `=?UTF-8?B?...?=` words of at most 75 characters, separated by
/// single spaces, split only between characters.
fn push_encoded_words(text: &str, out: &mut String) {
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        let mut cut = rest.len().min(WORD_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, next) = rest.split_at(cut);
        if !first {
            out.push(' ');
        }
        out.push_str("=?UTF-8?B?");
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(chunk));
        out.push_str("?=");
        first = false;
        rest = next;
    }
}

/// An address list with its non-ASCII display names as encoded words, and
/// whether an address itself (outside display names) holds non-ASCII text.
/// `None` when the list cannot be split safely (group syntax, unbalanced
/// quotes, comments or angle brackets).
fn encode_addresses(text: &str) -> Option<(String, bool)> {
    let mut out = String::with_capacity(text.len() * 2);
    let mut address_left = false;
    for (n, element) in split_top_level(text)?.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let Some(lt) = top_level_angle(element) else {
            address_left |= !element.is_ascii();
            out.push_str(element);
            continue;
        };
        let (phrase, rest) = element.split_at(lt);
        address_left |= !rest.is_ascii();
        if phrase.is_ascii() {
            out.push_str(phrase);
        } else {
            let lead = &phrase[..phrase.len() - phrase.trim_start().len()];
            out.push_str(if lead.is_empty() { " " } else { lead });
            push_encoded_words(&display_name(phrase), &mut out);
            out.push(' ');
        }
        out.push_str(rest);
    }
    Some((out, address_left))
}

/// The quotes, comments and escapes of address text (RFC 5322 §3.2), read
/// one character at a time.
#[derive(Default)]
struct AddressLexer {
    quoted: bool,
    escaped: bool,
    comment: usize,
}

impl AddressLexer {
    /// Reads `c`: `Some(true)` when it stands at the top level (outside
    /// quotes and comments, and not one of their marks), `Some(false)` when
    /// it does not, `None` for a `)` that closes no comment (the state is
    /// then unchanged).
    fn step(&mut self, c: char) -> Option<bool> {
        if self.escaped {
            self.escaped = false;
            return Some(false);
        }
        match c {
            '\\' if self.quoted || self.comment > 0 => self.escaped = true,
            '"' if self.comment == 0 => self.quoted = !self.quoted,
            '(' if !self.quoted => self.comment += 1,
            ')' if !self.quoted => self.comment = self.comment.checked_sub(1)?,
            _ => return Some(!self.quoted && self.comment == 0),
        }
        Some(false)
    }

    /// Whether every quote and comment opened so far is closed.
    fn balanced(&self) -> bool {
        !self.quoted && self.comment == 0
    }
}

/// The elements of an address list (split at top-level commas), each with
/// its comma-free text as written.
fn split_top_level(text: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut lexer = AddressLexer::default();
    let mut angle = false;
    for (i, c) in text.char_indices() {
        if !lexer.step(c)? {
            continue;
        }
        match c {
            '<' if !angle => angle = true,
            '>' if angle => angle = false,
            ':' | ';' if !angle => return None,
            ',' if !angle => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !lexer.balanced() || angle {
        return None;
    }
    out.push(&text[start..]);
    Some(out)
}

/// Where the top-level `<` of an element is (outside quotes and comments;
/// a `)` that closes no comment is passed over).
fn top_level_angle(element: &str) -> Option<usize> {
    let mut lexer = AddressLexer::default();
    element
        .char_indices()
        .find(|&(_, c)| lexer.step(c) == Some(true) && c == '<')
        .map(|(i, _)| i)
}

/// What a reader shows of a phrase: quotes removed, escapes undone, outer
/// white space trimmed.
fn display_name(phrase: &str) -> String {
    let mut out = String::with_capacity(phrase.len());
    let mut chars = phrase.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {}
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Append `value` (ASCII), folding at its white space so that lines stay
/// within [`LINE`] characters where a word allows it; `used` is the length of
/// the line so far (the field name and colon).
fn fold(value: &str, used: usize, eol: &[u8], out: &mut Vec<u8>) {
    let (pieces, trailing) = words(value);
    let mut line = used;
    for (n, (ws, word)) in pieces.into_iter().enumerate() {
        if n > 0 && !ws.is_empty() && line + ws.len() + word.len() > LINE {
            out.extend_from_slice(eol);
            line = 0;
        }
        out.extend_from_slice(ws.as_bytes());
        out.extend_from_slice(word.as_bytes());
        line += ws.len() + word.len();
    }
    out.extend_from_slice(trailing.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &str) -> String {
        encode_text(value)
    }

    #[test]
    fn text_runs() {
        let cases: &[(&str, &str)] = &[
            (" plain", " plain"),
            (" Grüße", " =?UTF-8?B?R3LDvMOfZQ==?="),
            (
                " Re: Grüße aus Köln, bis bald",
                " Re: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4s?= bis bald",
            ),
            ("Grüße", " =?UTF-8?B?R3LDvMOfZQ==?="),
            (" =?utf-8?q?a?= ü", " =?utf-8?q?a?= =?UTF-8?B?IMO8?="),
            (" ü =?utf-8?q?a?=", " =?UTF-8?B?w7wg?= =?utf-8?q?a?="),
            // Found by the mime_encode_8bit fuzz target: a word shaped like an encoded word
            // on the outside with raw 8-bit inside is text, encoded like the rest.
            (" =?UT:ü-8?B?x?=", " =?UTF-8?B?PT9VVDrDvC04P0I/eD89?="),
        ];
        for (value, want) in cases {
            assert_eq!(encoded(value), *want, "{value:?}");
        }
    }

    #[test]
    fn long_runs_are_split_between_characters() {
        let text = "日本語".repeat(20);
        let out = encoded(&format!(" {text}"));
        let words: Vec<&str> = out.split_whitespace().collect();
        assert!(words.len() > 1);
        let mut back = Vec::new();
        for w in &words {
            assert!(w.len() <= MAX_WORD, "{w}");
            let b64 = &w[10..w.len() - 2];
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            assert!(
                std::str::from_utf8(&bytes).is_ok(),
                "split inside a character"
            );
            back.extend(bytes);
        }
        assert_eq!(String::from_utf8_lossy(&back), text);
    }

    #[test]
    fn addresses() {
        let cases: &[(&str, Option<(&str, bool)>)] = &[
            (
                " Kim <kim@example.org>",
                Some((" Kim <kim@example.org>", false)),
            ),
            (
                " Jörg <j@example.org>, \"Müller, Ann\" <a@example.org>",
                Some((
                    " =?UTF-8?B?SsO2cmc=?= <j@example.org>, =?UTF-8?B?TcO8bGxlciwgQW5u?= <a@example.org>",
                    false,
                )),
            ),
            (
                " Jörg <jörg@example.org>",
                Some((" =?UTF-8?B?SsO2cmc=?= <jörg@example.org>", true)),
            ),
            (" jörg@example.org", Some((" jörg@example.org", true))),
            (" Team: jörg@example.org;", None),
            (" \"unterminated <x@example.org>", None),
        ];
        for (value, want) in cases {
            let got = encode_addresses(value);
            assert_eq!(
                got.as_ref().map(|(s, b)| (s.as_str(), *b)),
                *want,
                "{value:?}"
            );
        }
    }

    #[test]
    fn classes() {
        assert_eq!(class_of(b"SUBJECT"), Class::Text);
        assert_eq!(class_of(b"X-Mailer"), Class::Text);
        assert_eq!(class_of(b"Resent-From"), Class::Addresses);
        assert_eq!(class_of(b"reply-to"), Class::Addresses);
        assert_eq!(class_of(b"Message-ID"), Class::Structured);
        assert_eq!(class_of(b"Received"), Class::Structured);
        assert_eq!(class_of(b"X-"), Class::Structured);
    }

    #[test]
    fn folding_keeps_lines_short() {
        let mut out = Vec::new();
        let value = encoded(&format!(" {}", "Grüße aus Köln ".repeat(12)));
        fold(&value, "Subject:".len(), b"\r\n", &mut out);
        let text = String::from_utf8(out).unwrap_or_default();
        for (n, line) in text.split("\r\n").enumerate() {
            let len = line.len() + if n == 0 { 8 } else { 0 };
            assert!(len <= LINE, "{line:?}");
            if n > 0 {
                assert!(line.starts_with(' '));
            }
        }
    }
}
