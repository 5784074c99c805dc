//! The header block of a message: field splitting, unfolding, RFC 2047
//! decoding and white-space normalisation (RFC 5322 §2.2, RFC 2047).
//!
//! Everything here works on a full message or on the response to
//! `BODY.PEEK[HEADER.FIELDS (...)]` alike: the block ends at the first
//! empty line, at the first line that is not a header field, or at the end of
//! the input.

use std::borrow::Cow;

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

/// One header field as it appears in the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    /// The field name as written (case preserved, no trailing white space).
    pub(crate) name: &'a [u8],
    /// Everything after the colon up to the end of the field, folding included.
    pub(crate) value: &'a [u8],
}

/// A message split into its header fields and its body.
#[derive(Debug)]
pub(crate) struct Split<'a> {
    pub(crate) fields: Vec<Field<'a>>,
    /// The body: the bytes after the empty line ending the header block
    /// (empty when there is none).
    pub(crate) body: &'a [u8],
}

/// Splits a message (or a header block) into fields and body.
///
/// A first line starting with `From ` (an mbox envelope line) is skipped. A
/// line that is neither a field nor a continuation ends the header block and
/// starts the body, so that text without headers is never reduced to an
/// empty message (which would make all such messages look alike).
pub(crate) fn split(message: &[u8]) -> Split<'_> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    if message.starts_with(b"From ") {
        pos = next_line(message, 0);
    }
    // Start of the field being collected, and where its value starts.
    let mut current: Option<(usize, usize, usize)> = None;
    while pos < message.len() {
        let line_end = next_line(message, pos);
        let line = &message[pos..line_end];
        let content = strip_eol(line);
        if content.is_empty() {
            finish(message, current, pos, &mut fields);
            return Split {
                fields,
                body: &message[line_end..],
            };
        }
        if matches!(content.first(), Some(b' ' | b'\t')) {
            if current.is_none() {
                // A continuation with nothing to continue: not a header block.
                break;
            }
        } else {
            match content.iter().position(|&b| b == b':') {
                Some(colon) if is_field_name(trim_end(&content[..colon])) => {
                    finish(message, current, pos, &mut fields);
                    current = Some((pos, pos + colon, pos + colon + 1));
                }
                _ => break,
            }
        }
        pos = line_end;
    }
    finish(message, current, pos, &mut fields);
    Split {
        fields,
        body: &message[pos..],
    }
}

/// Pushes the field being collected, if any, ending at `end`.
fn finish<'a>(
    message: &'a [u8],
    current: Option<(usize, usize, usize)>,
    end: usize,
    fields: &mut Vec<Field<'a>>,
) {
    if let Some((name_start, name_end, value_start)) = current {
        fields.push(Field {
            name: trim_end(&message[name_start..name_end]),
            value: &message[value_start..end],
        });
    }
}

/// Index just after the next LF at or after `from` (or the end).
fn next_line(bytes: &[u8], from: usize) -> usize {
    match memchr::memchr(b'\n', &bytes[from..]) {
        Some(i) => from + i + 1,
        None => bytes.len(),
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// RFC 5322 `field-name`: printable US-ASCII except colon, at least one byte.
pub(crate) fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')
}

/// The value of a field as text for comparison: unfolded, RFC 2047 encoded
/// words decoded, runs of white space collapsed to one space, trimmed.
///
/// Values that are not UTF-8 are not decoded (decoding would replace every
/// bad byte with U+FFFD and make different values equal); their bytes are
/// kept with white space collapsed.
pub(crate) fn normalise_value(value: &[u8]) -> Cow<'_, [u8]> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Cow::Owned(collapse_whitespace(value));
    };
    if !text.contains("=?") {
        if is_collapsed(value) {
            return Cow::Borrowed(value);
        }
        return Cow::Owned(collapse_whitespace(value));
    }
    // mail-parser reads up to an LF not followed by white space, so the value
    // is unfolded first and given one final LF.
    let mut unfolded: Vec<u8> = value
        .iter()
        .filter(|&&b| b != b'\r' && b != b'\n')
        .copied()
        .collect();
    unfolded.push(b'\n');
    let decoded = match MessageStream::new(&unfolded).parse_unstructured() {
        HeaderValue::Text(text) => collapse_whitespace(text.as_bytes()),
        _ => Vec::new(),
    };
    Cow::Owned(decoded)
}

fn is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_collapsed(value: &[u8]) -> bool {
    value.first() != Some(&b' ')
        && value.last() != Some(&b' ')
        && !value.iter().any(|&b| matches!(b, b'\t' | b'\r' | b'\n'))
        && !value.windows(2).any(|w| w == b"  ")
}

fn collapse_whitespace(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for word in value.split(|&b| is_ws(b)).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_values(message: &[u8]) -> (Vec<(String, String)>, String) {
        let split = split(message);
        let fields = split
            .fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(f.name).into_owned(),
                    String::from_utf8_lossy(f.value).into_owned(),
                )
            })
            .collect();
        (fields, String::from_utf8_lossy(split.body).into_owned())
    }

    #[test]
    fn splits() {
        type Case<'a> = (&'a [u8], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            (
                b"A: 1\r\nB: 2\r\n\r\nbody\r\n",
                &[("A", " 1\r\n"), ("B", " 2\r\n")],
                "body\r\n",
            ),
            (
                b"A: 1\nB: 2\n\nbody\n",
                &[("A", " 1\n"), ("B", " 2\n")],
                "body\n",
            ),
            (
                b"A: 1\r\n folded\r\nB: 2",
                &[("A", " 1\r\n folded\r\n"), ("B", " 2")],
                "",
            ),
            (b"Subject : x\n\n", &[("Subject", " x\n")], ""),
            (
                b"From x@y Mon Jan  1 00:00:00 2024\nA: 1\n\nb",
                &[("A", " 1\n")],
                "b",
            ),
            (b"just text\nmore\n", &[], "just text\nmore\n"),
            (b" leading space\n", &[], " leading space\n"),
            (
                b"A: 1\nnot a field\nB: 2\n",
                &[("A", " 1\n")],
                "not a field\nB: 2\n",
            ),
            (b"", &[], ""),
        ];
        for (input, fields, body) in cases {
            let (got_fields, got_body) = names_values(input);
            let expected: Vec<(String, String)> = fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(got_fields, expected, "{:?}", String::from_utf8_lossy(input));
            assert_eq!(got_body, *body, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn normalises_values() {
        let cases: &[(&[u8], &[u8])] = &[
            (b" plain", b"plain"),
            (b"  two  spaces\r\n\tfolded ", b"two spaces folded"),
            (b" =?utf-8?q?Caf=C3=A9?=", "Café".as_bytes()),
            (b" =?UTF-8?B?Q2Fmw6k=?=", "Café".as_bytes()),
            (
                b" =?utf-8?q?Caf?=\r\n =?utf-8?q?=C3=A9?=",
                "Café".as_bytes(),
            ),
            (
                b" =?iso-8859-1?q?Caf=E9?= au lait",
                "Café au lait".as_bytes(),
            ),
            (b" Caf\xe9", b"Caf\xe9"),
            (b" Caf\xe8", b"Caf\xe8"),
            (b"", b""),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalise_value(input).as_ref(),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
