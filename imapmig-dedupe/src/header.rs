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
/// pass by [`select`]. Compact (value ranges as `u32` offsets, name indexes
/// as bytes) and filled in place, so that reading a block copies no array.
#[derive(Debug)]
pub(crate) struct Selected {
    len: usize,
    /// The index in the name list of each selected field, in message order.
    names: [u8; MAX_SELECTED],
    /// Each selected field's value, as a range of the message (see
    /// [`Field::value`]).
    values: [(u32, u32); MAX_SELECTED],
    /// For each of the first sixteen names of the list, bit i set when
    /// slot i holds that name's field.
    by_name: [u32; 16],
}

impl Selected {
    /// No field selected yet.
    pub(crate) fn new() -> Selected {
        Selected {
            len: 0,
            names: [0; MAX_SELECTED],
            values: [(0, 0); MAX_SELECTED],
            by_name: [0; 16],
        }
    }

    /// The values of the fields whose name has index `name` in the list
    /// given to [`select`], in message order.
    pub(crate) fn values_of<'s, 'a>(&'s self, message: &'a [u8], name: usize) -> Values<'s, 'a> {
        let all = u32::try_from((1u64 << self.len) - 1).unwrap_or(u32::MAX);
        Values {
            selected: self,
            message,
            name,
            slots: self.by_name.get(name).copied().unwrap_or(all),
        }
    }

    fn push(&mut self, index: usize, start: usize, end: usize) -> Option<()> {
        // Offsets and indexes fit: `select` refuses longer inputs and lists.
        let slot = self.values.get_mut(self.len)?;
        *slot = (u32::try_from(start).ok()?, u32::try_from(end).ok()?);
        self.names[self.len] = u8::try_from(index).ok()?;
        if let Some(slots) = self.by_name.get_mut(index) {
            *slots |= 1 << self.len;
        }
        self.len += 1;
        Some(())
    }
}

/// The values of one name's fields, from [`Selected::values_of`].
pub(crate) struct Values<'s, 'a> {
    selected: &'s Selected,
    message: &'a [u8],
    name: usize,
    /// The slots still to look at: only this name's when it has a bit set
    /// in [`Selected::by_name`], else all of them.
    slots: u32,
}

impl<'a> Iterator for Values<'_, 'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.slots != 0 {
            let slot = self.slots.trailing_zeros() as usize;
            self.slots &= self.slots - 1;
            if usize::from(self.selected.names[slot]) == self.name {
                let (start, end) = self.selected.values[slot];
                return Some(
                    self.message
                        .get(start as usize..end as usize)
                        .unwrap_or_default(),
                );
            }
        }
        None
    }
}

/// The field names [`select`] looks for, prepared once: lowercase, with
/// their first sixteen bytes as two words compared in one step each,
/// whatever the case of the name in the message.
#[derive(Debug, Clone)]
pub(crate) struct FieldNames {
    /// Bit n set when a name of n bytes is in the list (bit 63: 63 or
    /// more), so that most other fields are passed over without a
    /// comparison.
    lengths: u64,
    names: Vec<NamePattern>,
}

/// One name of a [`FieldNames`].
#[derive(Debug, Clone)]
struct NamePattern {
    /// The lowercase name.
    name: String,
    /// The name as the fingerprints hash it: its length (a little-endian
    /// `u64`), then its bytes.
    hashed: Vec<u8>,
    /// Whether the name is `message-id`, whose values are read as ids.
    is_message_id: bool,
    /// Its first sixteen bytes as little-endian words, zero after its end.
    words: [u64; 2],
    /// 0x20 at each letter of `words`: the case bit a name in the message
    /// may differ by.
    case: [u64; 2],
    /// The bits of the bytes of `words` that hold the name.
    mask: [u64; 2],
}

impl FieldNames {
    /// The names of `names`, which are lowercase [field names](is_field_name).
    pub(crate) fn new<S: AsRef<str>>(names: &[S]) -> FieldNames {
        let names: Vec<NamePattern> = names
            .iter()
            .map(|name| {
                let name = name.as_ref().to_owned();
                let mut bytes = [0u8; 16];
                let mut case = [0u8; 16];
                let mut mask = [0u8; 16];
                for (i, &byte) in name.as_bytes().iter().take(16).enumerate() {
                    bytes[i] = byte;
                    case[i] = if byte.is_ascii_lowercase() { 0x20 } else { 0 };
                    mask[i] = 0xff;
                }
                let words = |b: [u8; 16]| {
                    [
                        u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
                        u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8])),
                    ]
                };
                let mut hashed = (name.len() as u64).to_le_bytes().to_vec();
                hashed.extend_from_slice(name.as_bytes());
                NamePattern {
                    words: words(bytes),
                    case: words(case),
                    mask: words(mask),
                    hashed,
                    is_message_id: name == "message-id",
                    name,
                }
            })
            .collect();
        FieldNames {
            lengths: names
                .iter()
                .fold(0u64, |bits, n| bits | (1u64 << n.name.len().min(63))),
            names,
        }
    }

    /// How many names the list holds.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The names, lowercase, in list order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| n.name.as_str())
    }

    /// Each name as the fingerprints hash it (its length as a
    /// little-endian `u64`, then its bytes), and whether it is
    /// `message-id`, in list order.
    pub(crate) fn hashed(&self) -> impl Iterator<Item = (&[u8], bool)> {
        self.names
            .iter()
            .map(|n| (n.hashed.as_slice(), n.is_message_id))
    }

    /// The index in the list of the name `message[start..end]` (compared
    /// ignoring ASCII case, exactly as `eq_ignore_ascii_case`).
    fn find(&self, message: &[u8], start: usize, end: usize) -> Option<usize> {
        let len = end - start;
        if self.lengths & (1u64 << len.min(63)) == 0 {
            return None;
        }
        let written = message.get(start..end)?;
        let take = written.len().min(16);
        // The sixteen bytes from the name's start (what follows the name is
        // masked off below); zeros past the end of the message.
        let mut tail = [0u8; 16];
        let head: &[u8] = match message.get(start..start + 16) {
            Some(head) => head,
            None => {
                let rest = message.get(start..).unwrap_or_default();
                tail[..rest.len()].copy_from_slice(rest);
                &tail
            }
        };
        let word =
            |i: usize| u64::from_le_bytes(head[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        let (w0, w1) = (word(0), word(1));
        self.names.iter().position(|n| {
            // A letter matches either case (b | 0x20 is that lowercase letter
            // only for the letter itself); any other byte must be equal.
            n.name.len() == len
                && (w0 | n.case[0]) & n.mask[0] == n.words[0]
                && (w1 | n.case[1]) & n.mask[1] == n.words[1]
                && written[take..].eq_ignore_ascii_case(&n.name.as_bytes()[take..])
        })
    }
}

/// Reads into `selected` the values of the fields named in `names`, in
/// message order, with the index of their name: the same fields and values
/// as [`split`] gives, without collecting the others. A field that is not
/// selected costs its name comparison only. `None` when more than
/// [`MAX_SELECTED`] fields are selected, the list has more than 255 names or
/// the message is 4 GiB or more: [`split`] reads those.
pub(crate) fn select(message: &[u8], names: &FieldNames, selected: &mut Selected) -> Option<()> {
    if names.len() > usize::from(u8::MAX) || u32::try_from(message.len()).is_err() {
        return None;
    }
    let mut pos = 0;
    if message.starts_with(b"From ") {
        pos = next_line(message, 0);
    }
    let mut in_field = false;
    // The selected field being collected: (name index, value start).
    let mut current: Option<(usize, usize)> = None;
    let mut ends = LineEnds::new(message, pos);
    while let Some(&first) = message.get(pos) {
        match first {
            // An empty line, or a line starting with CR, which is either empty
            // or not a field: the block ends.
            b'\r' | b'\n' => break,
            b' ' | b'\t' => {
                if !in_field {
                    break;
                }
                pos = ends.next();
            }
            _ => {
                let line_end = ends.next();
                let (name, colon) = match name_end_swar(message, pos) {
                    Some(stop) if message[stop] == b':' && stop > pos => {
                        (&message[pos..stop], stop)
                    }
                    // White space after the name: the general reading.
                    Some(stop) if matches!(message[stop], b' ' | b'\t') => {
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
                    selected.push(index, start, pos)?;
                }
                in_field = true;
                current = names
                    .find(message, pos, pos + name.len())
                    .map(|index| (index, colon + 1));
                pos = line_end;
            }
        }
    }
    if let Some((index, start)) = current {
        selected.push(index, start, pos)?;
    }
    Some(())
}

/// The index of the first byte at or after `from` that cannot be in a field
/// name: a colon, or a byte outside 33-126 (`None` at the end of the
/// input). Sixteen bytes at a time as two `u64` words, whose stops are
/// combined without a branch (most names end in their first sixteen bytes);
/// the name is never empty when the byte at `from` is a name byte.
fn name_end_swar(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 16) {
        let word = |at: usize| u64::from_le_bytes(chunk[at..at + 8].try_into().unwrap_or([0; 8]));
        let both = u128::from(name_stops(word(0))) | (u128::from(name_stops(word(8))) << 64);
        if both != 0 {
            return Some(i + (both.trailing_zeros() / 8) as usize);
        }
        i += 16;
    }
    while let Some(chunk) = bytes.get(i..i + 8) {
        let stops = name_stops(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        if stops != 0 {
            return Some(i + (stops.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b':' || !(33..=126).contains(&b))
        .map(|n| i + n)
}

/// The high bit of the bytes of `word` that end a field name: a colon, a
/// byte below 33 or above 126. The lowest bit set is exact (borrows and
/// carries only reach the bytes above a true stop), and the result is zero
/// when no byte is a stop.
fn name_stops(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (ONES * u64::from(b':'));
    let colon = x.wrapping_sub(ONES) & !x & HIGHS;
    let low = word.wrapping_sub(ONES * 33) & !word & HIGHS;
    let high = (word.wrapping_add(ONES) | word) & HIGHS;
    colon | low | high
}

/// The line ends of a header block, in order: the LFs are found 64 bytes
/// at a time, as a bit mask, ahead of the lines that use them (so that
/// finding a line's end does not wait for the line before it to be read).
struct LineEnds<'a> {
    bytes: &'a [u8],
    /// Start of the 64-byte window of `mask`.
    base: usize,
    /// Bit i set when `bytes[base + i]` is a LF not yet returned.
    mask: u64,
}

impl<'a> LineEnds<'a> {
    /// The line ends of the lines starting at `from`.
    fn new(bytes: &'a [u8], from: usize) -> LineEnds<'a> {
        LineEnds {
            bytes,
            base: from,
            mask: lf_mask(bytes, from),
        }
    }

    /// The index just after the next LF (the end of the line being read),
    /// or the length of the input when no LF is left.
    fn next(&mut self) -> usize {
        loop {
            if self.mask != 0 {
                let at = self.base + self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                return at + 1;
            }
            self.base += 64;
            if self.base >= self.bytes.len() {
                self.base = self.bytes.len();
                return self.bytes.len();
            }
            self.mask = lf_mask(self.bytes, self.base);
        }
    }
}

/// Bit i set when `bytes[from + i]` is a LF, for the 64 bytes from `from`
/// (fewer at the end of the input): the bytes compared as vectors, then
/// each eight matches gathered into a byte by one multiplication.
fn lf_mask(bytes: &[u8], from: usize) -> u64 {
    // Byte i's flag (bit 8i) lands at bit 56 + i, and no two
    // partial products meet, so no carry disturbs the top byte.
    const GATHER: u64 = 0x0102_0408_1020_4080;
    // One byte per input byte, 1 for a LF (the compiler compares sixteen
    // at a time), then each eight gathered into a byte.
    let mut is_lf = [0u8; 64];
    match bytes.get(from..from + 64) {
        Some(chunk) => {
            for (flag, &byte) in is_lf.iter_mut().zip(chunk) {
                *flag = u8::from(byte == b'\n');
            }
        }
        None => {
            for (flag, &byte) in is_lf.iter_mut().zip(bytes.get(from..).unwrap_or_default()) {
                *flag = u8::from(byte == b'\n');
            }
        }
    }
    let mut mask = 0u64;
    for (k, word) in is_lf.chunks_exact(8).enumerate() {
        let flags = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        mask |= (flags.wrapping_mul(GATHER) >> 56) << (8 * k);
    }
    mask
}

/// The index of the first `needle` in `bytes`: eight bytes at a time in a
/// `u64`, for the short slices of a header (where `memchr`'s set-up costs
/// more than the search).
pub(crate) fn find_byte(bytes: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut i = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let x = word ^ (ONES * u64::from(needle));
        // The lowest high bit set marks the first byte of `x` that is zero.
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if chunks.remainder().is_empty() {
        return None;
    }
    match bytes.len().checked_sub(8) {
        // The last eight bytes, overlapping the words searched: a match in
        // them is in the part not searched yet.
        Some(last) => {
            let word = u64::from_le_bytes(bytes[last..].try_into().unwrap_or([0; 8]));
            let x = word ^ (ONES * u64::from(needle));
            let zero = x.wrapping_sub(ONES) & !x & HIGHS;
            (zero != 0).then(|| last + (zero.trailing_zeros() / 8) as usize)
        }
        None => bytes.iter().position(|&b| b == needle),
    }
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
    } else {
        let word = find_word_start(value, 0);
        if word == value.len() {
            collapse_plain(out, value);
        } else if !decode_simple_words(out, value, word) {
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
/// LF, LF or none), checked by [`is_collapsed_run`]; `None` sends the value
/// to the general paths, which give the same result for these values.
fn already_collapsed(value: &[u8]) -> Option<&[u8]> {
    let text = value.strip_prefix(b" ").unwrap_or(value);
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if matches!(text.first(), None | Some(b' ')) || text.last() == Some(&b' ') {
        return None;
    }
    is_collapsed_run::<true>(text).then_some(text)
}

/// Whether `text` holds no byte below 0x20 (so no white space but the
/// space), no two spaces in a row and, when `NO_EQUALS`, no `=`: exactly
/// that rule, checked sixteen byte pairs or eight bytes at a time (see
/// [`collapsed_run`]).
#[inline(always)]
fn is_collapsed_run<const NO_EQUALS: bool>(text: &[u8]) -> bool {
    collapsed_run::<NO_EQUALS>(text).is_some()
}

/// [`is_collapsed_run`], and whether the run is ASCII: `Some(ascii)` when it
/// is collapsed, `None` when it is not.
fn collapsed_run<const NO_EQUALS: bool>(text: &[u8]) -> Option<bool> {
    if text.len() > 16 {
        return collapsed_long_run::<NO_EQUALS>(text);
    }
    collapsed_short_run::<NO_EQUALS>(text)
}

/// [`collapsed_run`] for more than sixteen bytes: each byte and its
/// successor compared sixteen pairs at a time, in a loop the compiler turns
/// into vector compares; the last sixteen pairs overlap the ones before.
fn collapsed_long_run<const NO_EQUALS: bool>(text: &[u8]) -> Option<bool> {
    let pairs = text.len() - 1;
    let mut high = 0u8;
    let mut clean = |start: usize| {
        let (Some(this), Some(next)) =
            (text.get(start..start + 16), text.get(start + 1..start + 17))
        else {
            return false;
        };
        let mut bad = 0u8;
        for (&a, &b) in this.iter().zip(next) {
            bad |= u8::from(a < 0x20)
                | u8::from(b < 0x20)
                | u8::from(NO_EQUALS && (a == b'=' || b == b'='))
                | (u8::from(a == b' ') & u8::from(b == b' '));
            high |= a | b;
        }
        bad == 0
    };
    let mut start = 0;
    while start + 16 <= pairs {
        if !clean(start) {
            return None;
        }
        start += 16;
    }
    if start != pairs && !clean(pairs - 16) {
        return None;
    }
    Some(high < 0x80)
}

/// [`collapsed_run`] eight bytes at a time in a `u64`.
fn collapsed_short_run<const NO_EQUALS: bool>(text: &[u8]) -> Option<bool> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| !(((x & LOWS) + LOWS) | x | LOWS);
    // The high bits of a word where it breaks the rule (a byte below 0x20,
    // `=` when `NO_EQUALS`, two spaces in a row), and where its spaces are.
    let check = |word: u64| {
        // A byte below 0x20 (white space other than a space, or a control).
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        let equals = if NO_EQUALS {
            zero_bytes(word ^ (ONES * u64::from(b'=')))
        } else {
            0
        };
        let spaces = zero_bytes(word ^ (ONES * u64::from(b' ')));
        (control | equals | (spaces & (spaces >> 8)), spaces)
    };
    let mut chunks = text.chunks_exact(8);
    let mut space_before = false;
    let mut high = 0u64;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let (bad, spaces) = check(word);
        // Two spaces across the word's start, too.
        if bad != 0 || (space_before && spaces & 0x80 != 0) {
            return None;
        }
        space_before = spaces >> 63 != 0;
        high |= word;
    }
    if chunks.remainder().is_empty() {
        return Some(high & HIGHS == 0);
    }
    match text.len().checked_sub(8) {
        // The last eight bytes, overlapping the words checked: every pair
        // of neighbours not checked yet is inside them.
        Some(last) => {
            let word = u64::from_le_bytes(text[last..].try_into().unwrap_or([0; 8]));
            (check(word).0 == 0).then_some((high | word) & HIGHS == 0)
        }
        None => {
            let mut before = false;
            for &byte in text {
                if byte < 0x20 || (NO_EQUALS && byte == b'=') || (before && byte == b' ') {
                    return None;
                }
                before = byte == b' ';
            }
            Some(text.is_ascii())
        }
    }
}

/// Whether `bytes` are UTF-8, exactly as `std::str::from_utf8` decides, by
/// the table of well-formed byte sequences (Unicode §3.9, table 3-7) in
/// line: for the short decoded words of a header, a call to `from_utf8`
/// costs several times more.
fn is_utf8_short(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&lead) = bytes.get(i) {
        if lead < 0x80 {
            i += 1;
            continue;
        }
        let within = |at: usize, low: u8, high: u8| {
            bytes
                .get(i + at)
                .is_some_and(|&b| (low..=high).contains(&b))
        };
        // The second byte's range depends on the lead; the others are
        // always 0x80-0xbf.
        let len = match lead {
            0xc2..=0xdf if within(1, 0x80, 0xbf) => 2,
            0xe0 if within(1, 0xa0, 0xbf) => 3,
            0xe1..=0xec | 0xee..=0xef if within(1, 0x80, 0xbf) => 3,
            0xed if within(1, 0x80, 0x9f) => 3,
            0xf0 if within(1, 0x90, 0xbf) => 4,
            0xf1..=0xf3 if within(1, 0x80, 0xbf) => 4,
            0xf4 if within(1, 0x80, 0x8f) => 4,
            _ => return false,
        };
        if (2..len).any(|at| !within(at, 0x80, 0xbf)) {
            return false;
        }
        i += len;
    }
    true
}

/// The index of the first `=?` (the start of an encoded word) at or after
/// `from`, or the length of `value` when there is none.
fn find_word_start(value: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(found) = value.get(at..).and_then(|rest| find_byte(rest, b'=')) {
        at += found;
        if value.get(at + 1) == Some(&b'?') {
            return at;
        }
        at += 1;
    }
    value.len()
}

/// Whether `bytes` are UTF-8, by a check of the high bits first: most
/// header text is ASCII, and `from_utf8` costs more on short inputs.
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |high, &byte| high | byte) < 0x80 || std::str::from_utf8(bytes).is_ok()
}

/// [`collapse_whitespace`] of `value` appended to `out` in one pass (for a
/// value without `=?`: encoded words are for the other paths).
fn collapse_plain(out: &mut Vec<u8>, value: &[u8]) {
    let base = out.len();
    // At most the value's bytes are written: a space only replaces white space.
    out.resize(base + value.len(), 0);
    let mut len = base;
    let mut pending_space = false;
    for &byte in value {
        if is_ws(byte) {
            pending_space = len > base;
            continue;
        }
        if pending_space {
            out[len] = b' ';
            len += 1;
            pending_space = false;
        }
        out[len] = byte;
        len += 1;
    }
    out.truncate(len);
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
        if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last())
            && first != b' '
            && last != b' '
            && is_collapsed_run::<false>(bytes)
        {
            self.push_collapsed(out, bytes);
            return;
        }
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

    /// [`Collapse::push`] for bytes that are already collapsed (non-empty,
    /// no white space but single spaces inside): copied whole, after the
    /// pending space.
    fn push_collapsed(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.pending_space && out.len() > self.start {
            out.push(b' ');
        }
        self.pending_space = false;
        out.extend_from_slice(bytes);
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
fn decode_simple_words(out: &mut Vec<u8>, value: &[u8], first_word: usize) -> bool {
    let mut collapse = Collapse::new(out);
    let mut last_encoded = true;
    let mut any_token = false;
    let mut at = 0;
    let mut next = first_word;
    loop {
        // The text before the next encoded word (or the end): white space
        // around it is dropped, white space inside it collapsed. It must be
        // UTF-8: the words are ASCII, so the whole value then is, as the
        // general path requires of a value it decodes.
        let between = value.get(at..next).unwrap_or_default();
        // The common form, checked in one pass: ASCII text with single
        // spaces, a space at either end at most, before the line end (CR LF
        // or LF) when it is the value's last text.
        let plain = between
            .strip_suffix(b"\n")
            .map_or(between, |line| line.strip_suffix(b"\r").unwrap_or(line));
        let plain = plain.strip_prefix(b" ").unwrap_or(plain);
        let plain = plain.strip_suffix(b" ").unwrap_or(plain);
        if plain.is_empty() && between.len() <= 1 {
            // Nothing, or one space: no text.
        } else if collapsed_run::<false>(plain) == Some(true)
            && plain.first() != Some(&b' ')
            && plain.last() != Some(&b' ')
        {
            // No lone CR (no CR but the line end's), UTF-8 (ASCII), and
            // `trim_ws` would give `plain`, which `push` would copy whole.
            if !plain.is_empty() {
                if any_token {
                    collapse.space();
                }
                collapse.push_collapsed(out, plain);
                last_encoded = false;
            }
        } else if !between.is_empty() {
            if has_lone_cr(between) || !is_utf8(between) {
                return false;
            }
            let text = trim_ws(between);
            if !text.is_empty() {
                if any_token {
                    collapse.space();
                }
                collapse.push(out, text);
                last_encoded = false;
            }
        }
        let Some(rest) = value.get(next..).filter(|rest| !rest.is_empty()) else {
            return true;
        };
        let mut word = [0u8; MAX_DECODED_WORD];
        let Some((used, len)) = decode_word(rest, &mut word) else {
            return false;
        };
        let decoded = &word[..len];
        if !last_encoded {
            collapse.space();
        }
        match collapsed_run::<false>(decoded) {
            // Collapsed text (one pass tells both), copied whole when it
            // has no space at either end.
            Some(ascii)
                if (ascii || is_utf8_short(decoded))
                    && decoded.first().is_some_and(|&b| b != b' ')
                    && decoded.last().is_some_and(|&b| b != b' ') =>
            {
                collapse.push_collapsed(out, decoded);
            }
            _ => {
                if !is_utf8(decoded) {
                    return false;
                }
                collapse.push(out, decoded);
            }
        }
        last_encoded = true;
        any_token = true;
        at = next + used;
        next = find_word_start(value, at);
    }
}

/// Whether `bytes` hold a CR that is not followed by LF in them.
fn has_lone_cr(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(found) = bytes.get(at..).and_then(|rest| find_byte(rest, b'\r')) {
        at += found + 1;
        if bytes.get(at) != Some(&b'\n') {
            return true;
        }
    }
    false
}

/// `bytes` without the white space (space, tab, CR, LF) at both ends.
fn trim_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| !is_ws(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ws(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Decodes one `=?utf-8?Q|B?...?=` word at the start of `input` into `out`:
/// (bytes used, bytes decoded), or `None` when it is not of that strict form.
fn decode_word(input: &[u8], out: &mut [u8; MAX_DECODED_WORD]) -> Option<(usize, usize)> {
    // `=?utf-8?` in any case, then the encoding and `?`: the charset is the
    // text up to the first `?`, and only UTF-8 is taken.
    let head: &[u8; 10] = input.first_chunk()?;
    let utf = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
    // The case bit of the three letters; '-', '8' and the marks are exact.
    if &head[..2] != b"=?"
        || utf | 0x0020_2020 != u32::from_le_bytes(*b"utf-")
        || head[6] != b'8'
        || head[7] != b'?'
        || head[9] != b'?'
    {
        return None;
    }
    let encoding = head[8];
    let payload = &input[10..];
    let end = find_byte(payload, b'?')?;
    if payload.get(end + 1) != Some(&b'=') {
        return None;
    }
    let used = 10 + end + 2;
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
    let value = |byte: u8| u32::from(BASE64_VALUE[usize::from(byte)]);
    let mut len = 0;
    let mut quads = data.chunks_exact(4);
    for quad in &mut quads {
        let (a, b, c, d) = (
            value(quad[0]),
            value(quad[1]),
            value(quad[2]),
            value(quad[3]),
        );
        // An invalid byte's value has bits above the six of a sextet.
        if (a | b | c | d) > 63 {
            return None;
        }
        let bits = (a << 18) | (b << 12) | (c << 6) | d;
        let [_, x, y, z] = bits.to_be_bytes();
        out.get_mut(len..len + 3)?.copy_from_slice(&[x, y, z]);
        len += 3;
    }
    // Two sextets leave one byte (and 4 zero bits), three leave two (and 2).
    let mut bits = 0u32;
    for &byte in quads.remainder() {
        let sextet = value(byte);
        if sextet > 63 {
            return None;
        }
        bits = (bits << 6) | sextet;
    }
    let tail: &[u8] = match quads.remainder().len() {
        2 => &[(bits >> 4) as u8],
        3 => &[(bits >> 10) as u8, (bits >> 2) as u8],
        _ => &[],
    };
    out.get_mut(len..len + tail.len())?.copy_from_slice(tail);
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

    /// The in-line UTF-8 check decides as `from_utf8` does: every one- and
    /// two-byte input, every three-byte input whose first byte is not
    /// ASCII, and four-byte inputs around every lead byte's limits.
    #[test]
    fn short_utf8_check_is_from_utf8() {
        let agree = |bytes: &[u8]| {
            assert_eq!(
                is_utf8_short(bytes),
                std::str::from_utf8(bytes).is_ok(),
                "{bytes:02x?}"
            );
        };
        for a in 0..=255u8 {
            agree(&[a]);
            for b in 0..=255u8 {
                agree(&[a, b]);
                if a >= 0x80 {
                    for c in 0..=255u8 {
                        agree(&[a, b, c]);
                    }
                }
            }
        }
        let edges = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
        for a in 0xf0..=0xff_u8 {
            for b in edges {
                for c in edges {
                    for d in edges {
                        agree(&[a, b, c, d]);
                        agree(&[b'x', a, b, c, d, b'y']);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn short_utf8_check_is_from_utf8_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(is_utf8_short(&bytes), std::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn short_utf8_check_is_from_utf8_on_text(text in "\\PC{0,12}") {
            prop_assert!(is_utf8_short(text.as_bytes()));
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
            // Text around encoded words, by the one-pass form and around it.
            b" =?utf-8?q?a?= b c\r\n",
            b" =?utf-8?q?a?= b  c\r\n",
            b" =?utf-8?q?a?= x\r",
            b" =?utf-8?q?a?=\r\n",
            b" =?utf-8?q?a?=  \r\n",
            b" =?utf-8?q?a?= \n",
            b"=?utf-8?q?a?=x=?utf-8?q?b?=",
            b" x =?utf-8?q?a_?= =?utf-8?q?_b?= y \r\n",
            b" =?utf-8?q?a?= Caf\xc3\xa9\r\n",
            b" =?utf-8?q?a?= Caf\xe9\r\n",
            b" =?utf-8?q?a?= b\tc\r\n",
            b" =?utf-8?q?a?= b\r\n\tc\r\n",
            b" =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n",
            b" =?utf-8?q?=C3?= x",
            b" =?utf-8?q?a=01b?= x",
            b" =?utf-8?b?ICBh?= x",
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
                decode_simple_words(&mut Vec::new(), value, find_word_start(value, 0)),
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
