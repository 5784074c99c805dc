//! `imapmig folders map`: translate folder names from one server's
//! hierarchy to another's, with rules, special-use and the Gmail policy.
//!
//! Contract (kept exactly; scripts read it): one source folder name
//! (decoded UTF-8, as the source server shows it) per line on stdin; one
//! line per folder on stdout, `<source>\t<target>` or `<source>\t[SKIP]`.
//! Two sources that would land on one target make it exit 2, naming both
//! on stderr.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use imapmig_folders::{
    Decision, DelimiterEscape, FolderPlan, GmailPolicy, Hierarchy, ListEntry, ListKind, Listing,
    MailboxName, Mapper, Rules, TargetProfile,
};

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Map source folder names (one per line on stdin) to target names.
    Map(MapArgs),
}

/// Options of `folders map`.
#[derive(Debug, clap::Args)]
pub(crate) struct MapArgs {
    /// The source's hierarchy delimiter (`NIL` for a flat server).
    #[arg(long, value_name = "C")]
    source_sep: String,
    /// The source's personal namespace prefix, e.g. `INBOX.`.
    #[arg(long, value_name = "P", default_value = "")]
    source_prefix: String,
    /// The target's hierarchy delimiter (`NIL` for a flat server).
    #[arg(long, value_name = "C")]
    target_sep: String,
    /// The target's personal namespace prefix, e.g. `INBOX.`.
    #[arg(long, value_name = "P", default_value = "")]
    target_prefix: String,
    /// Rename rules, one `REGEX -> TARGET` (or `-> [SKIP]`) per line; first match wins.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Apply the Gmail policy: All Mail, Important and Starred are not
    /// copied; `[Gmail]/...` system folders go to the top level.
    #[arg(long)]
    gmail: bool,
    /// What the target refuses: generic, exchange or gmail.
    #[arg(long, value_name = "NAME", default_value = "generic")]
    profile: TargetProfile,
    /// How a name holding the target's delimiter is escaped: a replacement
    /// character, or `lookalike` (reversible Unicode look-alikes).
    #[arg(long, value_name = "CHAR|lookalike", default_value = "_")]
    escape: String,
    /// Folders that exist on the target (decoded, one per line), so that
    /// special folders go to the target's folder of the same role.
    #[arg(long, value_name = "FILE")]
    target_folders: Option<PathBuf>,
    /// Add a third column with the reason (rule line, special-use, default...).
    #[arg(long)]
    explain: bool,
}

/// Exit status when two source folders would land on one target.
const EXIT_COLLISION: u8 = 2;

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Map(args) => map(&args),
    }
}

fn parse_escape(text: &str) -> anyhow::Result<DelimiterEscape> {
    if text.eq_ignore_ascii_case("lookalike") {
        return Ok(DelimiterEscape::Lookalike);
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(DelimiterEscape::Replace(c)),
        _ => bail!("--escape must be one character or `lookalike`, not {text:?}"),
    }
}

fn mapper(args: &MapArgs) -> anyhow::Result<Mapper> {
    let source = Hierarchy::new(
        Hierarchy::parse_delimiter(&args.source_sep)?,
        &args.source_prefix,
    )
    .context("--source-sep")?;
    let target = Hierarchy::new(
        Hierarchy::parse_delimiter(&args.target_sep)?,
        &args.target_prefix,
    )
    .context("--target-sep")?;
    let target_delim = target.delimiter();
    let mut mapper = Mapper::new(source, target)
        .profile(args.profile)
        .escape(parse_escape(&args.escape)?);
    if let Some(path) = &args.rules {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let rules = Rules::parse(&text).with_context(|| format!("in {}", path.display()))?;
        mapper = mapper.rules(rules);
    }
    if args.gmail {
        mapper = mapper.gmail(GmailPolicy::default());
    }
    if let Some(path) = &args.target_folders {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut listing = Listing::new();
        for line in text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
        {
            let name = MailboxName::from_decoded(line)
                .with_context(|| format!("in {}", path.display()))?;
            listing.push(ListEntry::new(
                ListKind::List,
                Vec::new(),
                target_delim,
                name,
            ));
        }
        mapper = mapper.target_listing(&listing);
    }
    Ok(mapper)
}

fn map(args: &MapArgs) -> anyhow::Result<ExitCode> {
    let mapper = mapper(args)?;
    let mut names = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin (folder names must be UTF-8)")?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if !line.is_empty() {
            names.push(line.to_owned());
        }
    }
    let plan = mapper.plan_names(&names)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_plan(&plan, args.explain, &mut out)?;
    out.flush().context("writing stdout")?;
    if plan.collisions().is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for c in plan.collisions() {
        eprintln!(
            "collision: {:?} and {:?} would both become {:?} on the target",
            c.first.as_str(),
            c.second.as_str(),
            c.target.as_str()
        );
    }
    Ok(ExitCode::from(EXIT_COLLISION))
}

fn write_plan(plan: &FolderPlan, explain: bool, out: &mut impl Write) -> anyhow::Result<()> {
    for e in plan.entries() {
        let target = match &e.decision {
            Decision::Copy(t) => t.as_str(),
            _ => "[SKIP]",
        };
        if explain {
            let mut reason = e.reason.to_string();
            for a in &e.adjustments {
                reason.push_str("; ");
                reason.push_str(&a.to_string());
            }
            writeln!(out, "{}\t{target}\t{reason}", e.source)
        } else {
            writeln!(out, "{}\t{target}", e.source)
        }
        .context("writing stdout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_option() {
        assert_eq!(
            parse_escape("lookalike").unwrap(),
            DelimiterEscape::Lookalike
        );
        assert_eq!(parse_escape("-").unwrap(), DelimiterEscape::Replace('-'));
        assert!(parse_escape("ab").is_err());
    }
}
