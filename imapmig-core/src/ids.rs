//! Identifiers a server hands out: UIDs, UIDVALIDITY, mod-sequences,
//! message fingerprints and flags.
//!
//! All are newtypes built by `TryFrom`/`FromStr`, so a zero UID or an
//! empty flag cannot be represented.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::str::FromStr;

use crate::Error;

macro_rules! nonzero_id {
    ($(#[$doc:meta])* $name:ident, $nz:ty, $int:ty, $ser:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(try_from = $ser, into = $ser))]
        pub struct $name($nz);

        impl $name {
            /// The value as a plain integer (never zero).
            pub const fn get(self) -> $int {
                self.0.get()
            }

            /// Builds the value from a non-zero integer.
            pub const fn new(value: $nz) -> Self {
                Self(value)
            }
        }

        impl TryFrom<$int> for $name {
            type Error = Error;
            fn try_from(value: $int) -> Result<Self, Error> {
                <$nz>::new(value)
                    .map(Self)
                    .ok_or_else(|| Error::invalid($what, "0", "must not be zero"))
            }
        }

        impl From<$name> for $int {
            fn from(value: $name) -> $int {
                value.get()
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::invalid($what, s, "not a decimal number"));
                }
                let n: $int = s.parse().map_err(|_| Error::invalid($what, s, "out of range"))?;
                Self::try_from(n).map_err(|_| Error::invalid($what, s, "must not be zero"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

nonzero_id!(
    /// A message UID (RFC 3501 §2.3.1.1): non-zero, valid only together with
    /// its folder's [`UidValidity`].
    Uid, NonZeroU32, u32, "u32", "uid"
);
nonzero_id!(
    /// A folder's UIDVALIDITY (RFC 3501 §2.3.1.1). When it changes, every
    /// UID recorded under the old value is meaningless.
    UidValidity, NonZeroU32, u32, "u32", "uidvalidity"
);
nonzero_id!(
    /// A CONDSTORE mod-sequence (RFC 7162), e.g. HIGHESTMODSEQ.
    ModSeq, NonZeroU64, u64, "u64", "mod-sequence"
);

/// A message's identity as a 128-bit value computed by the caller (for
/// example by `imapmig-dedupe` from header fields). This crate never
/// computes fingerprints; it only compares them.
///
/// Stored as 16 bytes (big-endian) rather than a `u128` so that it needs
/// no 16-byte alignment: a million `Option<Fingerprint>` cost 17 MB, not 32.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// The fingerprint as a `u128`.
    pub const fn get(self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

impl From<u128> for Fingerprint {
    fn from(value: u128) -> Self {
        Fingerprint(value.to_be_bytes())
    }
}

impl From<Fingerprint> for u128 {
    fn from(value: Fingerprint) -> u128 {
        value.get()
    }
}

impl fmt::Display for Fingerprint {
    /// 32 lowercase hexadecimal digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.get())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;
    /// Parses exactly 32 hexadecimal digits (either case).
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "fingerprint",
                s,
                "expected 32 hexadecimal digits",
            ));
        }
        u128::from_str_radix(s, 16)
            .map(Fingerprint::from)
            .map_err(|_| Error::invalid("fingerprint", s, "expected 32 hexadecimal digits"))
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        value.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(value: Fingerprint) -> String {
        value.to_string()
    }
}

/// A message flag (RFC 3501 §2.3.2): a system flag, an extension flag
/// (`\` followed by an atom) or a keyword (an atom such as `$Forwarded`).
///
/// System flags compare case-insensitively, as the RFC says; keywords and
/// extension flags keep their spelling and compare ASCII-case-insensitively
/// through [`Flag::same_as`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
#[non_exhaustive]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// `\Recent`: session-only, never set by a client, ignored in flag sync.
    Recent,
    /// Another `\`-flag, without the backslash.
    Extension(String),
    /// A keyword such as `$Forwarded` or `NonJunk`.
    Keyword(String),
}

/// RFC 3501 ATOM-CHAR: any CHAR except atom-specials.
fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

impl Flag {
    /// True when both name the same flag, ignoring ASCII case.
    pub fn same_as(&self, other: &Flag) -> bool {
        match (self, other) {
            (Flag::Extension(a), Flag::Extension(b)) | (Flag::Keyword(a), Flag::Keyword(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            _ => self == other,
        }
    }

    /// True for flags a client can store (everything but `\Recent`).
    pub fn is_storable(&self) -> bool {
        !matches!(self, Flag::Recent)
    }
}

impl FromStr for Flag {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (system, atom) = match s.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if atom.is_empty() {
            return Err(Error::invalid("flag", s, "empty"));
        }
        if atom.len() > 256 {
            return Err(Error::invalid("flag", s, "longer than 256 bytes"));
        }
        if !atom.bytes().all(is_atom_char) {
            return Err(Error::invalid("flag", s, "not an atom"));
        }
        if !system {
            return Ok(Flag::Keyword(atom.to_owned()));
        }
        let known = [
            ("Seen", Flag::Seen),
            ("Answered", Flag::Answered),
            ("Flagged", Flag::Flagged),
            ("Deleted", Flag::Deleted),
            ("Draft", Flag::Draft),
            ("Recent", Flag::Recent),
        ];
        for (name, flag) in known {
            if atom.eq_ignore_ascii_case(name) {
                return Ok(flag);
            }
        }
        Ok(Flag::Extension(atom.to_owned()))
    }
}

impl TryFrom<String> for Flag {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        value.parse()
    }
}

impl From<Flag> for String {
    fn from(value: Flag) -> String {
        value.to_string()
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Extension(name) => write!(f, "\\{name}"),
            Flag::Keyword(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_rejects_zero_and_garbage() {
        let cases: &[(&str, Option<u32>)] = &[
            ("1", Some(1)),
            ("4294967295", Some(u32::MAX)),
            ("0", None),
            ("", None),
            ("-1", None),
            ("+1", None),
            ("4294967296", None),
            ("1 ", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<Uid>().ok().map(Uid::get);
            assert_eq!(got, *want, "{input:?}");
        }
        assert!(Uid::try_from(0).is_err());
        assert!(ModSeq::try_from(0u64).is_err());
        assert_eq!(ModSeq::try_from(u64::MAX).unwrap().get(), u64::MAX);
    }

    #[test]
    fn fingerprint_round_trips_as_hex() {
        for v in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        ] {
            let fp = Fingerprint::from(v);
            let text = fp.to_string();
            assert_eq!(text.len(), 32);
            assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
            assert_eq!(u128::from(fp), v);
        }
        for bad in ["", "xyz", "0123", &"g".repeat(32), &"0".repeat(33)] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn flags_parse_case_insensitively() {
        let cases: &[(&str, Option<Flag>)] = &[
            ("\\Seen", Some(Flag::Seen)),
            ("\\SEEN", Some(Flag::Seen)),
            ("\\answered", Some(Flag::Answered)),
            ("\\Recent", Some(Flag::Recent)),
            ("\\Junk", Some(Flag::Extension("Junk".into()))),
            ("$Forwarded", Some(Flag::Keyword("$Forwarded".into()))),
            ("", None),
            ("\\", None),
            ("two words", None),
            ("par(en", None),
            ("\\*", None),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Flag>().ok(), *want, "{input:?}");
        }
        let a: Flag = "$label1".parse().unwrap();
        let b: Flag = "$LABEL1".parse().unwrap();
        assert!(a.same_as(&b));
        assert_eq!(a.to_string(), "$label1");
        assert_eq!(Flag::Extension("Junk".into()).to_string(), "\\Junk");
    }
}
