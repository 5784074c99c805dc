//! `imapmig exchange x500`: recover old LegacyExchangeDN values from mail.
//!
//! Contract (kept exactly; scripts read it):
//! `imapmig exchange x500 PATH...` — one line per distinct recovered
//! identity, `X500:<LegacyExchangeDN>\t<number of messages it was seen in>`.
//! PATH is a message file, a Maildir or an mbox (or, with `--tree`, a mail
//! tree). DNs that differ only in case are one identity (Exchange compares
//! them case-insensitively); lines are sorted case-insensitively.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use imapmig_mime::exchange::Recovery;
use imapmig_mime::source;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print an X500 proxy address for every old Exchange identity (IMCEAEX address or X.500 DN) found in mail.
    X500(X500Args),
}

/// `imapmig exchange x500`.
#[derive(Debug, clap::Args)]
pub(crate) struct X500Args {
    /// Message files, Maildirs or mbox files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Treat each PATH as a mail tree and scan every folder.
    #[arg(long)]
    tree: bool,
    /// Instead of one line per DN, one line per person (DNs grouped by
    /// alias): `<alias>\t<display names>\t<X500 addresses, ';'-separated>`.
    #[arg(long)]
    identities: bool,
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::X500(args) => x500(&args),
    }
}

fn x500(args: &X500Args) -> anyhow::Result<ExitCode> {
    let mut recovery = Recovery::new();
    let mut failed = false;
    for path in &args.paths {
        let mailboxes: Vec<PathBuf> = if args.tree {
            match source::walk_tree(path) {
                Ok(folders) => folders.into_iter().map(|f| f.path).collect(),
                Err(err) => {
                    eprintln!("error: {err}");
                    failed = true;
                    continue;
                }
            }
        } else {
            vec![path.clone()]
        };
        for mailbox in mailboxes {
            if let Err(err) = source::for_each_message(&mailbox, |_, bytes| {
                recovery.add_message(bytes);
            }) {
                eprintln!("error: {err}");
                failed = true;
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.identities {
        for identity in recovery.identities() {
            let mut names: Vec<&str> = identity
                .dns
                .iter()
                .flat_map(|r| r.display_names.iter().map(String::as_str))
                .collect();
            names.sort_unstable();
            names.dedup();
            let addresses: Vec<String> = identity.dns.iter().map(|r| r.x500()).collect();
            writeln!(
                out,
                "{}\t{}\t{}",
                identity.alias,
                if names.is_empty() {
                    "-".to_owned()
                } else {
                    names.join("; ")
                },
                addresses.join(";")
            )?;
        }
    } else {
        for recovered in recovery.recovered() {
            writeln!(out, "{}\t{}", recovered.x500(), recovered.messages)?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
