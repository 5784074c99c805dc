//! Macro strings (RFC 7208 §7).

use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::Error;

/// Largest transformer digit count kept; RFC 7208 §7.3 asks for at least 128.
pub const MAX_TRANSFORMER_DIGITS: u8 = 128;
/// Longest expansion produced, in bytes (a bound against macro bombs).
pub const MAX_EXPANSION_LEN: usize = 8192;

/// A macro letter (RFC 7208 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroLetter {
    /// `s`: the sender, `local-part@domain`.
    Sender,
    /// `l`: the sender's local part.
    LocalPart,
    /// `o`: the sender's domain.
    SenderDomain,
    /// `d`: the domain being checked.
    Domain,
    /// `i`: the client IP, dotted (IPv4) or in nibbles (IPv6).
    Ip,
    /// `p`: the validated domain name of the client IP.
    ValidatedName,
    /// `v`: `in-addr` or `ip6`.
    IpVersion,
    /// `h`: the HELO/EHLO name.
    Helo,
    /// `c`: the client IP in readable form (explanations only).
    ClientIp,
    /// `r`: the receiving host's name (explanations only).
    Receiver,
    /// `t`: the current time in seconds (explanations only).
    Timestamp,
}

impl MacroLetter {
    fn from_byte(b: u8) -> Option<(Self, bool)> {
        let letter = match b.to_ascii_lowercase() {
            b's' => MacroLetter::Sender,
            b'l' => MacroLetter::LocalPart,
            b'o' => MacroLetter::SenderDomain,
            b'd' => MacroLetter::Domain,
            b'i' => MacroLetter::Ip,
            b'p' => MacroLetter::ValidatedName,
            b'v' => MacroLetter::IpVersion,
            b'h' => MacroLetter::Helo,
            b'c' => MacroLetter::ClientIp,
            b'r' => MacroLetter::Receiver,
            b't' => MacroLetter::Timestamp,
            _ => return None,
        };
        Some((letter, b.is_ascii_uppercase()))
    }

    fn as_char(self) -> char {
        match self {
            MacroLetter::Sender => 's',
            MacroLetter::LocalPart => 'l',
            MacroLetter::SenderDomain => 'o',
            MacroLetter::Domain => 'd',
            MacroLetter::Ip => 'i',
            MacroLetter::ValidatedName => 'p',
            MacroLetter::IpVersion => 'v',
            MacroLetter::Helo => 'h',
            MacroLetter::ClientIp => 'c',
            MacroLetter::Receiver => 'r',
            MacroLetter::Timestamp => 't',
        }
    }

    /// Whether the letter may appear only in explanation strings.
    pub fn explanation_only(self) -> bool {
        matches!(
            self,
            MacroLetter::ClientIp | MacroLetter::Receiver | MacroLetter::Timestamp
        )
    }
}

/// One piece of a macro string, borrowed from it (see [`MacroString::parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroPart<'a> {
    /// Literal text.
    Literal(&'a str),
    /// `%{...}`.
    Expand {
        /// The letter.
        letter: MacroLetter,
        /// Upper-case letter: URL-escape the result.
        url_escape: bool,
        /// Keep this many right-hand parts.
        digits: Option<u8>,
        /// Reverse the parts first.
        reverse: bool,
        /// Split on these (default `.`).
        delimiters: &'a str,
    },
    /// `%%`.
    Percent,
    /// `%_`: a space.
    Space,
    /// `%-`: `%20`.
    UrlSpace,
}

/// A parsed macro string (`macro-string`, or `explain-string` when spaces
/// are allowed).
///
/// It keeps its text as written, checked against the grammar when parsed:
/// inline when it is short (most domains, so parsing a record allocates
/// nothing per term), on the heap otherwise. [`MacroString::parts`] reads
/// the pieces back from it. Two macro strings are equal when their parts are
/// (`%{d01}` and `%{d1}` are the same string).
#[derive(Debug, Clone, Default)]
pub struct MacroString {
    text: Text,
}

/// Longest text kept inline in a [`MacroString`].
const INLINE: usize = 30;

/// The text of a [`MacroString`], checked to be printable ASCII.
#[derive(Debug, Clone)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Default for Text {
    fn default() -> Self {
        Text::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl Text {
    /// `None` when `text` is not UTF-8 (it is checked ASCII when called).
    fn new(text: &[u8]) -> Option<Text> {
        if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text);
            return Some(Text::Inline {
                len: text.len() as u8,
                bytes,
            });
        }
        std::str::from_utf8(text)
            .ok()
            .map(|text| Text::Heap(text.into()))
    }

    fn as_str(&self) -> &str {
        match self {
            // Only checked ASCII is stored, so this never falls back.
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Heap(text) => text,
        }
    }
}

impl PartialEq for MacroString {
    fn eq(&self, other: &Self) -> bool {
        self.text.as_str() == other.text.as_str() || self.parts().eq(other.parts())
    }
}

impl Eq for MacroString {}

/// Where a macro string appears; decides which letters and characters are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacroContext {
    /// In a domain-spec or modifier value: no spaces, no `c`, `r`, `t`.
    Record,
    /// An explanation TXT record: spaces and every letter allowed.
    Explanation,
}

/// A part as byte ranges of the text: what [`scan_part`] finds.
enum Span {
    Literal(usize, usize),
    Expand {
        letter: MacroLetter,
        url_escape: bool,
        digits: Option<u8>,
        reverse: bool,
        delimiters: (usize, usize),
    },
    Percent,
    Space,
    UrlSpace,
}

/// Reads the part starting at `i` (`i < text.len()`): the part and where
/// the next one starts, or the position and reason of a syntax error.
fn scan_part(
    text: &[u8],
    mut i: usize,
    ctx: MacroContext,
) -> Result<(Span, usize), (usize, &'static str)> {
    if text.get(i) != Some(&b'%') {
        let start = i;
        let (low, high) = match ctx {
            MacroContext::Record => (0x21, 0x7e),
            MacroContext::Explanation => (0x20, 0x7e),
        };
        while let Some(&b) = text.get(i) {
            if b == b'%' {
                break;
            }
            if b < low || b > high {
                return Err((i, "character not allowed in a macro string"));
            }
            i += 1;
        }
        return Ok((Span::Literal(start, i), i));
    }
    match text.get(i + 1) {
        Some(b'%') => Ok((Span::Percent, i + 2)),
        Some(b'_') => Ok((Span::Space, i + 2)),
        Some(b'-') => Ok((Span::UrlSpace, i + 2)),
        Some(b'{') => {
            let start = i;
            i += 2;
            let (letter, url_escape) = text
                .get(i)
                .and_then(|&c| MacroLetter::from_byte(c))
                .ok_or((i, "unknown macro letter"))?;
            if ctx == MacroContext::Record && letter.explanation_only() {
                return Err((i, "macro letter allowed only in explanations"));
            }
            i += 1;
            let digit_start = i;
            let mut value: u32 = 0;
            while let Some(c) = text.get(i).filter(|c| c.is_ascii_digit()) {
                value = (value * 10 + u32::from(c - b'0')).min(10_000);
                i += 1;
            }
            let digits = if i > digit_start {
                if value == 0 {
                    return Err((digit_start, "macro transformer digits are zero"));
                }
                Some(
                    u8::try_from(value.min(u32::from(MAX_TRANSFORMER_DIGITS)))
                        .unwrap_or(MAX_TRANSFORMER_DIGITS),
                )
            } else {
                None
            };
            let reverse = matches!(text.get(i), Some(b'r' | b'R'));
            if reverse {
                i += 1;
            }
            let delimiters_start = i;
            while let Some(&c) = text.get(i) {
                if matches!(c, b'.' | b'-' | b'+' | b',' | b'/' | b'_' | b'=') {
                    i += 1;
                } else {
                    break;
                }
            }
            if text.get(i) != Some(&b'}') {
                return Err((
                    if i < text.len() { i } else { start },
                    "macro expansion not closed by '}'",
                ));
            }
            Ok((
                Span::Expand {
                    letter,
                    url_escape,
                    digits,
                    reverse,
                    delimiters: (delimiters_start, i),
                },
                i + 1,
            ))
        }
        _ => Err((i, "'%' not followed by '{', '%', '_' or '-'")),
    }
}

/// The parts of a checked macro string, in order.
struct Parts<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Parts<'a> {
    type Item = MacroPart<'a>;

    fn next(&mut self) -> Option<MacroPart<'a>> {
        if self.pos >= self.text.len() {
            return None;
        }
        // The text was checked in its own context when parsed; the
        // explanation context accepts it and reads the same parts.
        let (span, next) =
            scan_part(self.text.as_bytes(), self.pos, MacroContext::Explanation).ok()?;
        self.pos = next;
        let slice = |(a, b): (usize, usize)| self.text.get(a..b).unwrap_or_default();
        Some(match span {
            Span::Literal(a, b) => MacroPart::Literal(slice((a, b))),
            Span::Expand {
                letter,
                url_escape,
                digits,
                reverse,
                delimiters,
            } => MacroPart::Expand {
                letter,
                url_escape,
                digits,
                reverse,
                delimiters: slice(delimiters),
            },
            Span::Percent => MacroPart::Percent,
            Span::Space => MacroPart::Space,
            Span::UrlSpace => MacroPart::UrlSpace,
        })
    }
}

impl MacroString {
    /// Parses `text`; `offset` is added to error positions.
    pub(crate) fn parse(text: &[u8], offset: usize, ctx: MacroContext) -> Result<Self, Error> {
        Self::parse_with_tail(text, offset, ctx).map(|(m, _)| m)
    }

    /// Parses `text` and tells, from the same scan, where its trailing
    /// literal starts: `None` when the string ends with a macro (or `%%`,
    /// `%_`, `%-`), `Some(0)` when it is all literal (or empty).
    pub(crate) fn parse_with_tail(
        text: &[u8],
        offset: usize,
        ctx: MacroContext,
    ) -> Result<(Self, Option<usize>), Error> {
        let err = |(position, reason): (usize, &'static str)| Error::SpfSyntax {
            position: offset + position,
            reason,
        };
        let mut i = 0;
        let mut tail = Some(0);
        // A plain literal (the common case) needs no part scanning.
        let low = match ctx {
            MacroContext::Record => 0x21,
            MacroContext::Explanation => 0x20,
        };
        if text.iter().all(|&b| b != b'%' && (low..=0x7e).contains(&b)) {
            i = text.len();
        }
        while i < text.len() {
            let (span, next) = scan_part(text, i, ctx).map_err(err)?;
            tail = match span {
                Span::Literal(start, _) => Some(start),
                _ => None,
            };
            i = next;
        }
        let m = Self::from_checked(text)
            .ok_or_else(|| err((0, "character not allowed in a macro string")))?;
        Ok((m, tail))
    }

    /// A macro string from text already checked against the grammar (and
    /// so printable ASCII); `None` if it is not UTF-8 after all.
    pub(crate) fn from_checked(text: &[u8]) -> Option<Self> {
        Text::new(text).map(|text| MacroString { text })
    }

    /// The parts, in order.
    ///
    /// ```
    /// use imapmig_dns::spf::{MacroPart, SpfRecord};
    ///
    /// let record = SpfRecord::parse("v=spf1 redirect=%{d2}._spf.example.com")?;
    /// let parts: Vec<MacroPart<'_>> = record.redirect().map(|m| m.parts().collect()).unwrap_or_default();
    /// assert!(matches!(parts[0], MacroPart::Expand { digits: Some(2), .. }));
    /// assert_eq!(parts[1], MacroPart::Literal("._spf.example.com"));
    /// # Ok::<(), imapmig_dns::Error>(())
    /// ```
    pub fn parts(&self) -> impl Iterator<Item = MacroPart<'_>> {
        Parts {
            text: self.text.as_str(),
            pos: 0,
        }
    }

    /// The text when the string is one literal (no macros), such as a plain
    /// domain in `include:`.
    pub fn as_literal(&self) -> Option<&str> {
        let text = self.text.as_str();
        (!text.is_empty() && !text.contains('%')).then_some(text)
    }

    /// Whether any part expands `letter`.
    pub fn uses(&self, letter: MacroLetter) -> bool {
        self.parts()
            .any(|p| matches!(p, MacroPart::Expand { letter: l, .. } if l == letter))
    }

    /// Expands the string with the values in `values` (RFC 7208 §7.3).
    ///
    /// The result is cut at [`MAX_EXPANSION_LEN`] bytes.
    pub fn expand(&self, values: &MacroValues<'_>) -> String {
        let mut out = String::new();
        for part in self.parts() {
            if out.len() > MAX_EXPANSION_LEN {
                break;
            }
            match part {
                MacroPart::Literal(s) => out.push_str(s),
                MacroPart::Percent => out.push('%'),
                MacroPart::Space => out.push(' '),
                MacroPart::UrlSpace => out.push_str("%20"),
                MacroPart::Expand {
                    letter,
                    url_escape,
                    digits,
                    reverse,
                    delimiters,
                } => {
                    let value = values.value(letter);
                    let transformed = transform(&value, digits, reverse, delimiters);
                    if url_escape {
                        for b in transformed.bytes() {
                            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                                out.push(char::from(b));
                            } else {
                                let _ = write!(out, "%{b:02X}");
                            }
                        }
                    } else {
                        out.push_str(&transformed);
                    }
                }
            }
        }
        if out.len() > MAX_EXPANSION_LEN {
            let mut cut = MAX_EXPANSION_LEN;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        out
    }
}

fn transform(value: &str, digits: Option<u8>, reverse: bool, delimiters: &str) -> String {
    if digits.is_none() && !reverse && delimiters.is_empty() {
        return value.to_owned();
    }
    let delims: &str = if delimiters.is_empty() {
        "."
    } else {
        delimiters
    };
    let mut parts: Vec<&str> = value.split(|c| delims.contains(c)).collect();
    if reverse {
        parts.reverse();
    }
    if let Some(n) = digits {
        let n = usize::from(n);
        if parts.len() > n {
            parts.drain(..parts.len() - n);
        }
    }
    parts.join(".")
}

impl fmt::Display for MacroString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.parts() {
            match part {
                MacroPart::Literal(s) => f.write_str(s)?,
                MacroPart::Percent => f.write_str("%%")?,
                MacroPart::Space => f.write_str("%_")?,
                MacroPart::UrlSpace => f.write_str("%-")?,
                MacroPart::Expand {
                    letter,
                    url_escape,
                    digits,
                    reverse,
                    delimiters,
                } => {
                    let c = letter.as_char();
                    let c = if url_escape {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    };
                    write!(f, "%{{{c}")?;
                    if let Some(d) = digits {
                        write!(f, "{d}")?;
                    }
                    if reverse {
                        f.write_str("r")?;
                    }
                    write!(f, "{delimiters}}}")?;
                }
            }
        }
        Ok(())
    }
}

/// The values macros expand to, for one evaluation.
#[derive(Debug, Clone)]
pub struct MacroValues<'a> {
    /// `s`: `local@domain`.
    pub sender: &'a str,
    /// `l`.
    pub local_part: &'a str,
    /// `o`.
    pub sender_domain: &'a str,
    /// `d`.
    pub domain: &'a str,
    /// The client IP (`i`, `c`, `v`).
    pub ip: IpAddr,
    /// `p`, once looked up (`unknown` when not validated).
    pub validated_name: &'a str,
    /// `h`.
    pub helo: &'a str,
    /// `r`.
    pub receiver: &'a str,
    /// `t`.
    pub timestamp: u64,
}

impl MacroValues<'_> {
    fn value(&self, letter: MacroLetter) -> String {
        match letter {
            MacroLetter::Sender => self.sender.to_owned(),
            MacroLetter::LocalPart => self.local_part.to_owned(),
            MacroLetter::SenderDomain => self.sender_domain.to_owned(),
            MacroLetter::Domain => self.domain.to_owned(),
            MacroLetter::Ip => match self.ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => {
                    let mut s = String::with_capacity(63);
                    for (n, byte) in v6.octets().iter().enumerate() {
                        if n > 0 {
                            s.push('.');
                        }
                        let _ = write!(s, "{:x}.{:x}", byte >> 4, byte & 0xf);
                    }
                    s
                }
            },
            MacroLetter::ValidatedName => self.validated_name.to_owned(),
            MacroLetter::IpVersion => match self.ip {
                IpAddr::V4(_) => "in-addr".to_owned(),
                IpAddr::V6(_) => "ip6".to_owned(),
            },
            MacroLetter::Helo => self.helo.to_owned(),
            MacroLetter::ClientIp => self.ip.to_string(),
            MacroLetter::Receiver => self.receiver.to_owned(),
            MacroLetter::Timestamp => self.timestamp.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ip: &str) -> Result<MacroValues<'static>, Box<dyn std::error::Error>> {
        Ok(MacroValues {
            sender: "strong-bad@email.example.com",
            local_part: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse()?,
            validated_name: "unknown",
            helo: "mx.example.org",
            receiver: "unknown",
            timestamp: 1_700_000_000,
        })
    }

    /// The examples of RFC 7208 §7.4.
    #[test]
    fn rfc7208_section_7_4_examples() -> Result<(), Box<dyn std::error::Error>> {
        let v4 = values("192.0.2.3")?;
        let cases: &[(&str, &str)] = &[
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            (
                "%{ir}.%{v}._spf.%{d2}",
                "3.2.0.192.in-addr._spf.example.com",
            ),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            (
                "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
                "3.2.0.192.in-addr.strong.lp._spf.example.com",
            ),
            (
                "%{d2}.trusted-domains.example.net",
                "example.com.trusted-domains.example.net",
            ),
            ("%{S}", "strong-bad%40email.example.com"),
            ("a%%b%_c%-d", "a%b c%20d"),
        ];
        for (text, want) in cases {
            let m = MacroString::parse(text.as_bytes(), 0, MacroContext::Record)?;
            assert_eq!(m.expand(&v4), *want, "{text}");
            assert_eq!(m.to_string(), *text);
        }
        let v6 = values("2001:db8::cb01")?;
        let m = MacroString::parse(b"%{ir}.%{v}._spf.%{d2}", 0, MacroContext::Record)?;
        assert_eq!(
            m.expand(&v6),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
        Ok(())
    }

    #[test]
    fn syntax_errors_have_positions() {
        let cases: &[(&str, MacroContext, usize)] = &[
            ("%{x}", MacroContext::Record, 2),
            ("ab%", MacroContext::Record, 2),
            ("%{d0}", MacroContext::Record, 3),
            ("%{d", MacroContext::Record, 0),
            ("%{c}", MacroContext::Record, 2),
            ("a b", MacroContext::Record, 1),
            ("%{d2r.x}", MacroContext::Record, 6),
        ];
        for (text, ctx, pos) in cases {
            match MacroString::parse(text.as_bytes(), 0, *ctx) {
                Err(Error::SpfSyntax { position, .. }) => assert_eq!(position, *pos, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(MacroString::parse(b"see %{c} at %{t}", 0, MacroContext::Explanation).is_ok());
    }
}
