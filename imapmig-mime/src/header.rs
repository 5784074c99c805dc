//! Header blocks (RFC 5322 §2.2, §3.6) and MIME header parameters (RFC 2045 §5.1).
//!
//! Sans-IO helpers shared by classification and repair: they walk a header
//! block line by line without allocating, and say what each line is.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memchr2;

/// One physical line: `content` excludes the line ending, `end` is past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) start: usize,
    pub(crate) content_end: usize,
    pub(crate) end: usize,
}

/// The line starting at `start` in `bytes[..limit]`. CRLF, LF and a lone CR
/// all end a line, so a message with old Mac line endings still has lines.
#[inline]
pub(crate) fn line_at(bytes: &[u8], start: usize, limit: usize) -> Line {
    match line_break(&bytes[start..limit]) {
        Some(i) => {
            let at = start + i;
            let end = if bytes[at] == b'\r' && at + 1 < limit && bytes[at + 1] == b'\n' {
                at + 2
            } else {
                at + 1
            };
            Line {
                start,
                content_end: at,
                end,
            }
        }
        None => Line {
            start,
            content_end: limit,
            end: limit,
        },
    }
}

/// The first CR or LF: eight bytes at a time in a `u64` over the first 64
/// bytes (header lines are short, and a `memchr2` call costs more than the
/// search on them), then `memchr2`.
fn line_break(text: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = 0;
    while i < 64 {
        let Some(chunk) = text.get(i..i + 8) else {
            break;
        };
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // The lowest marked byte is the first CR or LF (marks above it may
        // be false, never below).
        let found = zero_byte(word ^ (ONES * u64::from(b'\n')))
            | zero_byte(word ^ (ONES * u64::from(b'\r')));
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr2(b'\n', b'\r', &text[i.min(text.len())..]).map(|n| i + n)
}

/// What a header line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// `name: value`; `colon` is the offset of the colon, `name_end` the end
    /// of the name (before any white space preceding the colon).
    Field { name_end: usize, colon: usize },
    /// Starts with white space: continues the previous field (RFC 5322 §2.2.3).
    Continuation,
    /// An mbox envelope line (`From ` or a quoted `>From `).
    Envelope,
    /// Has a colon, but the name before it is not a field name (RFC 5322 §3.6.8).
    BadName,
    /// Has no colon at all.
    NoColon,
    /// Empty: ends the header block.
    Empty,
}

/// Bytes of a field name: printable US-ASCII except the colon (`ftext`).
static NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 33;
    while b <= 126 {
        table[b] = b != b':' as usize;
        b += 1;
    }
    table
};

/// Classify a header line (RFC 5322 §3.6.8: `field-name = 1*ftext`, with
/// `ftext` = printable US-ASCII except `:`; obsolete syntax allows white
/// space before the colon, §4.5).
pub(crate) fn line_kind(bytes: &[u8], line: Line) -> LineKind {
    let content = &bytes[line.start..line.content_end];
    let Some(&first) = content.first() else {
        return LineKind::Empty;
    };
    if first == b' ' || first == b'\t' {
        return LineKind::Continuation;
    }
    if (first == b'F' && content.starts_with(b"From "))
        || (first == b'>' && content.starts_with(b">From "))
    {
        return LineKind::Envelope;
    }
    // The name: printable US-ASCII except the colon; then optional white
    // space before the colon (obsolete syntax). Anything else before a colon
    // (white space inside the name included) makes the line a bad name if it
    // has a colon at all.
    let end = content
        .iter()
        .position(|&b| !NAME_BYTE[usize::from(b)])
        .unwrap_or(content.len());
    let mut i = end;
    while i < content.len() && matches!(content[i], b' ' | b'\t') {
        i += 1;
    }
    if content.get(i) == Some(&b':') {
        return if end == 0 {
            LineKind::BadName
        } else {
            LineKind::Field {
                name_end: line.start + end,
                colon: line.start + i,
            }
        };
    }
    match memchr::memchr(b':', &content[i..]) {
        Some(_) => LineKind::BadName,
        None => LineKind::NoColon,
    }
}

/// How many bytes at the start of `text` are field-name bytes (`NAME_BYTE`):
/// eight at a time in a `u64`, then one at a time.
fn name_len(text: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = text.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // Marks on bytes below 33, on bytes 127 and above, and on colons;
        // the lowest mark is exact (a false mark only sits above a true one).
        let below = word.wrapping_sub(ONES * 33) & !word;
        let above = word | word.wrapping_add(ONES);
        let colon = word ^ (ONES * u64::from(b':'));
        let colon = colon.wrapping_sub(ONES) & !colon;
        let found = (below | above | colon) & HIGHS;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + text[i..]
        .iter()
        .position(|&b| !NAME_BYTE[usize::from(b)])
        .unwrap_or(text.len() - i)
}

/// The line at `start` and what it is, as [`line_at`] then [`line_kind`]
/// say, with an ordinary field's name scanned once (the line end is searched
/// for from its colon: a name holds no CR or LF).
#[inline]
pub(crate) fn header_line(bytes: &[u8], start: usize, limit: usize) -> (Line, LineKind) {
    let rest = &bytes[start..limit];
    // `From ` and `>From ` lines are left to `line_kind` (envelope lines).
    if let Some(&first) = rest.first()
        && first != b'F'
        && first != b'>'
    {
        let end = name_len(rest);
        if end > 0 {
            let mut i = end;
            while i < rest.len() && matches!(rest[i], b' ' | b'\t') {
                i += 1;
            }
            if rest.get(i) == Some(&b':') {
                let colon = start + i;
                let line = line_at(bytes, colon, limit);
                return (
                    Line { start, ..line },
                    LineKind::Field {
                        name_end: start + end,
                        colon,
                    },
                );
            }
        }
    }
    let line = line_at(bytes, start, limit);
    (line, line_kind(bytes, line))
}

/// A header field: its name, its raw value (folds included) and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Range<usize>,
    pub(crate) value: Range<usize>,
    pub(crate) range: Range<usize>,
}

impl Field {
    pub(crate) fn name<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.name.clone()]
    }

    pub(crate) fn value<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.value.clone()]
    }
}

/// The value with folding undone (RFC 5322 §2.2.3) and outer white space
/// trimmed, lossily as UTF-8.
pub(crate) fn unfold(value: &[u8]) -> Cow<'_, str> {
    let trimmed = value.trim_ascii();
    if !trimmed.contains(&b'\n') && !trimmed.contains(&b'\r') {
        return String::from_utf8_lossy(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    for &b in trimmed {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// A MIME header value split into its leading token and `;`-separated
/// parameters (RFC 2045 §5.1, RFC 2183 §2): quoted strings unescaped,
/// comments skipped, names compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MimeValue<'a> {
    /// The value before the first `;`, trimmed and lowercased.
    pub(crate) token: String,
    params: Vec<(&'a [u8], Cow<'a, [u8]>)>,
}

impl<'a> MimeValue<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Self {
        let mut pos = skip_cfws(value, 0);
        let start = pos;
        while pos < value.len() && value[pos] != b';' && !is_ws(value[pos]) && value[pos] != b'(' {
            pos += 1;
        }
        let token = String::from_utf8_lossy(&value[start..pos]).to_ascii_lowercase();
        let mut params = Vec::new();
        loop {
            // Find the next ';' outside quotes (garbage after the token is skipped).
            while pos < value.len() && value[pos] != b';' {
                pos += 1;
            }
            if pos >= value.len() {
                break;
            }
            pos = skip_cfws(value, pos + 1);
            let name_start = pos;
            while pos < value.len()
                && value[pos] != b'='
                && value[pos] != b';'
                && !is_ws(value[pos])
            {
                pos += 1;
            }
            let name = &value[name_start..pos];
            pos = skip_cfws(value, pos);
            if pos >= value.len() || value[pos] != b'=' {
                continue;
            }
            pos = skip_cfws(value, pos + 1);
            let param_value = if value.get(pos) == Some(&b'"') {
                let (text, next) = quoted_string(value, pos);
                pos = next;
                text
            } else {
                let v_start = pos;
                while pos < value.len() && value[pos] != b';' && !is_ws(value[pos]) {
                    pos += 1;
                }
                Cow::Borrowed(&value[v_start..pos])
            };
            if !name.is_empty() && params.len() < 64 {
                params.push((name, param_value));
            }
        }
        Self { token, params }
    }

    /// The first parameter called `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &**v)
    }

    /// Whether a parameter's name starts with `prefix` (RFC 2231 `name*0*`...).
    pub(crate) fn has_param_prefixed(&self, prefix: &str) -> bool {
        self.params.iter().any(|(n, _)| {
            n.len() >= prefix.len() && n[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        })
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Skip white space and (nested) comments (RFC 5322 §3.2.2).
fn skip_cfws(value: &[u8], mut pos: usize) -> usize {
    loop {
        while pos < value.len() && is_ws(value[pos]) {
            pos += 1;
        }
        if value.get(pos) != Some(&b'(') {
            return pos;
        }
        let mut depth = 0usize;
        while pos < value.len() {
            match value[pos] {
                b'\\' => pos += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        pos += 1;
                        break;
                    }
                }
                _ => {}
            }
            pos += 1;
        }
    }
}

/// A quoted string starting at `value[start] == '"'`: its unescaped text and
/// the offset after it (RFC 5322 §3.2.4). An unterminated one runs to the end.
fn quoted_string(value: &[u8], start: usize) -> (Cow<'_, [u8]>, usize) {
    let mut pos = start + 1;
    let text_start = pos;
    let mut escaped = false;
    while pos < value.len() {
        match value[pos] {
            b'"' => {
                let raw = &value[text_start..pos];
                let text = if escaped {
                    Cow::Owned(unescape(raw))
                } else {
                    Cow::Borrowed(raw)
                };
                return (text, pos + 1);
            }
            b'\\' => {
                escaped = true;
                pos += 2;
            }
            _ => pos += 1,
        }
    }
    let raw = &value[text_start..value.len()];
    (Cow::Owned(unescape(raw)), value.len())
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut iter = raw.iter();
    while let Some(&b) = iter.next() {
        if b == b'\\' {
            if let Some(&next) = iter.next() {
                out.push(next);
            }
        } else if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_kinds() {
        let cases: &[(&[u8], LineKind)] = &[
            (
                b"Subject: hi",
                LineKind::Field {
                    name_end: 7,
                    colon: 7,
                },
            ),
            (
                b"Subject : hi",
                LineKind::Field {
                    name_end: 7,
                    colon: 8,
                },
            ),
            (b" folded", LineKind::Continuation),
            (b"\tfolded", LineKind::Continuation),
            (b"From a@b Mon Jan  1 00:00:00 2024", LineKind::Envelope),
            (b">From a@b", LineKind::Envelope),
            (b"Bad Name: x", LineKind::BadName),
            (b": x", LineKind::BadName),
            (b"Caf\xc3\xa9: x", LineKind::BadName),
            (b"no colon here", LineKind::NoColon),
            (b"", LineKind::Empty),
        ];
        for (text, kind) in cases {
            let line = line_at(text, 0, text.len());
            assert_eq!(
                line_kind(text, line),
                *kind,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    proptest::proptest! {
        /// The word-at-a-time search finds what `memchr2` finds.
        #[test]
        fn line_break_is_memchr2(text in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b' ', b'\r', b'\n', 0x8d, 0x0a ^ 0x80, 0xff, 0]),
            0..150,
        )) {
            proptest::prop_assert_eq!(line_break(&text), memchr2(b'\n', b'\r', &text));
        }
    }

    proptest::proptest! {
        /// The word-at-a-time name scan agrees with the table.
        #[test]
        fn name_len_is_the_table(text in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let want = text.iter().position(|&b| !NAME_BYTE[usize::from(b)]).unwrap_or(text.len());
            proptest::prop_assert_eq!(name_len(&text), want);
        }

        /// The fused scan says what `line_at` and `line_kind` say.
        #[test]
        fn header_line_is_line_at_then_kind(text in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'F', b'>', b'-', b':', b' ', b'\t', b'\r', b'\n', 0xc3, 0]),
            0..40,
        ), start in 0usize..40) {
            let start = start.min(text.len());
            let line = line_at(&text, start, text.len());
            proptest::prop_assert_eq!(
                header_line(&text, start, text.len()),
                (line, line_kind(&text, line))
            );
        }
    }

    #[test]
    fn line_endings() {
        let text = b"a\r\nb\nc\rd";
        let mut pos = 0;
        let mut got = Vec::new();
        while pos < text.len() {
            let line = line_at(text, pos, text.len());
            got.push((
                &text[line.start..line.content_end],
                line.end - line.content_end,
            ));
            pos = line.end;
        }
        assert_eq!(
            got,
            vec![
                (&b"a"[..], 2),
                (&b"b"[..], 1),
                (&b"c"[..], 1),
                (&b"d"[..], 0)
            ]
        );
    }

    #[test]
    fn mime_values() {
        let v = MimeValue::parse(
            b" Multipart/Mixed (comment);\r\n\tboundary=\"=_a\\\"b\" ; charset=UTF-8;name*0=x",
        );
        assert_eq!(v.token, "multipart/mixed");
        assert_eq!(v.param("BOUNDARY"), Some(&b"=_a\"b"[..]));
        assert_eq!(v.param("charset"), Some(&b"UTF-8"[..]));
        assert!(v.has_param_prefixed("name"));
        assert!(!v.has_param_prefixed("filename"));
        let v = MimeValue::parse(b"text/plain");
        assert_eq!(v.token, "text/plain");
        assert_eq!(v.param("charset"), None);
        let v = MimeValue::parse(b"attachment; filename=\"unterminated");
        assert_eq!(v.token, "attachment");
        assert_eq!(v.param("filename"), Some(&b"unterminated"[..]));
    }

    #[test]
    fn unfolding() {
        assert_eq!(
            unfold(b" Mon, 1 Jan 2024\r\n 00:00:00 +0000\r\n"),
            "Mon, 1 Jan 2024 00:00:00 +0000"
        );
        assert_eq!(unfold(b" plain "), "plain");
    }
}
