//! `imapmig preflight`: one offline report on a mailbox before migrating it.
//!
//! It reads Maildir trees and mbox files (only through
//! `imapmig_mime::source`), or, with no path, the sample mailbox shipped in
//! the repository, and prints one report in sections: the inventory, and
//! duplicates (imapmig-dedupe).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod duplicates;
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
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        let sample = PathBuf::from(SAMPLE);
        if !sample.is_dir() {
            anyhow::bail!(
                "the sample mailbox is not at {SAMPLE} (it ships in the source tree, \
                 imapmig-cli/sample); give the path of a Maildir or mbox to check instead"
            );
        }
        sample
    } else {
        return run_on(args.paths, false);
    };
    run_on(vec![paths], true)
}

fn run_on(paths: Vec<PathBuf>, sample: bool) -> anyhow::Result<ExitCode> {
    let mut duplicates = duplicates::Duplicates::default();
    let mailboxes = scan::scan(&paths, |message| {
        duplicates.observe(message)?;
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
    duplicates.write(&mut out, &mailboxes)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
