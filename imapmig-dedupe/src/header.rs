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

/// Most selected fields [`select`] records; a header block with more of
/// them is read by [`split`] instead.
pub(crate) const MAX_SELECTED: usize = 32;

/// The fields of a header block whose names are in a list, found in one
/// pass by [`select`].
#[derive(Debug)]
pub(crate) struct Selected<'a> {
    len: usize,
    /// (index of the name in the list, value as in [`Field::value`]).
    fields: [(usize, &'a [u8]); MAX_SELECTED],
}

impl<'a> Selected<'a> {
    /// The selected fields in message order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &'a [u8])> + '_ {
        self.fields[..self.len].iter().copied()
    }
}

/// The values of the fields named in `names` (lowercase), in message order,
/// with the index of their name: the same fields and values as [`split`]
/// gives, without collecting the others. Lines are found with `memchr`; a
/// field that is not selected costs its name comparison only. `None` when
/// more than [`MAX_SELECTED`] fields are selected.
pub(crate) fn select<'a, S: AsRef<str>>(message: &'a [u8], names: &[S]) -> Option<Selected<'a>> {
    let mut selected = Selected {
        len: 0,
        fields: [(0, &[][..]); MAX_SELECTED],
    };
    let mut pos = 0;
    if message.starts_with(b"From ") {
        pos = next_line(message, 0);
    }
    let mut in_field = false;
    // The selected field being collected: (name index, value start).
    let mut current: Option<(usize, usize)> = None;
    while let Some(&first) = message.get(pos) {
        let line_end = match first {
            // An empty line, or a line starting with CR, which is either empty
            // or not a field: the block ends.
            b'\r' | b'\n' => break,
            b' ' | b'\t' => {
                if !in_field {
                    break;
                }
                next_line_swar(message, pos + 1)
            }
            _ => {
                let (name, colon) = match name_end_swar(message, pos) {
                    Some(stop) if message[stop] == b':' && stop > pos => {
                        (&message[pos..stop], stop)
                    }
                    // White space after the name: the general reading.
                    Some(stop) if matches!(message[stop], b' ' | b'\t') => {
                        let line_end = next_line_swar(message, stop);
                        let Some((name, colon)) = field_name_of(strip_eol(&message[pos..line_end]))
                        else {
                            break;
                        };
                        (name, pos + colon)
                    }
                    // A control, non-ASCII byte or the end before any colon.
                    _ => break,
                };
                if let Some((index, start)) = current.take() {
                    selected.push(index, &message[start..pos])?;
                }
                in_field = true;
                current = names
                    .iter()
                    .position(|n| {
                        let n = n.as_ref().as_bytes();
                        n.len() == name.len() && n.eq_ignore_ascii_case(name)
                    })
                    .map(|index| (index, colon + 1));
                next_line_swar(message, colon + 1)
            }
        };
        pos = line_end;
    }
    if let Some((index, start)) = current {
        selected.push(index, &message[start..pos])?;
    }
    Some(selected)
}

/// The index of the first byte at or after `from` that cannot be in a field
/// name: a colon, or a byte outside 33-126 (`None` at the end of the
/// input). Eight bytes at a time in a `u64`; the name is never empty when
/// the byte at `from` is a name byte.
fn name_end_swar(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // In each of the three masks the lowest high bit set is exact: a
        // byte equal to ':', below 33, or above 126 (borrows and carries
        // only reach the bytes above it).
        let x = word ^ (ONES * u64::from(b':'));
        let colon = x.wrapping_sub(ONES) & !x & HIGHS;
        let low = word.wrapping_sub(ONES * 33) & !word & HIGHS;
        let high = (word.wrapping_add(ONES) | word) & HIGHS;
        let stop = colon | low | high;
        if stop != 0 {
            return Some(i + (stop.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b':' || !(33..=126).contains(&b))
        .map(|n| i + n)
}

/// [`next_line`] for short lines: eight bytes at a time in a `u64` (a
/// call to `memchr` costs more than the search on a 60-byte header line).
fn next_line_swar(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let x = word ^ (ONES * u64::from(b'\n'));
        // The lowest high bit set marks the first byte of `x` that is zero.
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return i + (zero.trailing_zeros() / 8) as usize + 1;
        }
        i += 8;
    }
    while let Some(&byte) = bytes.get(i) {
        i += 1;
        if byte == b'\n' {
            return i;
        }
    }
    bytes.len()
}

/// The name of a line that starts a field (white space before the colon
/// trimmed) and the index of the colon, in one pass; `None` when the line is
/// not a field (as [`split`] decides with [`is_field_name`]).
fn field_name_of(line: &[u8]) -> Option<(&[u8], usize)> {
    let mut end = 0;
    for (i, &byte) in line.iter().enumerate() {
        match byte {
            b':' => return (end > 0).then(|| (&line[..end], i)),
            b' ' | b'\t' => {}
            // A name byte after white space: the name holds white space.
            33..=126 if end == i => end = i + 1,
            _ => return None,
        }
    }
    None
}

impl<'a> Selected<'a> {
    fn push(&mut self, index: usize, value: &'a [u8]) -> Option<()> {
        let slot = self.fields.get_mut(self.len)?;
        *slot = (index, value);
        self.len += 1;
        Some(())
    }
}

/// Appends [`normalise_value`]`(value)` to `out`, length-prefixed (a
/// little-endian `u64`) as the fingerprints hash it. Plain values are
/// collapsed straight into `out`; a value with encoded words of the common
/// form (UTF-8, well-formed Q or B, see [`decode_simple_words`]) is decoded
/// into it without allocating; anything else goes through
/// [`normalise_value`] and mail-parser.
pub(crate) fn write_normalised(out: &mut Vec<u8>, value: &[u8]) {
    let len_at = out.len();
    out.extend_from_slice(&[0; 8]);
    let start = out.len();
    if let Some(clean) = already_collapsed(value) {
        // The common case: the value is its own normalised form, hashed
        // straight from the slice.
        out.extend_from_slice(clean);
    } else if !collapse_plain(out, value) {
        // An encoded word starts somewhere in the value.
        out.truncate(start);
        if std::str::from_utf8(value).is_err() {
            Collapse::new(out).push(out, value);
        } else if !decode_simple_words(out, value) {
            out.truncate(start);
            out.extend_from_slice(&normalise_value(value));
        }
    }
    let len = (out.len() - start) as u64;
    out[len_at..start].copy_from_slice(&len.to_le_bytes());
}

/// The value's text when its normalised form is that text unchanged: one
/// space (or none) after the colon, then text with no control byte, no `=`
/// (so no encoded word) and no two spaces in a row, then the line end (CR
/// LF, LF or none). Checked eight bytes at a time; `None` sends the value
/// to the general paths, which give the same result for these values.
fn already_collapsed(value: &[u8]) -> Option<&[u8]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let text = value.strip_prefix(b" ").unwrap_or(value);
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if matches!(text.first(), None | Some(b' ')) || text.last() == Some(&b' ') {
        return None;
    }
    // Exact per-byte masks (high bit of each byte): no borrow crosses bytes.
    let zero_bytes = |x: u64| !(((x & LOWS) + LOWS) | x | LOWS);
    let mut chunks = text.chunks_exact(8);
    let mut space_before = false;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // A byte below 0x20 (white space other than a space, or a control).
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        let equals = zero_bytes(word ^ (ONES * u64::from(b'=')));
        let spaces = zero_bytes(word ^ (ONES * u64::from(b' ')));
        // Two spaces in a row, within the word or across its start.
        let double = (spaces & (spaces >> 8)) | (u64::from(space_before) * (spaces & 0x80));
        if (control | equals | double) != 0 {
            return None;
        }
        space_before = spaces >> 63 != 0;
    }
    let mut before = space_before;
    for &byte in chunks.remainder() {
        if byte < 0x20 || byte == b'=' || (before && byte == b' ') {
            return None;
        }
        before = byte == b' ';
    }
    Some(text)
}

/// [`collapse_whitespace`] of `value` appended to `out` in one pass, for a
/// value without `=?`; returns `false` (with `out` as it was) on the first
/// `=?`, which only the encoded-word paths may read.
fn collapse_plain(out: &mut Vec<u8>, value: &[u8]) -> bool {
    let base = out.len();
    // At most the value's bytes are written: a space only replaces white space.
    out.resize(base + value.len(), 0);
    let mut len = base;
    let mut pending_space = false;
    let mut after_equals = false;
    for &byte in value {
        if is_ws(byte) {
            pending_space = len > base;
            after_equals = false;
            continue;
        }
        if byte == b'?' && after_equals {
            out.truncate(base);
            return false;
        }
        after_equals = byte == b'=';
        if pending_space {
            out[len] = b' ';
            len += 1;
            pending_space = false;
        }
        out[len] = byte;
        len += 1;
    }
    out.truncate(len);
    true
}

/// Writes bytes to a buffer with runs of white space collapsed to one space
/// and trimmed at both ends, as [`collapse_whitespace`] does, across several
/// pushes.
struct Collapse {
    start: usize,
    pending_space: bool,
}

impl Collapse {
    fn new(out: &[u8]) -> Collapse {
        Collapse {
            start: out.len(),
            pending_space: false,
        }
    }

    fn push(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        // Written in place: at most one space more than the bytes given
        // (a pending space from before), then cut to what was written.
        let mut len = out.len();
        out.resize(len + bytes.len() + 1, 0);
        for &byte in bytes {
            if is_ws(byte) {
                self.pending_space = true;
            } else {
                if self.pending_space && len > self.start {
                    out[len] = b' ';
                    len += 1;
                }
                self.pending_space = false;
                out[len] = byte;
                len += 1;
            }
        }
        out.truncate(len);
    }

    fn space(&mut self) {
        self.pending_space = true;
    }
}

/// Longest decoded encoded word the fast path takes (RFC 2047 §2 limits an
/// encoded word to 75 characters).
const MAX_DECODED_WORD: usize = 128;

/// The fast path of [`normalise_value`] for a UTF-8 `value` with encoded
/// words: the result of mail-parser's unstructured parse (text runs kept
/// whole; a space before a text run that follows anything and before an
/// encoded word that follows text; adjacent encoded words glued) with white
/// space collapsed, written to `out`. Returns `false`, with `out` partly
/// written, on anything it does not take: a charset other than UTF-8, an
/// encoded word that is malformed, folded, or decodes to invalid UTF-8, a
/// lone CR.
fn decode_simple_words(out: &mut Vec<u8>, value: &[u8]) -> bool {
    let mut collapse = Collapse::new(out);
    let mut text: Option<(usize, usize)> = None;
    let mut last_encoded = true;
    let mut any_token = false;
    let mut i = 0;
    while let Some(&byte) = value.get(i) {
        match byte {
            b' ' | b'\t' | b'\n' => {}
            b'\r' => {
                if value.get(i + 1) != Some(&b'\n') {
                    return false;
                }
            }
            b'=' if value.get(i + 1) == Some(&b'?') => {
                let mut word = [0u8; MAX_DECODED_WORD];
                let Some((used, len)) = decode_word(&value[i..], &mut word) else {
                    return false;
                };
                let decoded = &word[..len];
                if std::str::from_utf8(decoded).is_err() {
                    return false;
                }
                if let Some((start, end)) = text.take() {
                    if any_token {
                        collapse.space();
                    }
                    collapse.push(out, &value[start..end]);
                    last_encoded = false;
                }
                if !last_encoded {
                    collapse.space();
                }
                collapse.push(out, decoded);
                last_encoded = true;
                any_token = true;
                i += used;
                continue;
            }
            _ => match &mut text {
                Some((_, end)) => *end = i + 1,
                None => text = Some((i, i + 1)),
            },
        }
        i += 1;
    }
    if let Some((start, end)) = text {
        if any_token {
            collapse.space();
        }
        collapse.push(out, &value[start..end]);
    }
    true
}

/// Decodes one `=?utf-8?Q|B?...?=` word at the start of `input` into `out`:
/// (bytes used, bytes decoded), or `None` when it is not of that strict form.
fn decode_word(input: &[u8], out: &mut [u8; MAX_DECODED_WORD]) -> Option<(usize, usize)> {
    let rest = input.strip_prefix(b"=?")?;
    let charset_end = memchr::memchr(b'?', rest)?;
    if !rest[..charset_end].eq_ignore_ascii_case(b"utf-8") {
        return None;
    }
    let rest = &rest[charset_end + 1..];
    let (&encoding, rest) = rest.split_first()?;
    let payload = rest.strip_prefix(b"?")?;
    let end = memchr::memchr(b'?', payload)?;
    if payload.get(end + 1) != Some(&b'=') {
        return None;
    }
    let used = 2 + charset_end + 1 + 2 + end + 2;
    let payload = &payload[..end];
    let len = match encoding {
        b'q' | b'Q' => decode_q(payload, out)?,
        b'b' | b'B' => decode_b(payload, out)?,
        _ => return None,
    };
    Some((used, len))
}

fn decode_q(payload: &[u8], out: &mut [u8; MAX_DECODED_WORD]) -> Option<usize> {
    let mut len = 0;
    let mut i = 0;
    while let Some(&byte) = payload.get(i) {
        let decoded = match byte {
            b'_' => b' ',
            b'=' => {
                let high = hex_value(*payload.get(i + 1)?)?;
                let low = hex_value(*payload.get(i + 2)?)?;
                i += 2;
                (high << 4) | low
            }
            0x21..=0x7e => byte,
            _ => return None,
        };
        *out.get_mut(len)? = decoded;
        len += 1;
        i += 1;
    }
    Some(len)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn decode_b(payload: &[u8], out: &mut [u8; MAX_DECODED_WORD]) -> Option<usize> {
    let data_len = payload.len() - payload.iter().rev().take_while(|&&b| b == b'=').count();
    let (data, padding) = payload.split_at(data_len);
    match (data.len() % 4, padding.len()) {
        (0, 0) | (2, 2) | (3, 1) => {}
        _ => return None,
    }
    if data.len() / 4 * 3 + 2 > MAX_DECODED_WORD {
        return None;
    }
    let mut len = 0;
    let (mut bits, mut sextets) = (0u32, 0);
    for &byte in data {
        let value = BASE64_VALUE[usize::from(byte)];
        if value == INVALID {
            return None;
        }
        bits = (bits << 6) | u32::from(value);
        sextets += 1;
        if sextets == 4 {
            let [_, a, b, c] = bits.to_be_bytes();
            out[len..len + 3].copy_from_slice(&[a, b, c]);
            len += 3;
            (bits, sextets) = (0, 0);
        }
    }
    // Two sextets leave one byte (and 4 zero bits), three leave two (and 2).
    let tail: &[u8] = match sextets {
        2 => &[(bits >> 4) as u8],
        3 => &[(bits >> 10) as u8, (bits >> 2) as u8],
        _ => &[],
    };
    out[len..len + tail.len()].copy_from_slice(tail);
    Some(len + tail.len())
}

const INVALID: u8 = 0xff;

/// The value of each base64 byte (`+` and `/` alphabet), [`INVALID`] for others.
static BASE64_VALUE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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
    use proptest::prelude::*;

    /// What the fingerprints hash for a value by the general path.
    fn general(value: &[u8]) -> Vec<u8> {
        let normalised = normalise_value(value);
        let mut out = (normalised.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&normalised);
        out
    }

    fn fast(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_normalised(&mut out, value);
        out
    }

    /// One piece of a generated header value: text, white space and folds,
    /// well-formed encoded words of several charsets, and broken ones.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        let text = "[a-zA-Z0-9=?_.,<>@\u{e9}\u{4e2d}-]{1,10}".prop_map(String::into_bytes);
        let space = prop::sample::select(vec![" ", "  ", "\t", "\r\n ", "\n\t", "\r", " \r\n\t "])
            .prop_map(|s| s.as_bytes().to_vec());
        let charset = prop::sample::select(vec![
            "utf-8",
            "UTF-8",
            "Utf-8",
            "utf8",
            "iso-8859-1",
            "us-ascii",
            "x",
        ]);
        let word = (
            charset,
            "[a-zA-Z0-9 _=?\u{e9}\u{fc}\u{4e2d}\u{1f600}]{0,12}",
            0..6usize,
        )
            .prop_map(|(charset, text, style)| {
                let payload = match style {
                    0 => q_encode(text.as_bytes()),
                    1 => b_encode(text.as_bytes()),
                    2 => b_encode(text.as_bytes()).trim_end_matches('=').to_owned(),
                    3 => q_encode(text.as_bytes()).replace('=', "=\r\n "),
                    4 => text.clone(),
                    _ => q_encode(&text.as_bytes()[..text.len() / 2]),
                };
                let encoding = match style {
                    1 | 2 => "B",
                    4 => "b",
                    _ => "q",
                };
                format!("=?{charset}?{encoding}?{payload}?=").into_bytes()
            });
        let latin1 = Just(b"Caf\xe9".to_vec());
        prop_oneof![3 => text, 3 => space, 4 => word, 1 => latin1]
    }

    fn q_encode(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|&b| match b {
                b' ' => "_".to_owned(),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
                _ => format!("={b:02X}"),
            })
            .collect()
    }

    fn b_encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut group = [0u8; 3];
            group[..chunk.len()].copy_from_slice(chunk);
            let bits = u32::from_be_bytes([0, group[0], group[1], group[2]]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(base64_alphabet((bits >> (18 - 6 * i)) & 63));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn base64_alphabet(value: u32) -> char {
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char::from(table[value as usize])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The fast normalisation writes exactly what the general one gives.
        #[test]
        fn fast_normalisation_is_the_general_one(pieces in prop::collection::vec(piece(), 0..8)) {
            let value = pieces.concat();
            prop_assert_eq!(fast(&value), general(&value), "{:?}", String::from_utf8_lossy(&value));
        }
    }

    #[test]
    fn fast_normalisation_cases() {
        let cases: &[&[u8]] = &[
            b" =?utf-8?q?Caf=C3=A9?=",
            b" =?UTF-8?B?Q2Fmw6k=?=",
            b" =?utf-8?q?Caf?=\r\n =?utf-8?q?=C3=A9?=",
            b" x=?utf-8?q?a?=y =?utf-8?q?b?=",
            b" =?utf-8?q?a_?= =?utf-8?b?QQ?= =?utf-8?b?QUI=?=",
            b" =?utf-8?q?=FF?= tail",
            b" =?utf-8*en?q?a?=",
            b" a\rb =?utf-8?q?c?=",
            b" =?utf-8?q??=",
            b" =?",
            // Values that are, or are nearly, their own normalised form.
            b" Mon, 1 Jul 2024 10:00:00 +0000\r\n",
            b" Mon, 1 Jul 2024 10:00:00 +0000\n",
            b" 1234567  after a double space across eight bytes\r\n",
            b" 12345678 12345678 1234567 \r\n",
            b" a\r",
            b"x",
            b"\tx",
            b"  x",
            b" x\r\n\ty",
            b" a=b",
            b" Caf\xe9 \x7f",
            b" ",
        ];
        for value in cases {
            assert_eq!(
                fast(value),
                general(value),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        // The common forms take the fast path; the others fall back.
        for (value, fast_path) in cases
            .iter()
            .zip([true, true, true, true, false, false, false, false])
        {
            assert_eq!(
                decode_simple_words(&mut Vec::new(), value),
                fast_path,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

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
