//! `imapmig mime classify|repair`: corrupt-MIME classification and safe repairs.
//!
//! Contract (kept exactly; scripts read it):
//! `imapmig mime classify PATH...` — PATH is a message file, a Maildir or an
//! mbox; one line per message, `<id>\t<ok|repairable|corrupt>\t<codes>`, where
//! `<id>` is the file path (for mbox `path#N`, N from 1) and `<codes>` the
//! comma-separated defect codes in vocabulary order, or `-`.
//!
//! It exits 0 when every path was read (whatever the verdicts), 1 when some
//! path could not be read (the others are still classified, the error is on
//! stderr).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use imapmig_mime::{Classification, classify, repair, source};

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Classify every message of each PATH (message file, Maildir or mbox) as ok, repairable or corrupt.
    Classify(ClassifyArgs),
    /// Repair one message file; the repaired message goes to stdout, what was fixed to stderr.
    Repair(RepairArgs),
}

/// `imapmig mime classify`.
#[derive(Debug, clap::Args)]
pub(crate) struct ClassifyArgs {
    /// Message files, Maildirs or mbox files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Treat each PATH as a mail tree (a Maildir with subfolders, or a
    /// directory of Maildirs and mbox files) and classify every folder.
    #[arg(long)]
    tree: bool,
    /// After each message with defects, one indented line per defect: code,
    /// part, content type, byte range and note.
    #[arg(long)]
    explain: bool,
}

/// `imapmig mime repair`.
#[derive(Debug, clap::Args)]
pub(crate) struct RepairArgs {
    /// The message file to repair.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Classify(args) => classify_paths(&args),
        Command::Repair(args) => repair_file(&args.file),
    }
}

fn classify_paths(args: &ClassifyArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.paths {
        let mailboxes: Vec<PathBuf> = if args.tree {
            match source::walk_tree(path) {
                Ok(folders) => folders.into_iter().map(|f| f.path).collect(),
                Err(err) => {
                    out.flush()?;
                    eprintln!("error: {err}");
                    failed = true;
                    continue;
                }
            }
        } else {
            vec![path.clone()]
        };
        for mailbox in mailboxes {
            if let Err(err) = classify_one(&mailbox, args.explain, &mut out) {
                out.flush()?;
                eprintln!("error: {err:#}");
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn classify_one(path: &Path, explain: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let mut write_error = None;
    source::for_each_message(path, |id, bytes| {
        if write_error.is_some() {
            return;
        }
        let c = classify(bytes);
        if let Err(err) = write_line(out, id, &c, explain) {
            write_error = Some(err);
        }
    })?;
    match write_error {
        Some(err) => Err(err).context("writing to stdout"),
        None => Ok(()),
    }
}

fn write_line(
    out: &mut impl Write,
    id: &str,
    c: &Classification,
    explain: bool,
) -> std::io::Result<()> {
    let codes = c.codes();
    let codes = if codes.is_empty() {
        "-".to_owned()
    } else {
        codes.join(",")
    };
    writeln!(out, "{id}\t{}\t{codes}", c.verdict)?;
    if explain {
        for d in &c.defects {
            let content_type = c.parts.get(d.part).map_or("-", |p| p.content_type.as_str());
            write!(
                out,
                "  {}\tpart {} ({content_type})\tbytes {}..{}",
                d.code(),
                d.part,
                d.range.start,
                d.range.end
            )?;
            if d.count > 1 {
                write!(out, "\t{} times", d.count)?;
            }
            if let Some(note) = d.note {
                write!(out, "\t{note}")?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

fn repair_file(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let repaired = repair(&bytes);
    let mut out = std::io::stdout().lock();
    out.write_all(&repaired.bytes)?;
    out.flush()?;
    let fixed = repaired.fixed_codes();
    let left = repaired.after.codes();
    eprintln!(
        "fixed: {}\tnow: {}\t{}",
        if fixed.is_empty() {
            "-".to_owned()
        } else {
            fixed.join(",")
        },
        repaired.after.verdict,
        if left.is_empty() {
            "-".to_owned()
        } else {
            left.join(",")
        }
    );
    Ok(ExitCode::SUCCESS)
}
