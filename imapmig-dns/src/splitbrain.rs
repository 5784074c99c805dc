//! Split-brain: the zone's authoritative servers against the resolver that
//! senders use. A resolver still serving the old MX from its cache keeps
//! sending mail to the old host until the cached answer expires.

use std::collections::BTreeSet;

use crate::finding::{Finding, Severity};
use crate::{DomainName, RecordType, Resolver};

/// One server's answer, reduced to comparable text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServerAnswer {
    /// Which server (an address or a label).
    pub server: String,
    /// The records, as presentation text, sorted; `Err` when the question failed.
    pub records: Result<BTreeSet<String>, String>,
    /// The highest TTL in the answer.
    pub ttl: Option<u32>,
}

/// The comparison for one name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SplitBrain {
    /// The name compared.
    pub name: DomainName,
    /// The type compared.
    pub rtype: RecordType,
    /// What each authoritative server said.
    pub authoritative: Vec<ServerAnswer>,
    /// What the resolver said.
    pub resolver: ServerAnswer,
    /// The findings.
    pub findings: Vec<Finding>,
}

fn ask(label: &str, resolver: &dyn Resolver, name: &DomainName, rtype: RecordType) -> ServerAnswer {
    match resolver.lookup(name, rtype) {
        Ok(l) => ServerAnswer {
            server: label.to_owned(),
            records: Ok(l
                .records_of(rtype)
                .map(|r| r.data.to_string().to_ascii_lowercase())
                .collect()),
            ttl: l.records_of(rtype).map(|r| r.ttl).max(),
        },
        Err(e) => ServerAnswer {
            server: label.to_owned(),
            records: Err(e.to_string()),
            ttl: None,
        },
    }
}

fn show(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "nothing".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Compares `name`/`rtype` as the authoritative servers and the resolver see it.
///
/// ```
/// use imapmig_dns::{ZoneResolver, RecordType, splitbrain::compare};
/// let new = ZoneResolver::from_zone_text("example.test", "@ 300 MX 10 mx.new.test.")?;
/// let cached = ZoneResolver::from_zone_text("example.test", "@ 7200 MX 10 mx.old.test.")?;
/// let sb = compare(&[("ns1".to_owned(), &new)], &cached, &"example.test".parse()?, RecordType::Mx);
/// assert_eq!(sb.findings[0].code, "split-brain");
/// assert!(sb.findings[0].message.contains("7200 s"));
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn compare(
    authoritative: &[(String, &dyn Resolver)],
    resolver: &dyn Resolver,
    name: &DomainName,
    rtype: RecordType,
) -> SplitBrain {
    let auth: Vec<ServerAnswer> = authoritative
        .iter()
        .map(|(l, r)| ask(l, *r, name, rtype))
        .collect();
    let res = ask("resolver", resolver, name, rtype);
    let mut findings = Vec::new();
    let answered: Vec<(&ServerAnswer, &BTreeSet<String>)> = auth
        .iter()
        .filter_map(|a| a.records.as_ref().ok().map(|r| (a, r)))
        .collect();
    for a in &auth {
        if let Err(e) = &a.records {
            findings.push(Finding::new(
                Severity::Warning,
                "authoritative-unreachable",
                format!(
                    "authoritative server {} did not answer {name} {rtype}: {e}",
                    a.server
                ),
            ));
        }
    }
    if let Some((first, first_set)) = answered.first() {
        for (other, set) in &answered[1..] {
            if set != first_set {
                findings.push(Finding::new(
                    Severity::Blocking,
                    "authoritative-disagree",
                    format!(
                        "authoritative servers disagree on {name} {rtype}: {} says {}, {} says {}",
                        first.server,
                        show(first_set),
                        other.server,
                        show(set)
                    ),
                ));
            }
        }
        match &res.records {
            Ok(set) if set != *first_set => findings.push(Finding::new(
                Severity::Blocking,
                "split-brain",
                format!(
                    "the resolver answers {name} {rtype} with {} but the authoritative answer is {}; the cached answer may live {} s more",
                    show(set),
                    show(first_set),
                    res.ttl.unwrap_or(0)
                ),
            )),
            Ok(_) => {}
            Err(e) => findings.push(Finding::new(
                Severity::Warning,
                "resolver-failed",
                format!("the resolver did not answer {name} {rtype}: {e}"),
            )),
        }
    }
    SplitBrain {
        name: name.clone(),
        rtype,
        authoritative: auth,
        resolver: res,
        findings,
    }
}
