//! `imapmig dns check|spf`: DNS checks for an MX cutover.
//!
//! Contract (kept exactly; scripts read it):
//! - `imapmig dns check DOMAIN [--server IP:PORT] [--expect-mx HOST]...`
//!   prints a report and exits 0 (ready), 1 (warnings) or 2 (blocking).
//! - `imapmig dns spf DOMAIN --ip IP [--sender ADDR] [--helo NAME] [--server IP:PORT]`
//!   prints the RFC 7208 result as the first word on stdout.
//!
//! Without `--server` the first `nameserver` of `/etc/resolv.conf` is used.
//! Split-brain compares the resolver with the zone's NS servers, or with the
//! servers given by `--authoritative` (repeatable); when the resolver itself
//! answers authoritatively (a `--server` pointing at the zone's own server)
//! there is no cache to compare and the report says so.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use imapmig_dns::dmarc::OrgDomainMethod;
use imapmig_dns::report::AuthoritativeSource;
use imapmig_dns::spf::{self, SpfQuery};
use imapmig_dns::{CheckOptions, DomainName, NetworkResolver, TransportOptions, cutover_report};

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check a domain's MX, SPF, DKIM and DMARC records for a cutover; exit 0 ready, 1 warnings, 2 blocking.
    Check(CheckArgs),
    /// Evaluate SPF (RFC 7208 check_host) for a client IP; the first word printed is the result.
    Spf(SpfArgs),
}

/// Where to ask.
#[derive(Debug, clap::Args)]
pub(crate) struct ServerArgs {
    /// The DNS server to ask (a resolver, or the zone's authoritative server).
    #[arg(long, value_name = "IP:PORT")]
    server: Option<SocketAddr>,
    /// Seconds to wait for each DNS answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    timeout: f64,
}

impl ServerArgs {
    fn transport(&self, recursion_desired: bool) -> anyhow::Result<TransportOptions> {
        let timeout = Duration::try_from_secs_f64(self.timeout).context("--timeout")?;
        Ok(TransportOptions {
            timeout,
            recursion_desired,
            ..TransportOptions::default()
        })
    }

    fn resolver(&self) -> anyhow::Result<NetworkResolver> {
        let transport = self.transport(true)?;
        let server = match self.server {
            Some(s) => s,
            None => NetworkResolver::from_system()
                .context("no --server given and no usable /etc/resolv.conf")?
                .server(),
        };
        Ok(NetworkResolver::with_options(server, transport))
    }
}

/// `imapmig dns check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The domain whose mail moves.
    domain: String,
    #[command(flatten)]
    server: ServerArgs,
    /// An MX host that should receive mail after the cutover (repeatable); others are leftovers.
    #[arg(long = "expect-mx", value_name = "HOST")]
    expect_mx: Vec<String>,
    /// An authoritative server to compare the resolver with (repeatable); default: the zone's NS.
    #[arg(long, value_name = "IP:PORT")]
    authoritative: Vec<SocketAddr>,
    /// Do not compare with authoritative servers.
    #[arg(long, conflicts_with = "authoritative")]
    no_authoritative: bool,
    /// The planned MX switch (RFC 3339), for the TTL timeline.
    #[arg(long, value_name = "TIME")]
    cutover: Option<DateTime<Utc>>,
    /// The current time (RFC 3339); default: the system clock.
    #[arg(long, value_name = "TIME")]
    now: Option<DateTime<Utc>>,
    /// The MX TTL wanted at cutover, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    target_ttl: u32,
    /// A DKIM selector to check (repeatable).
    #[arg(long = "dkim-selector", value_name = "SELECTOR")]
    dkim_selector: Vec<String>,
    /// An include the new provider's SPF needs (repeatable).
    #[arg(long = "expect-spf-include", value_name = "DOMAIN")]
    expect_spf_include: Vec<String>,
    /// Find the DMARC organisational domain by DNS tree walk instead of the public suffix list.
    #[arg(long)]
    tree_walk: bool,
}

/// `imapmig dns spf`.
#[derive(Debug, clap::Args)]
pub(crate) struct SpfArgs {
    /// The domain whose SPF record is checked.
    domain: String,
    /// The SMTP client's IP address.
    #[arg(long)]
    ip: IpAddr,
    /// The MAIL FROM address (default: postmaster@DOMAIN).
    #[arg(long, value_name = "ADDR")]
    sender: Option<String>,
    /// The HELO/EHLO name (default: DOMAIN).
    #[arg(long, value_name = "NAME")]
    helo: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check(args),
        Command::Spf(args) => spf_check(args),
    }
}

fn names(list: &[String], what: &str) -> anyhow::Result<Vec<DomainName>> {
    list.iter()
        .map(|s| DomainName::parse(s).with_context(|| format!("{what} {s:?}")))
        .collect()
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let domain = DomainName::parse(&args.domain).context("DOMAIN")?;
    let resolver = args.server.resolver()?;
    let mut options = CheckOptions::new(args.now.unwrap_or_else(Utc::now));
    options.cutover = args.cutover;
    options.target_ttl = args.target_ttl;
    options.expect_mx = names(&args.expect_mx, "--expect-mx")?;
    options.expect_spf_includes = names(&args.expect_spf_include, "--expect-spf-include")?;
    options.dkim_selectors = args.dkim_selector;
    options.transport = args.server.transport(false)?;
    options.org_domain = if args.tree_walk {
        OrgDomainMethod::TreeWalk
    } else {
        OrgDomainMethod::PublicSuffixList
    };
    options.authoritative = if args.no_authoritative {
        AuthoritativeSource::Skip
    } else if args.authoritative.is_empty() {
        AuthoritativeSource::FromNs { port: 53 }
    } else {
        AuthoritativeSource::Servers(args.authoritative)
    };
    let report = cutover_report(&resolver, &domain, &options);
    print!("{report}");
    Ok(ExitCode::from(report.verdict.exit_code()))
}

fn spf_check(args: SpfArgs) -> anyhow::Result<ExitCode> {
    let resolver = args.server.resolver()?;
    let sender = args
        .sender
        .unwrap_or_else(|| format!("postmaster@{}", args.domain));
    let helo = args.helo.unwrap_or_else(|| args.domain.clone());
    let mut query = SpfQuery::new(args.ip, &sender, &helo);
    query.timestamp = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
    let outcome = spf::check_host(&resolver, &query, &args.domain);
    println!("{} ({})", outcome.result, outcome.reason);
    if let Some(exp) = &outcome.explanation {
        println!("explanation: {exp}");
    }
    println!(
        "lookups: {} dns terms, {} void",
        outcome.dns_terms, outcome.void_lookups
    );
    for step in &outcome.trace {
        println!("  {step}");
    }
    Ok(ExitCode::SUCCESS)
}
