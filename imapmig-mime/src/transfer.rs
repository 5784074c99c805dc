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

/// What one byte of base64 is, once checked.
enum Step {
    Data(u8),
    Skip,
    Pad,
}

/// The state of a base64 scan: data characters seen, padding.
#[derive(Default)]
struct Base64State {
    chars: usize,
    pads: u8,
    /// Data characters in the last quantum when padding completed it.
    tail: Option<u8>,
}

impl Base64State {
    #[inline]
    fn step(&mut self, offset: usize, b: u8) -> Result<Step, Malformed> {
        let v = BASE64[b as usize];
        if v < 64 {
            if self.tail.is_some() || self.pads > 0 {
                return Err(Malformed {
                    offset,
                    reason: "data after padding",
                });
            }
            self.chars += 1;
            Ok(Step::Data(v))
        } else if v == WS {
            Ok(Step::Skip)
        } else if v == PAD {
            let rem = (self.chars % 4) as u8;
            if self.tail.is_some() || rem < 2 {
                return Err(Malformed {
                    offset,
                    reason: "misplaced padding",
                });
            }
            self.pads += 1;
            if rem + self.pads == 4 {
                self.tail = Some(rem);
                self.pads = 0;
            }
            Ok(Step::Pad)
        } else {
            Err(Malformed {
                offset,
                reason: "character outside the base64 alphabet",
            })
        }
    }

    /// The decoded length, or the length error.
    fn finish(&self, len: usize) -> Result<usize, Malformed> {
        match self.tail {
            None if self.chars.is_multiple_of(4) && self.pads == 0 => Ok(self.chars / 4 * 3),
            Some(tail) => Ok(self.chars / 4 * 3 + usize::from(tail) - 1),
            None => Err(Malformed {
                offset: len,
                reason: "length is not a multiple of four",
            }),
        }
    }
}

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
    if decode {
        base64_decode(data, sink)
    } else {
        base64_check(data)
    }
}

/// Check without decoding. A whole line of alphabet characters is checked
/// with one branch-free pass (the table's data values are below 64, every
/// other class has bit 6 or 7 set); only lines with padding, white space or
/// errors take the byte-by-byte path.
fn base64_check(data: &[u8]) -> Result<usize, Malformed> {
    let mut state = Base64State::default();
    let mut pos = 0;
    while pos < data.len() {
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let mut line = &data[pos..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let classes = line.iter().fold(0u8, |acc, &b| acc | BASE64[b as usize]);
        if classes < 64 && state.tail.is_none() && state.pads == 0 {
            state.chars += line.len();
        } else {
            for (i, &b) in line.iter().enumerate() {
                state.step(pos + i, b)?;
            }
        }
        pos = end + 1;
    }
    state.finish(data.len())
}

fn base64_decode(data: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<usize, Malformed> {
    let mut state = Base64State::default();
    let mut acc: u32 = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 3);
    for (offset, &b) in data.iter().enumerate() {
        match state.step(offset, b)? {
            Step::Data(v) => {
                acc = (acc << 6) | u32::from(v);
                if state.chars.is_multiple_of(4) {
                    buf.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                    acc = 0;
                    if buf.len() >= CHUNK {
                        sink(&buf);
                        buf.clear();
                    }
                }
            }
            Step::Pad => {
                if let Some(tail) = state.tail.filter(|_| state.pads == 0) {
                    let full = acc << (6 * (4 - u32::from(tail)));
                    let out = [(full >> 16) as u8, (full >> 8) as u8];
                    buf.extend_from_slice(&out[..usize::from(tail) - 1]);
                    acc = 0;
                }
            }
            Step::Skip => {}
        }
    }
    let decoded = state.finish(data.len())?;
    if !buf.is_empty() {
        sink(&buf);
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
    let mut buf: Vec<u8> = Vec::new();
    let mut emit = |bytes: &[u8], buf: &mut Vec<u8>| {
        if buf.len() + bytes.len() > CHUNK && !buf.is_empty() {
            sink(buf);
            buf.clear();
        }
        if bytes.len() > CHUNK {
            sink(bytes);
        } else {
            buf.extend_from_slice(bytes);
        }
    };
    while let Some(i) = memchr::memchr(b'=', &data[pos..]) {
        let eq = pos + i;
        decoded += i;
        if decode {
            emit(&data[pos..eq], &mut buf);
        }
        match (
            data.get(eq + 1).copied().and_then(hex),
            data.get(eq + 2).copied().and_then(hex),
        ) {
            (Some(hi), Some(lo)) => {
                decoded += 1;
                if decode {
                    emit(&[hi << 4 | lo], &mut buf);
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
        emit(&data[pos..], &mut buf);
        if !buf.is_empty() {
            sink(&buf);
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

    proptest::proptest! {
        #[test]
        fn prop_base64_check_agrees_with_decode(
            data in proptest::collection::vec(
                proptest::sample::select(b"QUJD=\r\n \t*aZ09+/".to_vec()),
                0..200,
            )
        ) {
            let checked = base64(&data, false, &mut |_| {});
            let mut out = Vec::new();
            let decoded = base64(&data, true, &mut |c| out.extend_from_slice(c));
            proptest::prop_assert_eq!(checked, decoded);
            if let Ok(n) = decoded {
                proptest::prop_assert_eq!(n, out.len());
            }
        }
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
