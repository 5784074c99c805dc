//! Domain names as the checks see them.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::Error;

/// Longest name in presentation form without the trailing dot (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// A domain name in ASCII presentation form, without the trailing dot.
///
/// Labels are 1 to 63 bytes of printable ASCII, space included (so `_dmarc`,
/// `sel._domainkey` and the names SPF macros build work), the whole name at most 253 bytes. Comparison and
/// hashing ignore ASCII case; the spelling given is kept for display. The
/// root is the empty name (written `.`), which a null MX (RFC 7505) points to.
///
/// ```
/// use imapmig_dns::DomainName;
/// let n: DomainName = "Sel._DomainKey.Example.COM.".parse()?;
/// assert_eq!(n, "sel._domainkey.example.com".parse()?);
/// assert_eq!(n.labels().count(), 4);
/// assert!(n.is_subdomain_of(&"example.com".parse()?));
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
#[derive(Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct DomainName(String);

impl DomainName {
    /// The root name `.`.
    pub fn root() -> Self {
        DomainName(String::new())
    }

    /// Parses a name, accepting one optional trailing dot.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for empty labels, labels over 63 bytes, names
    /// over 253 bytes, or bytes that are not printable ASCII.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidName {
            name: text.chars().take(300).collect(),
            reason,
        };
        if text == "." {
            return Ok(Self::root());
        }
        let body = text.strip_suffix('.').unwrap_or(text);
        if body.is_empty() {
            return Err(invalid("empty name"));
        }
        if body.len() > MAX_NAME_LEN {
            return Err(invalid("longer than 253 bytes"));
        }
        for label in body.split('.') {
            if label.is_empty() {
                return Err(invalid("empty label"));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(invalid("label longer than 63 bytes"));
            }
            if !label.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(invalid("not printable ascii"));
            }
        }
        Ok(DomainName(body.to_owned()))
    }

    /// The name as text, without trailing dot (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Labels from left to right.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.split('.').filter(|l| !l.is_empty())
    }

    /// The name with its leftmost label removed (`None` for the root).
    pub fn parent(&self) -> Option<DomainName> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.split_once('.') {
            Some((_, rest)) => DomainName(rest.to_owned()),
            None => Self::root(),
        })
    }

    /// `label.self`, checked like [`DomainName::parse`].
    ///
    /// # Errors
    /// [`Error::InvalidName`] when the result is not a valid name.
    pub fn prepend(&self, label: &str) -> Result<DomainName, Error> {
        if self.is_root() {
            DomainName::parse(label)
        } else {
            DomainName::parse(&format!("{label}.{}", self.0))
        }
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn is_subdomain_of(&self, other: &DomainName) -> bool {
        if other.is_root() || self == other {
            return true;
        }
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() > b.len()
            && a[a.len() - b.len()..].eq_ignore_ascii_case(b)
            && a[a.len() - b.len() - 1] == b'.'
    }

    /// The name in lower case.
    pub fn to_lowercase(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for DomainName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for DomainName {}

impl Hash for DomainName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl PartialOrd for DomainName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DomainName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_lowercase().cmp(&other.to_lowercase())
    }
}

/// The name's text (`.` for the root), as [`Display`](fmt::Display) writes it.
impl From<DomainName> for String {
    fn from(name: DomainName) -> String {
        name.to_string()
    }
}

/// Parses the text, as [`DomainName::parse`] does.
impl TryFrom<String> for DomainName {
    type Error = Error;

    fn try_from(text: String) -> Result<Self, Error> {
        DomainName::parse(&text)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({self})")
    }
}

impl std::str::FromStr for DomainName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DomainName::parse(s)
    }
}

impl TryFrom<&str> for DomainName {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        DomainName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.com", "abcdefghi.".repeat(25));
        let cases: &[(&str, Option<&str>)] = &[
            ("example.com", Some("example.com")),
            ("example.com.", Some("example.com")),
            ("_dmarc.example.com", Some("_dmarc.example.com")),
            (".", Some(".")),
            ("", None),
            ("a..b", None),
            (".a", None),
            (&long_label, None),
            (&long_name, None),
            ("a b.com", Some("a b.com")),
            ("a\tb.com", None),
            ("ex\u{e9}.com", None),
        ];
        for (input, want) in cases {
            let got = DomainName::parse(input).ok().map(|n| n.to_string());
            assert_eq!(got.as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn subdomains_and_parents() -> Result<(), Error> {
        let a = DomainName::parse("mail.Example.com")?;
        let b = DomainName::parse("example.COM")?;
        assert!(a.is_subdomain_of(&b));
        assert!(!b.is_subdomain_of(&a));
        assert!(!DomainName::parse("badexample.com")?.is_subdomain_of(&b));
        assert_eq!(a.parent(), Some(b.clone()));
        assert_eq!(
            b.parent().and_then(|p| p.parent()),
            Some(DomainName::root())
        );
        assert_eq!(b.prepend("_dmarc")?.as_str(), "_dmarc.example.COM");
        Ok(())
    }
}
