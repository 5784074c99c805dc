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
    /// # Errors
    /// [`Error::SpfSyntax`] with the byte offset of the first problem.
    pub fn parse_bytes(input: &[u8]) -> Result<Self, Error> {
        let err = |position, reason| Error::SpfSyntax { position, reason };
        if input.len() > MAX_RECORD_LEN {
            return Err(err(MAX_RECORD_LEN, "record longer than 65535 bytes"));
        }
        if !is_spf1(input) {
            return Err(err(0, "record does not start with \"v=spf1\""));
        }
        // About one term per eight bytes: usually one allocation for the list.
        let mut record = SpfRecord {
            terms: Vec::with_capacity(input.len() / 8 + 1),
        };
        let mut i = 6;
        let (mut redirect, mut exp) = (false, false);
        while i < input.len() {
            if input[i] != b' ' {
                return Err(err(i, "terms must be separated by spaces"));
            }
            while input.get(i) == Some(&b' ') {
                i += 1;
            }
            if i >= input.len() {
                break;
            }
            let start = i;
            while i < input.len() && input[i] != b' ' {
                i += 1;
            }
            let term = parse_term(&input[start..i], start)?;
            match &term {
                Term::Modifier(Modifier::Redirect(_)) if redirect => {
                    return Err(err(start, "second redirect modifier"));
                }
                Term::Modifier(Modifier::Redirect(_)) => redirect = true,
                Term::Modifier(Modifier::Explanation(_)) if exp => {
                    return Err(err(start, "second exp modifier"));
                }
                Term::Modifier(Modifier::Explanation(_)) => exp = true,
                _ => {}
            }
            record.terms.push((start, term));
        }
        Ok(record)
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

fn parse_term(term: &[u8], at: usize) -> Result<Term, Error> {
    let err = |position, reason| Error::SpfSyntax { position, reason };
    // `name "="`: a modifier. Mechanism names never contain '='.
    let name_len = term
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        .unwrap_or(term.len());
    if name_len > 0 && term.get(name_len) == Some(&b'=') {
        if !term[0].is_ascii_alphabetic() {
            return Err(err(at, "modifier name must start with a letter"));
        }
        let name = &term[..name_len];
        let value = &term[name_len + 1..];
        let value_at = at + name_len + 1;
        if name.eq_ignore_ascii_case(b"redirect") {
            return Ok(Term::Modifier(Modifier::Redirect(domain_spec(
                value, value_at,
            )?)));
        }
        if name.eq_ignore_ascii_case(b"exp") {
            return Ok(Term::Modifier(Modifier::Explanation(domain_spec(
                value, value_at,
            )?)));
        }
        let value = MacroString::parse(value, value_at, MacroContext::Record)?;
        return Ok(Term::Modifier(Modifier::Unknown {
            name: String::from_utf8_lossy(name).into_owned(),
            value,
        }));
    }
    let (qualifier, rest, rest_at) = match term.first() {
        Some(b'+') => (Qualifier::Pass, &term[1..], at + 1),
        Some(b'-') => (Qualifier::Fail, &term[1..], at + 1),
        Some(b'~') => (Qualifier::SoftFail, &term[1..], at + 1),
        Some(b'?') => (Qualifier::Neutral, &term[1..], at + 1),
        _ => (Qualifier::Pass, term, at),
    };
    let name_end = rest
        .iter()
        .position(|&b| b == b':' || b == b'/')
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    let args = &rest[name_end..];
    let args_at = rest_at + name_end;
    let is = |word: &[u8]| name.eq_ignore_ascii_case(word);
    let mechanism = match () {
        () if is(b"all") => {
            if !args.is_empty() {
                return Err(err(args_at, "\"all\" takes no argument"));
            }
            Mechanism::All
        }
        () if is(b"include") => Mechanism::Include(required_domain(args, args_at, "include")?),
        () if is(b"exists") => Mechanism::Exists(required_domain(args, args_at, "exists")?),
        () if is(b"ptr") => {
            if args.first() == Some(&b'/') {
                return Err(err(args_at, "\"ptr\" takes no prefix length"));
            }
            Mechanism::Ptr(optional_domain(args, args_at)?)
        }
        () if is(b"a") || is(b"mx") => {
            let (spec, spec_at, cidr) = split_dual_cidr(args, args_at)?;
            let domain = optional_domain(spec, spec_at)?;
            if is(b"a") {
                Mechanism::A { domain, cidr }
            } else {
                Mechanism::Mx { domain, cidr }
            }
        }
        () if is(b"ip4") => {
            let body = args
                .strip_prefix(b":")
                .ok_or_else(|| err(args_at, "\"ip4\" needs ':' and an address"))?;
            let (addr_text, prefix) =
                split_prefix(body, args_at + 1, 32, "ip4 prefix length over 32")?;
            let addr = parse_ipv4(addr_text).ok_or_else(|| err(args_at + 1, "bad IPv4 network"))?;
            Mechanism::Ip4 {
                addr,
                prefix: prefix.unwrap_or(32),
            }
        }
        () if is(b"ip6") => {
            let body = args
                .strip_prefix(b":")
                .ok_or_else(|| err(args_at, "\"ip6\" needs ':' and an address"))?;
            let (addr_text, prefix) =
                split_prefix(body, args_at + 1, 128, "ip6 prefix length over 128")?;
            let addr = std::str::from_utf8(addr_text)
                .ok()
                .filter(|s| !s.contains('.') || s.contains(':'))
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .ok_or_else(|| err(args_at + 1, "bad IPv6 network"))?;
            Mechanism::Ip6 {
                addr,
                prefix: prefix.unwrap_or(128),
            }
        }
        _ => return Err(err(rest_at, "unknown mechanism")),
    };
    Ok(Term::Directive(Directive {
        qualifier,
        mechanism,
    }))
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
    // A plain domain (the common case): one pass checks its bytes, then the
    // top label is read from the bytes directly.
    if spec
        .iter()
        .all(|&b| b != b'%' && (0x21..=0x7e).contains(&b))
    {
        let body = spec.strip_suffix(b".").unwrap_or(spec);
        let top_ok = body
            .iter()
            .rposition(|&b| b == b'.')
            .is_some_and(|dot| is_toplabel(&body[dot + 1..]));
        if !top_ok {
            return Err(Error::SpfSyntax {
                position: at,
                reason: "domain-spec must end in '.' and a top label, or a macro",
            });
        }
        return MacroString::from_checked(spec).ok_or(Error::SpfSyntax {
            position: at,
            reason: "character not allowed in a macro string",
        });
    }
    let m = MacroString::parse(spec, at, MacroContext::Record)?;
    if m.ends_with_macro() {
        return Ok(m);
    }
    let literal = m.trailing_literal().unwrap_or("");
    let body = literal.strip_suffix('.').unwrap_or(literal);
    let top_ok = body
        .rsplit_once('.')
        .is_some_and(|(_, top)| is_toplabel(top.as_bytes()));
    if !top_ok {
        return Err(Error::SpfSyntax {
            position: at + spec.len() - literal.len(),
            reason: "domain-spec must end in '.' and a top label, or a macro",
        });
    }
    Ok(m)
}

/// A dotted-quad IPv4 address, accepting exactly what
/// `Ipv4Addr::from_str` accepts (four decimal octets of 1-3 digits, no
/// leading zero, at most 255), without the UTF-8 check and the general
/// parser.
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut done = 0;
    let (mut value, mut digits) = (0u16, 0u8);
    for &b in text {
        match b {
            b'0'..=b'9' => {
                // A fourth digit, or a digit after a leading zero.
                if digits == 3 || (digits == 1 && value == 0) {
                    return None;
                }
                value = value * 10 + u16::from(b - b'0');
                digits += 1;
            }
            b'.' if digits > 0 => {
                *octets.get_mut(done).filter(|_| done < 3)? = u8::try_from(value).ok()?;
                done += 1;
                (value, digits) = (0, 0);
            }
            _ => return None,
        }
    }
    if done != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
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
fn split_dual_cidr(args: &[u8], at: usize) -> Result<(&[u8], usize, DualCidr), Error> {
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
    Ok((rest, at, cidr))
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
