//! The `imapmig` command as a library: [`run`] is the whole command.
//!
//! This library exists so the binary's own parsers (the `imap://` URL, the IMAP response
//! framing) can be fuzzed and tested from outside the binary: the `imapmig` binary is
//! `fn main() -> ExitCode { imapmig_cli::run() }`, and the fuzz targets in `fuzz/` call the
//! [`fuzzing`] module. Its only public API is [`run`] and [`fuzzing`]; neither is a stable API.
//!
//! Each subcommand lives in its own module under `cmd/`. The command forms
//! listed in the README ("The `imapmig` command") and the output contract
//! each module's docs state are kept exactly: scripts read them, and the
//! tests in `tests/cli/` hold them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
pub mod fuzzing;
mod imap;

/// Safe email migration: preflight checks, inventory and an IMAP-to-IMAP migrator.
#[derive(Debug, Parser)]
#[command(name = "imapmig", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline report on a mailbox (the shipped sample when no path is given).
    Preflight(cmd::preflight::Args),
    /// Sizes per folder from a live server, with whale verdicts against a quota.
    Inventory(cmd::inventory::Args),
    /// Copy mail from one IMAP server to another, resumably.
    Migrate(cmd::migrate::Args),
    /// Migrate many mailbox pairs from a CSV, sharded for job engines.
    Batch(cmd::batch::Args),
    /// Modified UTF-7 (RFC 3501 §5.1.3) mailbox name encoding.
    #[command(subcommand)]
    Mutf7(cmd::mutf7::Command),
    /// Folder name translation between servers.
    #[command(subcommand)]
    Folders(cmd::folders::Command),
    /// Corrupt-MIME classification and repair.
    #[command(subcommand)]
    Mime(cmd::mime::Command),
    /// Exchange LegacyExchangeDN recovery.
    #[command(subcommand)]
    Exchange(cmd::exchange::Command),
    /// Duplicate detection by Message-ID and content fingerprint.
    #[command(subcommand)]
    Dedupe(cmd::dedupe::Command),
    /// DNS checks for a safe MX cutover.
    #[command(subcommand)]
    Dns(cmd::dns::Command),
}

/// Runs the `imapmig` command: parses the process's arguments, runs the subcommand, and
/// returns its exit status (64 with the error on standard error when a subcommand fails).
///
/// It reads `std::env::args`, so it is the binary's `main`; clap prints help or a usage error
/// and exits by itself for `--help`, `--version` and bad arguments.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Preflight(args) => cmd::preflight::run(args),
        Command::Inventory(args) => cmd::inventory::run(args),
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Batch(args) => cmd::batch::run(args),
        Command::Mutf7(c) => cmd::mutf7::run(c),
        Command::Folders(c) => cmd::folders::run(c),
        Command::Mime(c) => cmd::mime::run(c),
        Command::Exchange(c) => cmd::exchange::run(c),
        Command::Dedupe(c) => cmd::dedupe::run(c),
        Command::Dns(c) => cmd::dns::run(c),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cmd::EXIT_USAGE)
        }
    }
}
