//! `imapmig dedupe`: duplicate detection by Message-ID and content fingerprint.
//!
//! `imapmig dedupe scan PATH...` reads message files, Maildirs, mbox files and
//! whole folder trees (through `imapmig_mime::source`), fingerprints every
//! message with `imapmig_dedupe`, and prints the duplicate groups, the
//! Message-IDs shared by messages that differ (kept: the false-merge guard),
//! and the fixed last line `messages: N unique: U duplicates: D`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use imapmig_dedupe::{
    DuplicateFinder, FingerprintKey, Fingerprinter, FolderScope, Policy, Report, Strategy,
};
use imapmig_mime::source;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List duplicate messages in message files, Maildirs, mbox files and folder trees.
    ///
    /// A directory is walked as a folder tree (a Maildir and its Maildir++
    /// subfolders, or a tree of Maildirs and mbox files); the same message in
    /// two folders (one Gmail message under two labels) is a duplicate unless
    /// --same-folder is given. The last line is `messages: N unique: U duplicates: D`.
    Scan(ScanArgs),
}

/// Arguments of `dedupe scan`.
#[derive(Debug, clap::Args)]
pub(crate) struct ScanArgs {
    /// Message files, Maildirs, mbox files or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// What must be equal for two messages to be one: `content` (all
    /// non-transport headers and the body; the safe default), `headers`
    /// (Message-ID, Date, From, To, Cc, Subject), or `message-id` (trust the
    /// id alone).
    #[arg(long, value_enum, default_value_t = Match::Content)]
    by: Match,
    /// Only count copies within one folder as duplicates.
    #[arg(long)]
    same_folder: bool,
}

/// The `--by` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Match {
    Content,
    Headers,
    MessageId,
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Scan(args) => scan(&args),
    }
}

/// One message read: where it came from.
struct Seen {
    id: String,
    folder: String,
}

fn scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy {
        require: match args.by {
            Match::Content => Strategy::Content,
            Match::Headers => Strategy::Headers,
            Match::MessageId => Strategy::MessageId,
        },
        folders: if args.same_folder {
            FolderScope::Same
        } else {
            FolderScope::Any
        },
    };
    // A fresh key per run: fingerprints only need to agree within this scan.
    let fingerprinter = Fingerprinter::new(&FingerprintKey::generate()?);
    let mut finder = DuplicateFinder::new(policy);
    let mut seen: Vec<Seen> = Vec::new();
    let many_roots = args.paths.len() > 1;
    for path in &args.paths {
        for (folder, location) in folders_of(path)? {
            // Folder names are per root; with several roots, the root tells them apart.
            let folder = if many_roots {
                format!("{}:{folder}", path.display())
            } else {
                folder
            };
            source::for_each_message(&location, |id, bytes| {
                let _ = finder.add(&folder, &fingerprinter.message(bytes));
                seen.push(Seen {
                    id: id.to_owned(),
                    folder: folder.clone(),
                });
            })
            .with_context(|| format!("reading {}", location.display()))?;
        }
    }
    print!("{}", render(&finder.report(), &seen));
    Ok(ExitCode::SUCCESS)
}

/// The folders under `path`: (name, location to read).
fn folders_of(path: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        // A message file or an mbox: one folder, named by the file.
        return Ok(vec![(path.display().to_string(), path.to_path_buf())]);
    }
    let folders = source::walk_tree(path).with_context(|| format!("walking {}", path.display()))?;
    if folders.is_empty() {
        anyhow::bail!("no Maildir or mbox folder under {}", path.display());
    }
    Ok(folders.into_iter().map(|f| (f.name, f.path)).collect())
}

/// The listing: one block per duplicate group, one per shared Message-ID
/// whose messages differ, then the fixed last line.
fn render(report: &Report, seen: &[Seen]) -> String {
    let mut out = String::new();
    let name = |message: usize| seen.get(message).map_or("?", |s| s.id.as_str());
    let folder = |message: usize| seen.get(message).map_or("?", |s| s.folder.as_str());
    for (number, group) in report.groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "duplicate group {} ({} messages, matched by {}):",
            number + 1,
            group.members.len(),
            group.matched
        );
        for (i, member) in group.members.iter().enumerate() {
            let role = if i == 0 { "keep" } else { "duplicate" };
            let _ = writeln!(
                out,
                "  {role}\t{}\t{}",
                folder(member.message),
                name(member.message)
            );
        }
    }
    for conflict in &report.conflicts {
        let _ = writeln!(
            out,
            "same Message-ID {} but different {} ({} messages, all kept):",
            conflict.message_id,
            conflict.differs,
            conflict.members.len()
        );
        for member in &conflict.members {
            let _ = writeln!(
                out,
                "  keep\t{}\t{}",
                folder(member.message),
                name(member.message)
            );
        }
    }
    let _ = writeln!(
        out,
        "messages: {} unique: {} duplicates: {}",
        report.messages, report.unique, report.duplicates
    );
    out
}
