//! `imapmig preflight`: one offline report on a mailbox before migrating it.
//!
//! It reads Maildir trees and mbox files (only through
//! `imapmig_mime::source`), or, with no path, the sample mailbox of the
//! repository, and prints one report in sections: the inventory, the
//! folder map (imapmig-folders), duplicates (imapmig-dedupe) and corrupt
//! items (imapmig-mime, with the skipped-items CSV of imapmig-core) and
//! the X500 proxy addresses to add (imapmig-mime's Exchange recovery), and
//! with `--domain` the DNS cutover report (imapmig-dns), DKIM included.
//!
//! The sample lives in the checkout (`imapmig-cli/sample`), not in the
//! published crate: a binary built from a checkout finds it there, through
//! the manifest directory it was compiled in, and `IMAPMIG_SAMPLE` names
//! another place. An installed binary, whose build directory is gone, says
//! so and exits 64 (usage) when given no path.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use imapmig_core::inventory::Quota;
use imapmig_folders::TargetProfile;

mod corrupt;
mod dns;
mod duplicates;
mod exchange;
mod folder_map;
mod inventory;
mod scan;

/// Where the sample mailbox is in the checkout this binary was built from
/// (`imapmig-cli/sample`).
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample");

/// The environment variable that names another place for the sample.
const SAMPLE_ENV: &str = "IMAPMIG_SAMPLE";

/// The quota the sample is judged against when no `--quota` is given: a
/// small seat, so that the report shows what a whale verdict looks like.
const SAMPLE_QUOTA: u64 = 1 << 20;

/// Arguments of `imapmig preflight`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Mailboxes to check: a Maildir tree (fs layout, or Maildir++), a Maildir or an
    /// mbox file; each path is one user's mailbox. Without a path, the sample
    /// mailbox of the checkout the binary was built from (or $IMAPMIG_SAMPLE).
    paths: Vec<PathBuf>,
    /// The domain whose mail moves: adds imapmig-dns's cutover report (MX,
    /// TTL, split-brain, SPF, DKIM, DMARC) and names the new mailboxes in the
    /// X500 commands.
    #[arg(long, value_name = "D")]
    domain: Option<String>,
    /// The DNS server to ask (default: the first nameserver of /etc/resolv.conf).
    #[arg(long, value_name = "IP:PORT", requires = "domain")]
    server: Option<SocketAddr>,
    /// An MX host that should receive the domain's mail after the cutover
    /// (repeatable); any other MX is reported as a leftover.
    #[arg(long = "expect-mx", value_name = "HOST", requires = "domain")]
    expect_mx: Vec<String>,
    /// A DKIM selector to check (repeatable): its key must be there. Without
    /// one, common selectors (default, google, selector1, selector2, k1, k2,
    /// s1, s2, dkim, mail) are tried and the ones holding a key are checked.
    #[arg(long = "dkim-selector", value_name = "S", requires = "domain")]
    dkim_selector: Vec<String>,
    /// The target server's hierarchy delimiter.
    #[arg(long, value_name = "C", default_value_t = '.')]
    target_sep: char,
    /// The target server's personal namespace prefix (the default with `.` is
    /// Courier's and Cyrus's `INBOX.`).
    #[arg(long, value_name = "P", default_value = "INBOX.")]
    target_prefix: String,
    /// What the target refuses or treats specially: generic, exchange
    /// (case-insensitive names, `Sent Items`...) or gmail.
    #[arg(long, value_name = "NAME", default_value = "generic")]
    profile: TargetProfile,
    /// Folder rename rules, one `REGEX -> TARGET` or `REGEX -> [SKIP]` per
    /// line, first match wins (see `imapmig folders map`).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The target's quota per mailbox in bytes (or with K, M, G, T, Ki, Mi,
    /// Gi, Ti): a mailbox that does not fit is a whale, refused before copying.
    /// Without it the sample is judged against a demonstration quota of 1 MiB.
    #[arg(long, value_name = "BYTES", value_parser = inventory::parse_size)]
    quota: Option<u64>,
    /// The quota is shared by all the mailboxes given, not per mailbox.
    #[arg(long, requires = "quota")]
    pooled: bool,
    /// Exit 2 when something blocks the migration and 1 on warnings (like
    /// `dns check`), instead of 0 whenever the report was written.
    #[arg(long)]
    strict: bool,
    /// Write the corrupt messages to this file as a skipped-items CSV (the
    /// format of `migrate --skip-log`), replacing it.
    #[arg(long, value_name = "FILE")]
    skip_csv: Option<PathBuf>,
}

pub(crate) fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let sample = args.paths.is_empty();
    let mut title = None;
    if sample {
        let path =
            std::env::var_os(SAMPLE_ENV).map_or_else(|| PathBuf::from(SAMPLE), PathBuf::from);
        if !path.is_dir() {
            anyhow::bail!(
                "no sample mailbox here: {} is not a directory (the sample lives in a \
                 checkout, imapmig-cli/sample, and is not installed with the binary); \
                 give the PATH of a Maildir tree, Maildir or mbox file to check \
                 (imapmig preflight PATH...), or run it from a checkout \
                 (cargo run --release -p imapmig-cli -- preflight)",
                path.display()
            );
        }
        title = Some(format!(
            "imapmig preflight on the sample mailbox of the repository ({})",
            path.display()
        ));
        args.paths.push(path);
    }
    let quota = match (args.quota, args.pooled, sample) {
        (Some(bytes), true, _) => inventory::QuotaOption {
            quota: Quota::Pooled(bytes),
            origin: "as given",
        },
        (Some(bytes), false, _) => inventory::QuotaOption {
            quota: Quota::PerSeat(bytes),
            origin: "as given",
        },
        (None, _, true) => inventory::QuotaOption {
            quota: Quota::PerSeat(SAMPLE_QUOTA),
            origin: "the sample's demonstration quota (--quota BYTES sets yours)",
        },
        (None, _, false) => inventory::QuotaOption {
            quota: Quota::Unlimited,
            origin: "none",
        },
    };
    let target = folder_map::Target::new(
        args.target_sep,
        &args.target_prefix,
        args.rules.as_deref(),
        args.profile,
    )?;

    let trees = scan::discover(&args.paths)?;
    let mut folders = folder_map::FolderMap::plan(&trees, &target)?;
    let mut duplicates = duplicates::Duplicates::default();
    let mut corrupt = corrupt::Corrupt::default();
    let mut exchange = exchange::Exchange::default();
    let mailboxes = scan::read(&trees, |message| {
        let identity = duplicates.observe(message)?;
        if let Some(content) = &identity.content {
            folders.observe(message, content);
        }
        corrupt.observe(message, identity.message_id.as_deref());
        if !identity.duplicate {
            exchange.observe(message);
        }
        Ok(())
    })?;

    // Ask the DNS before printing, so that a bad domain or resolver stops
    // the command before half a report is out.
    let dns_section = match &args.domain {
        Some(domain) => Some(dns::check(&dns::Query {
            domain,
            server: args.server,
            expect_mx: &args.expect_mx,
            dkim_selectors: &args.dkim_selector,
        })?),
        None => None,
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match title {
        Some(title) => writeln!(out, "{title}")?,
        None => writeln!(out, "imapmig preflight on {} mailbox(es)", mailboxes.len())?,
    }
    writeln!(out)?;
    let whales = inventory::write(&mut out, &mailboxes, &folders, quota)?;
    folders.write(&mut out, &mailboxes)?;
    duplicates.write(&mut out, &mailboxes)?;
    corrupt.write(&mut out, &mailboxes, args.skip_csv.as_deref())?;
    exchange.write(&mut out, args.domain.as_deref())?;
    let dns = match &dns_section {
        Some(section) => {
            dns::write(&mut out, section)?;
            Some(section.report.verdict)
        }
        None => None,
    };

    let mut blocking = Vec::new();
    let mut warnings = Vec::new();
    if whales > 0 {
        blocking.push(format!("{whales} mailbox(es) over the quota (whale)"));
    }
    let collisions = folders.collisions();
    if collisions > 0 {
        blocking.push(format!(
            "{collisions} folder collision(s) in the folder map"
        ));
    }
    let corrupt_items = corrupt.corrupt_count();
    if corrupt_items > 0 {
        warnings.push(format!(
            "{corrupt_items} corrupt message(s) would be skipped and logged"
        ));
    }
    match dns {
        Some(imapmig_dns::Verdict::Blocking) => {
            blocking.push("the DNS cutover report has blocking findings".to_owned())
        }
        Some(imapmig_dns::Verdict::Warnings) => {
            warnings.push("the DNS cutover report has warnings".to_owned())
        }
        _ => {}
    }
    let x500 = exchange.recovered();
    if x500 > 0 {
        warnings.push(format!(
            "{x500} X500 proxy address(es) to add before the cutover"
        ));
    }
    writeln!(out, "== Summary")?;
    writeln!(
        out,
        "blocking: {}",
        if blocking.is_empty() {
            "none".to_owned()
        } else {
            blocking.join("; ")
        }
    )?;
    writeln!(
        out,
        "warnings: {}",
        if warnings.is_empty() {
            "none".to_owned()
        } else {
            warnings.join("; ")
        }
    )?;
    let (verdict, code) = match (blocking.is_empty(), warnings.is_empty()) {
        (false, _) => ("not ready: fix the blocking items before migrating", 2),
        (true, false) => ("ready, with warnings", 1),
        (true, true) => ("ready", 0),
    };
    writeln!(out, "verdict: {verdict}")?;
    out.flush()?;
    Ok(if args.strict {
        ExitCode::from(code)
    } else {
        ExitCode::SUCCESS
    })
}
