//! `imapmig preflight`: one offline report on a mailbox before migrating it.
//!
//! It reads Maildir trees and mbox files (only through
//! `imapmig_mime::source`), or, with no path, the sample mailbox shipped in
//! the repository, and prints one report in sections: the inventory, the
//! folder map (imapmig-folders), duplicates (imapmig-dedupe) and corrupt
//! items (imapmig-mime, with the skipped-items CSV of imapmig-core).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod corrupt;
mod duplicates;
mod folder_map;
mod inventory;
mod scan;

/// Where the sample mailbox of the repository is (`imapmig-cli/sample`).
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample");

/// Arguments of `imapmig preflight`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Mailboxes to check: a Maildir tree (fs layout, or Maildir++), a Maildir or an
    /// mbox file; each path is one user's mailbox. Without a path, the sample
    /// mailbox shipped in the repository.
    paths: Vec<PathBuf>,
    /// The target server's hierarchy delimiter.
    #[arg(long, value_name = "C", default_value_t = '.')]
    target_sep: char,
    /// The target server's personal namespace prefix (the default with `.` is
    /// Courier's and Cyrus's `INBOX.`).
    #[arg(long, value_name = "P", default_value = "INBOX.")]
    target_prefix: String,
    /// Folder rename rules, one `REGEX -> TARGET` or `REGEX -> [SKIP]` per
    /// line, first match wins (see `imapmig folders map`).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Write the corrupt messages to this file as a skipped-items CSV (the
    /// format of `migrate --skip-log`), replacing it.
    #[arg(long, value_name = "FILE")]
    skip_csv: Option<PathBuf>,
}

pub(crate) fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let sample = args.paths.is_empty();
    if sample {
        let path = PathBuf::from(SAMPLE);
        if !path.is_dir() {
            anyhow::bail!(
                "the sample mailbox is not at {SAMPLE} (it ships in the source tree, \
                 imapmig-cli/sample); give the path of a Maildir or mbox to check instead"
            );
        }
        args.paths.push(path);
    }
    let target =
        folder_map::Target::new(args.target_sep, &args.target_prefix, args.rules.as_deref())?;

    let trees = scan::discover(&args.paths)?;
    let mut folders = folder_map::FolderMap::plan(&trees, &target)?;
    let mut duplicates = duplicates::Duplicates::default();
    let mut corrupt = corrupt::Corrupt::default();
    let mailboxes = scan::read(&trees, |message| {
        let identity = duplicates.observe(message)?;
        if let Some(content) = &identity.content {
            folders.observe(message, content);
        }
        corrupt.observe(message, identity.message_id.as_deref());
        Ok(())
    })?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if sample {
        writeln!(
            out,
            "imapmig preflight on the sample mailbox shipped in the repository ({SAMPLE})"
        )?;
    } else {
        writeln!(out, "imapmig preflight on {} mailbox(es)", mailboxes.len())?;
    }
    writeln!(out)?;
    inventory::write(&mut out, &mailboxes)?;
    folders.write(&mut out, &mailboxes)?;
    duplicates.write(&mut out, &mailboxes)?;
    corrupt.write(&mut out, &mailboxes, args.skip_csv.as_deref())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
