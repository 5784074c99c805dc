//! `imapmig batch --state postgres://...`: every worker (a process, on any machine) enqueues
//! the CSV's mailboxes in PostgreSQL (idempotent; largest first with `--sizes`), and each of its
//! `--jobs` slots loops: claim the next free mailbox under a lease, keep the lease renewed while
//! it migrates, save the folder states in PostgreSQL through a store fenced by the lease (a
//! worker whose lease was taken over can no longer write), and finish the mailbox with its
//! result. A worker exits once no mailbox is waiting or running; while others still run
//! mailboxes it waits, so that it can take over any whose worker dies.
//!
//! The fingerprint key every worker must share is kept in PostgreSQL (`imapmig_shared`,
//! created by the first worker, race-free). Each mailbox's skip log and not-copied list are
//! local files under `--skip-dir` (default `imapmig-skips/`), in `<user@host-hash>/`, on the
//! machine of the worker that met the message; the skipped messages are in the folder states
//! in PostgreSQL too, and their count in the mailbox's result.
//!
//! Rounds: once a pass finished, every mailbox is `done`. The cutover's delta pass (after the
//! MX switch, or with `-- --since DATE`) runs on the same database with `--round 2` (then 3,
//! ...): every worker enqueues the CSV for that round, which queues each mailbox of an earlier
//! round again (its previous result kept in `imapmig_round_results`), and the migrations
//! resume from the folder states in PostgreSQL, so only new mail is copied. A mailbox still
//! running under an older round's lease is left to its worker and queued again when it
//! finishes; a worker of an older round still running claims no mailbox of a later one. A
//! round behind the database's exits 64.
//!
//! `imapmig batch status --state postgres://...` prints the fleet's progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use imapmig_pg::{Claim, Database, FleetSummary, MailboxResult, MailboxRow, Outcome, Status};

use super::{Args, ResultRow, Row, class_of, is_postgres, mailbox_dir, read_sizes, write_tables};
use crate::cmd::migrate::{self, Exit, SharedState};
use crate::imap::SecretSource;
use crate::imap::pace::human;

/// The name of the fingerprint key in `imapmig_shared`.
const FINGERPRINT_KEY: &str = "fingerprint_key";

/// How often an idle slot looks again for a mailbox to take over, at most.
const MAX_IDLE_POLL: Duration = Duration::from_secs(5);

/// Consecutive database failures a slot rides out (with a pause each) before it stops.
const DB_RETRIES: u32 = 5;

/// What a slot needs to migrate any mailbox of the CSV.
struct Worker {
    url: String,
    name: String,
    ttl: Duration,
    /// The round this worker runs (`--round`): it claims no mailbox of a later one.
    round: u32,
    skip_dir: PathBuf,
    csv: PathBuf,
    /// Each pair's row and `migrate` words, by (source URL, target URL) as the queue holds them.
    pairs: HashMap<(String, String), (Row, Vec<String>)>,
    fingerprint_key: [u8; 32],
    /// Database failures that stopped a slot or lost a result.
    db_errors: AtomicU64,
}

/// The queue's key of a row: its URLs as `imap[s]://USER@HOST:PORT` (no password).
fn pair_of(row: &Row) -> (String, String) {
    (row.source.to_string(), row.target.to_string())
}

/// This machine's name and the process id.
fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}:{}", std::process::id())
}

/// A database failure: said on stderr, exit status 7 (state unusable).
fn state_failure(what: &str, e: &imapmig_pg::Error) -> ExitCode {
    eprintln!("error: {what}: {e}");
    ExitCode::from(Exit::State.code())
}

/// Runs a blocking database call off the async threads.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, imapmig_pg::Error> + Send + 'static,
) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(op)
        .await
        .context("a database call ended abnormally")??)
}

/// `imapmig batch --csv FILE --state postgres://...`: this worker's part of the batch.
pub(super) fn run(args: &Args, csv: &Path, url: &str, rows: Vec<Row>) -> anyhow::Result<ExitCode> {
    let env_index = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    if args.shard.is_some() || env_index {
        eprintln!(
            "batch: with PostgreSQL state every worker takes mailboxes from the shared queue; \
             the shard (--shard or the job index) is not needed and is not used"
        );
    }
    if args.migrate.iter().any(|w| w == "--dry-run") {
        // A dry run changes nothing, yet its mailboxes would be finished as done.
        eprintln!(
            "error: --dry-run with PostgreSQL state would mark the mailboxes done; \
             dry-run the batch with a state directory"
        );
        return Ok(ExitCode::from(Exit::Usage.code()));
    }
    let sizes = args.sizes.as_deref().map(read_sizes).transpose()?;
    let worker_name = args.worker.clone().unwrap_or_else(default_worker_name);

    // Every row's migrate options, checked before anything starts.
    let mut pairs = HashMap::new();
    let mut queue = Vec::with_capacity(rows.len());
    for row in rows {
        let words = migrate_words(args, &row);
        migrate::options_for_batch(
            &words,
            (row.source_secret.clone(), row.target_secret.clone()),
        )
        .map_err(|e| anyhow::anyhow!("options after `--`: {e}"))?;
        let pair = pair_of(&row);
        let size = sizes.as_deref().map_or(0, |sizes| {
            sizes
                .iter()
                .find(|(s, _)| *s == pair.0)
                .map_or(0, |(_, b)| *b)
        });
        queue.push(MailboxRow::new(pair.0.clone(), pair.1.clone()).with_size(size, 0));
        pairs.insert(pair, (row, words));
    }

    let db = match Database::connect(url) {
        Ok(db) => db,
        Err(e) => return Ok(state_failure("batch state", &e)),
    };
    let setup = || -> Result<_, imapmig_pg::Error> {
        db.migrate()?;
        let enqueued = db.enqueue_round(&queue, args.round)?;
        let requeued = if args.retry_failed {
            db.requeue_failed()?
        } else {
            0
        };
        Ok((enqueued, requeued))
    };
    let (enqueued, requeued) = match setup() {
        Ok(done) => done,
        Err(e @ imapmig_pg::Error::RoundBehind { .. }) => {
            eprintln!("error: --round {}: {e}", args.round);
            return Ok(ExitCode::from(Exit::Usage.code()));
        }
        Err(e) => return Ok(state_failure("batch state", &e)),
    };
    let candidate =
        imapmig_dedupe::FingerprintKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = match db.shared_value(FINGERPRINT_KEY, candidate.as_bytes()) {
        Ok(key) => key,
        Err(e) => return Ok(state_failure("batch state: the fingerprint key", &e)),
    };
    let fingerprint_key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the fingerprint key in {} is not 32 bytes", db.url()))?;
    std::fs::create_dir_all(&args.skip_dir)
        .with_context(|| format!("--skip-dir {}", args.skip_dir.display()))?;
    eprintln!(
        "batch: state {}: round {}: {} mailboxes in this CSV ({} new to the queue, {} queued again for this round{}), {} at once as worker {worker_name}",
        db.url(),
        args.round,
        queue.len(),
        enqueued.added,
        enqueued.raised,
        if requeued > 0 {
            format!(", {requeued} failed ones queued again")
        } else {
            String::new()
        },
        args.jobs
    );
    let worker = Arc::new(Worker {
        url: url.to_owned(),
        name: worker_name,
        ttl: Duration::from_secs(args.lease_secs),
        round: args.round,
        skip_dir: args.skip_dir.clone(),
        csv: csv.to_owned(),
        pairs,
        fingerprint_key,
        db_errors: AtomicU64::new(0),
    });
    drop(db);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let slots = (0..args.jobs).map(|slot| slot_loop(worker.clone(), slot));
    let mut results: Vec<ResultRow> = runtime
        .block_on(futures::future::join_all(slots))
        .into_iter()
        .flatten()
        .collect();
    results.sort_by_key(|r| r.line);
    let table: String = worker
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Err(e) = write_tables(&worker.skip_dir, &format!("results-{table}"), &results) {
        eprintln!("error: result tables: {e:#}");
    }
    let failed = results.iter().filter(|r| r.exit != 0).count();
    println!(
        "mailboxes: {} done: {} failed: {failed}",
        results.len(),
        results.len() - failed
    );
    Ok(ExitCode::from(
        if worker.db_errors.load(Ordering::SeqCst) > 0 {
            Exit::State.code()
        } else if failed == 0 {
            Exit::Complete.code()
        } else {
            Exit::Incomplete.code()
        },
    ))
}

/// The `migrate` words of a row; its state directory (skip log, not-copied list) under
/// `--skip-dir`.
fn migrate_words(args: &Args, row: &Row) -> Vec<String> {
    super::migrate_words(&args.skip_dir.join(mailbox_dir(row)), row, &args.migrate)
}

/// One job slot: claims mailboxes until none is waiting or running anywhere.
async fn slot_loop(worker: Arc<Worker>, slot: u16) -> Vec<ResultRow> {
    let name = format!("{}/{slot}", worker.name);
    let url = worker.url.clone();
    let db = match blocking(move || Database::connect(&url)).await {
        Ok(db) => Arc::new(db),
        Err(e) => {
            eprintln!("error: batch: slot {name}: {e:#}");
            worker.db_errors.fetch_add(1, Ordering::SeqCst);
            return Vec::new();
        }
    };
    let idle_poll = (worker.ttl / 3).clamp(Duration::from_millis(100), MAX_IDLE_POLL);
    let mut results = Vec::new();
    let mut failures = 0;
    loop {
        let (d, n, ttl, round) = (db.clone(), name.clone(), worker.ttl, worker.round);
        let next = blocking(move || {
            Ok(match d.claim_next_in_round(&n, ttl, round)? {
                Some(claim) => Ok(claim),
                None => Err(d.fleet_summary()?),
            })
        })
        .await;
        match next {
            Ok(Ok(claim)) => {
                failures = 0;
                results.push(migrate_one(&worker, &db, claim, &name).await);
            }
            // Nothing free: the end once nothing runs anywhere; else wait, to take over a
            // mailbox whose worker dies.
            Ok(Err(fleet)) if fleet.running + fleet.stalled == 0 => break,
            Ok(Err(_)) => tokio::time::sleep(idle_poll).await,
            Err(e) => {
                failures += 1;
                eprintln!("error: batch: slot {name}: {e:#}");
                if failures > DB_RETRIES {
                    worker.db_errors.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                tokio::time::sleep(idle_poll).await;
            }
        }
    }
    results
}

/// Migrates one claimed mailbox and records its result.
async fn migrate_one(worker: &Worker, db: &Arc<Database>, claim: Claim, name: &str) -> ResultRow {
    let pair = (claim.mailbox.source.clone(), claim.mailbox.target.clone());
    let mut row = ResultRow {
        line: 0,
        source: pair.0.clone(),
        target: pair.1.clone(),
        exit: Exit::Complete.code(),
        class: class_of(Exit::Complete),
        copied: 0,
        present: 0,
        skipped: 0,
        failed: 0,
        bytes: 0,
        duration_s: 0.0,
        reason: String::new(),
    };
    let Some((csv_row, words)) = worker.pairs.get(&pair) else {
        // Enqueued by a worker with another CSV: this one has no secrets for it.
        row.exit = Exit::Usage.code();
        row.class = class_of(Exit::Usage);
        row.reason = format!(
            "not in this worker's CSV {}: run a worker with the CSV that has it, with --retry-failed",
            worker.csv.display()
        );
        finish(worker, db, claim, &mut row, Duration::ZERO).await;
        return row;
    };
    row.line = csv_row.line;
    if let Some(previous) = &claim.taken_over_from {
        eprintln!(
            "batch: {name} takes {} over from {previous}, whose lease ran out; it resumes from the saved state",
            pair.0
        );
    }
    let secrets: (SecretSource, SecretSource) =
        (csv_row.source_secret.clone(), csv_row.target_secret.clone());
    let mut options = match migrate::options_for_batch(words, secrets) {
        Ok(options) => options,
        Err(e) => {
            row.exit = Exit::Usage.code();
            row.class = class_of(Exit::Usage);
            row.reason = format!("options: {e}");
            finish(worker, db, claim, &mut row, Duration::ZERO).await;
            return row;
        }
    };
    let keeper = match db.keep_renewed(&claim) {
        Ok(keeper) => keeper,
        Err(e) => {
            // Without renewals the lease would run out mid-copy: give the mailbox back.
            eprintln!("error: batch: {name}: {}: {e}", pair.0);
            let d = db.clone();
            let c = claim.clone();
            if let Err(e) = blocking(move || d.release(&c)).await {
                eprintln!("error: batch: {name}: releasing {}: {e:#}", pair.0);
            }
            row.exit = Exit::State.code();
            row.class = class_of(Exit::State);
            row.reason = format!("lease not kept: {e}");
            return row;
        }
    };
    migrate::share_state(
        &mut options,
        SharedState {
            store: Arc::new(db.fenced_store(&claim)),
            fingerprint_key: worker.fingerprint_key,
        },
    );
    let started = Instant::now();
    let outcome = migrate::run_mailbox(options).await;
    let took = started.elapsed();
    let lost = keeper.is_lost();
    let kept = keeper.stop();
    row.exit = outcome.exit.code();
    row.class = class_of(outcome.exit);
    (row.copied, row.present, row.skipped, row.failed) = outcome.totals;
    row.bytes = outcome.bytes;
    row.reason = outcome.reason.unwrap_or_default();
    if lost || kept.as_ref().is_err_and(imapmig_pg::Error::is_lease_lost) {
        lease_lost(&mut row);
        return row;
    }
    finish(worker, db, claim, &mut row, took).await;
    row
}

/// The result of a worker that stalled past its lease: the mailbox is another worker's now.
fn lease_lost(row: &mut ResultRow) {
    row.exit = Exit::State.code();
    row.class = "lease-lost";
    row.reason = format!(
        "lease lost: another worker took the mailbox over and finishes it (this worker stalled \
         past its lease; its state saves were refused){}{}",
        if row.reason.is_empty() { "" } else { "; " },
        row.reason
    );
}

/// Records the mailbox's result in the queue and says how far the fleet is.
async fn finish(
    worker: &Worker,
    db: &Arc<Database>,
    claim: Claim,
    row: &mut ResultRow,
    took: Duration,
) {
    row.duration_s = (took.as_secs_f64() * 1000.0).round() / 1000.0;
    let result = MailboxResult {
        outcome: if row.exit == 0 {
            Outcome::Done
        } else {
            Outcome::Failed
        },
        exit_class: row.class.to_owned(),
        exit_code: row.exit,
        copied: row.copied,
        present: row.present,
        skipped: row.skipped,
        failed: row.failed,
        bytes: row.bytes,
        duration: took,
        reason: (!row.reason.is_empty()).then(|| row.reason.clone()),
    };
    let d = db.clone();
    let recorded = blocking(move || {
        d.finish(&claim, &result)?;
        d.fleet_summary()
    })
    .await;
    match recorded {
        Ok(fleet) => eprintln!(
            "batch: {} — {} {} exit {} ({})",
            progress(&fleet),
            worker.name,
            row.source,
            row.exit,
            row.class
        ),
        Err(e)
            if e.downcast_ref::<imapmig_pg::Error>()
                .is_some_and(imapmig_pg::Error::is_lease_lost) =>
        {
            lease_lost(row);
        }
        Err(e) => {
            // The lease runs out and another worker redoes the mailbox from its saved state:
            // nothing is copied twice.
            eprintln!("error: batch: recording {}'s result: {e:#}", row.source);
            worker.db_errors.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One line of fleet progress.
fn progress(f: &FleetSummary) -> String {
    format!(
        "done {} running {} failed {} waiting {} of {}; {} messages, {} bytes copied; ETA {}",
        f.done,
        f.running + f.stalled,
        f.failed,
        f.queued,
        f.mailboxes,
        f.messages_copied,
        f.bytes_copied,
        f.eta().map_or_else(|| "unknown".to_owned(), human)
    )
}

/// `imapmig batch status --state postgres://...`.
pub(super) fn status(url: &str) -> anyhow::Result<ExitCode> {
    if !is_postgres(url) {
        eprintln!(
            "error: `imapmig batch status` reads PostgreSQL state (--state postgres://...); \
             with file state read DIR/results-*.json"
        );
        return Ok(ExitCode::from(Exit::Usage.code()));
    }
    let db = match Database::connect(url) {
        Ok(db) => db,
        Err(e) => return Ok(state_failure("batch state", &e)),
    };
    let read = || -> Result<Option<(FleetSummary, Vec<imapmig_pg::Mailbox>)>, imapmig_pg::Error> {
        if db.schema_version()? == 0 {
            return Ok(None);
        }
        let fleet = db.fleet_summary()?;
        let failed = if fleet.failed > 0 {
            db.mailboxes()?
                .into_iter()
                .filter(|m| m.status == Status::Failed)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Some((fleet, failed)))
    };
    let (fleet, failed) = match read() {
        Ok(Some(read)) => read,
        Ok(None) => {
            eprintln!("batch status: no batch in {} yet", db.url());
            (FleetSummary::default(), Vec::new())
        }
        Err(e) => return Ok(state_failure("batch status", &e)),
    };
    for r in &fleet.running_mailboxes {
        match r.expires_in {
            Some(left) => println!(
                "running: {} round {} worker {} lease age {} (expires in {})",
                r.source,
                r.round,
                r.worker,
                human(r.lease_age),
                human(left)
            ),
            None => println!(
                "stalled: {} round {} worker {} lease age {} (expired: the next claim takes it over)",
                r.source,
                r.round,
                r.worker,
                human(r.lease_age)
            ),
        }
    }
    for m in &failed {
        let (class, code, reason) = m.result.as_ref().map_or(("-", 0, ""), |r| {
            (
                r.exit_class.as_str(),
                r.exit_code,
                r.reason.as_deref().unwrap_or(""),
            )
        });
        println!(
            "failed: {} round {} exit {code} ({class}) attempts {}: {reason}",
            m.source, m.round, m.attempts
        );
    }
    println!(
        "round: {}{}",
        fleet.round,
        if fleet.behind > 0 {
            format!(" ({} mailboxes still at an earlier round)", fleet.behind)
        } else {
            String::new()
        }
    );
    let rate =
        |per_second: Option<f64>| per_second.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
    println!(
        "copied: {} messages, {} bytes (of {} enqueued); elapsed {}; {} messages/s, {} bytes/s; ETA {}",
        fleet.messages_copied,
        fleet.bytes_copied,
        fleet.bytes_total,
        human(fleet.elapsed),
        rate(fleet.messages_per_second()),
        rate(fleet.bytes_per_second()),
        fleet.eta().map_or_else(|| "unknown".to_owned(), human)
    );
    println!(
        "mailboxes: {} waiting: {} running: {} stalled: {} done: {} failed: {}",
        fleet.mailboxes, fleet.queued, fleet.running, fleet.stalled, fleet.done, fleet.failed
    );
    Ok(ExitCode::SUCCESS)
}
