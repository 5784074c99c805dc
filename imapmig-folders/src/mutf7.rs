//! Modified UTF-7, the mailbox name encoding of IMAP (RFC 3501 §5.1.3).
//!
//! Printable US-ASCII except `&` stands for itself; `&` is written `&-`;
//! every other character is written as UTF-16 in a "modified BASE64" run
//! (`,` instead of `/`, no `=` padding) between `&` and `-`.
//!
//! [`decode`] is strict: it accepts exactly the strings that [`encode`]
//! produces, so a name decodes to one string and encodes back to the same
//! bytes. It rejects, with the byte offset:
//! unterminated runs, characters outside the base64 alphabet, null shifts
//! (`&U,BTFw-&ZeVnLIqe-`), runs that encode printable ASCII, non-zero or
//! excess padding bits, lone surrogates, and raw bytes outside 0x20-0x7e.
//!
//! ```
//! use imapmig_folders::mutf7;
//!
//! assert_eq!(mutf7::encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
//! assert_eq!(mutf7::decode(b"tiet&AOQ-j&AOQ-").unwrap(), "tietäjä");
//! assert!(mutf7::decode(b"&AEE-").is_err()); // 'A' must stand for itself
//! ```

use crate::error::{Error, Mutf7ErrorKind};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Whether `c` represents itself in modified UTF-7.
fn is_direct(c: char) -> bool {
    matches!(c, ' '..='~') && c != '&'
}

/// Encodes a UTF-8 mailbox name in modified UTF-7.
///
/// Total: every string has exactly one encoding, astral characters
/// included (as UTF-16 surrogate pairs). `&` becomes `&-`; DEL and control
/// characters are base64-encoded.
pub fn encode(name: &str) -> String {
    let bytes = name.as_bytes();
    // Most names are printable ASCII: their own encoding.
    let Some(first) = bytes.iter().position(|&b| !is_direct_byte(b)) else {
        return name.to_owned();
    };
    // Bytes are written, ASCII only, and made a `String` once at the end.
    // Room for the common cases (ASCII, and 2- or 3-byte UTF-8 whose base64
    // is at most 4/3 of its bytes) in one allocation.
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + bytes.len() / 2 + 2);
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        if bytes[i] == b'&' {
            out.extend_from_slice(b"&-");
            i += 1;
        } else {
            // A run of characters that are not printable ASCII, up to the
            // next printable ASCII character.
            i += push_run(name.get(i..).unwrap_or_default(), &mut out);
        }
        let end = bytes[i..]
            .iter()
            .position(|&b| !is_direct_byte(b))
            .map_or(bytes.len(), |n| i + n);
        out.extend_from_slice(&bytes[i..end]);
        i = end;
    }
    // Only ASCII was written, so this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

/// Whether the byte `b` represents itself (see [`is_direct`]).
fn is_direct_byte(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'&'
}

/// Encodes raw bytes that should be UTF-8; fails with [`Error::NotUtf8`] otherwise.
pub fn encode_bytes(name: &[u8]) -> Result<String, Error> {
    match std::str::from_utf8(name) {
        Ok(s) => Ok(encode(s)),
        Err(e) => Err(Error::NotUtf8 {
            offset: e.valid_up_to(),
        }),
    }
}

/// Writes the run of characters at the start of `rest` that are not
/// printable ASCII as `&`, their UTF-16 in modified base64, `-`, and returns
/// the run's length in bytes: every three UTF-16 units (48 bits) become
/// eight base64 characters at once, taken from the units as they come,
/// without collecting them.
fn push_run(rest: &str, out: &mut Vec<u8>) -> usize {
    let sextet = |acc: u64, shift: u32| ALPHABET[((acc >> shift) & 0x3f) as usize];
    out.push(b'&');
    let mut acc: u64 = 0;
    let mut units = 0;
    let mut push_unit = |unit: u32, out: &mut Vec<u8>| {
        acc = (acc << 16) | u64::from(unit);
        units += 1;
        if units == 3 {
            out.extend_from_slice(&[
                sextet(acc, 42),
                sextet(acc, 36),
                sextet(acc, 30),
                sextet(acc, 24),
                sextet(acc, 18),
                sextet(acc, 12),
                sextet(acc, 6),
                sextet(acc, 0),
            ]);
            (acc, units) = (0, 0);
        }
    };
    let mut used = rest.len();
    for (at, c) in rest.char_indices() {
        let c = u32::from(c);
        if (0x20..=0x7e).contains(&c) {
            used = at;
            break;
        }
        if c < 0x1_0000 {
            push_unit(c, out);
        } else {
            // A surrogate pair.
            let c = c - 0x1_0000;
            push_unit(0xd800 | (c >> 10), out);
            push_unit(0xdc00 | (c & 0x3ff), out);
        }
    }
    // One unit: 16 bits, three characters; two: 32 bits, six. The last
    // character's low bits are zero padding.
    match units {
        1 => out.extend_from_slice(&[sextet(acc, 10), sextet(acc, 4), sextet(acc << 2, 0), b'-']),
        2 => out.extend_from_slice(&[
            sextet(acc, 26),
            sextet(acc, 20),
            sextet(acc, 14),
            sextet(acc, 8),
            sextet(acc, 2),
            sextet(acc << 4, 0),
            b'-',
        ]),
        _ => out.push(b'-'),
    }
    used
}

fn sextet(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes a modified UTF-7 mailbox name, strictly (see the module docs).
pub fn decode(name: &[u8]) -> Result<String, Error> {
    let err = |offset, kind| Error::Mutf7 { offset, kind };
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    // End offset of the previous base64 run, to detect null shifts.
    let mut last_run_end: Option<usize> = None;
    while i < name.len() {
        let b = name[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(err(i, Mutf7ErrorKind::NonPrintable(b)));
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        if name.get(i) == Some(&b'-') {
            out.push('&');
            i += 1;
            continue;
        }
        if last_run_end == Some(start) {
            return Err(err(start, Mutf7ErrorKind::NullShift));
        }
        let mut acc: u32 = 0;
        let mut bits: u32 = 0;
        let mut high: Option<(u16, usize)> = None;
        loop {
            let Some(&c) = name.get(i) else {
                return Err(err(start, Mutf7ErrorKind::Unterminated));
            };
            if c == b'-' {
                break;
            }
            let Some(v) = sextet(c) else {
                return Err(err(i, Mutf7ErrorKind::InvalidBase64));
            };
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                let unit = ((acc >> bits) & 0xffff) as u16;
                acc &= (1 << bits) - 1;
                match (high.take(), unit) {
                    (None, 0xd800..=0xdbff) => high = Some((unit, i)),
                    (None, 0xdc00..=0xdfff) => return Err(err(i, Mutf7ErrorKind::LoneSurrogate)),
                    (None, _) => {
                        let ch = char::from_u32(u32::from(unit))
                            .ok_or(err(i, Mutf7ErrorKind::LoneSurrogate))?;
                        if is_direct(ch) || ch == '&' {
                            return Err(err(i, Mutf7ErrorKind::UnnecessaryEncoding));
                        }
                        out.push(ch);
                    }
                    (Some((h, _)), 0xdc00..=0xdfff) => {
                        let cp =
                            0x10000 + ((u32::from(h) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                        let ch = char::from_u32(cp).ok_or(err(i, Mutf7ErrorKind::LoneSurrogate))?;
                        out.push(ch);
                    }
                    (Some((_, at)), _) => return Err(err(at, Mutf7ErrorKind::LoneSurrogate)),
                }
            }
            i += 1;
        }
        if let Some((_, at)) = high {
            return Err(err(at, Mutf7ErrorKind::LoneSurrogate));
        }
        // A canonical run leaves 0, 2 or 4 zero bits; 6 or more means a
        // partial UTF-16 unit or a superfluous character.
        if bits >= 6 || acc != 0 || i == start + 1 {
            return Err(err(i.saturating_sub(1), Mutf7ErrorKind::BadPadding));
        }
        i += 1;
        last_run_end = Some(i);
    }
    Ok(out)
}

/// Whether `name` is valid modified UTF-7 (what [`decode`] accepts).
pub fn is_valid(name: &[u8]) -> bool {
    decode(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("INBOX", "INBOX"),
            ("&", "&-"),
            ("&&x&&", "&-&-x&-&-"),
            ("tietäjä", "tiet&AOQ-j&AOQ-"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("\u{7f}", "&AH8-"),
            ("a\tb", "a&AAk-b"),
            ("😀", "&2D3eAA-"),
            ("台北&", "&U,BTFw-&-"),
            ("Écoles", "&AMk-coles"),
        ];
        for (utf8, want) in cases {
            assert_eq!(encode(utf8), *want, "encode {utf8:?}");
            assert_eq!(decode(want.as_bytes()).unwrap(), *utf8, "decode {want:?}");
        }
    }

    #[test]
    fn decode_errors_table() {
        use Mutf7ErrorKind::*;
        let cases: &[(&[u8], usize, Mutf7ErrorKind)] = &[
            (b"&", 0, Unterminated),
            (b"ab&Jjo", 2, Unterminated),
            (b"&Jjo!", 4, InvalidBase64),
            (b"&U,BTFw-&ZeVnLIqe-", 8, NullShift),
            (b"&AEE-", 3, UnnecessaryEncoding),
            (b"&ACY-", 3, UnnecessaryEncoding),
            (b"&AOR-", 3, BadPadding),
            (b"&AA-", 2, BadPadding),
            (b"&2D3-", 3, LoneSurrogate),
            (b"&3gA-", 3, LoneSurrogate),
            (b"&2D3YPQ-", 3, LoneSurrogate),
            (b"a\x01", 1, NonPrintable(1)),
            (b"\xc3\xa4", 0, NonPrintable(0xc3)),
        ];
        for (input, offset, kind) in cases {
            let got = decode(input);
            assert_eq!(
                got,
                Err(Error::Mutf7 {
                    offset: *offset,
                    kind: *kind
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn dash_after_run_is_literal() {
        assert_eq!(decode(b"&AOQ--").unwrap(), "\u{e4}-");
        assert_eq!(encode("\u{e4}-"), "&AOQ--");
    }

    #[test]
    fn encode_bytes_rejects_latin1() {
        assert_eq!(
            encode_bytes(b"p\xe4\xe4"),
            Err(Error::NotUtf8 { offset: 1 })
        );
        assert_eq!(encode_bytes("pää".as_bytes()).unwrap(), "p&AOQA5A-");
    }
}
