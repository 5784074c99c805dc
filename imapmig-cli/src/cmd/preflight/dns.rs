//! The DNS section (with `--domain`): imapmig-dns's cutover report on the
//! domain whose mail moves: MX and its TTL, leftovers, split-brain, SPF,
//! DKIM and DMARC.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use chrono::Utc;
use imapmig_dns::report::AuthoritativeSource;
use imapmig_dns::{CheckOptions, CutoverReport, DomainName, NetworkResolver, cutover_report};

/// Ask the DNS about `domain`: through `server`, or the system's resolver.
pub(super) fn check(
    domain: &str,
    server: Option<SocketAddr>,
    expect_mx: &[String],
) -> anyhow::Result<CutoverReport> {
    let domain = DomainName::parse(domain).with_context(|| format!("--domain {domain:?}"))?;
    let resolver = match server {
        Some(server) => NetworkResolver::new(server),
        None => NetworkResolver::from_system()
            .context("no --server given and no usable /etc/resolv.conf")?,
    };
    let mut options = CheckOptions::new(Utc::now());
    options.expect_mx = expect_mx
        .iter()
        .map(|h| DomainName::parse(h).with_context(|| format!("--expect-mx {h:?}")))
        .collect::<anyhow::Result<_>>()?;
    // Compare the resolver with the zone's name servers; a server that
    // answers authoritatively itself has no cache to compare.
    options.authoritative = AuthoritativeSource::FromNs { port: 53 };
    Ok(cutover_report(&resolver, &domain, &options))
}

/// Write the section.
pub(super) fn write(out: &mut impl Write, report: &CutoverReport) -> std::io::Result<()> {
    writeln!(out, "== DNS cutover")?;
    write!(out, "{report}")?;
    writeln!(out)
}
