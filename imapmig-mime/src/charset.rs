//! Charsets of text parts and encoded words (RFC 2046 §4.1.2, RFC 2047 §2):
//! is a label known, and are bytes valid in it.
//!
//! Labels are resolved as the WHATWG Encoding Standard does (through
//! `encoding_rs`), which covers the labels mail clients actually send.

use encoding_rs::{DecoderResult, Encoding};

/// What a charset label resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// No label, or US-ASCII. 8-bit bytes are accepted when they are UTF-8,
    /// which is what every modern reader does with undeclared 8-bit text.
    Lenient,
    /// A known encoding whose bytes can be checked.
    Known(&'static Encoding),
    /// Known, but not checkable here (UTF-7; the ISO-2022 families that
    /// WHATWG maps to its `replacement` decoder).
    Unchecked,
    /// No decoder knows this label.
    Unknown,
}

impl Charset {
    pub(crate) fn resolve(label: Option<&[u8]>) -> Self {
        let Some(label) = label.map(<[u8]>::trim_ascii) else {
            return Self::Lenient;
        };
        // RFC 2231 allows a language suffix: charset*lang.
        let label = match memchr::memchr(b'*', label) {
            Some(star) => &label[..star],
            None => label,
        };
        let is = |name: &str| label.eq_ignore_ascii_case(name.as_bytes());
        if label.is_empty() || is("us-ascii") || is("ascii") || is("ansi_x3.4-1968") {
            return Self::Lenient;
        }
        if is("utf-7") || is("unicode-1-1-utf-7") || is("csunicode11utf7") {
            return Self::Unchecked;
        }
        match Encoding::for_label_no_replacement(label) {
            Some(encoding) => Self::Known(encoding),
            None if Encoding::for_label(label).is_some() => Self::Unchecked,
            None => Self::Unknown,
        }
    }

    fn encoding(self) -> Option<&'static Encoding> {
        match self {
            Self::Lenient => Some(encoding_rs::UTF_8),
            Self::Known(encoding) => Some(encoding),
            Self::Unchecked | Self::Unknown => None,
        }
    }
}

/// Incremental check that bytes are valid in a charset, fed in chunks.
pub(crate) struct TextCheck {
    mode: Mode,
    consumed: usize,
    failed_at: Option<usize>,
}

enum Mode {
    /// Nothing to check.
    Unchecked,
    /// UTF-8, checked in place; `carry` holds an incomplete sequence that
    /// ended the previous chunk.
    Utf8 { carry: [u8; 4], carry_len: usize },
    /// Another encoding, checked by decoding into `scratch`.
    Decoder {
        decoder: Box<encoding_rs::Decoder>,
        scratch: Vec<u8>,
    },
}

impl TextCheck {
    pub(crate) fn new(charset: Charset) -> Self {
        let mode = match charset.encoding() {
            None => Mode::Unchecked,
            Some(encoding) if encoding == encoding_rs::UTF_8 => Mode::Utf8 {
                carry: [0; 4],
                carry_len: 0,
            },
            Some(encoding) => Mode::Decoder {
                decoder: Box::new(encoding.new_decoder_without_bom_handling()),
                scratch: vec![0; 4096],
            },
        };
        Self {
            mode,
            consumed: 0,
            failed_at: None,
        }
    }

    /// Feed the next chunk of text; `last` on the final one.
    pub(crate) fn feed(&mut self, chunk: &[u8], last: bool) {
        if self.failed_at.is_some() {
            return;
        }
        let start = self.consumed;
        self.consumed += chunk.len();
        let failed = match &mut self.mode {
            Mode::Unchecked => None,
            Mode::Utf8 { carry, carry_len } => utf8_feed(carry, carry_len, chunk, last),
            Mode::Decoder { decoder, scratch } => decoder_feed(decoder, scratch, chunk, last),
        };
        self.failed_at = failed.map(|at| start.saturating_add_signed(at));
    }

    /// Offset (in the fed text) of the first invalid byte sequence, if any.
    pub(crate) fn failed_at(&self) -> Option<usize> {
        self.failed_at
    }
}

/// The length of the UTF-8 sequence a lead byte starts.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

/// Check a chunk of UTF-8; the failure offset relative to the chunk start
/// (negative when the failing sequence began in the previous chunk).
fn utf8_feed(
    carry: &mut [u8; 4],
    carry_len: &mut usize,
    mut chunk: &[u8],
    last: bool,
) -> Option<isize> {
    let mut base: isize = 0;
    if *carry_len > 0 {
        let need = utf8_len(carry[0]) - *carry_len;
        if chunk.len() < need {
            carry[*carry_len..*carry_len + chunk.len()].copy_from_slice(chunk);
            *carry_len += chunk.len();
            return last.then_some(-(*carry_len as isize) + chunk.len() as isize);
        }
        let mut seq = [0u8; 4];
        seq[..*carry_len].copy_from_slice(&carry[..*carry_len]);
        seq[*carry_len..*carry_len + need].copy_from_slice(&chunk[..need]);
        if std::str::from_utf8(&seq[..*carry_len + need]).is_err() {
            return Some(-(*carry_len as isize));
        }
        *carry_len = 0;
        chunk = &chunk[need..];
        base = need as isize;
    }
    if chunk.is_ascii() {
        return None;
    }
    match std::str::from_utf8(chunk) {
        Ok(_) => None,
        Err(e) if e.error_len().is_none() && !last => {
            let rest = &chunk[e.valid_up_to()..];
            carry[..rest.len()].copy_from_slice(rest);
            *carry_len = rest.len();
            None
        }
        Err(e) => Some(base + e.valid_up_to() as isize),
    }
}

fn decoder_feed(
    decoder: &mut encoding_rs::Decoder,
    scratch: &mut [u8],
    mut chunk: &[u8],
    last: bool,
) -> Option<isize> {
    let mut read_total = 0usize;
    loop {
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(chunk, scratch, last);
        read_total += read;
        match result {
            DecoderResult::InputEmpty => return None,
            DecoderResult::OutputFull => chunk = &chunk[read..],
            DecoderResult::Malformed(bad, _) => {
                return Some(read_total as isize - isize::from(bad));
            }
        }
    }
}

/// Check a whole text at once; the offset of the first invalid sequence.
pub(crate) fn check_text(charset: Charset, text: &[u8]) -> Option<usize> {
    let encoding = charset.encoding()?;
    if encoding.is_ascii_compatible() && text.is_ascii() {
        return None;
    }
    if encoding == encoding_rs::UTF_8 {
        return std::str::from_utf8(text).err().map(|e| e.valid_up_to());
    }
    let mut check = TextCheck::new(charset);
    check.feed(text, true);
    check.failed_at()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let cases: &[(Option<&[u8]>, &str)] = &[
            (None, "lenient"),
            (Some(b"US-ASCII"), "lenient"),
            (Some(b"utf-8"), "UTF-8"),
            (Some(b" UTF8 "), "UTF-8"),
            (Some(b"iso-8859-1"), "windows-1252"),
            (Some(b"ks_c_5601-1987"), "EUC-KR"),
            (Some(b"gb2312"), "GBK"),
            (Some(b"utf-8*en"), "UTF-8"),
            (Some(b"utf-7"), "unchecked"),
            (Some(b"iso-2022-kr"), "unchecked"),
            (Some(b"x-unknown"), "unknown"),
            (Some(b"unknown-8bit"), "unknown"),
        ];
        for (label, want) in cases {
            let got = match Charset::resolve(*label) {
                Charset::Lenient => "lenient",
                Charset::Known(e) => e.name(),
                Charset::Unchecked => "unchecked",
                Charset::Unknown => "unknown",
            };
            assert_eq!(got, *want, "{label:?}");
        }
    }

    #[test]
    fn texts() {
        let utf8 = Charset::resolve(Some(b"utf-8"));
        assert_eq!(check_text(utf8, "café".as_bytes()), None);
        assert_eq!(check_text(utf8, b"caf\xe9 ok"), Some(3));
        assert_eq!(check_text(Charset::Lenient, b"caf\xe9"), Some(3));
        assert_eq!(
            check_text(Charset::resolve(Some(b"latin1")), b"caf\xe9"),
            None
        );
        let sjis = Charset::resolve(Some(b"shift_jis"));
        assert_eq!(check_text(sjis, b"\x82\xa0"), None);
        assert!(check_text(sjis, b"ab\x82").is_some());
        assert_eq!(check_text(Charset::Unknown, b"\xff"), None);
    }

    #[test]
    fn byte_by_byte_agrees_with_whole_text() {
        let texts: &[&[u8]] = &[
            "caf\u{e9} \u{20ac} \u{1f4f7} ok".as_bytes(),
            b"ab\xe2\x82",
            b"ab\xe2\x28\xa1 bad continuation",
            b"\xf0\x9f\x93",
            b"\xff",
            b"plain ascii",
        ];
        let utf8 = Charset::resolve(Some(b"utf-8"));
        for charset in [utf8, Charset::resolve(Some(b"shift_jis"))] {
            for text in texts {
                let whole = check_text(charset, text);
                for size in 1..4 {
                    let mut check = TextCheck::new(charset);
                    let chunks: Vec<&[u8]> = text.chunks(size).collect();
                    for (i, c) in chunks.iter().enumerate() {
                        check.feed(c, i + 1 == chunks.len());
                    }
                    assert_eq!(
                        check.failed_at().is_some(),
                        whole.is_some(),
                        "{text:?} size {size}"
                    );
                    if charset == utf8 {
                        assert_eq!(check.failed_at(), whole, "{text:?} size {size}");
                    }
                }
            }
        }
    }

    #[test]
    fn chunked_sequences_span_chunks() {
        let mut check = TextCheck::new(Charset::resolve(Some(b"utf-8")));
        check.feed(b"caf\xc3", false);
        check.feed(b"\xa9", true);
        assert_eq!(check.failed_at(), None);
        let mut check = TextCheck::new(Charset::resolve(Some(b"utf-8")));
        check.feed(b"ok", false);
        check.feed(b"\xff", true);
        assert_eq!(check.failed_at(), Some(2));
    }
}
