//! SPF findings for a cutover: the record as published, judged before mail
//! flows through the new provider.

use super::macros::MacroString;
use super::record::{Mechanism, Modifier, Qualifier, SpfRecord, Term, is_spf1};
use crate::finding::{Finding, Severity};
use crate::{DomainName, Outcome, RData, RecordType, Resolver};

/// Most records visited while counting an include tree.
const MAX_TREE_RECORDS: usize = 64;

/// What [`lint`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SpfLint {
    /// The record text, when there was exactly one.
    pub record: Option<String>,
    /// DNS-querying terms the whole include/redirect tree needs.
    pub tree_lookups: u32,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// A macro-free domain-spec as a name (macros cannot be followed statically).
fn literal_name(m: &MacroString) -> Option<DomainName> {
    m.as_literal().and_then(|s| DomainName::parse(s).ok())
}

/// Reads the TXT strings of `domain` that form SPF records.
fn spf_texts(resolver: &dyn Resolver, domain: &DomainName) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let l = resolver
        .lookup(domain, RecordType::Txt)
        .map_err(|e| e.to_string())?;
    if l.outcome == Outcome::NxDomain {
        return Ok(Vec::new());
    }
    Ok(l.data_of(RecordType::Txt)
        .filter_map(|d| match d {
            RData::Txt(parts) if is_spf1(&parts.concat()) => Some(parts.clone()),
            _ => None,
        })
        .collect())
}

/// Counts the DNS-querying terms of a record and everything it includes.
fn count_tree(resolver: &dyn Resolver, record: &SpfRecord, visited: &mut Vec<DomainName>) -> u32 {
    let mut total = 0u32;
    let mut follow = Vec::new();
    for (_, term) in &record.terms {
        match term {
            Term::Directive(d) => {
                if d.mechanism.queries_dns() {
                    total += 1;
                }
                if let Mechanism::Include(m) = &d.mechanism
                    && let Some(n) = literal_name(m)
                {
                    follow.push(n);
                }
            }
            Term::Modifier(Modifier::Redirect(m)) => {
                total += 1;
                if let Some(n) = literal_name(m) {
                    follow.push(n);
                }
            }
            Term::Modifier(_) => {}
        }
    }
    for name in follow {
        if visited.len() >= MAX_TREE_RECORDS || visited.contains(&name) {
            // A loop or a huge tree: count it as over any limit.
            total = total.saturating_add(11);
            continue;
        }
        visited.push(name.clone());
        if let Ok(texts) = spf_texts(resolver, &name)
            && let [one] = texts.as_slice()
            && let Ok(inner) = SpfRecord::parse_bytes(&one.concat())
        {
            total = total.saturating_add(count_tree(resolver, &inner, visited));
        }
    }
    total
}

/// Whether `text` begins like a mechanism or modifier.
fn starts_like_term(text: &[u8]) -> bool {
    let body = match text.first() {
        Some(b'+' | b'-' | b'~' | b'?') => &text[1..],
        _ => text,
    };
    const STARTS: &[&[u8]] = &[
        b"include:",
        b"ip4:",
        b"ip6:",
        b"a:",
        b"a/",
        b"mx:",
        b"mx/",
        b"ptr",
        b"exists:",
        b"all",
        b"redirect=",
        b"exp=",
        b"a ",
        b"mx ",
    ];
    STARTS
        .iter()
        .any(|s| body.len() >= s.len() && body[..s.len()].eq_ignore_ascii_case(s))
        || body.eq_ignore_ascii_case(b"a")
        || body.eq_ignore_ascii_case(b"mx")
}

/// Judges the SPF record of `domain` for a cutover.
///
/// `expected_includes` are the includes the new provider asks for (for
/// example `_spf.provider.example`); each one missing is blocking, because
/// mail the new provider sends would fail SPF.
///
/// ```
/// use imapmig_dns::{ZoneResolver, spf::lint};
/// let zone = ZoneResolver::from_zone_text("example.test", r#"
/// @  TXT "v=spf1 include:_spf.old.test -all"
/// "#)?;
/// let l = lint(&zone, &"example.test".parse()?, &["_spf.new.test".parse()?]);
/// assert!(l.findings.iter().any(|f| f.code == "spf-include-missing"));
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
pub fn lint(
    resolver: &dyn Resolver,
    domain: &DomainName,
    expected_includes: &[DomainName],
) -> SpfLint {
    let mut out = SpfLint {
        record: None,
        tree_lookups: 0,
        findings: Vec::new(),
    };
    let f = &mut out.findings;
    let texts = match spf_texts(resolver, domain) {
        Ok(t) => t,
        Err(e) => {
            f.push(Finding::new(
                Severity::Warning,
                "spf-lookup-failed",
                format!("TXT of {domain}: {e}"),
            ));
            return out;
        }
    };
    let parts = match texts.as_slice() {
        [] => {
            f.push(Finding::new(
                Severity::Warning,
                "spf-missing",
                format!(
                    "{domain} has no SPF record: receivers cannot tell its senders from forgers"
                ),
            ));
            return out;
        }
        [one] => one,
        more => {
            f.push(Finding::new(
                Severity::Blocking,
                "spf-multiple",
                format!(
                    "{domain} has {} SPF records: every check is a permerror (RFC 7208 §4.5)",
                    more.len()
                ),
            ));
            return out;
        }
    };
    let text = parts.concat();
    out.record = Some(String::from_utf8_lossy(&text).into_owned());
    // A string boundary inside a term, where the next string starts like a
    // term of its own: a space was forgotten and two terms became one.
    let mut boundary = 0usize;
    for p in &parts[..parts.len().saturating_sub(1)] {
        boundary += p.len();
        let before = text.get(boundary.wrapping_sub(1)).copied();
        if before.is_some_and(|b| b != b' ') && starts_like_term(&text[boundary..]) {
            f.push(Finding::new(
                Severity::Warning,
                "spf-glued-strings",
                format!("TXT strings of {domain} are joined without a space at byte {boundary}, gluing two terms into one"),
            ));
        }
    }
    let record = match SpfRecord::parse_bytes(&text) {
        Ok(r) => r,
        Err(e) => {
            f.push(Finding::new(
                Severity::Blocking,
                "spf-syntax",
                format!("{domain}: {e}"),
            ));
            return out;
        }
    };
    for d in record.directives() {
        match (&d.mechanism, d.qualifier) {
            (Mechanism::All, Qualifier::Pass) => f.push(Finding::new(
                Severity::Blocking,
                "spf-pass-all",
                "+all authorises every host on the internet",
            )),
            (Mechanism::All, Qualifier::Neutral) => f.push(Finding::new(
                Severity::Warning,
                "spf-neutral-all",
                "?all makes no assertion about other hosts",
            )),
            (Mechanism::Ptr(_), _) => f.push(Finding::new(
                Severity::Warning,
                "spf-ptr",
                "the ptr mechanism is slow and unreliable; RFC 7208 §5.5 says do not use it",
            )),
            _ => {}
        }
    }
    let mut visited = vec![domain.clone()];
    out.tree_lookups = count_tree(resolver, &record, &mut visited);
    if out.tree_lookups > 10 {
        f.push(Finding::new(
            Severity::Blocking,
            "spf-lookup-limit",
            format!(
                "the include tree of {domain} needs {} DNS lookups; over 10 is a permerror (RFC 7208 §4.6.4)",
                out.tree_lookups
            ),
        ));
    }
    let includes: Vec<DomainName> = record
        .directives()
        .filter_map(|d| match &d.mechanism {
            Mechanism::Include(m) => literal_name(m),
            _ => None,
        })
        .chain(record.redirect().and_then(literal_name))
        .collect();
    for want in expected_includes {
        if !includes.contains(want) {
            f.push(Finding::new(
                Severity::Blocking,
                "spf-include-missing",
                format!("the SPF record of {domain} does not include {want}: the new provider's mail would fail SPF"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoneResolver;

    #[test]
    fn lint_table() -> Result<(), crate::Error> {
        let zone = ZoneResolver::from_zone_text(
            "t.test",
            r#"
ok      TXT "v=spf1 mx include:a.t.test -all"
a       TXT "v=spf1 ip4:192.0.2.0/24 -all"
two     TXT "v=spf1 -all"
two     TXT "v=spf1 mx -all"
open    TXT "v=spf1 +all"
ptr     TXT "v=spf1 ptr ?all"
glued   TXT "v=spf1 include:a.t.test" "include:b.t.test -all"
split   TXT "v=spf1 ip4:192.0." "2.1 -all"
bad     TXT "v=spf1 ip4:1.2.3.4/40 -all"
big     TXT "v=spf1 include:l1.t.test include:l2.t.test -all"
l1      TXT "v=spf1 a mx a:x.t.test mx:y.t.test exists:z.t.test -all"
l2      TXT "v=spf1 a mx a:x.t.test mx:y.t.test exists:z.t.test -all"
loop    TXT "v=spf1 include:loop.t.test -all"
"#,
        )?;
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("ok.t.test", &["a.t.test"], &[]),
            ("ok.t.test", &["new.test"], &["spf-include-missing"]),
            ("two.t.test", &[], &["spf-multiple"]),
            ("open.t.test", &[], &["spf-pass-all"]),
            ("ptr.t.test", &[], &["spf-ptr", "spf-neutral-all"]),
            ("glued.t.test", &[], &["spf-glued-strings"]),
            ("split.t.test", &[], &[]),
            ("bad.t.test", &[], &["spf-syntax"]),
            ("big.t.test", &[], &["spf-lookup-limit"]),
            ("loop.t.test", &[], &["spf-lookup-limit"]),
            ("none.t.test", &[], &["spf-missing"]),
        ];
        for (domain, expected, codes) in cases {
            let expected: Vec<DomainName> = expected
                .iter()
                .map(|e| e.parse())
                .collect::<Result<_, _>>()?;
            let l = lint(&zone, &domain.parse()?, &expected);
            let got: Vec<&str> = l.findings.iter().map(|f| &*f.code).collect();
            assert_eq!(&got, codes, "{domain}");
        }
        let big = lint(&zone, &"big.t.test".parse()?, &[]);
        assert_eq!(big.tree_lookups, 12);
        Ok(())
    }
}
