//! DMARC records (RFC 7489 §6.3) and policy discovery (§6.6.3), with the
//! tags of its successor draft (`np`, `psd`, `t`) read leniently.

use std::fmt;

use crate::finding::{Finding, Severity};
use crate::{DomainName, Error, Outcome, RData, RecordType, Resolver};

/// A requested policy (`p=`, `sp=`, `np=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Policy {
    /// `none`: monitor only.
    None,
    /// `quarantine`: treat as suspicious.
    Quarantine,
    /// `reject`.
    Reject,
}

impl Policy {
    fn parse(v: &[u8]) -> Option<Self> {
        match v.to_ascii_lowercase().as_slice() {
            b"none" => Some(Policy::None),
            b"quarantine" => Some(Policy::Quarantine),
            b"reject" => Some(Policy::Reject),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        })
    }
}

/// Identifier alignment mode (`adkim=`, `aspf=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Alignment {
    /// `r`: same organisational domain (the default).
    #[default]
    Relaxed,
    /// `s`: the same domain exactly.
    Strict,
}

/// A reporting URI with its optional size limit (`rua=`, `ruf=`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReportUri {
    /// The URI, such as `mailto:dmarc@example.com`.
    pub uri: String,
    /// The size limit in bytes, if given.
    pub max_size: Option<u64>,
}

/// A parsed DMARC record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DmarcRecord {
    /// `p=` (`None` only when absent and a valid `rua` made it `none`, RFC 7489 §6.6.3).
    pub policy: Policy,
    /// Whether `p=` was absent.
    pub policy_missing: bool,
    /// `sp=`.
    pub subdomain_policy: Option<Policy>,
    /// `np=` (successor draft): policy for non-existent subdomains.
    pub nonexistent_policy: Option<Policy>,
    /// `adkim=`.
    pub adkim: Alignment,
    /// `aspf=`.
    pub aspf: Alignment,
    /// `pct=` (0-100, default 100).
    pub pct: u8,
    /// `rua=`.
    pub rua: Vec<ReportUri>,
    /// `ruf=`.
    pub ruf: Vec<ReportUri>,
    /// `ri=` seconds (default 86400).
    pub report_interval: u32,
    /// `t=y` (successor draft): testing mode.
    pub testing: bool,
    /// Notes on tags read leniently (unknown values of the successor's tags).
    pub notes: Vec<String>,
}

impl DmarcRecord {
    /// Parses a record (RFC 7489 §6.4).
    ///
    /// ```
    /// use imapmig_dns::dmarc::{DmarcRecord, Policy};
    /// let r = DmarcRecord::parse(b"v=DMARC1; p=reject; rua=mailto:d@example.com!10m; pct=50")?;
    /// assert_eq!((r.policy, r.pct), (Policy::Reject, 50));
    /// assert_eq!(r.rua[0].max_size, Some(10 << 20));
    /// assert!(DmarcRecord::parse(b"p=reject; v=DMARC1").is_err());
    /// # Ok::<(), imapmig_dns::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DmarcSyntax`] with the byte offset: `v` missing or not first,
    /// a bad `p`/`sp`/`adkim`/`aspf`/`pct`/`ri` value, a bad report URI, a
    /// repeated tag.
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let err = |position, reason| Error::DmarcSyntax { position, reason };
        if text.len() > 16_384 {
            return Err(err(16_384, "record longer than 16384 bytes"));
        }
        let mut r = DmarcRecord {
            policy: Policy::None,
            policy_missing: true,
            subdomain_policy: None,
            nonexistent_policy: None,
            adkim: Alignment::Relaxed,
            aspf: Alignment::Relaxed,
            pct: 100,
            rua: Vec::new(),
            ruf: Vec::new(),
            report_interval: 86_400,
            testing: false,
            notes: Vec::new(),
        };
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut at = 0usize;
        let mut index = 0usize;
        for part in text.split(|&b| b == b';') {
            let start = at;
            at += part.len() + 1;
            if part.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let lead = part.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let pos = start + lead;
            let eq = part
                .iter()
                .position(|&b| b == b'=')
                .ok_or(err(pos, "tag without '='"))?;
            let name = part[..eq].trim_ascii().to_ascii_lowercase();
            let value = part[eq + 1..].trim_ascii();
            let value_pos = start
                + eq
                + 1
                + part[eq + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
            if index == 0 && (name != b"v" || value != b"DMARC1") {
                return Err(err(pos, "record must start with v=DMARC1"));
            }
            if index > 0 && name == b"v" {
                return Err(err(pos, "v= must be the first tag"));
            }
            index += 1;
            if seen.contains(&name) {
                return Err(err(pos, "tag appears twice"));
            }
            seen.push(name.clone());
            let policy = |v: &[u8]| {
                Policy::parse(v).ok_or(err(value_pos, "policy must be none, quarantine or reject"))
            };
            let align = |v: &[u8]| match v.to_ascii_lowercase().as_slice() {
                b"r" => Ok(Alignment::Relaxed),
                b"s" => Ok(Alignment::Strict),
                _ => Err(err(value_pos, "alignment must be r or s")),
            };
            match name.as_slice() {
                b"v" => {}
                b"p" => {
                    r.policy = policy(value)?;
                    r.policy_missing = false;
                }
                b"sp" => r.subdomain_policy = Some(policy(value)?),
                b"np" => match Policy::parse(value) {
                    Some(p) => r.nonexistent_policy = Some(p),
                    None => r
                        .notes
                        .push(format!("np={} ignored", String::from_utf8_lossy(value))),
                },
                b"adkim" => r.adkim = align(value)?,
                b"aspf" => r.aspf = align(value)?,
                b"pct" => {
                    r.pct = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse::<u8>().ok())
                        .filter(|p| *p <= 100)
                        .ok_or(err(value_pos, "pct must be 0-100"))?;
                }
                b"ri" => {
                    r.report_interval = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                        .ok_or(err(value_pos, "ri must be a number of seconds"))?;
                }
                b"rua" => r.rua = parse_uris(value, value_pos)?,
                b"ruf" => r.ruf = parse_uris(value, value_pos)?,
                b"t" => match value.to_ascii_lowercase().as_slice() {
                    b"y" => r.testing = true,
                    b"n" => {}
                    _ => r
                        .notes
                        .push(format!("t={} ignored", String::from_utf8_lossy(value))),
                },
                // fo, rf, psd and any unknown tag: ignored (RFC 7489 §6.3).
                _ => {}
            }
        }
        if index == 0 {
            return Err(err(0, "record must start with v=DMARC1"));
        }
        if r.policy_missing && r.rua.is_empty() {
            return Err(err(
                text.len(),
                "no p= tag (and no rua= to fall back to p=none)",
            ));
        }
        Ok(r)
    }
}

/// `dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]`, comma-separated.
fn parse_uris(value: &[u8], at: usize) -> Result<Vec<ReportUri>, Error> {
    let mut out = Vec::new();
    let mut offset = at;
    for raw in value.split(|&b| b == b',') {
        let pos = offset + raw.iter().take_while(|b| b.is_ascii_whitespace()).count();
        offset += raw.len() + 1;
        let item = raw.trim_ascii();
        let bad = |reason| Error::DmarcSyntax {
            position: pos,
            reason,
        };
        let (uri, size) = match item.iter().rposition(|&b| b == b'!') {
            Some(bang) => (&item[..bang], Some(&item[bang + 1..])),
            None => (item, None),
        };
        let colon = uri
            .iter()
            .position(|&b| b == b':')
            .ok_or(bad("report URI without a scheme"))?;
        let scheme = &uri[..colon];
        let rest = &uri[colon + 1..];
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok || rest.is_empty() || !rest.iter().all(|b| b.is_ascii_graphic()) {
            return Err(bad("bad report URI"));
        }
        if scheme.eq_ignore_ascii_case(b"mailto") {
            let addr = rest.split(|&b| b == b'?').next().unwrap_or(rest);
            let at_sign = addr.iter().position(|&b| b == b'@');
            if !at_sign.is_some_and(|a| a > 0 && a + 1 < addr.len()) {
                return Err(bad("mailto report URI without an address"));
            }
        }
        let max_size = match size {
            None => None,
            Some(s) => {
                let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
                let n: u64 = std::str::from_utf8(&s[..digits])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or(bad("bad size limit after '!'"))?;
                let unit: u64 = match &s[digits..] {
                    b"" => 1,
                    b"k" | b"K" => 1 << 10,
                    b"m" | b"M" => 1 << 20,
                    b"g" | b"G" => 1 << 30,
                    b"t" | b"T" => 1 << 40,
                    _ => return Err(bad("bad size unit after '!'")),
                };
                Some(n.checked_mul(unit).ok_or(bad("size limit too large"))?)
            }
        };
        out.push(ReportUri {
            uri: String::from_utf8_lossy(uri).into_owned(),
            max_size,
        });
    }
    Ok(out)
}

/// How to find the organisational domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrgDomainMethod {
    /// The public suffix list (RFC 7489 §3.2), via the `psl` crate.
    #[default]
    PublicSuffixList,
    /// The DNS tree walk of RFC 7489's successor: query `_dmarc` at each
    /// parent, at most 8 queries.
    TreeWalk,
}

/// The organisational domain of `domain` by the public suffix list: the
/// public suffix plus one label (RFC 7489 §3.2).
///
/// ```
/// use imapmig_dns::dmarc::organizational_domain;
/// assert_eq!(organizational_domain(&"a.b.example.co.uk".parse()?).as_str(), "example.co.uk");
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn organizational_domain(domain: &DomainName) -> DomainName {
    let lower = domain.to_lowercase();
    psl::domain_str(&lower)
        .and_then(|d| DomainName::parse(d).ok())
        .unwrap_or_else(|| domain.clone())
}

/// Whether two domains are aligned under `mode` (RFC 7489 §3.1).
pub fn aligned(a: &DomainName, b: &DomainName, mode: Alignment) -> bool {
    match mode {
        Alignment::Strict => a == b,
        Alignment::Relaxed => organizational_domain(a) == organizational_domain(b),
    }
}

/// Where the policy came from and what it says.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DmarcDiscovery {
    /// The names queried, in order.
    pub queried: Vec<DomainName>,
    /// The `_dmarc` name whose record applies, if one was found.
    pub found_at: Option<DomainName>,
    /// The record, when exactly one parsed.
    pub record: Option<DmarcRecord>,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// What one `_dmarc` query found.
enum Found {
    Nothing,
    One(Vec<u8>),
    Many(usize),
    Failed(String),
}

fn query(resolver: &dyn Resolver, name: &DomainName) -> Found {
    match resolver.lookup(name, RecordType::Txt) {
        Err(e) => Found::Failed(e.to_string()),
        Ok(l) if l.outcome == Outcome::NxDomain => Found::Nothing,
        Ok(l) => {
            let mut texts: Vec<Vec<u8>> = l
                .data_of(RecordType::Txt)
                .filter_map(RData::txt_joined)
                .filter(|t| t.len() >= 8 && t[..8].eq_ignore_ascii_case(b"v=DMARC1"))
                .collect();
            match texts.len() {
                0 => Found::Nothing,
                1 => Found::One(texts.pop().unwrap_or_default()),
                n => Found::Many(n),
            }
        }
    }
}

/// Discovers the DMARC policy for mail from `domain`.
///
/// ```
/// use imapmig_dns::{ZoneResolver, dmarc::{discover, OrgDomainMethod, Policy}};
/// let zone = ZoneResolver::from_zone_text("example.com", r#"
/// _dmarc  TXT "v=DMARC1; p=quarantine"
/// "#)?;
/// let d = discover(&zone, &"mail.example.com".parse()?, OrgDomainMethod::PublicSuffixList);
/// assert_eq!(d.record.map(|r| r.policy), Some(Policy::Quarantine));
/// assert_eq!(d.queried.len(), 2);
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn discover(
    resolver: &dyn Resolver,
    domain: &DomainName,
    method: OrgDomainMethod,
) -> DmarcDiscovery {
    let mut d = DmarcDiscovery {
        queried: Vec::new(),
        found_at: None,
        record: None,
        findings: Vec::new(),
    };
    let candidates: Vec<DomainName> = match method {
        OrgDomainMethod::PublicSuffixList => {
            let org = organizational_domain(domain);
            if &org == domain {
                vec![org]
            } else {
                vec![domain.clone(), org]
            }
        }
        OrgDomainMethod::TreeWalk => {
            // Successor draft: the domain, then parents; with more than 8
            // labels, skip to the 7-label parent.
            let mut names = vec![domain.clone()];
            let mut cur = domain.parent();
            while let Some(p) = cur {
                if p.is_root() {
                    break;
                }
                if p.labels().count() <= 7 {
                    names.push(p.clone());
                }
                cur = p.parent();
            }
            names.truncate(8);
            names
        }
    };
    for base in candidates {
        let Ok(name) = base.prepend("_dmarc") else {
            continue;
        };
        d.queried.push(name.clone());
        match query(resolver, &name) {
            Found::Nothing => continue,
            Found::Failed(e) => {
                d.findings.push(Finding::new(
                    Severity::Warning,
                    "dmarc-lookup-failed",
                    format!("{name}: {e}"),
                ));
                return d;
            }
            Found::Many(n) => {
                d.found_at = Some(name.clone());
                d.findings.push(Finding::new(
                    Severity::Warning,
                    "dmarc-multiple",
                    format!(
                        "{name} has {n} DMARC records: receivers apply no policy (RFC 7489 §6.6.3)"
                    ),
                ));
                return d;
            }
            Found::One(text) => {
                d.found_at = Some(name.clone());
                match DmarcRecord::parse(&text) {
                    Ok(r) => {
                        if r.policy_missing {
                            d.findings.push(Finding::new(
                                Severity::Warning,
                                "dmarc-no-policy",
                                format!("{name}: no p= tag; treated as p=none"),
                            ));
                        } else if r.policy == Policy::None {
                            d.findings.push(Finding::new(
                                Severity::Info,
                                "dmarc-monitor-only",
                                format!("{name}: p=none (monitoring only)"),
                            ));
                        }
                        for note in &r.notes {
                            d.findings.push(Finding::new(
                                Severity::Info,
                                "dmarc-lenient",
                                format!("{name}: {note}"),
                            ));
                        }
                        d.record = Some(r);
                    }
                    Err(e) => d.findings.push(Finding::new(
                        Severity::Warning,
                        "dmarc-invalid",
                        format!("{name}: {e}"),
                    )),
                }
                return d;
            }
        }
    }
    d.findings.push(Finding::new(
        Severity::Warning,
        "dmarc-missing",
        format!("no DMARC record for {domain}"),
    ));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoneResolver;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<Policy, usize>)] = &[
            ("v=DMARC1; p=none", Ok(Policy::None)),
            ("v=DMARC1;p=reject;", Ok(Policy::Reject)),
            (
                "v=DMARC1; p=Quarantine; sp=reject; adkim=s; aspf=r; pct=0",
                Ok(Policy::Quarantine),
            ),
            ("v=DMARC1; rua=mailto:a@example.com", Ok(Policy::None)),
            (
                "v=DMARC1; p=reject; np=bogus; t=y; psd=n",
                Ok(Policy::Reject),
            ),
            ("p=reject; v=DMARC1", Err(0)),
            ("v=DMARC1; p=reject; v=DMARC1", Err(20)),
            ("v=DMARC2; p=reject", Err(0)),
            ("v=DMARC1; p=block", Err(12)),
            ("v=DMARC1", Err(8)),
            ("v=DMARC1; p=none; pct=101", Err(22)),
            ("v=DMARC1; p=none; rua=example.com", Err(22)),
            ("v=DMARC1; p=none; rua=mailto:nobody", Err(22)),
            ("v=DMARC1; p=none; rua=mailto:a@b.c!10x", Err(22)),
            ("v=DMARC1; p=none; rua=mailto:a@b.c, bad", Err(36)),
            ("v=DMARC1; p=none; p=reject", Err(18)),
            ("v=DMARC1; p=none; adkim=x", Err(24)),
            ("", Err(0)),
        ];
        for (text, want) in cases {
            let got = DmarcRecord::parse(text.as_bytes())
                .map(|r| r.policy)
                .map_err(|e| match e {
                    Error::DmarcSyntax { position, .. } => position,
                    _ => usize::MAX,
                });
            assert_eq!(&got, want, "{text}");
        }
    }

    #[test]
    fn discovery_by_psl_and_tree_walk() -> Result<(), Error> {
        let zone = ZoneResolver::from_zone_text(
            "example.com",
            r#"
_dmarc          TXT "v=DMARC1; p=reject"
_dmarc.dept     TXT "v=DMARC1; p=quarantine"
_dmarc.two      TXT "v=DMARC1; p=none"
_dmarc.two      TXT "v=DMARC1; p=reject"
"#,
        )?;
        type Case<'a> = (
            &'a str,
            OrgDomainMethod,
            Option<Policy>,
            usize,
            &'a [&'a str],
        );
        let cases: &[Case<'_>] = &[
            (
                "example.com",
                OrgDomainMethod::PublicSuffixList,
                Some(Policy::Reject),
                1,
                &[],
            ),
            (
                "a.b.example.com",
                OrgDomainMethod::PublicSuffixList,
                Some(Policy::Reject),
                2,
                &[],
            ),
            (
                "a.dept.example.com",
                OrgDomainMethod::PublicSuffixList,
                Some(Policy::Reject),
                2,
                &[],
            ),
            (
                "a.dept.example.com",
                OrgDomainMethod::TreeWalk,
                Some(Policy::Quarantine),
                2,
                &[],
            ),
            (
                "two.example.com",
                OrgDomainMethod::PublicSuffixList,
                None,
                1,
                &["dmarc-multiple"],
            ),
            (
                "other.org",
                OrgDomainMethod::PublicSuffixList,
                None,
                1,
                &["dmarc-missing"],
            ),
        ];
        for (domain, method, policy, queries, codes) in cases {
            let d = discover(&zone, &domain.parse()?, *method);
            assert_eq!(d.record.map(|r| r.policy), *policy, "{domain}");
            assert_eq!(d.queried.len(), *queries, "{domain}");
            let got: Vec<&str> = d.findings.iter().map(|f| &*f.code).collect();
            assert_eq!(&got, codes, "{domain}");
        }
        Ok(())
    }

    #[test]
    fn alignment() -> Result<(), Error> {
        let a: DomainName = "mail.example.co.uk".parse()?;
        let b: DomainName = "example.co.uk".parse()?;
        assert!(aligned(&a, &b, Alignment::Relaxed));
        assert!(!aligned(&a, &b, Alignment::Strict));
        assert!(!aligned(&a, &"other.co.uk".parse()?, Alignment::Relaxed));
        Ok(())
    }
}
