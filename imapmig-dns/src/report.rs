//! The cutover report: every check on one domain, and a verdict.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};

use crate::dkim::{DkimCheck, check_selector};
use crate::dmarc::{DmarcDiscovery, OrgDomainMethod, discover};
use crate::finding::{Finding, Severity};
use crate::mx::{MxReport, check_mx};
use crate::spf::{SpfLint, lint};
use crate::splitbrain::{SplitBrain, compare};
use crate::timeline::{CutoverPlan, DEFAULT_TARGET_TTL, Timeline, TimelineStatus, plan_cutover};
use crate::transport::{NetworkResolver, TransportOptions};
use crate::{DomainName, RData, RecordType, Resolver};

/// Most authoritative servers asked.
const MAX_AUTHORITATIVE: usize = 4;

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Verdict {
    /// Nothing stands in the way.
    Ready,
    /// Things to fix, none of which loses mail.
    Warnings,
    /// Do not cut over: mail would be lost, split or marked as spam.
    Blocking,
}

impl Verdict {
    /// The exit status `imapmig dns check` uses: 0, 1 or 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ready => 0,
            Verdict::Warnings => 1,
            Verdict::Blocking => 2,
        }
    }

    /// `ready`, `warnings` or `blocking`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Warnings => "warnings",
            Verdict::Blocking => "blocking",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the authoritative answers for split-brain detection come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthoritativeSource {
    /// Do not compare.
    Skip,
    /// The zone's NS records, their addresses asked on `port` (53 normally).
    /// When the resolver itself answers authoritatively (AA bit), there is
    /// no cache to disagree and the comparison is skipped.
    FromNs {
        /// The port to ask the name servers on.
        port: u16,
    },
    /// These servers.
    Servers(Vec<SocketAddr>),
}

/// What to check and against what plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The current time (an input; nothing here reads a clock).
    pub now: DateTime<Utc>,
    /// The planned MX switch, when known.
    pub cutover: Option<DateTime<Utc>>,
    /// The MX TTL wanted at cutover, in seconds.
    pub target_ttl: u32,
    /// The MX hosts that should receive mail after the cutover.
    pub expect_mx: Vec<DomainName>,
    /// Includes the new provider's SPF needs.
    pub expect_spf_includes: Vec<DomainName>,
    /// DKIM selectors to check.
    pub dkim_selectors: Vec<String>,
    /// Where authoritative answers come from.
    pub authoritative: AuthoritativeSource,
    /// How DMARC finds the organisational domain.
    pub org_domain: OrgDomainMethod,
    /// Transport settings for authoritative servers.
    pub transport: TransportOptions,
}

impl CheckOptions {
    /// Options for a check at `now`: no plan, no expectations, NS on port 53.
    pub fn new(now: DateTime<Utc>) -> Self {
        CheckOptions {
            now,
            cutover: None,
            target_ttl: DEFAULT_TARGET_TTL,
            expect_mx: Vec::new(),
            expect_spf_includes: Vec::new(),
            dkim_selectors: Vec::new(),
            authoritative: AuthoritativeSource::FromNs { port: 53 },
            org_domain: OrgDomainMethod::PublicSuffixList,
            transport: TransportOptions {
                recursion_desired: false,
                ..TransportOptions::default()
            },
        }
    }
}

/// Everything found about one domain.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CutoverReport {
    /// The domain.
    pub domain: DomainName,
    /// The verdict: the worst finding.
    pub verdict: Verdict,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
    /// MX details.
    pub mx: MxReport,
    /// SPF details.
    pub spf: SpfLint,
    /// DMARC details.
    pub dmarc: DmarcDiscovery,
    /// DKIM details, one per selector.
    pub dkim: Vec<DkimCheck>,
    /// The MX comparison, when one was made.
    pub split_brain: Option<SplitBrain>,
    /// The timeline, when a cutover time was given.
    pub timeline: Option<Timeline>,
}

/// Builds the report, asking the authoritative servers named by
/// `options.authoritative` over the network.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use imapmig_dns::{ZoneResolver, report::{cutover_report, AuthoritativeSource, CheckOptions, Verdict}};
/// let zone = ZoneResolver::from_zone_text("example.test", r#"
/// @       300 MX 10 mx.example.test.
/// mx      300 A  192.0.2.25
/// @       300 TXT "v=spf1 mx -all"
/// _dmarc  300 TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
/// "#)?;
/// let mut options = CheckOptions::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
/// options.expect_mx = vec!["mx.example.test".parse()?];
/// options.authoritative = AuthoritativeSource::Skip;
/// let report = cutover_report(&zone, &"example.test".parse()?, &options);
/// assert_eq!(report.verdict, Verdict::Ready, "{report}");
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn cutover_report(
    resolver: &dyn Resolver,
    domain: &DomainName,
    options: &CheckOptions,
) -> CutoverReport {
    let mut notes = Vec::new();
    let servers: Vec<SocketAddr> = match &options.authoritative {
        AuthoritativeSource::Skip => Vec::new(),
        AuthoritativeSource::Servers(s) => s.clone(),
        AuthoritativeSource::FromNs { port } => {
            let aa = resolver
                .lookup(domain, RecordType::Mx)
                .map(|l| l.authoritative)
                .unwrap_or(false);
            if aa {
                notes.push(Finding::new(
                    Severity::Info,
                    "resolver-authoritative",
                    format!("the resolver answers {domain} authoritatively: no cache to compare"),
                ));
                Vec::new()
            } else {
                name_server_addresses(resolver, domain, *port, &mut notes)
            }
        }
    };
    let network: Vec<(String, NetworkResolver)> = servers
        .iter()
        .map(|s| {
            (
                s.to_string(),
                NetworkResolver::with_options(*s, options.transport),
            )
        })
        .collect();
    let auth: Vec<(String, &dyn Resolver)> = network
        .iter()
        .map(|(l, r)| (l.clone(), r as &dyn Resolver))
        .collect();
    let mut report = cutover_report_with(resolver, &auth, domain, options);
    report.findings.extend(notes);
    finish(&mut report);
    report
}

/// The addresses of the NS hosts of the zone holding `domain`.
fn name_server_addresses(
    resolver: &dyn Resolver,
    domain: &DomainName,
    port: u16,
    notes: &mut Vec<Finding>,
) -> Vec<SocketAddr> {
    let mut zone = Some(domain.clone());
    let mut hosts = Vec::new();
    while let Some(z) = zone {
        if z.is_root() {
            break;
        }
        if let Ok(l) = resolver.lookup(&z, RecordType::Ns) {
            hosts = l
                .data_of(RecordType::Ns)
                .filter_map(|d| match d {
                    RData::Ns(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            if !hosts.is_empty() {
                break;
            }
        }
        zone = z.parent();
    }
    let mut out = Vec::new();
    for host in hosts {
        for rtype in [RecordType::A, RecordType::Aaaa] {
            if let Ok(l) = resolver.lookup(&host, rtype) {
                for d in l.data_of(rtype) {
                    let ip = match d {
                        RData::A(a) => IpAddr::V4(*a),
                        RData::Aaaa(a) => IpAddr::V6(*a),
                        _ => continue,
                    };
                    if out.len() < MAX_AUTHORITATIVE {
                        out.push(SocketAddr::new(ip, port));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        notes.push(Finding::new(
            Severity::Warning,
            "authoritative-unknown",
            format!("no authoritative server address found for {domain}: split-brain not checked"),
        ));
    }
    out
}

/// Builds the report with the authoritative servers given as resolvers
/// (sans-IO: zone resolvers or test doubles work too).
pub fn cutover_report_with(
    resolver: &dyn Resolver,
    authoritative: &[(String, &dyn Resolver)],
    domain: &DomainName,
    options: &CheckOptions,
) -> CutoverReport {
    let mx = check_mx(resolver, domain, &options.expect_mx);
    let spf = lint(resolver, domain, &options.expect_spf_includes);
    let dmarc = discover(resolver, domain, options.org_domain);
    let dkim: Vec<DkimCheck> = options
        .dkim_selectors
        .iter()
        .map(|s| check_selector(resolver, domain, s))
        .collect();
    let split_brain = (!authoritative.is_empty())
        .then(|| compare(authoritative, resolver, domain, RecordType::Mx));
    let mut findings = Vec::new();
    let timeline = match (options.cutover, mx.max_ttl()) {
        (Some(cutover), Some(ttl)) if !mx.null_mx => {
            let t = plan_cutover(CutoverPlan {
                now: options.now,
                cutover,
                current_ttl: ttl,
                target_ttl: options.target_ttl,
            });
            let severity = match t.status {
                TimelineStatus::TtlLow => None,
                TimelineStatus::LowerTtlBy => Some(Severity::Warning),
                TimelineStatus::TooLate | TimelineStatus::CutoverPast => Some(Severity::Blocking),
            };
            if let Some(severity) = severity {
                findings.push(Finding::new(severity, "mx-ttl-timeline", t.to_string()));
            }
            Some(t)
        }
        (None, Some(ttl)) if ttl > options.target_ttl => {
            findings.push(Finding::new(
                Severity::Warning,
                "mx-ttl-high",
                format!(
                    "MX TTL is {ttl} s: lower it to {} s at least {} h before the cutover",
                    options.target_ttl,
                    (i64::from(ttl) / 3600).max(48)
                ),
            ));
            None
        }
        _ => None,
    };
    findings.extend(mx.findings.iter().cloned());
    findings.extend(spf.findings.iter().cloned());
    findings.extend(dmarc.findings.iter().cloned());
    for d in &dkim {
        findings.extend(d.findings.iter().cloned());
    }
    if let Some(sb) = &split_brain {
        findings.extend(sb.findings.iter().cloned());
    }
    let mut report = CutoverReport {
        domain: domain.clone(),
        verdict: Verdict::Ready,
        findings,
        mx,
        spf,
        dmarc,
        dkim,
        split_brain,
        timeline,
    };
    finish(&mut report);
    report
}

fn finish(report: &mut CutoverReport) {
    report
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.severity));
    report.verdict = match report.findings.iter().map(|f| f.severity).max() {
        Some(Severity::Blocking) => Verdict::Blocking,
        Some(Severity::Warning) => Verdict::Warnings,
        _ => Verdict::Ready,
    };
}

impl fmt::Display for CutoverReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "domain: {}", self.domain)?;
        writeln!(f, "verdict: {}", self.verdict)?;
        if self.mx.hosts.is_empty() {
            writeln!(f, "mx: none")?;
        }
        for h in &self.mx.hosts {
            writeln!(f, "mx: {} {} ttl {}", h.preference, h.exchange, h.ttl)?;
        }
        match &self.spf.record {
            Some(r) => writeln!(
                f,
                "spf: {r} ({} lookups in the tree)",
                self.spf.tree_lookups
            )?,
            None => writeln!(f, "spf: none usable")?,
        }
        match (&self.dmarc.found_at, &self.dmarc.record) {
            (Some(at), Some(r)) => writeln!(f, "dmarc: {at} p={} pct={}", r.policy, r.pct)?,
            (Some(at), None) => writeln!(f, "dmarc: {at} unusable")?,
            _ => writeln!(f, "dmarc: none")?,
        }
        for d in &self.dkim {
            match (&d.key, d.rsa_bits) {
                (Some(_), Some(bits)) => writeln!(f, "dkim: {} rsa {bits} bits", d.name)?,
                (Some(k), None) => writeln!(f, "dkim: {} {:?}", d.name, k.key_type)?,
                (None, _) => writeln!(f, "dkim: {} unusable", d.name)?,
            }
        }
        if let Some(t) = &self.timeline {
            writeln!(f, "timeline: {t}")?;
        }
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoneResolver;
    use chrono::TimeZone;

    const ZONE: &str = r#"
$TTL 300
ready           MX 10 mx.new.test.
ready           TXT "v=spf1 include:_spf.new.test -all"
_dmarc.ready    TXT "v=DMARC1; p=quarantine"
old             86400 MX 10 mx.old.test.
old             TXT "v=spf1 -all"
old             TXT "v=spf1 mx -all"
mx.new.test.    A 192.0.2.1
mx.old.test.    A 192.0.2.2
_spf.new.test.  TXT "v=spf1 ip4:192.0.2.0/24 -all"
"#;

    #[test]
    fn verdicts() -> Result<(), crate::Error> {
        let zone = ZoneResolver::from_zone_text("t.test", ZONE)?;
        let Some(now) = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single() else {
            return Ok(());
        };
        let mut options = CheckOptions::new(now);
        options.authoritative = AuthoritativeSource::Skip;
        options.expect_mx = vec!["mx.new.test".parse()?];
        let ready = cutover_report(&zone, &"ready.t.test".parse()?, &options);
        assert_eq!(ready.verdict, Verdict::Ready, "{ready}");
        options.cutover = Some(now + chrono::TimeDelta::hours(12));
        let old = cutover_report(&zone, &"old.t.test".parse()?, &options);
        assert_eq!(old.verdict, Verdict::Blocking);
        let codes: Vec<&str> = old.findings.iter().map(|f| &*f.code).collect();
        for code in [
            "mx-ttl-timeline",
            "mx-leftover",
            "mx-expected-missing",
            "spf-multiple",
            "dmarc-missing",
        ] {
            assert!(codes.contains(&code), "{code} in {codes:?}");
        }
        let text = old.to_string();
        assert!(
            text.starts_with("domain: old.t.test\nverdict: blocking\n"),
            "{text}"
        );
        // Split-brain through zone resolvers: authoritative has the new MX.
        let auth = ZoneResolver::from_zone_text("t.test", "old 300 MX 10 mx.new.test.")?;
        let sb = cutover_report_with(
            &zone,
            &[("ns1".into(), &auth)],
            &"old.t.test".parse()?,
            &options,
        );
        assert!(sb.findings.iter().any(|f| f.code == "split-brain"));
        Ok(())
    }
}
