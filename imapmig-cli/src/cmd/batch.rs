//! `imapmig batch`: many mailbox pairs from a CSV, each an independent, resumable
//! `imapmig migrate`, sharded so that existing job engines can spread them over machines.
//!
//! ```text
//! imapmig batch --csv FILE --state DIR [--jobs N] [--shard I/N] [--sizes FILE] [-- MIGRATE-OPTIONS...]
//! ```
//!
//! The CSV has the header `source,target,source_secret,target_secret`, optionally followed
//! by `rules,target_profile`. `source` and `target` are `imap[s]://USER@HOST:PORT`; a secret
//! is `env:VAR` or `file:PATH`, never the secret itself; `target_profile` (generic, exchange,
//! gmail; blank: guessed) is the mailbox's `migrate --target-profile`. Every row is checked before anything
//! starts; a bad one is named by line and column and the command exits 64.
//!
//! Each mailbox gets its own state directory and skip log under `DIR/mailboxes/`, so a
//! mailbox is resumed by whichever run meets it next. `--jobs N` migrates N mailboxes at
//! once; `--shard INDEX/COUNT` takes a deterministic part of the rows (by default from
//! `JOB_COMPLETION_INDEX`, a Kubernetes Indexed Job, or `SLURM_ARRAY_TASK_ID`, with the
//! count from `IMAPMIG_SHARD_COUNT` or `SLURM_ARRAY_TASK_COUNT`). With `--sizes FILE`
//! (`source,bytes` rows, e.g. from `imapmig inventory`) the shards are balanced by size,
//! largest mailbox first; without it rows go round-robin.
//!
//! With `--state postgres://...` the rows go to a queue in PostgreSQL that every worker shares
//! instead: see the `pg` module (and `imapmig batch status`).
//!
//! Output: a progress line on stderr as each mailbox ends (done, running, failed and waiting
//! mailboxes; messages and bytes; an ETA); a per-mailbox result table in
//! `DIR/results-SHARD.csv` and `.json` (exit class, copied/present/skipped/failed, bytes,
//! duration, reason); and the last line `mailboxes: N done: D failed: F`. The exit status is
//! 0 when every mailbox completed, 1 when any did not, 64 for bad usage or a bad CSV.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;

use super::migrate::{self, Exit, MailboxOutcome};
use crate::imap::{Endpoint, ImapError, SecretSource};

mod pg;

/// Arguments of `imapmig batch`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<BatchCommand>,
    /// The mailbox pairs: `source,target,source_secret,target_secret[,rules,target_profile]`.
    #[arg(long, required = true)]
    csv: Option<PathBuf>,
    /// Directory for every mailbox's state, skip log and the result tables; or
    /// `postgres://USER@HOST[:PORT]/DATABASE`: a queue with leases shared by every worker, the
    /// folder states and the fingerprint key in PostgreSQL (password from `PGPASSWORD`).
    #[arg(long, required = true, value_name = "DIR|postgres://...")]
    state: Option<String>,
    /// Mailboxes migrated at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// This run's part of the rows, `INDEX/COUNT` (INDEX from 0).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// `source,bytes` per mailbox: shards balanced by size, largest first.
    #[arg(long, value_name = "FILE")]
    sizes: Option<PathBuf>,
    /// PostgreSQL state: the local directory for each mailbox's skip log and not-copied list
    /// (`DIR/<user@host-hash>/skipped.csv`) and this worker's result tables.
    #[arg(long, value_name = "DIR", default_value = "imapmig-skips")]
    skip_dir: PathBuf,
    /// PostgreSQL state: queue the failed mailboxes again before taking any.
    #[arg(long)]
    retry_failed: bool,
    /// PostgreSQL state: this worker's name in the queue (default `HOST:PID`); each job slot
    /// adds `/SLOT`.
    #[arg(long, value_name = "NAME")]
    worker: Option<String>,
    /// PostgreSQL state: a mailbox's lease in seconds, renewed every third of it while it
    /// runs; a dead worker's mailbox is taken over once it runs out.
    #[arg(long, hide = true, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    lease_secs: u64,
    /// PostgreSQL state: the pass this run belongs to. A later round (a delta pass, e.g. after
    /// the MX switch) queues the mailboxes every earlier round finished again; they resume
    /// from their folder states, so only new mail is copied. A round behind the database's is
    /// refused.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))]
    round: u32,
    /// Options passed to every mailbox's migration (after `--`), e.g. `--parallel 2`.
    #[arg(last = true, value_name = "MIGRATE-OPTIONS")]
    migrate: Vec<String>,
}

/// `imapmig batch` subcommands.
#[derive(Debug, clap::Subcommand)]
enum BatchCommand {
    /// The fleet's progress from PostgreSQL state: waiting, running (worker and lease age),
    /// done and failed mailboxes, messages and bytes copied, an ETA.
    Status(StatusArgs),
}

/// Arguments of `imapmig batch status`.
#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The batch's state, `postgres://USER@HOST[:PORT]/DATABASE`.
    #[arg(long, value_name = "postgres://...")]
    state: String,
}

/// One valid row of the CSV.
#[derive(Debug, Clone)]
struct Row {
    /// Its line in the file (the header is line 1).
    line: u64,
    source: Endpoint,
    target: Endpoint,
    source_secret: SecretSource,
    target_secret: SecretSource,
    rules: Option<PathBuf>,
    /// `migrate --target-profile` for this mailbox (checked), when the row names one.
    target_profile: Option<String>,
}

/// A bad CSV row, named by position.
#[derive(Debug, thiserror::Error)]
#[error("{file}: line {line}, column {column} ({name}): {reason}")]
struct RowError {
    file: String,
    line: u64,
    column: usize,
    name: &'static str,
    reason: String,
}

const COLUMNS: [&str; 6] = [
    "source",
    "target",
    "source_secret",
    "target_secret",
    "rules",
    "target_profile",
];

/// Reads and checks every row before anything starts.
fn read_rows(path: &Path) -> Result<Vec<Row>, Vec<RowError>> {
    let file = path.display().to_string();
    let err = |line: u64, column: usize, reason: String| RowError {
        file: file.clone(),
        line,
        column: column + 1,
        name: COLUMNS.get(column).copied().unwrap_or("extra"),
        reason,
    };
    let mut reader = match csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
    {
        Ok(r) => r,
        Err(e) => return Err(vec![err(0, 0, format!("cannot read: {e}"))]),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut header_len = 0;
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(i as u64 + 1, csv::Position::line);
                errors.push(err(line, 0, e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(i as u64 + 1, csv::Position::line);
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        if i == 0 {
            let want = &COLUMNS[..fields.len().clamp(4, 6)];
            if fields.len() != 4 && fields.len() != 6 || fields != want {
                errors.push(err(
                    line,
                    0,
                    format!(
                        "the header must be `source,target,source_secret,target_secret` \
                         (optionally `,rules,target_profile`), not `{}`",
                        fields.join(",")
                    ),
                ));
                return Err(errors);
            }
            header_len = fields.len();
            continue;
        }
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if fields.len() != header_len {
            errors.push(err(
                line,
                fields.len().min(header_len),
                format!("{} fields where the header has {header_len}", fields.len()),
            ));
            continue;
        }
        let endpoint = |col: usize| -> Result<Endpoint, RowError> {
            fields[col]
                .parse::<Endpoint>()
                .map_err(|e: ImapError| err(line, col, e.to_string()))
        };
        let secret = |col: usize| -> Result<SecretSource, RowError> {
            SecretSource::from_spec(fields[col]).ok_or_else(|| {
                err(
                    line,
                    col,
                    "a secret is `env:VAR` or `file:PATH`, never the secret itself".to_owned(),
                )
            })
        };
        let rules = match fields.get(4).filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(r) => {
                let p = base.join(r);
                if p.is_file() {
                    Ok(Some(p))
                } else {
                    Err(err(line, 4, format!("no rules file {}", p.display())))
                }
            }
        };
        let profile = match fields.get(5).copied().unwrap_or("") {
            "" => Ok(None),
            name => name
                .parse::<imapmig_folders::TargetProfile>()
                .map(|_| Some(name.to_owned()))
                .map_err(|e| err(line, 5, e)),
        };
        match (
            endpoint(0),
            endpoint(1),
            secret(2),
            secret(3),
            rules,
            profile,
        ) {
            (
                Ok(source),
                Ok(target),
                Ok(source_secret),
                Ok(target_secret),
                Ok(rules),
                Ok(target_profile),
            ) => {
                rows.push(Row {
                    line,
                    source,
                    target,
                    source_secret,
                    target_secret,
                    rules,
                    target_profile,
                });
            }
            (a, b, c, d, e, f) => {
                errors.extend(a.err());
                errors.extend(b.err());
                errors.extend(c.err());
                errors.extend(d.err());
                errors.extend(e.err());
                errors.extend(f.err());
            }
        }
    }
    if rows.is_empty() && errors.is_empty() && header_len == 0 {
        errors.push(err(1, 0, "the file is empty".to_owned()));
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// `INDEX/COUNT` from `--shard` or the job engine's environment; `(0, 1)` when neither.
fn shard(arg: Option<&str>) -> Result<(u64, u64), String> {
    let parse = |s: &str, what: &str| -> Result<u64, String> {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} {s:?} is not a number"))
    };
    let (index, count) = match arg {
        Some(s) => {
            let (i, n) = s
                .split_once('/')
                .ok_or_else(|| format!("--shard {s:?}: expected INDEX/COUNT"))?;
            (parse(i, "--shard index")?, parse(n, "--shard count")?)
        }
        None => {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let index = match (env("JOB_COMPLETION_INDEX"), env("SLURM_ARRAY_TASK_ID")) {
                (Some(i), _) => parse(&i, "JOB_COMPLETION_INDEX")?,
                (None, Some(i)) => {
                    let min = env("SLURM_ARRAY_TASK_MIN")
                        .map_or(Ok(0), |m| parse(&m, "SLURM_ARRAY_TASK_MIN"))?;
                    parse(&i, "SLURM_ARRAY_TASK_ID")?.saturating_sub(min)
                }
                (None, None) => return Ok((0, 1)),
            };
            let count = match (env("IMAPMIG_SHARD_COUNT"), env("SLURM_ARRAY_TASK_COUNT")) {
                (Some(n), _) => parse(&n, "IMAPMIG_SHARD_COUNT")?,
                (None, Some(n)) => parse(&n, "SLURM_ARRAY_TASK_COUNT")?,
                (None, None) => {
                    return Err(
                        "a job index is set but no shard count: set IMAPMIG_SHARD_COUNT or pass --shard I/N"
                            .to_owned(),
                    );
                }
            };
            (index, count)
        }
    };
    if count == 0 || index >= count {
        return Err(format!("shard {index}/{count}: INDEX must be below COUNT"));
    }
    Ok((index, count))
}

/// The rows of shard `index` of `count`: round-robin in CSV order, or, with sizes, the
/// largest mailbox first to the shard with the least so far (deterministic: ties go to the
/// lower shard, equal sizes keep CSV order).
fn assign(rows: Vec<Row>, sizes: Option<&[(String, u64)]>, index: u64, count: u64) -> Vec<Row> {
    match sizes {
        None => rows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % count == index)
            .map(|(_, r)| r)
            .collect(),
        Some(sizes) => {
            let size_of = |r: &Row| {
                let key = r.source.to_string();
                sizes.iter().find(|(s, _)| *s == key).map_or(0, |(_, b)| *b)
            };
            let mut order: Vec<(u64, usize, Row)> = rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| (size_of(&r), i, r))
                .collect();
            order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut loads = vec![0u64; count as usize];
            let mut mine = Vec::new();
            for (size, _, row) in order {
                let target = loads
                    .iter()
                    .enumerate()
                    .min_by_key(|(i, l)| (**l, *i))
                    .map_or(0, |(i, _)| i);
                if let Some(l) = loads.get_mut(target) {
                    *l += size.max(1);
                }
                if target as u64 == index {
                    mine.push(row);
                }
            }
            mine
        }
    }
}

/// `source,bytes` rows.
fn read_sizes(path: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .with_context(|| format!("--sizes {}", path.display()))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("--sizes {}", path.display()))?;
        let source = record.get(0).unwrap_or_default().trim().to_owned();
        let bytes = record
            .get(1)
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .with_context(|| format!("--sizes {}: bytes of {source}", path.display()))?;
        out.push((source, bytes));
    }
    Ok(out)
}

/// A directory name for a mailbox pair: readable, and unique by a hash of both URLs.
/// The `migrate` words of a row, with its state directory `dir`, then the batch's own
/// `migrate` options.
fn migrate_words(dir: &Path, row: &Row, migrate: &[String]) -> Vec<String> {
    let mut words = vec![
        "--source".to_owned(),
        row.source.to_string(),
        "--target".to_owned(),
        row.target.to_string(),
        "--state".to_owned(),
        dir.display().to_string(),
    ];
    if let Some(r) = &row.rules {
        words.push("--rules".to_owned());
        words.push(r.display().to_string());
    }
    if let Some(p) = &row.target_profile {
        words.push("--target-profile".to_owned());
        words.push(p.clone());
    }
    words.extend(migrate.iter().cloned());
    words
}

fn mailbox_dir(row: &Row) -> String {
    let id = format!("{} -> {}", row.source, row.target);
    let hash = short_hash(id.as_bytes());
    let readable: String = format!("{}@{}", row.source.user, row.source.host)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("{readable}-{hash}")
}

fn short_hash(bytes: &[u8]) -> String {
    // FNV-1a 64: short and stable across runs and machines.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// One mailbox's line in the result tables.
#[derive(Debug, Clone, serde::Serialize)]
struct ResultRow {
    line: u64,
    source: String,
    target: String,
    exit: u8,
    class: &'static str,
    copied: u64,
    present: u64,
    skipped: u64,
    failed: u64,
    bytes: u64,
    duration_s: f64,
    reason: String,
}

fn class_of(exit: Exit) -> &'static str {
    match exit {
        Exit::Complete => "complete",
        Exit::Incomplete => "incomplete",
        Exit::TooManyBad => "too-many-bad",
        Exit::Quota => "quota",
        Exit::Login => "login",
        Exit::Unreachable => "unreachable",
        Exit::Tls => "tls",
        Exit::State => "state",
        Exit::FolderMap => "folder-map",
        Exit::Refused => "refused",
        Exit::Usage => "usage",
    }
}

/// Whether `--state` names a PostgreSQL database rather than a directory.
fn is_postgres(state: &str) -> bool {
    let lower = state.to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(BatchCommand::Status(status)) = &args.command {
        return pg::status(&status.state);
    }
    let (Some(csv), Some(state)) = (args.csv.clone(), args.state.clone()) else {
        eprintln!("error: `imapmig batch` needs --csv FILE and --state DIR|postgres://...");
        return Ok(ExitCode::from(Exit::Usage.code()));
    };
    let rows = match read_rows(&csv) {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::from(Exit::Usage.code()));
        }
    };
    if is_postgres(&state) {
        return pg::run(&args, &csv, &state, rows);
    }
    if args.round != 1 {
        eprintln!(
            "batch: with a state directory a run again is the delta pass already; --round is \
             for PostgreSQL state and is not used"
        );
    }
    let state = PathBuf::from(state);
    let (index, count) = match shard(args.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(Exit::Usage.code()));
        }
    };
    let sizes = args.sizes.as_deref().map(read_sizes).transpose()?;
    let total_rows = rows.len();
    let mine = assign(rows, sizes.as_deref(), index, count);
    std::fs::create_dir_all(state.join("mailboxes"))
        .with_context(|| format!("state directory {}", state.display()))?;

    // Every row's migrate options, checked before anything starts.
    let mut jobs = Vec::with_capacity(mine.len());
    for row in &mine {
        let dir = state.join("mailboxes").join(mailbox_dir(row));
        let words = migrate_words(&dir, row, &args.migrate);
        let options = migrate::options_for_batch(
            &words,
            (row.source_secret.clone(), row.target_secret.clone()),
        )
        .map_err(|e| anyhow::anyhow!("options after `--`: {e}"))?;
        jobs.push((row.clone(), options));
    }

    eprintln!(
        "batch: shard {index}/{count}: {} of {total_rows} mailboxes, {} at once",
        jobs.len(),
        args.jobs
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let board = Arc::new(Board {
        total: jobs.len() as u64,
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        running: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    let results: Vec<ResultRow> = runtime.block_on(async {
        futures::stream::iter(jobs.into_iter().map(|(row, options)| {
            let board = board.clone();
            async move {
                board.running.fetch_add(1, Ordering::SeqCst);
                let t = Instant::now();
                let outcome: MailboxOutcome = migrate::run_mailbox(options).await;
                let took = t.elapsed();
                board.running.fetch_sub(1, Ordering::SeqCst);
                let result = ResultRow {
                    line: row.line,
                    source: row.source.to_string(),
                    target: row.target.to_string(),
                    exit: outcome.exit.code(),
                    class: class_of(outcome.exit),
                    copied: outcome.totals.0,
                    present: outcome.totals.1,
                    skipped: outcome.totals.2,
                    failed: outcome.totals.3,
                    bytes: outcome.bytes,
                    duration_s: (took.as_secs_f64() * 1000.0).round() / 1000.0,
                    reason: outcome.reason.unwrap_or_default(),
                };
                board.finished(&result, started.elapsed());
                result
            }
        }))
        .buffer_unordered(usize::from(args.jobs))
        .collect()
        .await
    });
    let mut results = results;
    results.sort_by_key(|r| r.line);
    let tables = write_tables(&state, &format!("results-{index}-of-{count}"), &results);
    let failed = results.iter().filter(|r| r.exit != 0).count();
    if let Err(e) = tables {
        eprintln!("error: result tables: {e:#}");
    }
    println!(
        "mailboxes: {} done: {} failed: {failed}",
        results.len(),
        results.len() - failed
    );
    Ok(ExitCode::from(if failed == 0 {
        Exit::Complete.code()
    } else {
        Exit::Incomplete.code()
    }))
}

/// The batch's counters, for the progress line.
#[derive(Debug)]
struct Board {
    total: u64,
    done: AtomicU64,
    failed: AtomicU64,
    running: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Board {
    fn finished(&self, r: &ResultRow, elapsed: Duration) {
        let (done, failed) = if r.exit == 0 {
            (
                self.done.fetch_add(1, Ordering::SeqCst) + 1,
                self.failed.load(Ordering::SeqCst),
            )
        } else {
            (
                self.done.load(Ordering::SeqCst),
                self.failed.fetch_add(1, Ordering::SeqCst) + 1,
            )
        };
        let messages = self.messages.fetch_add(r.copied, Ordering::SeqCst) + r.copied;
        let bytes = self.bytes.fetch_add(r.bytes, Ordering::SeqCst) + r.bytes;
        let running = self.running.load(Ordering::SeqCst);
        let ended = done + failed;
        let waiting = self.total.saturating_sub(ended + running);
        // Mailboxes end at the pace seen so far.
        let eta = (ended > 0).then(|| {
            let per = elapsed.as_secs_f64() / ended as f64;
            Duration::from_secs_f64(per * (self.total - ended) as f64)
        });
        eprintln!(
            "batch: done {done} running {running} failed {failed} waiting {waiting} of {}; \
             {messages} messages, {bytes} bytes copied; ETA {} — line {} {} exit {} ({})",
            self.total,
            eta.map_or_else(|| "unknown".to_owned(), crate::imap::pace::human),
            r.line,
            r.source,
            r.exit,
            r.class
        );
    }
}

/// `NAME.csv` and `NAME.json` (`results-I-of-N` in the state directory).
fn write_tables(dir: &Path, name: &str, rows: &[ResultRow]) -> anyhow::Result<()> {
    let stem = dir.join(name);
    let mut w = csv::Writer::from_path(stem.with_extension("csv"))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    let json = serde_json::to_string_pretty(rows)?;
    std::fs::write(stem.with_extension("json"), json + "\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                line: i as u64 + 2,
                source: format!("imap://u{i}@h:143").parse().unwrap(),
                target: format!("imap://u{i}@t:143").parse().unwrap(),
                source_secret: SecretSource::from_spec("env:A").unwrap(),
                target_secret: SecretSource::from_spec("env:B").unwrap(),
                rules: None,
                target_profile: None,
            })
            .collect()
    }

    #[test]
    fn shards_partition_the_rows() {
        for count in 1..5u64 {
            let mut seen: Vec<u64> = (0..count)
                .flat_map(|i| assign(rows(13), None, i, count))
                .map(|r| r.line)
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (2..15).collect::<Vec<_>>());
        }
    }

    #[test]
    fn sizes_balance_whales_first() {
        let sizes: Vec<(String, u64)> = (0..6)
            .map(|i| (format!("imap://u{i}@h:143"), [100, 10, 10, 10, 60, 40][i]))
            .collect();
        let a: Vec<u64> = assign(rows(6), Some(&sizes), 0, 2)
            .iter()
            .map(|r| r.line)
            .collect();
        let b: Vec<u64> = assign(rows(6), Some(&sizes), 1, 2)
            .iter()
            .map(|r| r.line)
            .collect();
        // Largest first to the lighter shard: 100 | 60, 40 | 10 (tie: shard 0) | 10 | 10.
        // Loads end at 120 and 110.
        assert_eq!(a, vec![2, 3, 5]);
        assert_eq!(b, vec![6, 7, 4]);
    }

    #[test]
    fn status_is_a_subcommand_beside_the_batch_form() {
        use clap::{Args as _, FromArgMatches};
        let parse = |words: &[&str]| {
            Args::augment_args(clap::Command::new("batch"))
                .try_get_matches_from(words)
                .and_then(|m| Args::from_arg_matches(&m))
        };
        let run = parse(&[
            "batch",
            "--csv",
            "m.csv",
            "--state",
            "postgres://u@h/db",
            "--jobs",
            "3",
            "--",
            "--parallel",
            "2",
        ])
        .unwrap();
        assert!(run.command.is_none());
        assert_eq!(run.state.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(run.migrate, ["--parallel", "2"]);
        assert_eq!(
            (run.lease_secs, run.retry_failed, run.round),
            (60, false, 1)
        );
        let round = |n: &str| parse(&["batch", "--csv", "m.csv", "--state", "x", "--round", n]);
        assert_eq!(round("3").unwrap().round, 3);
        assert!(round("0").is_err() && round("-1").is_err() && round("2147483648").is_err());
        let status = parse(&["batch", "status", "--state", "postgres://u@h/db"]).unwrap();
        assert!(matches!(
            status.command,
            Some(BatchCommand::Status(StatusArgs { ref state })) if state == "postgres://u@h/db"
        ));
        assert!(
            parse(&["batch", "--jobs", "2"]).is_err(),
            "--csv and --state are required"
        );
        assert!(parse(&["batch", "--csv", "m.csv", "status", "--state", "x"]).is_err());
        assert!(parse(&["batch", "status"]).is_err());
    }

    #[test]
    fn postgres_urls_are_told_from_directories() {
        assert!(is_postgres("postgres://u@h/db"));
        assert!(is_postgres("PostgreSQL://h/db"));
        assert!(!is_postgres("/srv/imapmig"));
        assert!(!is_postgres("postgres"));
    }

    #[test]
    fn a_row_names_its_target_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(
            &path,
            "source,target,source_secret,target_secret,rules,target_profile\n\
             imap://a@h:143,imap://a@t:143,env:A,env:B,,exchange\n\
             imap://b@h:143,imap://b@t:143,env:A,env:B,,\n\
             imap://c@h:143,imap://c@t:143,env:A,env:B,,lotus\n",
        )
        .unwrap();
        let errors = read_rows(&path).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].name), (4, "target_profile"));
        std::fs::write(
            &path,
            "source,target,source_secret,target_secret,rules,target_profile\n\
             imap://a@h:143,imap://a@t:143,env:A,env:B,,exchange\n\
             imap://b@h:143,imap://b@t:143,env:A,env:B,,\n",
        )
        .unwrap();
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows[0].target_profile.as_deref(), Some("exchange"));
        assert_eq!(rows[1].target_profile, None);
    }

    #[test]
    fn shard_arguments() {
        assert_eq!(shard(Some("1/3")), Ok((1, 3)));
        assert!(shard(Some("3/3")).is_err());
        assert!(shard(Some("1")).is_err());
        assert!(shard(Some("a/3")).is_err());
    }
}
