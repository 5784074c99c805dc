//! [`MailboxName`]: a mailbox name as the server sent it, and as a person reads it.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::mutf7;

/// How a server encoded a [`MailboxName`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum NameEncoding {
    /// Valid modified UTF-7 (RFC 3501 §5.1.3); pure ASCII names are this too.
    Mutf7,
    /// Not modified UTF-7 but valid UTF-8 (servers with `UTF8=ACCEPT`, RFC 6855,
    /// or broken ones that send UTF-8 anyway).
    Utf8,
    /// Neither: 8-bit bytes in some legacy charset. The decoded form is a
    /// lossy UTF-8 rendering for display; the raw bytes are kept to select it again.
    EightBit,
}

/// A mailbox name: the exact bytes a server sent (or will be sent) and the decoded text.
///
/// Equality and hashing use the raw bytes, so an 8-bit name from a broken
/// server survives a round trip and can be selected again with
/// [`wire`](Self::wire). Build one from the wire with [`MailboxName::from_wire`]
/// (or `TryFrom<&[u8]>`), or from decoded text with `str::parse` /
/// [`MailboxName::from_decoded`] (which encodes it in modified UTF-7).
///
/// ```
/// use imapmig_folders::{MailboxName, NameEncoding};
///
/// let name = MailboxName::from_wire(b"INBOX.&AMk-coles").unwrap();
/// assert_eq!(name.as_str(), "INBOX.Écoles");
/// assert_eq!(name.encoding(), NameEncoding::Mutf7);
///
/// let latin1 = MailboxName::from_wire(b"Caf\xe9").unwrap();
/// assert_eq!(latin1.encoding(), NameEncoding::EightBit);
/// assert_eq!(latin1.wire(), b"Caf\xe9");
///
/// let target: MailboxName = "Archiv/Übersicht".parse().unwrap();
/// assert_eq!(target.wire(), b"Archiv/&ANw-bersicht");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "WireRepr", try_from = "WireRepr")
)]
pub struct MailboxName {
    raw: Vec<u8>,
    decoded: String,
    encoding: NameEncoding,
}

fn check_forbidden(bytes: &[u8]) -> Result<(), Error> {
    match bytes
        .iter()
        .position(|&b| b == 0 || b == b'\r' || b == b'\n')
    {
        Some(offset) => Err(Error::ForbiddenByte {
            offset,
            byte: bytes[offset],
        }),
        None => Ok(()),
    }
}

impl MailboxName {
    /// The longest name accepted, in bytes (far above what servers allow).
    pub const MAX_LEN: usize = 4096;

    /// A name as received from a server (already unquoted / taken out of its literal).
    ///
    /// Decodes modified UTF-7 when valid, else UTF-8, else keeps the bytes
    /// with a lossy display form. Fails only on NUL, CR or LF, which no IMAP
    /// string can carry back to the server, or on names over [`Self::MAX_LEN`].
    pub fn from_wire(raw: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let raw = raw.into();
        check_forbidden(&raw)?;
        check_len(raw.len())?;
        if let Ok(decoded) = mutf7::decode(&raw) {
            return Ok(Self {
                raw,
                decoded,
                encoding: NameEncoding::Mutf7,
            });
        }
        let (decoded, encoding) = match std::str::from_utf8(&raw) {
            Ok(s) => (s.to_owned(), NameEncoding::Utf8),
            Err(_) => (
                String::from_utf8_lossy(&raw).into_owned(),
                NameEncoding::EightBit,
            ),
        };
        Ok(Self {
            raw,
            decoded,
            encoding,
        })
    }

    /// A name from its decoded text, encoded in modified UTF-7 for the wire.
    pub fn from_decoded(decoded: &str) -> Result<Self, Error> {
        check_forbidden(decoded.as_bytes())?;
        let raw = mutf7::encode(decoded).into_bytes();
        check_len(raw.len())?;
        Ok(Self {
            raw,
            decoded: decoded.to_owned(),
            encoding: NameEncoding::Mutf7,
        })
    }

    /// A name from decoded text, sent as raw UTF-8 (for a server that
    /// announced `UTF8=ACCEPT` and had it enabled, RFC 6855).
    pub fn from_utf8_wire(decoded: &str) -> Result<Self, Error> {
        check_forbidden(decoded.as_bytes())?;
        check_len(decoded.len())?;
        let encoding = if mutf7::is_valid(decoded.as_bytes()) {
            NameEncoding::Mutf7
        } else {
            NameEncoding::Utf8
        };
        Ok(Self {
            raw: decoded.as_bytes().to_vec(),
            decoded: decoded.to_owned(),
            encoding,
        })
    }

    /// The bytes to put in a command (`SELECT`, `CREATE`, `APPEND`), before quoting.
    pub fn wire(&self) -> &[u8] {
        &self.raw
    }

    /// The wire form as a `&str` when it is ASCII or UTF-8 (always, unless
    /// [`NameEncoding::EightBit`]); for IMAP clients that take names as `&str`.
    pub fn wire_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.raw).ok()
    }

    /// The decoded name, as a person reads it and as rules match it.
    pub fn as_str(&self) -> &str {
        &self.decoded
    }

    /// How the wire form was encoded.
    pub fn encoding(&self) -> NameEncoding {
        self.encoding
    }

    /// Whether this is the INBOX (the name `INBOX` in any case, RFC 3501 §5.1).
    pub fn is_inbox(&self) -> bool {
        self.decoded.eq_ignore_ascii_case("INBOX")
    }

    /// The name as an IMAP `astring` ready for a command: an atom when it
    /// can be one, a quoted string when it has no 8-bit bytes, else a literal.
    pub fn to_astring(&self) -> Vec<u8> {
        let atom = !self.raw.is_empty()
            && self.raw.iter().all(|&b| {
                b.is_ascii_graphic()
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
            });
        if atom {
            return self.raw.clone();
        }
        if self.raw.iter().all(|&b| (0x20..0x7f).contains(&b)) {
            let mut out = Vec::with_capacity(self.raw.len() + 2);
            out.push(b'"');
            for &b in &self.raw {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
            return out;
        }
        let mut out = format!("{{{}}}\r\n", self.raw.len()).into_bytes();
        out.extend_from_slice(&self.raw);
        out
    }
}

/// How a [`MailboxName`] is serialised: its wire form, as a string when it
/// is UTF-8 (always, unless 8-bit), else as bytes; the decoded form is
/// recomputed on the way in, so a deserialised name is as checked as a parsed one.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum WireRepr {
    Text(String),
    Bytes(Vec<u8>),
}

#[cfg(feature = "serde")]
impl From<MailboxName> for WireRepr {
    fn from(name: MailboxName) -> Self {
        match String::from_utf8(name.raw) {
            Ok(s) => Self::Text(s),
            Err(e) => Self::Bytes(e.into_bytes()),
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<WireRepr> for MailboxName {
    type Error = Error;

    fn try_from(repr: WireRepr) -> Result<Self, Error> {
        match repr {
            WireRepr::Text(s) => Self::from_wire(s.into_bytes()),
            WireRepr::Bytes(b) => Self::from_wire(b),
        }
    }
}

fn check_len(len: usize) -> Result<(), Error> {
    if len > MailboxName::MAX_LEN {
        return Err(Error::TooLarge {
            response: "mailbox name",
            len,
            limit: MailboxName::MAX_LEN,
        });
    }
    Ok(())
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw == self.decoded.as_bytes() {
            write!(f, "MailboxName({:?})", self.decoded)
        } else {
            write!(
                f,
                "MailboxName({:?}, wire {:?})",
                self.decoded,
                String::from_utf8_lossy(&self.raw)
            )
        }
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.decoded)
    }
}

impl FromStr for MailboxName {
    type Err = Error;

    /// Same as [`MailboxName::from_decoded`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_decoded(s)
    }
}

impl TryFrom<&[u8]> for MailboxName {
    type Error = Error;

    /// Same as [`MailboxName::from_wire`].
    fn try_from(raw: &[u8]) -> Result<Self, Error> {
        Self::from_wire(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_wire_table() {
        let cases: &[(&[u8], &str, NameEncoding)] = &[
            (b"INBOX", "INBOX", NameEncoding::Mutf7),
            (b"&U,BTFw-", "台北", NameEncoding::Mutf7),
            ("Écoles".as_bytes(), "Écoles", NameEncoding::Utf8),
            (b"a&b", "a&b", NameEncoding::Utf8),
            (b"Caf\xe9", "Caf\u{fffd}", NameEncoding::EightBit),
            (b"", "", NameEncoding::Mutf7),
        ];
        for (raw, decoded, enc) in cases {
            let n = MailboxName::from_wire(*raw).unwrap();
            assert_eq!(n.as_str(), *decoded);
            assert_eq!(n.encoding(), *enc);
            assert_eq!(n.wire(), *raw);
        }
    }

    #[test]
    fn forbidden_bytes() {
        assert_eq!(
            MailboxName::from_wire(&b"a\r\nb"[..]),
            Err(Error::ForbiddenByte {
                offset: 1,
                byte: b'\r'
            })
        );
        assert!("x\0".parse::<MailboxName>().is_err());
        assert!(MailboxName::from_wire(vec![b'a'; 5000]).is_err());
    }

    #[test]
    fn astring_forms() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"INBOX", b"INBOX"),
            (b"Sent Items", b"\"Sent Items\""),
            (b"a\"b\\c", b"\"a\\\"b\\\\c\""),
            (b"", b"\"\""),
            (b"Caf\xe9", b"{4}\r\nCaf\xe9"),
            (b"[Gmail]/All Mail", b"\"[Gmail]/All Mail\""),
        ];
        for (raw, want) in cases {
            assert_eq!(MailboxName::from_wire(*raw).unwrap().to_astring(), *want);
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_keeps_the_wire_form() {
        for raw in [&b"INBOX.&AMk-coles"[..], "Écoles".as_bytes(), b"Caf\xe9"] {
            let name = MailboxName::from_wire(raw).unwrap();
            let json = serde_json::to_string(&name).unwrap();
            let back: MailboxName = serde_json::from_str(&json).unwrap();
            assert_eq!(back, name, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&MailboxName::from_wire(&b"INBOX.&AMk-coles"[..]).unwrap())
                .unwrap(),
            "\"INBOX.&AMk-coles\""
        );
        assert!(serde_json::from_str::<MailboxName>("\"a\\r\\nb\"").is_err());
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert!(MailboxName::from_wire(&b"inbox"[..]).unwrap().is_inbox());
        assert!(!MailboxName::from_wire(&b"INBOX.x"[..]).unwrap().is_inbox());
    }
}
