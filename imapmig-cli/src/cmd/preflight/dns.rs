//! The DNS section (with `--domain`): imapmig-dns's cutover report on the
//! domain whose mail moves: MX and its TTL, leftovers, split-brain, SPF,
//! DKIM and DMARC.
//!
//! DKIM keys live under a selector (`SELECTOR._domainkey.DOMAIN`) that the
//! DNS cannot list. The selectors given with `--dkim-selector` are checked
//! as `imapmig dns check` checks them: a missing key is blocking. Without
//! one, the selectors that providers commonly use ([`COMMON_SELECTORS`]) are
//! tried, the ones that hold a record are checked, and finding none is a
//! warning that asks for the real selector.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use chrono::Utc;
use imapmig_dns::dkim::{DkimCheck, check_selector};
use imapmig_dns::report::AuthoritativeSource;
use imapmig_dns::{
    CheckOptions, CutoverReport, DomainName, Finding, NetworkResolver, Severity, Verdict,
    cutover_report,
};

/// The selectors tried when none is given: the defaults of OpenDKIM and
/// common control panels (`default`, `dkim`, `mail`), Google Workspace
/// (`google`), Microsoft 365 (`selector1`, `selector2`), Mailchimp (`k1`,
/// `k2`) and the numbered ones many providers use (`s1`, `s2`).
pub(super) const COMMON_SELECTORS: &[&str] = &[
    "default",
    "google",
    "selector1",
    "selector2",
    "k1",
    "k2",
    "s1",
    "s2",
    "dkim",
    "mail",
];

/// The code of the warning given when no common selector holds a key.
const NONE_FOUND: &str = "dkim-none-found";

/// What the DNS section asks.
pub(super) struct Query<'a> {
    /// The domain whose mail moves.
    pub(super) domain: &'a str,
    /// The server to ask, or the system's resolver.
    pub(super) server: Option<SocketAddr>,
    /// The MX hosts expected after the cutover.
    pub(super) expect_mx: &'a [String],
    /// The DKIM selectors given; empty: try [`COMMON_SELECTORS`].
    pub(super) dkim_selectors: &'a [String],
}

/// Which DKIM selectors were checked, and why.
#[derive(Debug)]
enum Selectors {
    /// The ones given with `--dkim-selector`.
    Given(Vec<String>),
    /// The common ones were tried; these held a record.
    Common(Vec<String>),
}

/// The cutover report and how its DKIM selectors were chosen.
#[derive(Debug)]
pub(super) struct DnsSection {
    /// imapmig-dns's report.
    pub(super) report: CutoverReport,
    selectors: Selectors,
}

/// Ask the DNS about the domain: through the server given, or the system's
/// resolver.
pub(super) fn check(query: &Query<'_>) -> anyhow::Result<DnsSection> {
    let domain = query.domain;
    let domain = DomainName::parse(domain).with_context(|| format!("--domain {domain:?}"))?;
    let resolver = match query.server {
        Some(server) => NetworkResolver::new(server),
        None => NetworkResolver::from_system()
            .context("no --server given and no usable /etc/resolv.conf")?,
    };
    let mut options = CheckOptions::new(Utc::now());
    options.expect_mx = query
        .expect_mx
        .iter()
        .map(|h| DomainName::parse(h).with_context(|| format!("--expect-mx {h:?}")))
        .collect::<anyhow::Result<_>>()?;
    // Compare the resolver with the zone's name servers; a server that
    // answers authoritatively itself has no cache to compare.
    options.authoritative = AuthoritativeSource::FromNs { port: 53 };
    let selectors = if query.dkim_selectors.is_empty() {
        // A selector with no record says nothing about the domain: only
        // the ones that hold something go into the report, where a bad
        // key is judged like a given one.
        let found = COMMON_SELECTORS
            .iter()
            .filter(|selector| holds_record(&check_selector(&resolver, &domain, selector)))
            .map(|selector| (*selector).to_owned())
            .collect();
        Selectors::Common(found)
    } else {
        Selectors::Given(query.dkim_selectors.to_vec())
    };
    options.dkim_selectors = match &selectors {
        Selectors::Given(list) | Selectors::Common(list) => list.clone(),
    };
    let mut report = cutover_report(&resolver, &domain, &options);
    if matches!(&selectors, Selectors::Common(found) if found.is_empty()) {
        report.findings.push(Finding::new(
            Severity::Warning,
            NONE_FOUND,
            format!(
                "no DKIM key for {domain} under the common selectors ({}): \
                 name the new provider's with --dkim-selector S",
                COMMON_SELECTORS.join(", ")
            ),
        ));
        // Keep the report's order (worst first, stable) and its verdict
        // (the worst finding).
        report
            .findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity));
        report.verdict = report.verdict.max(Verdict::Warnings);
    }
    Ok(DnsSection { report, selectors })
}

/// Whether a selector holds a DKIM record, usable or not: a key, or a
/// finding other than "no record" (or a failed lookup, which says nothing
/// about this selector in particular).
fn holds_record(check: &DkimCheck) -> bool {
    check.key.is_some()
        || check
            .findings
            .iter()
            .any(|f| f.code != "dkim-missing" && f.code != "dkim-lookup-failed")
}

/// Write the section.
pub(super) fn write(out: &mut impl Write, section: &DnsSection) -> std::io::Result<()> {
    writeln!(out, "== DNS cutover")?;
    write!(out, "{}", section.report)?;
    match &section.selectors {
        Selectors::Given(given) => {
            writeln!(out, "dkim selectors: {} (as given)", given.join(", "))?;
        }
        Selectors::Common(found) => writeln!(
            out,
            "dkim selectors: {} (the common ones; --dkim-selector S names yours): {}",
            COMMON_SELECTORS.join(", "),
            if found.is_empty() {
                "none holds a key".to_owned()
            } else {
                format!("found {}", found.join(", "))
            }
        )?,
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test: a panic is a failure")]

    use super::*;
    use imapmig_dns::ZoneResolver;

    /// A selector with a key, or with a broken record (the report then says
    /// why), is kept; one without a record is not.
    #[test]
    fn a_selector_holds_a_record_when_anything_is_published() {
        let zone = ZoneResolver::from_zone_text(
            "d.test",
            "s1._domainkey TXT \"v=DKIM1; k=rsa\"\n\
             k1._domainkey TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n",
        )
        .unwrap();
        let domain: DomainName = "d.test".parse().unwrap();
        let broken = check_selector(&zone, &domain, "s1");
        assert!(broken.key.is_none(), "{broken:?}");
        assert!(holds_record(&broken), "{broken:?}");
        let key = check_selector(&zone, &domain, "k1");
        assert!(key.key.is_some(), "{key:?}");
        assert!(holds_record(&key), "{key:?}");
        let missing = check_selector(&zone, &domain, "s2");
        assert!(!holds_record(&missing), "{missing:?}");
    }
}
