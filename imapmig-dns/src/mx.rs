//! MX checks for a cutover: records and TTLs, leftover and missing hosts,
//! null MX (RFC 7505), and targets that are CNAMEs, IP literals or do not resolve.

use std::net::IpAddr;

use crate::finding::{Finding, Severity};
use crate::{DomainName, Lookup, Outcome, RData, RecordType, Resolver};

/// What an MX target name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MxTarget {
    /// Its addresses (A and AAAA).
    Addresses(Vec<IpAddr>),
    /// It is an alias, which RFC 5321 §5.1 forbids for MX targets.
    Cname(DomainName),
    /// It is written as an IP address, which is not a host name.
    IpLiteral,
    /// It has no A or AAAA records.
    NoAddress,
    /// The lookups failed.
    Error(String),
}

/// One MX record with its target checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MxHost {
    /// Lower is preferred.
    pub preference: u16,
    /// The host.
    pub exchange: DomainName,
    /// The record's TTL in seconds.
    pub ttl: u32,
    /// What the host resolves to.
    pub target: MxTarget,
}

/// The MX state of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MxReport {
    /// The domain.
    pub domain: DomainName,
    /// How the MX question was answered (`None` when it failed).
    pub outcome: Option<Outcome>,
    /// The hosts, by preference.
    pub hosts: Vec<MxHost>,
    /// Whether the domain publishes a null MX (accepts no mail).
    pub null_mx: bool,
    /// The findings.
    pub findings: Vec<Finding>,
}

impl MxReport {
    /// The highest TTL among the MX records: how long a cache may keep them.
    pub fn max_ttl(&self) -> Option<u32> {
        self.hosts.iter().map(|h| h.ttl).max()
    }
}

/// Whether a name is written like an IPv4 or IPv6 address.
fn is_ip_literal(name: &DomainName) -> bool {
    let s = name.as_str();
    s.parse::<IpAddr>().is_ok()
        || s.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
}

fn addresses(l: &Lookup) -> impl Iterator<Item = IpAddr> + '_ {
    l.records.iter().filter_map(|r| match r.data {
        RData::A(a) => Some(IpAddr::V4(a)),
        RData::Aaaa(a) => Some(IpAddr::V6(a)),
        _ => None,
    })
}

fn check_target(resolver: &dyn Resolver, host: &DomainName) -> MxTarget {
    if is_ip_literal(host) {
        return MxTarget::IpLiteral;
    }
    let mut found = Vec::new();
    let mut error = None;
    for rtype in [RecordType::A, RecordType::Aaaa] {
        match resolver.lookup(host, rtype) {
            Ok(l) => {
                if let Some(RData::Cname(target)) = l.data_of(RecordType::Cname).next() {
                    return MxTarget::Cname(target.clone());
                }
                found.extend(addresses(&l));
            }
            Err(e) => error = Some(e.to_string()),
        }
    }
    match (found.is_empty(), error) {
        (false, _) => MxTarget::Addresses(found),
        (true, Some(e)) => MxTarget::Error(e),
        (true, None) => MxTarget::NoAddress,
    }
}

/// Reads and checks the MX records of `domain`.
///
/// `expected` is the set of hosts that should receive mail after the
/// cutover; when it is not empty, a host outside it is a leftover
/// (blocking: some mail would still go to the old system) and a host
/// missing from the records is blocking too.
///
/// ```
/// use imapmig_dns::{ZoneResolver, Severity, mx::check_mx};
/// let zone = ZoneResolver::from_zone_text("example.test", r#"
/// @      300 MX 10 mx.new.test.
/// @      300 MX 20 mx.old.test.
/// mx.new.test.  A 192.0.2.1
/// mx.old.test.  A 192.0.2.2
/// "#)?;
/// let report = check_mx(&zone, &"example.test".parse()?, &["mx.new.test".parse()?]);
/// assert!(report.findings.iter().any(|f| f.code == "mx-leftover" && f.severity == Severity::Blocking));
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn check_mx(resolver: &dyn Resolver, domain: &DomainName, expected: &[DomainName]) -> MxReport {
    let mut report = MxReport {
        domain: domain.clone(),
        outcome: None,
        hosts: Vec::new(),
        null_mx: false,
        findings: Vec::new(),
    };
    let lookup = match resolver.lookup(domain, RecordType::Mx) {
        Ok(l) => l,
        Err(e) => {
            report.findings.push(Finding::new(
                Severity::Blocking,
                "mx-lookup-failed",
                format!("the MX records of {domain} could not be read: {e}"),
            ));
            return report;
        }
    };
    report.outcome = Some(lookup.outcome);
    for record in lookup.records_of(RecordType::Mx) {
        if let RData::Mx {
            preference,
            exchange,
        } = &record.data
        {
            let target = if exchange.is_root() {
                MxTarget::NoAddress
            } else {
                check_target(resolver, exchange)
            };
            report.hosts.push(MxHost {
                preference: *preference,
                exchange: exchange.clone(),
                ttl: record.ttl,
                target,
            });
        }
    }
    report
        .hosts
        .sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
    report.null_mx = report.hosts.iter().any(|h| h.exchange.is_root());
    let f = &mut report.findings;
    match lookup.outcome {
        Outcome::NxDomain => f.push(Finding::new(
            Severity::Blocking,
            "domain-nxdomain",
            format!("{domain} does not exist (NXDOMAIN)"),
        )),
        _ if report.hosts.is_empty() => f.push(Finding::new(
            Severity::Blocking,
            "mx-missing",
            format!("{domain} has no MX records: mail goes to its A record, if any"),
        )),
        _ => {}
    }
    if report.null_mx {
        f.push(Finding::new(
            Severity::Blocking,
            "mx-null",
            format!("{domain} publishes a null MX (RFC 7505): it accepts no mail"),
        ));
        if report.hosts.len() > 1 {
            f.push(Finding::new(
                Severity::Blocking,
                "mx-null-mixed",
                "a null MX must be the only MX record (RFC 7505 §3)",
            ));
        }
    }
    for host in report.hosts.iter().filter(|h| !h.exchange.is_root()) {
        let name = &host.exchange;
        match &host.target {
            MxTarget::Addresses(_) => {}
            MxTarget::Cname(t) => f.push(Finding::new(
                Severity::Warning,
                "mx-cname",
                format!("MX host {name} is a CNAME to {t} (RFC 5321 §5.1 forbids it)"),
            )),
            MxTarget::IpLiteral => f.push(Finding::new(
                Severity::Blocking,
                "mx-ip-literal",
                format!("MX host {name} is an IP address, not a host name"),
            )),
            MxTarget::NoAddress => f.push(Finding::new(
                Severity::Blocking,
                "mx-unresolvable",
                format!("MX host {name} has no A or AAAA record"),
            )),
            MxTarget::Error(e) => f.push(Finding::new(
                Severity::Warning,
                "mx-target-lookup-failed",
                format!("MX host {name} could not be resolved: {e}"),
            )),
        }
    }
    if !expected.is_empty() && !report.null_mx {
        for host in &report.hosts {
            if !expected.contains(&host.exchange) {
                f.push(Finding::new(
                    Severity::Blocking,
                    "mx-leftover",
                    format!(
                        "MX {} {} is not an expected host: mail would still reach it",
                        host.preference, host.exchange
                    ),
                ));
            }
        }
        for want in expected {
            if !report.hosts.iter().any(|h| &h.exchange == want) {
                f.push(Finding::new(
                    Severity::Blocking,
                    "mx-expected-missing",
                    format!("expected MX host {want} is not published"),
                ));
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoneResolver;

    const ZONE: &str = r#"
$TTL 300
ok          MX 10 mx1.ok
mx1.ok      A 192.0.2.1
cname       MX 10 alias.cname
alias.cname CNAME mx1.ok
literal     MX 10 192.0.2.7.
dangling    MX 10 nowhere.dangling
nullmx      MX 0 .
nomx        A 192.0.2.9
"#;

    #[test]
    fn findings_table() -> Result<(), crate::Error> {
        let zone = ZoneResolver::from_zone_text("t.test", ZONE)?;
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("ok.t.test", &[], &[]),
            ("ok.t.test", &["mx1.ok.t.test"], &[]),
            (
                "ok.t.test",
                &["mx.new.test"],
                &["mx-leftover", "mx-expected-missing"],
            ),
            ("cname.t.test", &[], &["mx-cname"]),
            ("literal.t.test", &[], &["mx-ip-literal"]),
            ("dangling.t.test", &[], &["mx-unresolvable"]),
            ("nullmx.t.test", &[], &["mx-null"]),
            ("nomx.t.test", &[], &["mx-missing"]),
            ("absent.t.test", &[], &["domain-nxdomain"]),
        ];
        for (domain, expected, codes) in cases {
            let expected: Vec<DomainName> = expected
                .iter()
                .map(|e| e.parse())
                .collect::<Result<_, _>>()?;
            let r = check_mx(&zone, &domain.parse()?, &expected);
            let got: Vec<&str> = r.findings.iter().map(|f| &*f.code).collect();
            assert_eq!(&got, codes, "{domain}");
        }
        Ok(())
    }
}
