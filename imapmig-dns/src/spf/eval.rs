//! `check_host()` (RFC 7208 §4) over a [`Resolver`].

use std::fmt;
use std::net::IpAddr;

use super::macros::{MacroContext, MacroString, MacroValues};
use super::record::{Mechanism, Qualifier, SpfRecord, Term, is_spf1};
use crate::{DomainName, Error, Lookup, Outcome, RData, RecordType, Resolver};

/// The result of an SPF check (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SpfResult {
    /// No record, or no usable domain.
    None,
    /// The domain makes no assertion.
    Neutral,
    /// The client is authorised.
    Pass,
    /// The client is not authorised.
    Fail,
    /// Probably not authorised.
    SoftFail,
    /// A transient DNS error.
    TempError,
    /// The records are broken.
    PermError,
}

impl SpfResult {
    /// The result's name as RFC 7208 writes it (`pass`, `permerror`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }

    /// Parses a result name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SpfResult::None,
            SpfResult::Neutral,
            SpfResult::Pass,
            SpfResult::Fail,
            SpfResult::SoftFail,
            SpfResult::TempError,
            SpfResult::PermError,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(name))
    }

    fn from_qualifier(q: Qualifier) -> Self {
        match q {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The processing limits of RFC 7208 §4.6.4. They count work, never time,
/// so an evaluation is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpfLimits {
    /// DNS-querying terms (include, a, mx, ptr, exists, redirect): 10.
    pub dns_terms: u32,
    /// Lookups that return no records or NXDOMAIN: 2.
    pub void_lookups: u32,
    /// MX names looked up per `mx` mechanism: 10 (more is a permerror).
    pub mx_names: usize,
    /// PTR names checked per `ptr` mechanism or `%{p}`: 10 (the rest ignored).
    pub ptr_names: usize,
}

impl Default for SpfLimits {
    fn default() -> Self {
        SpfLimits {
            dns_terms: 10,
            void_lookups: 2,
            mx_names: 10,
            ptr_names: 10,
        }
    }
}

/// The inputs of one SPF check.
#[derive(Debug, Clone)]
pub struct SpfQuery {
    /// The SMTP client's IP address.
    pub ip: IpAddr,
    /// The MAIL FROM address; empty for a null reverse path.
    pub sender: String,
    /// The HELO/EHLO name.
    pub helo: String,
    /// The receiving host's name, for `%{r}`.
    pub receiver: String,
    /// Seconds since the Unix epoch, for `%{t}` (an input: no clock is read).
    pub timestamp: u64,
    /// The limits.
    pub limits: SpfLimits,
}

impl SpfQuery {
    /// A query with default limits, receiver `unknown` and timestamp 0.
    pub fn new(ip: IpAddr, sender: &str, helo: &str) -> Self {
        SpfQuery {
            ip,
            sender: sender.to_owned(),
            helo: helo.to_owned(),
            receiver: "unknown".to_owned(),
            timestamp: 0,
            limits: SpfLimits::default(),
        }
    }
}

/// What one DNS question returned, as recorded in the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceAnswer {
    /// This many records of the asked type.
    Records(usize),
    /// The name exists, no records of that type.
    NoData,
    /// No such name.
    NxDomain,
    /// The question failed.
    Error(String),
}

/// One DNS question asked during evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// Include/redirect depth (0 = the first record).
    pub depth: u32,
    /// The domain whose record was being evaluated.
    pub domain: String,
    /// The name asked for.
    pub name: String,
    /// The type asked for.
    pub rtype: RecordType,
    /// What came back.
    pub answer: TraceAnswer,
    /// Whether it counted as a void lookup.
    pub void: bool,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let indent = usize::try_from(self.depth).unwrap_or(0).min(20) * 2;
        write!(f, "{:indent$}{} {} -> ", "", self.name, self.rtype)?;
        match &self.answer {
            TraceAnswer::Records(n) => write!(f, "{n} record(s)")?,
            TraceAnswer::NoData => f.write_str("no data")?,
            TraceAnswer::NxDomain => f.write_str("nxdomain")?,
            TraceAnswer::Error(e) => write!(f, "error: {e}")?,
        }
        if self.void {
            f.write_str(" (void)")?;
        }
        Ok(())
    }
}

/// The full answer of an SPF check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    /// The result.
    pub result: SpfResult,
    /// For `fail`: the explanation from `exp=`, if one could be built.
    pub explanation: Option<String>,
    /// Why the result is `permerror`, `temperror` or `none`, or which term matched.
    pub reason: String,
    /// Every DNS question asked, in order.
    pub trace: Vec<TraceEntry>,
    /// DNS-querying terms used.
    pub dns_terms: u32,
    /// Void lookups seen.
    pub void_lookups: u32,
}

impl fmt::Display for SpfOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.result, self.reason)
    }
}

/// Evaluates SPF for a message: the MAIL FROM domain, or the HELO name when
/// MAIL FROM is empty (RFC 7208 §2.4).
///
/// ```
/// use imapmig_dns::{ZoneResolver, spf::{self, SpfQuery, SpfResult}};
/// let zone = ZoneResolver::from_zone_text("example.test", r#"
/// @  TXT "v=spf1 ip4:192.0.2.0/24 -all"
/// "#)?;
/// let pass = spf::evaluate(&zone, &SpfQuery::new("192.0.2.7".parse().unwrap(), "ann@example.test", "mx.example.test"));
/// assert_eq!(pass.result, SpfResult::Pass);
/// let fail = spf::evaluate(&zone, &SpfQuery::new("198.51.100.1".parse().unwrap(), "ann@example.test", "mx.example.test"));
/// assert_eq!(fail.result, SpfResult::Fail);
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn evaluate(resolver: &dyn Resolver, query: &SpfQuery) -> SpfOutcome {
    let domain = if query.sender.is_empty() {
        query.helo.clone()
    } else {
        query
            .sender
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| query.sender.clone())
    };
    check_host(resolver, query, &domain)
}

/// `check_host(<ip>, <domain>, <sender>)` (RFC 7208 §4).
pub fn check_host(resolver: &dyn Resolver, query: &SpfQuery, domain: &str) -> SpfOutcome {
    let (local, sender_domain) = split_sender(query);
    let mut ev = Evaluator {
        resolver,
        query,
        ip: normalize_ip(query.ip),
        local,
        sender_domain,
        trace: Vec::new(),
        dns_terms: 0,
        void_lookups: 0,
        validated: None,
    };
    let (result, explanation, reason) = match entry_domain(domain) {
        Some(d) => ev.check(&d, 0),
        None => (
            SpfResult::None,
            None,
            format!("{domain:?} is not a usable domain name"),
        ),
    };
    SpfOutcome {
        result,
        explanation,
        reason,
        trace: ev.trace,
        dns_terms: ev.dns_terms,
        void_lookups: ev.void_lookups,
    }
}

/// `(local-part, domain)` of the sender; `postmaster@helo` for an empty sender.
fn split_sender(query: &SpfQuery) -> (String, String) {
    let sender = if query.sender.is_empty() {
        format!("postmaster@{}", query.helo)
    } else {
        query.sender.clone()
    };
    match sender.rsplit_once('@') {
        Some(("", d)) => ("postmaster".to_owned(), d.to_owned()),
        Some((l, d)) => (l.to_owned(), d.to_owned()),
        None => ("postmaster".to_owned(), sender),
    }
}

/// IPv4-mapped IPv6 addresses are checked as IPv4 (RFC 7208 §5).
fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A usable `<domain>` (RFC 7208 §4.3): a valid, multi-label host name.
fn entry_domain(domain: &str) -> Option<DomainName> {
    let name = DomainName::parse(domain).ok()?;
    let ok = name.labels().count() >= 2
        && name.labels().all(|l| {
            l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(name)
}

type Checked = (SpfResult, Option<String>, String);

/// Why a term stopped evaluation early.
enum Abort {
    Temp(String),
    Perm(String),
}

struct Evaluator<'a> {
    resolver: &'a dyn Resolver,
    query: &'a SpfQuery,
    ip: IpAddr,
    local: String,
    sender_domain: String,
    trace: Vec<TraceEntry>,
    dns_terms: u32,
    void_lookups: u32,
    validated: Option<String>,
}

impl Evaluator<'_> {
    fn ask(
        &mut self,
        depth: u32,
        domain: &DomainName,
        name: &DomainName,
        rtype: RecordType,
        count_void: bool,
    ) -> Result<Lookup, Error> {
        let answer = self.resolver.lookup(name, rtype);
        let (trace_answer, void) = match &answer {
            Ok(l) if l.outcome == Outcome::NxDomain => (TraceAnswer::NxDomain, true),
            Ok(l) => match l.data_of(rtype).count() {
                0 => (TraceAnswer::NoData, true),
                n => (TraceAnswer::Records(n), false),
            },
            Err(e) => (TraceAnswer::Error(e.to_string()), false),
        };
        let void = void && count_void;
        if void {
            self.void_lookups += 1;
        }
        self.trace.push(TraceEntry {
            depth,
            domain: domain.to_string(),
            name: name.to_string(),
            rtype,
            answer: trace_answer,
            void,
        });
        answer
    }

    fn values<'v>(&'v self, domain: &'v str, validated: &'v str) -> MacroValues<'v> {
        MacroValues {
            sender: &self.query.sender,
            local_part: &self.local,
            sender_domain: &self.sender_domain,
            domain,
            ip: self.ip,
            validated_name: validated,
            helo: &self.query.helo,
            receiver: &self.query.receiver,
            timestamp: self.query.timestamp,
        }
    }

    /// Expands a domain-spec into a name to query (RFC 7208 §4.8: long
    /// names lose labels on the left). `None` when the result is not a name.
    fn target(
        &mut self,
        spec: &MacroString,
        domain: &DomainName,
        depth: u32,
    ) -> Option<DomainName> {
        let validated = if spec.uses(super::macros::MacroLetter::ValidatedName) {
            self.validated_name(domain, depth)
        } else {
            String::new()
        };
        let text = spec.expand(&self.values(domain.as_str(), &validated));
        let mut text = text.trim_end_matches('.');
        while text.len() > crate::name::MAX_NAME_LEN {
            match text.split_once('.') {
                Some((_, rest)) => text = rest,
                None => return None,
            }
        }
        DomainName::parse(text).ok()
    }

    /// `%{p}` (RFC 7208 §7.3): a PTR name of the client that resolves back to it,
    /// preferring the current domain or a subdomain of it.
    fn validated_name(&mut self, domain: &DomainName, depth: u32) -> String {
        if let Some(v) = &self.validated {
            return v.clone();
        }
        let names = self.validated_names(domain, depth).unwrap_or_default();
        let best = names
            .iter()
            .find(|n| n.is_subdomain_of(domain))
            .or_else(|| names.first())
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        self.validated = Some(best.clone());
        best
    }

    /// PTR names of the client whose A/AAAA records contain it (first 10 names).
    fn validated_names(
        &mut self,
        domain: &DomainName,
        depth: u32,
    ) -> Result<Vec<DomainName>, Error> {
        let rev = reverse_name(self.ip)?;
        let ptr = self.ask(depth, domain, &rev, RecordType::Ptr, false)?;
        let names: Vec<DomainName> = ptr
            .data_of(RecordType::Ptr)
            .filter_map(|d| match d {
                RData::Ptr(n) => Some(n.clone()),
                _ => None,
            })
            .take(self.query.limits.ptr_names)
            .collect();
        let mut out = Vec::new();
        for name in names {
            let rtype = addr_type(self.ip);
            if let Ok(l) = self.ask(depth, domain, &name, rtype, false)
                && addresses(&l).any(|a| a == self.ip)
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn count_term(&mut self) -> Result<(), Abort> {
        self.dns_terms += 1;
        if self.dns_terms > self.query.limits.dns_terms {
            return Err(Abort::Perm(format!(
                "more than {} DNS-querying terms",
                self.query.limits.dns_terms
            )));
        }
        Ok(())
    }

    fn check_void(&self) -> Result<(), Abort> {
        if self.void_lookups > self.query.limits.void_lookups {
            return Err(Abort::Perm(format!(
                "more than {} void lookups",
                self.query.limits.void_lookups
            )));
        }
        Ok(())
    }

    /// Finds the single SPF record of `domain`.
    fn fetch(&mut self, domain: &DomainName, depth: u32) -> Result<Option<SpfRecord>, Checked> {
        let lookup = match self.ask(depth, domain, domain, RecordType::Txt, false) {
            Ok(l) => l,
            Err(e) => {
                return Err((
                    SpfResult::TempError,
                    None,
                    format!("looking up {domain} TXT: {e}"),
                ));
            }
        };
        if lookup.outcome == Outcome::NxDomain {
            return Ok(None);
        }
        let mut found: Vec<Vec<u8>> = lookup
            .data_of(RecordType::Txt)
            .filter_map(RData::txt_joined)
            .filter(|t| is_spf1(t))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => {
                let text = found.pop().unwrap_or_default();
                SpfRecord::parse_bytes(&text).map(Some).map_err(|e| {
                    (
                        SpfResult::PermError,
                        None,
                        format!("record of {domain}: {e}"),
                    )
                })
            }
            n => Err((
                SpfResult::PermError,
                None,
                format!("{domain} has {n} SPF records"),
            )),
        }
    }

    fn check(&mut self, domain: &DomainName, depth: u32) -> Checked {
        let record = match self.fetch(domain, depth) {
            Ok(Some(r)) => r,
            Ok(None) => return (SpfResult::None, None, format!("no SPF record at {domain}")),
            Err(checked) => return checked,
        };
        for (pos, term) in &record.terms {
            let Term::Directive(d) = term else { continue };
            match self.matches(&d.mechanism, domain, depth) {
                Ok(false) => {}
                Ok(true) => {
                    let result = SpfResult::from_qualifier(d.qualifier);
                    let explanation = if result == SpfResult::Fail {
                        self.explain(&record, domain, depth)
                    } else {
                        None
                    };
                    return (
                        result,
                        explanation,
                        format!("matched the term at byte {pos} of {domain}"),
                    );
                }
                Err(Abort::Temp(why)) => return (SpfResult::TempError, None, why),
                Err(Abort::Perm(why)) => return (SpfResult::PermError, None, why),
            }
        }
        if let Some(spec) = record.redirect() {
            if let Err(Abort::Perm(why)) = self.count_term() {
                return (SpfResult::PermError, None, why);
            }
            let Some(target) = self.target(spec, domain, depth) else {
                return (
                    SpfResult::PermError,
                    None,
                    format!("redirect of {domain} is not a domain name"),
                );
            };
            if entry_domain(target.as_str()).is_none() {
                return (
                    SpfResult::PermError,
                    None,
                    format!("redirect target {target} is not usable"),
                );
            }
            let (result, explanation, reason) = self.check(&target, depth + 1);
            if result == SpfResult::None {
                return (
                    SpfResult::PermError,
                    None,
                    format!("redirect target {target} has no SPF record"),
                );
            }
            return (result, explanation, reason);
        }
        (
            SpfResult::Neutral,
            None,
            format!("no term of {domain} matched"),
        )
    }

    fn explain(&mut self, record: &SpfRecord, domain: &DomainName, depth: u32) -> Option<String> {
        let spec = record.explanation()?;
        let target = self.target(spec, domain, depth)?;
        let lookup = self
            .ask(depth, domain, &target, RecordType::Txt, false)
            .ok()?;
        let mut texts = lookup
            .data_of(RecordType::Txt)
            .filter_map(RData::txt_joined);
        let text = texts.next()?;
        if texts.next().is_some() {
            return None;
        }
        let m = MacroString::parse(&text, 0, MacroContext::Explanation).ok()?;
        let validated = if m.uses(super::macros::MacroLetter::ValidatedName) {
            self.validated_name(domain, depth)
        } else {
            String::new()
        };
        Some(m.expand(&self.values(domain.as_str(), &validated)))
    }

    fn matches(
        &mut self,
        mechanism: &Mechanism,
        domain: &DomainName,
        depth: u32,
    ) -> Result<bool, Abort> {
        if mechanism.queries_dns() {
            self.count_term()?;
        }
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4 { addr, prefix } => Ok(match self.ip {
                IpAddr::V4(ip) => in_prefix(&ip.octets(), &addr.octets(), *prefix),
                IpAddr::V6(_) => false,
            }),
            Mechanism::Ip6 { addr, prefix } => Ok(match self.ip {
                IpAddr::V6(ip) => in_prefix(&ip.octets(), &addr.octets(), *prefix),
                IpAddr::V4(_) => false,
            }),
            Mechanism::Include(spec) => {
                let Some(target) = self.target(spec, domain, depth) else {
                    return Err(Abort::Perm(format!(
                        "include in {domain} is not a domain name"
                    )));
                };
                let (result, _, why) = self.check(&target, depth + 1);
                match result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError => Err(Abort::Temp(why)),
                    SpfResult::PermError => Err(Abort::Perm(why)),
                    SpfResult::None => {
                        Err(Abort::Perm(format!("included {target} has no SPF record")))
                    }
                }
            }
            Mechanism::A { domain: spec, cidr } => {
                let Some(target) = self.optional_target(spec.as_ref(), domain, depth) else {
                    return Ok(false);
                };
                let rtype = addr_type(self.ip);
                let lookup = self
                    .ask(depth, domain, &target, rtype, true)
                    .map_err(|e| Abort::Temp(format!("{target} {rtype}: {e}")))?;
                self.check_void()?;
                Ok(addresses(&lookup).any(|a| self.in_cidr(a, cidr.v4, cidr.v6)))
            }
            Mechanism::Mx { domain: spec, cidr } => {
                let Some(target) = self.optional_target(spec.as_ref(), domain, depth) else {
                    return Ok(false);
                };
                let lookup = self
                    .ask(depth, domain, &target, RecordType::Mx, true)
                    .map_err(|e| Abort::Temp(format!("{target} MX: {e}")))?;
                self.check_void()?;
                let mut hosts: Vec<(u16, DomainName)> = lookup
                    .data_of(RecordType::Mx)
                    .filter_map(|d| match d {
                        RData::Mx {
                            preference,
                            exchange,
                        } => Some((*preference, exchange.clone())),
                        _ => None,
                    })
                    .collect();
                if hosts.len() > self.query.limits.mx_names {
                    return Err(Abort::Perm(format!(
                        "{target} has {} MX names, over the limit of {}",
                        hosts.len(),
                        self.query.limits.mx_names
                    )));
                }
                hosts.sort();
                let rtype = addr_type(self.ip);
                for (_, host) in hosts {
                    if host.is_root() {
                        continue;
                    }
                    let l = self
                        .ask(depth, domain, &host, rtype, false)
                        .map_err(|e| Abort::Temp(format!("{host} {rtype}: {e}")))?;
                    if addresses(&l).any(|a| self.in_cidr(a, cidr.v4, cidr.v6)) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr(spec) => {
                let Some(target) = self.optional_target(spec.as_ref(), domain, depth) else {
                    return Ok(false);
                };
                let Ok(rev) = reverse_name(self.ip) else {
                    return Ok(false);
                };
                let lookup = match self.ask(depth, domain, &rev, RecordType::Ptr, true) {
                    Ok(l) => l,
                    Err(_) => return Ok(false),
                };
                self.check_void()?;
                let names: Vec<DomainName> = lookup
                    .data_of(RecordType::Ptr)
                    .filter_map(|d| match d {
                        RData::Ptr(n) => Some(n.clone()),
                        _ => None,
                    })
                    .take(self.query.limits.ptr_names)
                    .collect();
                let rtype = addr_type(self.ip);
                for name in names {
                    if !name.is_subdomain_of(&target) {
                        continue;
                    }
                    if let Ok(l) = self.ask(depth, domain, &name, rtype, false)
                        && addresses(&l).any(|a| a == self.ip)
                    {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Mechanism::Exists(spec) => {
                let Some(target) = self.target(spec, domain, depth) else {
                    return Ok(false);
                };
                let lookup = self
                    .ask(depth, domain, &target, RecordType::A, true)
                    .map_err(|e| Abort::Temp(format!("{target} A: {e}")))?;
                self.check_void()?;
                Ok(!lookup.is_void(RecordType::A))
            }
        }
    }

    fn optional_target(
        &mut self,
        spec: Option<&MacroString>,
        domain: &DomainName,
        depth: u32,
    ) -> Option<DomainName> {
        match spec {
            Some(s) => self.target(s, domain, depth),
            None => Some(domain.clone()),
        }
    }

    fn in_cidr(&self, addr: IpAddr, v4: u8, v6: u8) -> bool {
        match (self.ip, addr) {
            (IpAddr::V4(ip), IpAddr::V4(a)) => in_prefix(&ip.octets(), &a.octets(), v4),
            (IpAddr::V6(ip), IpAddr::V6(a)) => in_prefix(&ip.octets(), &a.octets(), v6),
            _ => false,
        }
    }
}

fn addr_type(ip: IpAddr) -> RecordType {
    match ip {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::Aaaa,
    }
}

fn addresses(lookup: &Lookup) -> impl Iterator<Item = IpAddr> + '_ {
    lookup.records.iter().filter_map(|r| match r.data {
        RData::A(a) => Some(IpAddr::V4(a)),
        RData::Aaaa(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

/// Whether the first `prefix` bits of `a` and `b` agree.
fn in_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let mut bits = usize::from(prefix);
    for (x, y) in a.iter().zip(b) {
        if bits == 0 {
            return true;
        }
        let take = bits.min(8);
        let mask = (0xffu16 << (8 - take)) as u8;
        if (x & mask) != (y & mask) {
            return false;
        }
        bits -= take;
    }
    true
}

/// The `in-addr.arpa` / `ip6.arpa` name of an address.
pub fn reverse_name(ip: IpAddr) -> Result<DomainName, Error> {
    let text = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    };
    DomainName::parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoneResolver;

    #[test]
    fn prefixes() {
        let cases: &[([u8; 4], [u8; 4], u8, bool)] = &[
            ([192, 0, 2, 1], [192, 0, 2, 0], 24, true),
            ([192, 0, 3, 1], [192, 0, 2, 0], 24, false),
            ([192, 0, 3, 1], [192, 0, 2, 0], 22, true),
            ([10, 0, 0, 1], [192, 0, 2, 0], 0, true),
            ([192, 0, 2, 1], [192, 0, 2, 1], 32, true),
            ([192, 0, 2, 1], [192, 0, 2, 0], 32, false),
        ];
        for (a, b, p, want) in cases {
            assert_eq!(in_prefix(a, b, *p), *want, "{a:?} {b:?} /{p}");
        }
    }

    #[test]
    fn results_over_a_zone() -> Result<(), Box<dyn std::error::Error>> {
        let zone = ZoneResolver::from_zone_text(
            "ex.test",
            r#"
@        TXT "v=spf1 mx a:web.ex.test include:inc.ex.test ~all"
@        MX 10 mx
mx       A 192.0.2.10
web      A 192.0.2.20
inc      TXT "v=spf1 ip4:198.51.100.0/24 -all"
loop     TXT "v=spf1 include:loop.ex.test -all"
two      TXT "v=spf1 -all"
two      TXT "v=spf1 +all"
void     TXT "v=spf1 a:n1.ex.test a:n2.ex.test a:n3.ex.test -all"
red      TXT "v=spf1 redirect=ex.test"
rednone  TXT "v=spf1 redirect=nothing.ex.test"
"#,
        )?;
        let cases: &[(&str, &str, SpfResult)] = &[
            ("192.0.2.10", "ex.test", SpfResult::Pass),
            ("192.0.2.20", "ex.test", SpfResult::Pass),
            ("198.51.100.9", "ex.test", SpfResult::Pass),
            ("203.0.113.1", "ex.test", SpfResult::SoftFail),
            ("203.0.113.1", "loop.ex.test", SpfResult::PermError),
            ("203.0.113.1", "two.ex.test", SpfResult::PermError),
            ("203.0.113.1", "void.ex.test", SpfResult::PermError),
            ("192.0.2.10", "red.ex.test", SpfResult::Pass),
            ("192.0.2.10", "rednone.ex.test", SpfResult::PermError),
            ("192.0.2.10", "absent.ex.test", SpfResult::None),
            ("192.0.2.10", "single", SpfResult::None),
        ];
        for (ip, domain, want) in cases {
            let q = SpfQuery::new(ip.parse()?, &format!("a@{domain}"), "helo.ex.test");
            let out = check_host(&zone, &q, domain);
            assert_eq!(out.result, *want, "{ip} {domain}: {}", out.reason);
        }
        let q = SpfQuery::new("203.0.113.1".parse()?, "a@void.ex.test", "h.ex.test");
        let out = check_host(&zone, &q, "void.ex.test");
        assert_eq!(out.void_lookups, 3);
        assert_eq!(out.trace.len(), 4);
        Ok(())
    }

    #[test]
    fn reverse_names() -> Result<(), Error> {
        assert_eq!(
            reverse_name("192.0.2.1".parse().map_err(|_| Error::Wire {
                reason: String::new()
            })?)?
            .as_str(),
            "1.2.0.192.in-addr.arpa"
        );
        Ok(())
    }
}
