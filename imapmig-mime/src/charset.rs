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
    decoder: Option<encoding_rs::Decoder>,
    consumed: usize,
    failed_at: Option<usize>,
}

impl TextCheck {
    pub(crate) fn new(charset: Charset) -> Self {
        Self {
            decoder: charset
                .encoding()
                .map(Encoding::new_decoder_without_bom_handling),
            consumed: 0,
            failed_at: None,
        }
    }

    /// Feed the next chunk of text; `last` on the final one.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], last: bool) {
        let Some(decoder) = self.decoder.as_mut() else {
            return;
        };
        if self.failed_at.is_some() {
            return;
        }
        let mut scratch = [0u8; 4096];
        loop {
            let (result, read, _) =
                decoder.decode_to_utf8_without_replacement(chunk, &mut scratch, last);
            match result {
                DecoderResult::InputEmpty => {
                    self.consumed += read;
                    return;
                }
                DecoderResult::OutputFull => {
                    self.consumed += read;
                    chunk = &chunk[read..];
                }
                DecoderResult::Malformed(bad, _) => {
                    self.failed_at = Some((self.consumed + read).saturating_sub(usize::from(bad)));
                    return;
                }
            }
        }
    }

    /// Offset (in the fed text) of the first invalid byte sequence, if any.
    pub(crate) fn failed_at(&self) -> Option<usize> {
        self.failed_at
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
