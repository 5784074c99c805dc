//! SPF records: the RFC 7208 §12 grammar.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{MacroContext, MacroString};
use crate::Error;

/// Longest record text accepted, in bytes. DNS limits a TXT answer to 64 KiB.
pub const MAX_RECORD_LEN: usize = 65_535;

/// A directive's qualifier (RFC 7208 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+` (the default).
    Pass,
    /// `-`.
    Fail,
    /// `~`.
    SoftFail,
    /// `?`.
    Neutral,
}

impl Qualifier {
    fn as_char(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

/// CIDR prefix lengths for `a` and `mx` (`dual-cidr-length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DualCidr {
    /// IPv4 prefix length, 0-32 (default 32).
    pub v4: u8,
    /// IPv6 prefix length, 0-128 (default 128).
    pub v6: u8,
}

impl Default for DualCidr {
    fn default() -> Self {
        DualCidr { v4: 32, v6: 128 }
    }
}

impl fmt::Display for DualCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v4 != 32 {
            write!(f, "/{}", self.v4)?;
        }
        if self.v6 != 128 {
            write!(f, "//{}", self.v6)?;
        }
        Ok(())
    }
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:domain-spec`.
    Include(MacroString),
    /// `a[:domain-spec][cidr]`.
    A {
        /// Target (default: the current domain).
        domain: Option<MacroString>,
        /// Prefix lengths.
        cidr: DualCidr,
    },
    /// `mx[:domain-spec][cidr]`.
    Mx {
        /// Target (default: the current domain).
        domain: Option<MacroString>,
        /// Prefix lengths.
        cidr: DualCidr,
    },
    /// `ptr[:domain-spec]` (RFC 7208 says do not use it).
    Ptr(Option<MacroString>),
    /// `ip4:network[/len]`.
    Ip4 {
        /// Network address.
        addr: Ipv4Addr,
        /// Prefix length, 0-32.
        prefix: u8,
    },
    /// `ip6:network[/len]`.
    Ip6 {
        /// Network address.
        addr: Ipv6Addr,
        /// Prefix length, 0-128.
        prefix: u8,
    },
    /// `exists:domain-spec`.
    Exists(MacroString),
}

impl Mechanism {
    /// Whether evaluating this mechanism queries DNS (and counts toward the
    /// 10-term limit of RFC 7208 §4.6.4).
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

/// A qualified mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The qualifier.
    pub qualifier: Qualifier,
    /// The mechanism.
    pub mechanism: Mechanism,
}

/// A modifier (RFC 7208 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// `redirect=domain-spec`.
    Redirect(MacroString),
    /// `exp=domain-spec`.
    Explanation(MacroString),
    /// Any other `name=macro-string`; ignored by evaluation.
    Unknown {
        /// The name.
        name: String,
        /// The value.
        value: MacroString,
    },
}

/// One term with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A directive.
    Directive(Directive),
    /// A modifier.
    Modifier(Modifier),
}

/// A parsed SPF record.
///
/// ```
/// use imapmig_dns::spf::{Mechanism, SpfRecord};
/// let r = SpfRecord::parse("v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all")?;
/// assert_eq!(r.directives().count(), 3);
/// assert!(matches!(r.directives().nth(0).map(|d| &d.mechanism), Some(Mechanism::Ip4 { prefix: 24, .. })));
/// let bad = SpfRecord::parse("v=spf1 ip4:192.0.2.0/33 -all").unwrap_err();
/// assert_eq!(bad.to_string(), "spf syntax error at byte 21: ip4 prefix length over 32");
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpfRecord {
    /// Terms in order, each with its starting byte offset.
    pub terms: Vec<(usize, Term)>,
}

impl SpfRecord {
    /// Parses a record given as text.
    ///
    /// # Errors
    /// [`Error::SpfSyntax`] with the byte offset of the first problem.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parses a record given as bytes (TXT strings already glued together).
    ///
    /// One pass at byte level: each term is split off at its space, its
    /// kind read from its first bytes, and its value written straight into
    /// the term list (no allocation per term; a domain of up to 30 bytes is
    /// kept inline in its [`MacroString`]).
    ///
    /// # Errors
    /// [`Error::SpfSyntax`] with the byte offset of the first problem.
    pub fn parse_bytes(input: &[u8]) -> Result<Self, Error> {
        if input.len() > MAX_RECORD_LEN {
            return Err(syntax(MAX_RECORD_LEN, "record longer than 65535 bytes"));
        }
        if !is_spf1(input) {
            return Err(syntax(0, "record does not start with \"v=spf1\""));
        }
        // About one term per eight bytes: usually one allocation for the
        // list, and at most 16 terms (1 KiB) at first, which allocators
        // serve from their fast per-thread caches; longer records grow it.
        let mut terms = Vec::with_capacity((input.len() / 8 + 1).min(16));
        let mut i = 6;
        let (mut redirect, mut exp) = (false, false);
        while i < input.len() {
            if input[i] != b' ' {
                return Err(syntax(i, "terms must be separated by spaces"));
            }
            while input.get(i) == Some(&b' ') {
                i += 1;
            }
            if i >= input.len() {
                break;
            }
            let start = i;
            i = next_space(input, start);
            match parse_term(&input[start..i], start, &mut terms)? {
                Kind::Redirect if redirect => {
                    return Err(syntax(start, "second redirect modifier"));
                }
                Kind::Redirect => redirect = true,
                Kind::Explanation if exp => return Err(syntax(start, "second exp modifier")),
                Kind::Explanation => exp = true,
                Kind::Other => {}
            }
        }
        Ok(SpfRecord { terms })
    }

    /// The directives in order.
    pub fn directives(&self) -> impl Iterator<Item = &Directive> {
        self.terms.iter().filter_map(|(_, t)| match t {
            Term::Directive(d) => Some(d),
            Term::Modifier(_) => None,
        })
    }

    /// The `redirect=` target, if any.
    pub fn redirect(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|(_, t)| match t {
            Term::Modifier(Modifier::Redirect(m)) => Some(m),
            _ => None,
        })
    }

    /// The `exp=` target, if any.
    pub fn explanation(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|(_, t)| match t {
            Term::Modifier(Modifier::Explanation(m)) => Some(m),
            _ => None,
        })
    }
}

impl std::str::FromStr for SpfRecord {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        SpfRecord::parse(s)
    }
}

/// Whether the text is an SPF version 1 record: `v=spf1` then a space or
/// the end (RFC 7208 §4.5), ignoring case.
pub fn is_spf1(text: &[u8]) -> bool {
    text.len() >= 6
        && text[..6].eq_ignore_ascii_case(b"v=spf1")
        && (text.len() == 6 || text[6] == b' ')
}

/// A syntax error at `position`, built out of line (errors are rare).
#[cold]
fn syntax(position: usize, reason: &'static str) -> Error {
    Error::SpfSyntax { position, reason }
}

/// What [`parse_term`] added, for the once-only modifiers.
enum Kind {
    Redirect,
    Explanation,
    Other,
}

/// Whether `b` may appear in a modifier name (`ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`).
fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[usize::from(b)]
}

/// [`is_name_byte`] as a table.
static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
        b += 1;
    }
    table
};

/// The index of the first space at or after `from` (or the end): eight
/// bytes at a time in a `u64`, for terms of a few dozen bytes.
fn next_space(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) ^ (ONES * u64::from(b' '));
        // The lowest high bit set marks the first byte of `x` that is zero.
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return i + (zero.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b' ')
        .map_or(bytes.len(), |n| i + n)
}

/// A mechanism or modifier name of up to four bytes, lowercased, in a
/// `u32` (longer names are compared as bytes). Name bytes are letters,
/// digits, `-`, `_` and `.`; setting bit 5 folds only the letters onto one
/// another among them.
fn short_name(name: &[u8]) -> u32 {
    name.iter()
        .fold(0u32, |v, &b| (v << 8) | u32::from(b | 0x20))
}

/// Parses one term (`at` is its offset in the record) and pushes it.
fn parse_term(term: &[u8], at: usize, terms: &mut Vec<(usize, Term)>) -> Result<Kind, Error> {
    let (qualifier, off) = match term.first() {
        Some(b'+') => (Qualifier::Pass, 1),
        Some(b'-') => (Qualifier::Fail, 1),
        Some(b'~') => (Qualifier::SoftFail, 1),
        Some(b'?') => (Qualifier::Neutral, 1),
        _ => (Qualifier::Pass, 0),
    };
    // The name: up to the first byte that cannot be in a name. A '-' is
    // both a qualifier and a name byte: "-x=y" is a modifier named "-x"
    // (and so an error), as the grammar reads it.
    let from = if matches!(term.first(), Some(b'+' | b'~' | b'?')) {
        1
    } else {
        0
    };
    let name_end = term[from..]
        .iter()
        .position(|&b| !is_name_byte(b))
        .map_or(term.len(), |n| from + n);
    let stop = term.get(name_end).copied();
    if from == 0 && name_end > 0 && stop == Some(b'=') {
        return parse_modifier(term, at, name_end, terms);
    }
    let rest_at = at + off;
    // A mechanism name ends at ':' or '/' (or the end); any other byte
    // makes it a name that no mechanism has.
    if !matches!(stop, None | Some(b':' | b'/')) {
        return Err(syntax(rest_at, "unknown mechanism"));
    }
    let name = &term[off..name_end];
    let args = &term[name_end..];
    let args_at = at + name_end;
    let mechanism = match (name.len(), short_name(name)) {
        (3, ALL) => {
            if !args.is_empty() {
                return Err(syntax(args_at, "\"all\" takes no argument"));
            }
            Mechanism::All
        }
        (7, _) if name.eq_ignore_ascii_case(b"include") => {
            Mechanism::Include(required_domain(args, args_at, "include")?)
        }
        (6, _) if name.eq_ignore_ascii_case(b"exists") => {
            Mechanism::Exists(required_domain(args, args_at, "exists")?)
        }
        (3, PTR) => {
            if args.first() == Some(&b'/') {
                return Err(syntax(args_at, "\"ptr\" takes no prefix length"));
            }
            Mechanism::Ptr(optional_domain(args, args_at)?)
        }
        (1, A) => {
            let (spec, cidr) = split_dual_cidr(args, args_at)?;
            Mechanism::A {
                domain: optional_domain(spec, args_at)?,
                cidr,
            }
        }
        (2, MX) => {
            let (spec, cidr) = split_dual_cidr(args, args_at)?;
            Mechanism::Mx {
                domain: optional_domain(spec, args_at)?,
                cidr,
            }
        }
        (3, IP4) => {
            let Some(body) = args.strip_prefix(b":") else {
                return Err(syntax(args_at, "\"ip4\" needs ':' and an address"));
            };
            let (addr_text, prefix) =
                split_prefix(body, args_at + 1, 32, "ip4 prefix length over 32")?;
            let Some(addr) = parse_ipv4(addr_text) else {
                return Err(syntax(args_at + 1, "bad IPv4 network"));
            };
            Mechanism::Ip4 {
                addr,
                prefix: prefix.unwrap_or(32),
            }
        }
        (3, IP6) => {
            let Some(body) = args.strip_prefix(b":") else {
                return Err(syntax(args_at, "\"ip6\" needs ':' and an address"));
            };
            let (addr_text, prefix) =
                split_prefix(body, args_at + 1, 128, "ip6 prefix length over 128")?;
            let addr = std::str::from_utf8(addr_text)
                .ok()
                .filter(|s| !s.contains('.') || s.contains(':'))
                .and_then(|s| s.parse::<Ipv6Addr>().ok());
            let Some(addr) = addr else {
                return Err(syntax(args_at + 1, "bad IPv6 network"));
            };
            Mechanism::Ip6 {
                addr,
                prefix: prefix.unwrap_or(128),
            }
        }
        _ => return Err(syntax(rest_at, "unknown mechanism")),
    };
    terms.push((
        at,
        Term::Directive(Directive {
            qualifier,
            mechanism,
        }),
    ));
    Ok(Kind::Other)
}

const A: u32 = 0x61;
const MX: u32 = 0x6d78;
const ALL: u32 = 0x61_6c6c;
const PTR: u32 = 0x70_7472;
const IP4: u32 = 0x69_7034;
const IP6: u32 = 0x69_7036;

/// Parses a modifier `name=value` (`name_end` is the index of the `=`) and pushes it.
fn parse_modifier(
    term: &[u8],
    at: usize,
    name_end: usize,
    terms: &mut Vec<(usize, Term)>,
) -> Result<Kind, Error> {
    if !term[0].is_ascii_alphabetic() {
        return Err(syntax(at, "modifier name must start with a letter"));
    }
    let name = &term[..name_end];
    let value = &term[name_end + 1..];
    let value_at = at + name_end + 1;
    let (kind, modifier) = if name.eq_ignore_ascii_case(b"redirect") {
        (
            Kind::Redirect,
            Modifier::Redirect(domain_spec(value, value_at)?),
        )
    } else if name.eq_ignore_ascii_case(b"exp") {
        (
            Kind::Explanation,
            Modifier::Explanation(domain_spec(value, value_at)?),
        )
    } else {
        let value = MacroString::parse(value, value_at, MacroContext::Record)?;
        (
            Kind::Other,
            Modifier::Unknown {
                name: String::from_utf8_lossy(name).into_owned(),
                value,
            },
        )
    };
    terms.push((at, Term::Modifier(modifier)));
    Ok(kind)
}

fn required_domain(args: &[u8], at: usize, what: &'static str) -> Result<MacroString, Error> {
    match args.strip_prefix(b":") {
        Some(spec) => domain_spec(spec, at + 1),
        None => Err(Error::SpfSyntax {
            position: at,
            reason: match what {
                "include" => "\"include\" needs ':' and a domain",
                _ => "\"exists\" needs ':' and a domain",
            },
        }),
    }
}

fn optional_domain(args: &[u8], at: usize) -> Result<Option<MacroString>, Error> {
    match args.strip_prefix(b":") {
        Some(spec) => domain_spec(spec, at + 1).map(Some),
        None if args.is_empty() => Ok(None),
        None => Err(Error::SpfSyntax {
            position: at,
            reason: "unexpected text after mechanism name",
        }),
    }
}

/// `domain-spec = macro-string domain-end` (RFC 7208 §7.1).
pub(crate) fn domain_spec(spec: &[u8], at: usize) -> Result<MacroString, Error> {
    if spec.is_empty() {
        return Err(Error::SpfSyntax {
            position: at,
            reason: "empty domain-spec",
        });
    }
    // A plain domain (the common case): one pass checks its bytes and
    // notes its last two dots, then the top label is read from them.
    let mut dots = (None, None);
    let plain = spec.iter().enumerate().all(|(k, &b)| {
        if b == b'.' {
            dots = (dots.1, Some(k));
        }
        b != b'%' && (0x21..=0x7e).contains(&b)
    });
    if plain {
        // The top label ends before a final dot, and starts after the dot before it.
        let (end, dot) = if spec.last() == Some(&b'.') {
            (spec.len() - 1, dots.0)
        } else {
            (spec.len(), dots.1)
        };
        if !dot.is_some_and(|dot| is_toplabel(&spec[dot + 1..end])) {
            return Err(syntax(
                at,
                "domain-spec must end in '.' and a top label, or a macro",
            ));
        }
        return MacroString::from_checked(spec)
            .ok_or_else(|| syntax(at, "character not allowed in a macro string"));
    }
    let (m, tail) = MacroString::parse_with_tail(spec, at, MacroContext::Record)?;
    let Some(tail) = tail else {
        // Ends with a macro.
        return Ok(m);
    };
    let literal = &spec[tail..];
    let body = literal.strip_suffix(b".").unwrap_or(literal);
    let top_ok = body
        .iter()
        .rposition(|&b| b == b'.')
        .is_some_and(|dot| is_toplabel(&body[dot + 1..]));
    if !top_ok {
        return Err(syntax(
            at + tail,
            "domain-spec must end in '.' and a top label, or a macro",
        ));
    }
    Ok(m)
}

/// A dotted-quad IPv4 address, accepting exactly what
/// `Ipv4Addr::from_str` accepts (four decimal octets of 1-3 digits, no
/// leading zero, at most 255), without the UTF-8 check and the general
/// parser.
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let digit = |b: Option<&u8>| {
        b.filter(|b| b.is_ascii_digit())
            .map(|b| u16::from(b - b'0'))
    };
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if text.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let mut value = digit(text.get(i))?;
        i += 1;
        // A leading zero stands alone; otherwise up to two more digits.
        if value != 0 {
            for _ in 0..2 {
                let Some(d) = digit(text.get(i)) else { break };
                value = value * 10 + d;
                i += 1;
            }
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == text.len()).then(|| Ipv4Addr::from(octets))
}

/// `toplabel` (RFC 7208 §7.1): not all digits, letters/digits with inner dashes.
fn is_toplabel(label: &[u8]) -> bool {
    let (Some(first), Some(last)) = (label.first(), label.last()) else {
        return false;
    };
    if !label
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return false;
    }
    if label.contains(&b'-') {
        first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()
    } else {
        label.iter().any(u8::is_ascii_alphabetic)
    }
}

/// Splits `[":" domain-spec] [dual-cidr-length]` at the CIDR suffix.
fn split_dual_cidr(args: &[u8], at: usize) -> Result<(&[u8], DualCidr), Error> {
    let mut cidr = DualCidr::default();
    let mut rest = args;
    if let Some((head, digits)) = trailing_number(rest)
        && head.ends_with(b"//")
    {
        cidr.v6 = cidr_value(digits, at + head.len(), 128, "ip6 prefix length over 128")?;
        rest = &head[..head.len() - 2];
    }
    if let Some((head, digits)) = trailing_number(rest)
        && head.ends_with(b"/")
        && !head.ends_with(b"//")
    {
        cidr.v4 = cidr_value(digits, at + head.len(), 32, "ip4 prefix length over 32")?;
        rest = &head[..head.len() - 1];
    }
    if rest.ends_with(b"/") {
        return Err(Error::SpfSyntax {
            position: at + rest.len() - 1,
            reason: "prefix length missing after '/'",
        });
    }
    Ok((rest, cidr))
}

/// Splits trailing ASCII digits off `text`, if there are any.
fn trailing_number(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = text.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    (n > 0).then(|| text.split_at(text.len() - n))
}

fn cidr_value(digits: &[u8], at: usize, max: u8, over: &'static str) -> Result<u8, Error> {
    if digits.len() > 1 && digits[0] == b'0' {
        return Err(Error::SpfSyntax {
            position: at,
            reason: "prefix length with a leading zero",
        });
    }
    if digits.len() > 3 {
        return Err(Error::SpfSyntax {
            position: at,
            reason: over,
        });
    }
    let v = digits
        .iter()
        .fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
    match u8::try_from(v) {
        Ok(v) if v <= max => Ok(v),
        _ => Err(Error::SpfSyntax {
            position: at,
            reason: over,
        }),
    }
}

/// Splits `network ["/" len]` for ip4/ip6.
fn split_prefix<'a>(
    body: &'a [u8],
    at: usize,
    max: u8,
    over: &'static str,
) -> Result<(&'a [u8], Option<u8>), Error> {
    match body.iter().position(|&b| b == b'/') {
        None => Ok((body, None)),
        Some(slash) => {
            let digits = &body[slash + 1..];
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(Error::SpfSyntax {
                    position: at + slash,
                    reason: "bad prefix length",
                });
            }
            let v = cidr_value(digits, at + slash + 1, max, over)?;
            Ok((&body[..slash], Some(v)))
        }
    }
}

impl fmt::Display for SpfRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=spf1")?;
        for (_, term) in &self.terms {
            f.write_str(" ")?;
            match term {
                Term::Directive(d) => {
                    if d.qualifier != Qualifier::Pass {
                        write!(f, "{}", d.qualifier.as_char())?;
                    }
                    match &d.mechanism {
                        Mechanism::All => f.write_str("all")?,
                        Mechanism::Include(m) => write!(f, "include:{m}")?,
                        Mechanism::Exists(m) => write!(f, "exists:{m}")?,
                        Mechanism::Ptr(None) => f.write_str("ptr")?,
                        Mechanism::Ptr(Some(m)) => write!(f, "ptr:{m}")?,
                        Mechanism::A { domain, cidr } | Mechanism::Mx { domain, cidr } => {
                            let name = if matches!(d.mechanism, Mechanism::A { .. }) {
                                "a"
                            } else {
                                "mx"
                            };
                            f.write_str(name)?;
                            if let Some(m) = domain {
                                write!(f, ":{m}")?;
                            }
                            write!(f, "{cidr}")?;
                        }
                        Mechanism::Ip4 { addr, prefix } => write!(f, "ip4:{addr}/{prefix}")?,
                        Mechanism::Ip6 { addr, prefix } => write!(f, "ip6:{addr}/{prefix}")?,
                    }
                }
                Term::Modifier(Modifier::Redirect(m)) => write!(f, "redirect={m}")?,
                Term::Modifier(Modifier::Explanation(m)) => write!(f, "exp={m}")?,
                Term::Modifier(Modifier::Unknown { name, value }) => write!(f, "{name}={value}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_records_round_trip() -> Result<(), Error> {
        let cases: &[(&str, &str)] = &[
            ("v=spf1", "v=spf1"),
            ("V=SPF1 -ALL", "v=spf1 -all"),
            ("v=spf1  a  mx  ", "v=spf1 a mx"),
            (
                "v=spf1 a:example.com/24//64 -all",
                "v=spf1 a:example.com/24//64 -all",
            ),
            ("v=spf1 mx//64 ~all", "v=spf1 mx//64 ~all"),
            (
                "v=spf1 ip6:2001:db8::/32 ?all",
                "v=spf1 ip6:2001:db8::/32 ?all",
            ),
            ("v=spf1 ip4:192.0.2.1", "v=spf1 ip4:192.0.2.1/32"),
            (
                "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2}",
                "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2}",
            ),
            (
                "v=spf1 redirect=_spf.example.com",
                "v=spf1 redirect=_spf.example.com",
            ),
            ("v=spf1 foo-bar=%{d}x -all", "v=spf1 foo-bar=%{d}x -all"),
            (
                "v=spf1 ptr:example.com. a:x.1-2",
                "v=spf1 ptr:example.com. a:x.1-2",
            ),
        ];
        for (input, shown) in cases {
            let r = SpfRecord::parse(input)?;
            assert_eq!(r.to_string(), *shown, "{input}");
        }
        Ok(())
    }

    proptest::proptest! {
        /// The IPv4 parser accepts what the standard library accepts, with
        /// the same address.
        #[test]
        fn ipv4_is_the_standard_parser(text in "[0-9.]{0,16}|[0-9]{1,3}(\\.[0-9]{1,4}){3}|[0-9+ a.:]{0,10}") {
            let std = text.parse::<Ipv4Addr>().ok();
            proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), std, "{}", text);
        }
    }

    #[test]
    fn errors_name_the_position() {
        let cases: &[(&str, usize)] = &[
            ("v=spf2", 0),
            ("v=spf1x", 0),
            ("v=spf1 allx", 7),
            ("v=spf1 -all:x", 11),
            ("v=spf1 a:museum", 9),
            ("v=spf1 a:1.2.3.4", 9),
            ("v=spf1 a:foo.-com", 9),
            ("v=spf1 a/33", 9),
            ("v=spf1 a//129", 10),
            ("v=spf1 a/024", 9),
            ("v=spf1 ip4:1.2.3.4/33", 19),
            ("v=spf1 ip4:01.2.3.4", 11),
            ("v=spf1 ip6:1.2.3.4", 11),
            ("v=spf1 include", 14),
            ("v=spf1 redirect=a.com redirect=b.com", 22),
            ("v=spf1 exp=a.com exp=b.com", 17),
            ("v=spf1 a:%{c}.example.com", 11),
            ("v=spf1 -all\u{1}", 8),
            ("v=spf1 1x=y", 7),
            ("v=spf1 a:foo.com/", 16),
        ];
        for (input, pos) in cases {
            match SpfRecord::parse(input) {
                Err(Error::SpfSyntax { position, .. }) => assert_eq!(position, *pos, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
