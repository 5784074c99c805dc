//! The resolver trait and the record values every check works on.
//!
//! The checks never touch the network themselves: they ask a [`Resolver`].
//! Three implement it here: [`crate::transport::NetworkResolver`] (UDP with
//! TCP fallback), [`crate::zone::ZoneResolver`] (answers from zone text, to
//! check planned records before publishing them) and any test double.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{DomainName, Error};

/// The record types the checks ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Mail exchanger.
    Mx,
    /// Text (SPF, DKIM, DMARC).
    Txt,
    /// Reverse pointer.
    Ptr,
    /// Name server.
    Ns,
    /// Alias.
    Cname,
    /// Start of authority.
    Soa,
}

impl RecordType {
    /// The type's number on the wire (RFC 1035 §3.2.2, RFC 3596).
    pub fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Ns => 2,
            RecordType::Cname => 5,
            RecordType::Soa => 6,
            RecordType::Ptr => 12,
            RecordType::Mx => 15,
            RecordType::Txt => 16,
            RecordType::Aaaa => 28,
        }
    }

    /// The type's mnemonic, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ptr => "PTR",
            RecordType::Ns => "NS",
            RecordType::Cname => "CNAME",
            RecordType::Soa => "SOA",
        }
    }

    /// Parses a mnemonic, ignoring case.
    pub fn from_mnemonic(text: &str) -> Option<Self> {
        [
            RecordType::A,
            RecordType::Aaaa,
            RecordType::Mx,
            RecordType::Txt,
            RecordType::Ptr,
            RecordType::Ns,
            RecordType::Cname,
            RecordType::Soa,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data of one resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A mail exchanger; `exchange` is the root for a null MX (RFC 7505).
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The host.
        exchange: DomainName,
    },
    /// The character-strings of a TXT record, each at most 255 bytes.
    Txt(Vec<Vec<u8>>),
    /// A reverse pointer.
    Ptr(DomainName),
    /// A name server.
    Ns(DomainName),
    /// An alias.
    Cname(DomainName),
    /// Start of authority (the fields the checks use).
    Soa {
        /// Primary name server.
        mname: DomainName,
        /// Serial number.
        serial: u32,
        /// Negative-caching TTL (RFC 2308).
        minimum: u32,
    },
}

impl RData {
    /// The record type of this data.
    pub fn record_type(&self) -> RecordType {
        match self {
            RData::A(_) => RecordType::A,
            RData::Aaaa(_) => RecordType::Aaaa,
            RData::Mx { .. } => RecordType::Mx,
            RData::Txt(_) => RecordType::Txt,
            RData::Ptr(_) => RecordType::Ptr,
            RData::Ns(_) => RecordType::Ns,
            RData::Cname(_) => RecordType::Cname,
            RData::Soa { .. } => RecordType::Soa,
        }
    }

    /// For TXT data, the strings glued together without separators (RFC 7208 §3.3).
    pub fn txt_joined(&self) -> Option<Vec<u8>> {
        match self {
            RData::Txt(parts) => Some(parts.concat()),
            _ => None,
        }
    }
}

impl fmt::Display for RData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A(ip) => write!(f, "{ip}"),
            RData::Aaaa(ip) => write!(f, "{ip}"),
            RData::Mx {
                preference,
                exchange,
            } => write!(f, "{preference} {exchange}"),
            RData::Txt(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "\"{}\"", p.escape_ascii())?;
                }
                Ok(())
            }
            RData::Ptr(n) | RData::Ns(n) | RData::Cname(n) => write!(f, "{n}"),
            RData::Soa {
                mname,
                serial,
                minimum,
            } => write!(f, "{mname} serial {serial} minimum {minimum}"),
        }
    }
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name.
    pub name: DomainName,
    /// Time to live in seconds (what is left of it, from a caching resolver).
    pub ttl: u32,
    /// The data.
    pub data: RData,
}

/// How a name server answered a question that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Outcome {
    /// NOERROR with records of the asked type (possibly behind CNAMEs).
    Answer,
    /// NOERROR but nothing of that type: the name exists.
    NoData,
    /// NXDOMAIN: the name does not exist.
    NxDomain,
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// Answer, no data, or no such name.
    pub outcome: Outcome,
    /// The answer section: the asked records, plus any CNAME chain to them.
    pub records: Vec<Record>,
    /// Whether the server said it is authoritative (the AA bit).
    pub authoritative: bool,
}

impl Lookup {
    /// An empty answer with the given outcome.
    pub fn empty(outcome: Outcome) -> Self {
        Lookup {
            outcome,
            records: Vec::new(),
            authoritative: false,
        }
    }

    /// The data of the answer records of type `rtype`.
    pub fn data_of(&self, rtype: RecordType) -> impl Iterator<Item = &RData> {
        self.records
            .iter()
            .filter(move |r| r.data.record_type() == rtype)
            .map(|r| &r.data)
    }

    /// The answer records of type `rtype`.
    pub fn records_of(&self, rtype: RecordType) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(move |r| r.data.record_type() == rtype)
    }

    /// Whether the lookup is "void" in the sense of RFC 7208 §4.6.4: no
    /// records of the asked type, or no such name.
    pub fn is_void(&self, rtype: RecordType) -> bool {
        self.data_of(rtype).next().is_none()
    }
}

/// Something that answers DNS questions.
///
/// `Err` means the question could not be answered (timeout, SERVFAIL,
/// unreadable response): RFC 7208 calls that a temporary error. A name that
/// does not exist is an `Ok` answer with [`Outcome::NxDomain`].
pub trait Resolver {
    /// Asks for the records of `rtype` at `name`.
    ///
    /// # Errors
    /// Whatever kept the question from being answered.
    fn lookup(&self, name: &DomainName, rtype: RecordType) -> Result<Lookup, Error>;
}

impl<R: Resolver + ?Sized> Resolver for &R {
    fn lookup(&self, name: &DomainName, rtype: RecordType) -> Result<Lookup, Error> {
        (**self).lookup(name, rtype)
    }
}

impl<R: Resolver + ?Sized> Resolver for Box<R> {
    fn lookup(&self, name: &DomainName, rtype: RecordType) -> Result<Lookup, Error> {
        (**self).lookup(name, rtype)
    }
}
