//! Content-Transfer-Encoding (RFC 2045 §6): names, and validating decoders
//! for base64 (§6.8) and quoted-printable (§6.7).
//!
//! The decoders check and decode in one pass and hand decoded bytes to a
//! sink in chunks, so checking a large part needs no allocation.

/// A part's Content-Transfer-Encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum TransferEncoding {
    /// `7bit`, or no Content-Transfer-Encoding header.
    SevenBit,
    /// `8bit`.
    EightBit,
    /// `binary`: content is raw data, NUL and bare line ends included.
    Binary,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
    /// `x-uuencode` (and its aliases): not standard, but known and decodable.
    UuEncode,
    /// Anything else: the content cannot be decoded.
    Unknown,
}

impl TransferEncoding {
    /// Parse a Content-Transfer-Encoding value (case-insensitive, trimmed).
    pub fn from_value(value: &[u8]) -> Self {
        let value = value.trim_ascii();
        let is = |name: &str| value.eq_ignore_ascii_case(name.as_bytes());
        if value.is_empty() || is("7bit") {
            Self::SevenBit
        } else if is("8bit") {
            Self::EightBit
        } else if is("binary") {
            Self::Binary
        } else if is("quoted-printable") {
            Self::QuotedPrintable
        } else if is("base64") {
            Self::Base64
        } else if is("x-uuencode") || is("uuencode") || is("x-uue") {
            Self::UuEncode
        } else {
            Self::Unknown
        }
    }

    /// Whether the content is the data itself (7bit, 8bit, binary).
    pub fn is_identity(self) -> bool {
        matches!(self, Self::SevenBit | Self::EightBit | Self::Binary)
    }
}

/// Where and why an encoded body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// Offset in the scanned slice.
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
}

const WS: u8 = 64;
const PAD: u8 = 65;
const BAD: u8 = 255;

const BASE64: [u8; 256] = {
    let mut table = [BAD; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b' ' as usize] = WS;
    table[b'\t' as usize] = WS;
    table[b'\r' as usize] = WS;
    table[b'\n' as usize] = WS;
    table[b'=' as usize] = PAD;
    table
};

const CHUNK: usize = 3 * 1024;

/// Check base64 (RFC 2045 §6.8; white space and line breaks ignored) and
/// return the decoded length. With `decode`, decoded bytes go to `sink` in
/// chunks. Errors: a character outside the alphabet, padding in the wrong
/// place, data after padding, or a length that is not a multiple of four.
pub(crate) fn base64(
    data: &[u8],
    decode: bool,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<usize, Malformed> {
    let mut acc: u32 = 0;
    let mut n = 0u8;
    let mut pads = 0u8;
    let mut finished = false;
    let mut decoded = 0usize;
    let mut buf = [0u8; CHUNK];
    let mut filled = 0usize;
    for (offset, &b) in data.iter().enumerate() {
        let v = BASE64[b as usize];
        if v < 64 {
            if finished || pads > 0 {
                return Err(Malformed {
                    offset,
                    reason: "data after padding",
                });
            }
            acc = (acc << 6) | u32::from(v);
            n += 1;
            if n == 4 {
                decoded += 3;
                if decode {
                    if filled + 3 > CHUNK {
                        sink(&buf[..filled]);
                        filled = 0;
                    }
                    buf[filled] = (acc >> 16) as u8;
                    buf[filled + 1] = (acc >> 8) as u8;
                    buf[filled + 2] = acc as u8;
                    filled += 3;
                }
                n = 0;
                acc = 0;
            }
        } else if v == WS {
            continue;
        } else if v == PAD {
            if finished || n < 2 {
                return Err(Malformed {
                    offset,
                    reason: "misplaced padding",
                });
            }
            pads += 1;
            if n + pads == 4 {
                let bytes = usize::from(n) - 1;
                decoded += bytes;
                if decode {
                    let full = acc << (6 * u32::from(pads));
                    let out = [(full >> 16) as u8, (full >> 8) as u8];
                    if filled + 2 > CHUNK {
                        sink(&buf[..filled]);
                        filled = 0;
                    }
                    buf[filled..filled + bytes].copy_from_slice(&out[..bytes]);
                    filled += bytes;
                }
                finished = true;
                n = 0;
                pads = 0;
            }
        } else {
            return Err(Malformed {
                offset,
                reason: "character outside the base64 alphabet",
            });
        }
    }
    if n != 0 || pads != 0 {
        return Err(Malformed {
            offset: data.len(),
            reason: "length is not a multiple of four",
        });
    }
    if decode && filled > 0 {
        sink(&buf[..filled]);
    }
    Ok(decoded)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Check quoted-printable (RFC 2045 §6.7) and return the decoded length: every
/// `=` must start a two-hex-digit escape (lowercase accepted, as §6.7 asks of
/// robust decoders) or a soft line break (`=`, optional trailing white space,
/// end of line or of data). With `decode`, decoded bytes go to `sink`.
pub(crate) fn quoted_printable(
    data: &[u8],
    decode: bool,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<usize, Malformed> {
    let mut pos = 0;
    let mut decoded = 0;
    let mut buf = [0u8; CHUNK];
    let mut filled = 0usize;
    let mut emit = |bytes: &[u8], filled: &mut usize, buf: &mut [u8; CHUNK]| {
        if *filled + bytes.len() > CHUNK {
            sink(&buf[..*filled]);
            *filled = 0;
            if bytes.len() > CHUNK {
                sink(bytes);
                return;
            }
        }
        buf[*filled..*filled + bytes.len()].copy_from_slice(bytes);
        *filled += bytes.len();
    };
    while let Some(i) = memchr::memchr(b'=', &data[pos..]) {
        let eq = pos + i;
        decoded += i;
        if decode {
            emit(&data[pos..eq], &mut filled, &mut buf);
        }
        match (
            data.get(eq + 1).copied().and_then(hex),
            data.get(eq + 2).copied().and_then(hex),
        ) {
            (Some(hi), Some(lo)) => {
                decoded += 1;
                if decode {
                    emit(&[hi << 4 | lo], &mut filled, &mut buf);
                }
                pos = eq + 3;
            }
            _ => {
                let mut after = eq + 1;
                while after < data.len() && (data[after] == b' ' || data[after] == b'\t') {
                    after += 1;
                }
                match data.get(after) {
                    None => pos = after,
                    Some(b'\n') => pos = after + 1,
                    Some(b'\r') => {
                        pos = if data.get(after + 1) == Some(&b'\n') {
                            after + 2
                        } else {
                            after + 1
                        }
                    }
                    Some(_) => {
                        return Err(Malformed {
                            offset: eq,
                            reason: "'=' is neither an escape nor a soft line break",
                        });
                    }
                }
            }
        }
    }
    decoded += data.len() - pos;
    if decode {
        emit(&data[pos..], &mut filled, &mut buf);
        if filled > 0 {
            sink(&buf[..filled]);
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> Result<Vec<u8>, Malformed> {
        let mut out = Vec::new();
        let n = base64(data, true, &mut |c| out.extend_from_slice(c))?;
        assert_eq!(n, out.len());
        assert_eq!(base64(data, false, &mut |_| unreachable!()), Ok(n));
        Ok(out)
    }

    fn qp(data: &[u8]) -> Result<Vec<u8>, Malformed> {
        let mut out = Vec::new();
        let n = quoted_printable(data, true, &mut |c| out.extend_from_slice(c))?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    #[test]
    fn base64_table() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"aGVsbG8=", b"hello"),
            (b"aGVs\r\nbG8h", b"hello!"),
            (b"aGk=\r\n", b"hi"),
            (b"aA==", b"h"),
            (b" a G k = ", b"hi"),
        ];
        for (input, want) in ok {
            assert_eq!(
                b64(input).unwrap(),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let bad: &[(&[u8], usize)] = &[
            (b"aGVsbG8", 7),
            (b"aGV*bG8=", 3),
            (b"a===", 1),
            (b"aGk=aGk=", 4),
            (b"aA=", 3),
            (b"aGk==", 4),
            (b"=", 0),
        ];
        for (input, offset) in bad {
            let err = b64(input).unwrap_err();
            assert_eq!(
                err.offset,
                *offset,
                "{:?}: {}",
                String::from_utf8_lossy(input),
                err.reason
            );
        }
    }

    #[test]
    fn base64_large_matches_reference() {
        use base64::Engine as _;
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
        let wrapped: Vec<u8> = encoded
            .as_bytes()
            .chunks(76)
            .flat_map(|line| line.iter().copied().chain(*b"\r\n"))
            .collect();
        assert_eq!(b64(&wrapped).unwrap(), data);
    }

    #[test]
    fn quoted_printable_table() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"plain", b"plain"),
            (b"caf=C3=A9", b"caf\xc3\xa9"),
            (b"caf=c3=a9", b"caf\xc3\xa9"),
            (b"soft=\r\nbreak", b"softbreak"),
            (b"soft=  \nbreak", b"softbreak"),
            (b"end=", b"end"),
            (b"a=3D=3Db", b"a==b"),
        ];
        for (input, want) in ok {
            assert_eq!(
                qp(input).unwrap(),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let bad: &[(&[u8], usize)] = &[(b"a=ZZ", 1), (b"a=3", 1), (b"x =G1", 2), (b"=\x00", 0)];
        for (input, offset) in bad {
            assert_eq!(qp(input).unwrap_err().offset, *offset);
        }
    }

    #[test]
    fn encoding_names() {
        let cases: &[(&[u8], TransferEncoding)] = &[
            (b"", TransferEncoding::SevenBit),
            (b" 7BIT ", TransferEncoding::SevenBit),
            (b"8bit", TransferEncoding::EightBit),
            (b"Binary", TransferEncoding::Binary),
            (b"Quoted-Printable", TransferEncoding::QuotedPrintable),
            (b"BASE64", TransferEncoding::Base64),
            (b"x-uuencode", TransferEncoding::UuEncode),
            (b"base-64", TransferEncoding::Unknown),
        ];
        for (value, want) in cases {
            assert_eq!(TransferEncoding::from_value(value), *want);
        }
    }
}
