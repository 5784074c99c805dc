//! RFC 2047 encoded words (`=?charset?B|Q?text?=`) in header values.
//!
//! Only text that looks like an attempt at an encoded word is judged: `=?`, a
//! charset token, `?`, one character, `?`. A `=?` in ordinary text (a URL
//! query, a smiley) is left alone.

use memchr::memmem;

use crate::charset::{self, Charset};
use crate::transfer;

/// What is wrong with an encoded word, and where (offset in the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordDefect {
    /// Structure or encoded text is malformed.
    Malformed(usize),
    /// The charset label is unknown.
    UnknownCharset(usize),
    /// The decoded bytes are invalid in the declared charset.
    Undecodable(usize),
}

const MAX_CHARSET: usize = 64;

/// Every encoded word in `value`, checked; the first defect of each kind
/// found is reported through `report`.
pub(crate) fn check(value: &[u8], report: &mut dyn FnMut(WordDefect)) {
    for start in memmem::find_iter(value, b"=?") {
        let rest = &value[start + 2..];
        let Some(q1) = rest.iter().take(MAX_CHARSET + 1).position(|&b| b == b'?') else {
            continue;
        };
        let label = &rest[..q1];
        if label.is_empty() || !label.iter().all(|&b| b.is_ascii_graphic() && b != b'=') {
            continue;
        }
        // The attempt signature: charset, '?', one character, '?'.
        let (Some(&enc), Some(b'?')) = (rest.get(q1 + 1), rest.get(q1 + 2)) else {
            continue;
        };
        let text_start = q1 + 3;
        let text_end = match memmem::find(&rest[text_start..], b"?=") {
            Some(i) => text_start + i,
            None => {
                report(WordDefect::Malformed(start));
                continue;
            }
        };
        let text = &rest[text_start..text_end];
        if text
            .iter()
            .any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n') || b >= 0x80)
        {
            report(WordDefect::Malformed(start));
            continue;
        }
        let charset = Charset::resolve(Some(label));
        let mut decoded = Vec::new();
        let ok = match enc {
            b'B' | b'b' => {
                transfer::base64(text, true, &mut |c| decoded.extend_from_slice(c)).is_ok()
            }
            b'Q' | b'q' => q_decode(text, &mut decoded),
            _ => false,
        };
        if !ok {
            report(WordDefect::Malformed(start));
            continue;
        }
        match charset {
            Charset::Unknown => report(WordDefect::UnknownCharset(start)),
            _ => {
                if charset::check_text(charset, &decoded).is_some() {
                    report(WordDefect::Undecodable(start));
                }
            }
        }
    }
}

/// The "Q" encoding (RFC 2047 §4.2): `_` is a space, `=XX` an octet.
fn q_decode(text: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => out.push(byte),
                    None => return false,
                }
                i += 2;
            }
            b'?' => return false,
            b => out.push(b),
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defects(value: &[u8]) -> Vec<WordDefect> {
        let mut got = Vec::new();
        check(value, &mut |d| got.push(d));
        got
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], &[WordDefect])] = &[
            (b"plain text", &[]),
            (b"=?utf-8?B?Y2Fmw6k=?=", &[]),
            (
                b"=?UTF-8?Q?caf=C3=A9_au_lait?= and =?iso-8859-1?q?caf=E9?=",
                &[],
            ),
            (b"=?utf-8*en?Q?hi?=", &[]),
            (b"see http://x.example/?a=?b and :-=?", &[]),
            (b"=?utf-8?B?Y2Fmw6k?=", &[WordDefect::Malformed(0)]),
            (b"x =?utf-8?Q?caf=C?=", &[WordDefect::Malformed(2)]),
            (b"=?utf-8?X?abc?=", &[WordDefect::Malformed(0)]),
            (b"=?utf-8?Q?has space?=", &[WordDefect::Malformed(0)]),
            (b"=?utf-8?B?truncated", &[WordDefect::Malformed(0)]),
            (b"=?x-klingon?Q?abc?=", &[WordDefect::UnknownCharset(0)]),
            (b"=?utf-8?Q?caf=E9?=", &[WordDefect::Undecodable(0)]),
        ];
        for (value, want) in cases {
            assert_eq!(
                defects(value),
                *want,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
