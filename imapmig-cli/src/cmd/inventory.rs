//! `imapmig inventory --server imap://USER@HOST:PORT [--quota BYTES] [--pooled]`: sizes per
//! folder from a live server (STATUS SIZE where the server offers RFC 8438, else the sum of
//! RFC822.SIZE), the mailbox total, and the whale verdict against a destination quota.
//!
//! The password comes from `IMAPMIG_SOURCE_PASSWORD` (or `--password-file`; a bearer token from
//! `IMAPMIG_SOURCE_TOKEN` or `--token-file`): the inventory is taken on the source.
//!
//! Output: one line per folder, `<folder>\t<messages>\t<bytes>`, then
//! `total\t<messages>\t<bytes>`, then the verdict line `verdict: fits|whale …`.
//!
//! Exit status: 0 fits (or no quota given), 3 whale (does not fit), 4 login refused,
//! 5 unreachable, 6 TLS failure, 64 usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use imapmig_core::inventory::{self, FolderSize, InventoryPolicy, MailboxInventory, Quota};
use imapmig_folders::Listing;

use crate::cmd::migrate::Exit;
use crate::imap::{Connection, Endpoint, ImapError, SecretSource};

/// Arguments of `imapmig inventory`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server, `imap://USER@HOST:PORT` or `imaps://…`.
    #[arg(long)]
    server: String,
    /// PEM file of CA certificates to trust for TLS and STARTTLS, besides the Mozilla roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Destination quota in bytes: per seat, or for all mailboxes together with `--pooled`.
    #[arg(long)]
    quota: Option<u64>,
    /// The quota is pooled across the tenant: report the share this mailbox takes.
    #[arg(long, requires = "quota")]
    pooled: bool,
    /// Bytes already used in the pool by other mailboxes (with `--pooled`).
    #[arg(long, default_value_t = 0, requires = "pooled")]
    pool_used: u64,
    /// Read the password from this file instead of `IMAPMIG_SOURCE_PASSWORD`.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Read a bearer token (XOAUTH2/OAUTHBEARER) from this file.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Seconds to wait for any one server answer.
    #[arg(long, default_value_t = 120)]
    io_timeout: u64,
}

/// Sizes every selectable folder of the server behind `conn`.
pub(crate) async fn folder_sizes(conn: &mut Connection) -> Result<Vec<FolderSize>, ImapError> {
    let raw = conn.listing_raw().await?;
    let listing = Listing::parse(&raw).map_err(|e| ImapError::Protocol {
        command: "LIST".into(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for entry in listing.entries() {
        if !entry.is_selectable() {
            continue;
        }
        let (messages, bytes) = conn.folder_size(entry.name().wire()).await?;
        out.push(FolderSize {
            name: crate::imap::display_name(entry.name()),
            messages: u64::from(messages),
            bytes,
        });
    }
    Ok(out)
}

/// The whale verdict of imapmig-core for this mailbox against the quota (per seat, or the
/// room left in a pool).
fn verdict(
    mailbox: &str,
    folders: Vec<FolderSize>,
    quota: u64,
    pooled: bool,
    pool_used: u64,
) -> (bool, String) {
    let inv = MailboxInventory {
        mailbox: mailbox.to_owned(),
        folders,
    };
    let quota = if pooled {
        Quota::Pooled(quota.saturating_sub(pool_used))
    } else {
        Quota::PerSeat(quota)
    };
    let report = inventory::assess(
        &[inv],
        &InventoryPolicy {
            quota,
            ..InventoryPolicy::default()
        },
    );
    match report.mailboxes.first() {
        Some(m) => (!m.verdict.refused(), format!("verdict: {}", m.verdict)),
        None => (true, "verdict: fits".to_owned()),
    }
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut endpoint: Endpoint = args
        .server
        .parse()
        .map_err(|e: ImapError| anyhow::anyhow!("--server: {e}"))?;
    if let Some(path) = &args.ca_file {
        endpoint.extra_roots = crate::imap::transport::load_ca_file(path)
            .map_err(|e| anyhow::anyhow!("--ca-file {e}"))?;
    }
    let cred = SecretSource::source(args.password_file.clone(), args.token_file.clone())
        .load(endpoint.mechanism.map(|m| m.wants_token()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let sizes = runtime.block_on(async {
        let mut conn = Connection::open(
            &endpoint,
            &cred,
            Duration::from_secs(args.io_timeout.max(1)),
        )
        .await?;
        let sizes = folder_sizes(&mut conn).await;
        conn.logout().await;
        sizes
    });
    let sizes = match sizes {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            let code = match e {
                ImapError::Login { .. } => Exit::Login.code(),
                ImapError::Tls { .. } => Exit::Tls.code(),
                _ => Exit::Unreachable.code(),
            };
            return Ok(ExitCode::from(code));
        }
    };
    let (mut messages, mut bytes) = (0u64, 0u64);
    for f in &sizes {
        println!("{}\t{}\t{}", f.name, f.messages, f.bytes);
        messages += f.messages;
        bytes += f.bytes;
    }
    println!("total\t{messages}\t{bytes}");
    let Some(quota) = args.quota else {
        println!("verdict: no quota given");
        return Ok(ExitCode::SUCCESS);
    };
    let (fits, line) = verdict(&args.server, sizes, quota, args.pooled, args.pool_used);
    println!("{line}");
    Ok(if fits {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(Exit::Quota.code())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_table() {
        let folder = |bytes| {
            vec![FolderSize {
                name: "INBOX".into(),
                messages: 1,
                bytes,
            }]
        };
        let cases = [
            (10, 100, false, 0, true),
            (100, 100, false, 0, true),
            (101, 100, false, 0, false),
            (50, 100, true, 60, false),
            (40, 100, true, 60, true),
        ];
        for (total, quota, pooled, used, fits) in cases {
            let (ok, line) = verdict("m", folder(total), quota, pooled, used);
            assert_eq!(ok, fits, "{line}");
            assert!(
                line.starts_with(if fits {
                    "verdict: fits"
                } else {
                    "verdict: whale"
                }),
                "{line}"
            );
        }
    }
}
