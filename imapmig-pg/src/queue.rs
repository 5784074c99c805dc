//! The mailbox queue: mailboxes enqueued once, claimed largest first under
//! a lease with a fencing token, renewed while a worker migrates them, and
//! finished with their result.
//!
//! # How leases stay exclusive
//! Every operation that hands out, extends or ends a lease locks the
//! mailbox row first (`FOR UPDATE`; [`Database::claim_next`] with `SKIP
//! LOCKED`, so workers never wait for each other), and a fenced
//! [`PgStore`](crate::PgStore) save locks it `FOR SHARE`. A claim re-reads
//! the lease under that lock before taking a `running` mailbox over, so a
//! renewal that committed meanwhile wins. Each claim draws a new token from
//! the sequence `imapmig_lease_token`; renewals, finishes and fenced saves
//! succeed only while their token is the mailbox's current one. Expiry is
//! judged by the database's clock alone (`now()`), never the workers'.
//!
//! # Rounds (delta passes)
//! Each mailbox carries the round it was last enqueued for (1 at first).
//! [`Database::enqueue_round`] with round `N` sets every one of its
//! mailboxes still at a lower round back to `queued` for round `N`:
//! attempts from 0, result columns cleared, the previous round's result
//! kept in `imapmig_round_results`. The folder states stay, so the new
//! round's migrations resume from them and copy only new mail. A mailbox
//! at round `N` already is left alone, so every worker of the round may
//! enqueue the same CSV at once: the upsert locks each row, and the raise
//! applies only while the row's round is lower. A mailbox at a higher
//! round refuses the whole enqueue ([`Error::RoundBehind`]).
//!
//! A mailbox `running` under a lease of an older round is not taken from
//! its worker: it keeps running (its round raised), and
//! [`Database::finish`] then records that worker's result as the older
//! round's and queues the mailbox again for the new round.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use postgres::{Client, Row};

use crate::database::Session;
use crate::{Database, Error};

/// The longest worker name.
const MAX_WORKER_LEN: usize = 200;
/// The longest source or target URL.
const MAX_URL_LEN: usize = 2048;
/// The longest lease.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many candidates one claim looks at before saying there is nothing
/// to claim (each was renewed or finished by its owner a moment ago).
const CLAIM_CANDIDATES: usize = 64;

/// The columns of a mailbox, in the order [`mailbox_from_row`] reads them.
pub(crate) const MAILBOX_COLUMNS: &str = "id, source_url, target_url, size_bytes, messages, \
    status, attempts, worker, exit_class, exit_code, copied, present, skipped, failed, bytes, \
    duration_ms, reason, round";

/// A mailbox's id in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxId(i64);

impl MailboxId {
    /// An id as the database numbers it.
    pub fn new(id: i64) -> MailboxId {
        MailboxId(id)
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A lease's fencing token: drawn from one sequence, so a later claim of a
/// mailbox always holds a larger token than every earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseToken(i64);

impl LeaseToken {
    /// A token as the database numbers it.
    pub fn new(token: i64) -> LeaseToken {
        LeaseToken(token)
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a mailbox is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// Claimed by a worker (whose lease may have expired: then any worker
    /// may take it over).
    Running,
    /// Finished with [`Outcome::Done`].
    Done,
    /// Finished with [`Outcome::Failed`]; [`Database::requeue_failed`]
    /// queues it again.
    Failed,
}

impl Status {
    /// The name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(s: &str) -> Result<Status, Error> {
        match s {
            "queued" => Ok(Status::Queued),
            "running" => Ok(Status::Running),
            "done" => Ok(Status::Done),
            "failed" => Ok(Status::Failed),
            other => Err(Error::UnexpectedValue {
                column: "status",
                value: other.chars().take(64).collect(),
            }),
        }
    }
}

/// A mailbox pair to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRow {
    /// The source, `imap[s]://USER@HOST:PORT` (no password: the queue is
    /// readable by every worker).
    pub source: String,
    /// The target, likewise.
    pub target: String,
    /// Its size in bytes, as far as known (0: unknown); the largest
    /// mailbox is claimed first.
    pub size_bytes: u64,
    /// Its number of messages, as far as known.
    pub messages: u64,
}

impl MailboxRow {
    /// A pair of unknown size.
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> MailboxRow {
        MailboxRow {
            source: source.into(),
            target: target.into(),
            size_bytes: 0,
            messages: 0,
        }
    }

    /// Sets the size (e.g. from `imapmig inventory`).
    #[must_use]
    pub fn with_size(mut self, size_bytes: u64, messages: u64) -> MailboxRow {
        self.size_bytes = size_bytes;
        self.messages = messages;
        self
    }

    fn check(&self) -> Result<(i64, i64), Error> {
        for (what, url) in [("source url", &self.source), ("target url", &self.target)] {
            check_url(what, url)?;
        }
        let size = i64::try_from(self.size_bytes)
            .map_err(|_| Error::invalid("size", &self.size_bytes.to_string(), "over i64::MAX"))?;
        let messages = i64::try_from(self.messages)
            .map_err(|_| Error::invalid("messages", &self.messages.to_string(), "over i64::MAX"))?;
        Ok((size, messages))
    }
}

/// A URL without a password, of sane length.
fn check_url(what: &'static str, url: &str) -> Result<(), Error> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(Error::invalid(what, url, "must be 1 to 2048 bytes"));
    }
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(':')
    {
        let shown = match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_owned(),
        };
        return Err(Error::invalid(
            what,
            &shown,
            "holds a password: the queue is readable by every worker, pass secrets separately",
        ));
    }
    Ok(())
}

/// How a finished mailbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Migrated completely: status `done`.
    Done,
    /// Not (completely) migrated: status `failed`.
    Failed,
}

/// What one migration of a mailbox achieved, stored with it by
/// [`Database::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxResult {
    /// Done or failed.
    pub outcome: Outcome,
    /// The class of the exit (`complete`, `quota`, `login`, ... as
    /// `imapmig migrate` names its exit statuses).
    pub exit_class: String,
    /// The exit status `imapmig migrate` would have had.
    pub exit_code: u8,
    /// Messages copied.
    pub copied: u64,
    /// Messages found already on the target.
    pub present: u64,
    /// Messages skipped (and logged with a reason).
    pub skipped: u64,
    /// Messages neither copied nor skipped.
    pub failed: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// How long the migration took.
    pub duration: Duration,
    /// Why it stopped, when it did not complete.
    pub reason: Option<String>,
}

/// A mailbox as the queue holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Its id.
    pub id: MailboxId,
    /// The source URL.
    pub source: String,
    /// The target URL.
    pub target: String,
    /// Its size in bytes as enqueued.
    pub size_bytes: u64,
    /// Its messages as enqueued.
    pub messages: u64,
    /// Where it is.
    pub status: Status,
    /// How many times it was claimed.
    pub attempts: u32,
    /// The worker that claimed it last.
    pub worker: Option<String>,
    /// The last result, once finished (kept when failed mailboxes are
    /// queued again; cleared when a new round enqueues the mailbox).
    pub result: Option<MailboxResult>,
    /// The round it was last enqueued for (1 at first; see
    /// [`Database::enqueue_round`]).
    pub round: u32,
}

/// What [`Database::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The id of each row, in the order given (a row enqueued before keeps
    /// its id).
    pub ids: Vec<MailboxId>,
    /// How many rows were new.
    pub added: u64,
    /// How many rows were at a lower round and were queued again for this
    /// one.
    pub raised: u64,
}

/// A mailbox claimed by a worker, under a lease until
/// [`Claim::expires_at`]. Keep it renewed ([`Database::renew`]) well
/// before it expires, save states through
/// [`Database::fenced_store`](crate::Database::fenced_store), and end it
/// with [`Database::finish`] or [`Database::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The mailbox, as it was when claimed (status `running`, attempts
    /// counting this claim).
    pub mailbox: Mailbox,
    /// The worker holding the lease.
    pub worker: String,
    /// The fencing token.
    pub token: LeaseToken,
    /// The lease's length; each renewal extends it by this much from the
    /// database's `now()`.
    pub ttl: Duration,
    /// When the lease runs out, by the database's clock.
    pub expires_at: SystemTime,
    /// The worker whose expired lease this claim took over (the mailbox
    /// resumes from the state it saved).
    pub taken_over_from: Option<String>,
}

impl Claim {
    /// The claimed mailbox's id.
    pub fn id(&self) -> MailboxId {
        self.mailbox.id
    }
}

fn check_worker(worker: &str) -> Result<(), Error> {
    if worker.is_empty() || worker.len() > MAX_WORKER_LEN || worker.chars().any(char::is_control) {
        return Err(Error::invalid(
            "worker",
            worker,
            "must be 1 to 200 bytes without control characters",
        ));
    }
    Ok(())
}

fn check_ttl(ttl: Duration) -> Result<(), Error> {
    if ttl < Duration::from_millis(1) || ttl > MAX_TTL {
        return Err(Error::invalid(
            "lease ttl",
            &format!("{ttl:?}"),
            "must be from 1 ms to 7 days",
        ));
    }
    Ok(())
}

fn to_u64(column: &'static str, value: i64) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::UnexpectedValue {
        column,
        value: value.to_string(),
    })
}

fn opt_u64(row: &Row, index: usize, column: &'static str) -> Result<u64, Error> {
    row.get::<_, Option<i64>>(index)
        .map_or(Ok(0), |v| to_u64(column, v))
}

fn i64_of(what: &'static str, value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::invalid(what, &value.to_string(), "over i64::MAX"))
}

/// Reads [`MAILBOX_COLUMNS`].
pub(crate) fn mailbox_from_row(row: &Row) -> Result<Mailbox, Error> {
    let status: Status = row.get::<_, &str>(5).parse()?;
    let attempts: i32 = row.get(6);
    let exit_class: Option<String> = row.get(8);
    let result = match exit_class {
        Some(exit_class) => {
            let exit_code: i16 = row.get::<_, Option<i16>>(9).unwrap_or_default();
            Some(MailboxResult {
                outcome: if status == Status::Done {
                    Outcome::Done
                } else {
                    Outcome::Failed
                },
                exit_class,
                exit_code: u8::try_from(exit_code).map_err(|_| Error::UnexpectedValue {
                    column: "exit_code",
                    value: exit_code.to_string(),
                })?,
                copied: opt_u64(row, 10, "copied")?,
                present: opt_u64(row, 11, "present")?,
                skipped: opt_u64(row, 12, "skipped")?,
                failed: opt_u64(row, 13, "failed")?,
                bytes: opt_u64(row, 14, "bytes")?,
                duration: Duration::from_millis(opt_u64(row, 15, "duration_ms")?),
                reason: row.get(16),
            })
        }
        None => None,
    };
    Ok(Mailbox {
        id: MailboxId(row.get(0)),
        source: row.get(1),
        target: row.get(2),
        size_bytes: to_u64("size_bytes", row.get(3))?,
        messages: to_u64("messages", row.get(4))?,
        status,
        attempts: u32::try_from(attempts).map_err(|_| Error::UnexpectedValue {
            column: "attempts",
            value: attempts.to_string(),
        })?,
        worker: row.get(7),
        result,
        round: round_of(row.get(17))?,
    })
}

/// A round as stored (`CHECK (round >= 1)`).
fn round_of(value: i32) -> Result<u32, Error> {
    u32::try_from(value)
        .ok()
        .filter(|r| *r >= 1)
        .ok_or_else(|| Error::UnexpectedValue {
            column: "round",
            value: value.to_string(),
        })
}

/// A round asked for: from 1 to `i32::MAX`.
fn check_round(round: u32) -> Result<i32, Error> {
    i32::try_from(round)
        .ok()
        .filter(|r| *r >= 1)
        .ok_or_else(|| Error::invalid("round", &round.to_string(), "must be from 1 to 2^31-1"))
}

/// Copies a mailbox's current result, if it has one, into
/// `imapmig_round_results` as the result of `round`.
const ARCHIVE_RESULT: &str = "INSERT INTO imapmig_round_results
        (mailbox_id, round, status, attempts, worker, exit_class, exit_code, copied, present,
         skipped, failed, bytes, duration_ms, reason)
    SELECT id, $2, status, attempts, worker, exit_class, exit_code, copied, present,
           skipped, failed, bytes, duration_ms, reason
    FROM imapmig_mailboxes WHERE id = $1 AND exit_class IS NOT NULL
    ON CONFLICT (mailbox_id, round) DO UPDATE SET
        status = EXCLUDED.status, attempts = EXCLUDED.attempts, worker = EXCLUDED.worker,
        exit_class = EXCLUDED.exit_class, exit_code = EXCLUDED.exit_code,
        copied = EXCLUDED.copied, present = EXCLUDED.present, skipped = EXCLUDED.skipped,
        failed = EXCLUDED.failed, bytes = EXCLUDED.bytes, duration_ms = EXCLUDED.duration_ms,
        reason = EXCLUDED.reason, archived_at = now()";

impl Database {
    /// Adds mailbox pairs to the queue for round 1, in one transaction:
    /// [`Database::enqueue_round`] with round 1.
    ///
    /// # Errors
    /// As [`Database::enqueue_round`].
    pub fn enqueue(&self, rows: &[MailboxRow]) -> Result<Enqueued, Error> {
        self.enqueue_round(rows, 1)
    }

    /// Adds mailbox pairs to the queue for `round`, in one transaction.
    /// Idempotent by (source, target): a pair enqueued before keeps its
    /// id; at this round already it also keeps its status and results, and
    /// its size is updated only while it is still queued. A pair at a
    /// lower round is queued again for this one (attempts from 0, result
    /// cleared after it is kept in `imapmig_round_results`; a mailbox
    /// still `running` under an older round's lease keeps running and is
    /// queued again when it finishes). Its folder states stay: the new
    /// round resumes from them. Safe when every worker of a round enqueues
    /// the same rows at once (see [the module docs](crate::queue)).
    ///
    /// ```no_run
    /// # use imapmig_pg::{Database, MailboxRow};
    /// # fn main() -> Result<(), imapmig_pg::Error> {
    /// let db = Database::connect("postgres://migrator@db.example/imapmig")?;
    /// let rows = [MailboxRow::new("imaps://ann@old.example", "imaps://ann@new.example")];
    /// db.enqueue_round(&rows, 1)?; // the bulk copy
    /// // ... after the MX switch: the delta pass, from the saved folder states
    /// let delta = db.enqueue_round(&rows, 2)?;
    /// assert_eq!(delta.raised, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::RoundBehind`] when a pair is at a higher round already;
    /// [`Error::InvalidValue`] for an empty or over-long URL, a URL holding
    /// a password, a size over `i64::MAX` or a round of 0 or over
    /// `i32::MAX`; nothing is enqueued then. [`Error::Database`].
    pub fn enqueue_round(&self, rows: &[MailboxRow], round: u32) -> Result<Enqueued, Error> {
        let asked = check_round(round)?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.source.clone(), row.target.clone(), row.check()?)))
            .collect::<Result<Vec<_>, Error>>()?;
        self.connection().call(move |client, s| {
            let mut tx = client.transaction().map_err(s.failed("enqueue: begin"))?;
            // The upsert locks the row (DO UPDATE), so the round it returns
            // is the latest committed one until this transaction ends.
            let insert = tx
                .prepare(
                    "INSERT INTO imapmig_mailboxes
                         (source_url, target_url, size_bytes, messages, round)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (source_url, target_url) DO UPDATE SET
                         size_bytes = CASE WHEN imapmig_mailboxes.status = 'queued'
                                      THEN EXCLUDED.size_bytes ELSE imapmig_mailboxes.size_bytes END,
                         messages = CASE WHEN imapmig_mailboxes.status = 'queued'
                                    THEN EXCLUDED.messages ELSE imapmig_mailboxes.messages END
                     RETURNING id, (xmax = 0) AS inserted, round",
                )
                .map_err(s.failed("enqueue: prepare"))?;
            let archive = tx
                .prepare(ARCHIVE_RESULT)
                .map_err(s.failed("enqueue: prepare"))?;
            let raise = tx
                .prepare(
                    "UPDATE imapmig_mailboxes SET
                         round = $2, attempts = 0,
                         status = CASE WHEN status = 'running' THEN 'running' ELSE 'queued' END,
                         size_bytes = $3, messages = $4,
                         exit_class = NULL, exit_code = NULL, copied = NULL, present = NULL,
                         skipped = NULL, failed = NULL, bytes = NULL, duration_ms = NULL,
                         reason = NULL, updated_at = now()
                     WHERE id = $1 AND round < $2",
                )
                .map_err(s.failed("enqueue: prepare"))?;
            let mut ids = Vec::with_capacity(rows.len());
            let (mut added, mut raised) = (0, 0);
            for (source, target, (size, messages)) in &rows {
                let out = tx
                    .query_one(&insert, &[source, target, size, messages, &asked])
                    .map_err(s.failed("enqueue"))?;
                let id: i64 = out.get(0);
                ids.push(MailboxId(id));
                if out.get::<_, bool>(1) {
                    added += 1;
                }
                let current: i32 = out.get(2);
                if current > asked {
                    // Dropping the transaction rolls every row back.
                    return Err(Error::RoundBehind {
                        url: source.clone(),
                        current: round_of(current)?,
                        asked: round,
                    });
                }
                if current < asked {
                    tx.execute(&archive, &[&id, &current])
                        .map_err(s.failed("enqueue: keep the last round's result"))?;
                    raised += tx
                        .execute(&raise, &[&id, &asked, size, messages])
                        .map_err(s.failed("enqueue: raise the round"))?;
                }
            }
            tx.commit().map_err(s.failed("enqueue: commit"))?;
            Ok(Enqueued { ids, added, raised })
        })
    }

    /// Claims the largest free mailbox for `worker`, under a lease of
    /// `ttl`: a `queued` one, or a `running` one whose lease expired (its
    /// worker died or stalled; the mailbox resumes from its saved states).
    /// Ties go to the lower id. `None` when no mailbox is free.
    ///
    /// Workers never wait for each other here (`FOR UPDATE SKIP LOCKED`),
    /// and never both hold a mailbox.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for an empty worker name or a `ttl` outside
    /// 1 ms to 7 days; [`Error::Database`].
    pub fn claim_next(&self, worker: &str, ttl: Duration) -> Result<Option<Claim>, Error> {
        check_worker(worker)?;
        check_ttl(ttl)?;
        let worker = worker.to_owned();
        self.connection()
            .call(move |client, s| claim(client, s, worker, ttl, None))
    }

    /// [`Database::claim_next`] for a worker of `round`: only mailboxes at
    /// that round or an earlier one, so that a worker of an older round
    /// still running leaves the mailboxes a later round queued again to
    /// that round's workers (and their options).
    ///
    /// # Errors
    /// As [`Database::claim_next`], and [`Error::InvalidValue`] for a round
    /// of 0 or over `i32::MAX`.
    pub fn claim_next_in_round(
        &self,
        worker: &str,
        ttl: Duration,
        round: u32,
    ) -> Result<Option<Claim>, Error> {
        check_worker(worker)?;
        check_ttl(ttl)?;
        let round = check_round(round)?;
        let worker = worker.to_owned();
        self.connection()
            .call(move |client, s| claim(client, s, worker, ttl, Some(round)))
    }

    /// Extends the claim's lease by its `ttl` from now (the database's
    /// clock) and updates [`Claim::expires_at`]. A lease that expired but
    /// was not taken over is renewed too.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when another worker took the mailbox over or it
    /// was finished or released: stop working on it. [`Error::Database`].
    pub fn renew(&self, claim: &mut Claim) -> Result<(), Error> {
        let (id, token, ttl) = (claim.id(), claim.token, claim.ttl);
        claim.expires_at = self.connection().call(move |client, s| {
            let mut tx = client.transaction().map_err(s.failed("renew: begin"))?;
            lock_mailbox(s, &mut tx, id, "renew: lock")?;
            let renewed = tx
                .query_opt(
                    "UPDATE imapmig_leases
                     SET expires_at = now() + $3::float8 * interval '1 second'
                     WHERE mailbox_id = $1 AND token = $2
                     RETURNING expires_at",
                    &[&id.0, &token.0, &ttl.as_secs_f64()],
                )
                .map_err(s.failed("renew"))?;
            let Some(renewed) = renewed else {
                return Err(Error::LeaseLost { mailbox: id, token });
            };
            tx.commit().map_err(s.failed("renew: commit"))?;
            Ok(renewed.get::<_, SystemTime>(0))
        })?;
        Ok(())
    }

    /// Ends the claim with a result: the mailbox becomes `done` or
    /// `failed` with the result's fields, and the lease is dropped. When a
    /// later round enqueued the mailbox while it ran, the result is kept
    /// in `imapmig_round_results` as the claim's round's, and the mailbox
    /// is `queued` again for the new round instead.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] (nothing is written: the new owner finishes
    /// it); [`Error::InvalidValue`] for a count over `i64::MAX`;
    /// [`Error::Database`].
    pub fn finish(&self, claim: &Claim, result: &MailboxResult) -> Result<(), Error> {
        let counts = [
            i64_of("copied", result.copied)?,
            i64_of("present", result.present)?,
            i64_of("skipped", result.skipped)?,
            i64_of("failed", result.failed)?,
            i64_of("bytes", result.bytes)?,
            i64_of(
                "duration",
                u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            )?,
        ];
        let status = match result.outcome {
            Outcome::Done => Status::Done,
            Outcome::Failed => Status::Failed,
        };
        let (id, token) = (claim.id(), claim.token);
        let claim_round = check_round(claim.mailbox.round)?;
        let exit_class = result.exit_class.clone();
        let exit_code = i16::from(result.exit_code);
        let reason = result.reason.clone();
        self.connection().call(move |client, s| {
            let mut tx = client.transaction().map_err(s.failed("finish: begin"))?;
            end_lease(s, &mut tx, id, token)?;
            // Under the row lock end_lease took: a raise cannot interleave.
            let current: i32 = tx
                .query_one(
                    "SELECT round FROM imapmig_mailboxes WHERE id = $1",
                    &[&id.0],
                )
                .map_err(s.failed("finish: read the round"))?
                .get(0);
            let raised = current > claim_round;
            tx.execute(
                "UPDATE imapmig_mailboxes SET
                     status = $2, exit_class = $3, exit_code = $4, copied = $5, present = $6,
                     skipped = $7, failed = $8, bytes = $9, duration_ms = $10, reason = $11,
                     updated_at = now()
                 WHERE id = $1",
                &[
                    &id.0,
                    &status.as_str(),
                    &exit_class,
                    &exit_code,
                    &counts[0],
                    &counts[1],
                    &counts[2],
                    &counts[3],
                    &counts[4],
                    &counts[5],
                    &reason,
                ],
            )
            .map_err(s.failed("finish"))?;
            if raised {
                tx.execute(ARCHIVE_RESULT, &[&id.0, &claim_round])
                    .map_err(s.failed("finish: keep the older round's result"))?;
                tx.execute(
                    "UPDATE imapmig_mailboxes SET
                         status = 'queued', exit_class = NULL, exit_code = NULL, copied = NULL,
                         present = NULL, skipped = NULL, failed = NULL, bytes = NULL,
                         duration_ms = NULL, reason = NULL
                     WHERE id = $1",
                    &[&id.0],
                )
                .map_err(s.failed("finish: queue for the new round"))?;
            }
            tx.commit().map_err(s.failed("finish: commit"))
        })
    }

    /// Gives the mailbox back unfinished (a worker shutting down): it is
    /// `queued` again, for any worker, and resumes from its saved states.
    ///
    /// # Errors
    /// [`Error::LeaseLost`]; [`Error::Database`].
    pub fn release(&self, claim: &Claim) -> Result<(), Error> {
        let (id, token) = (claim.id(), claim.token);
        self.connection().call(move |client, s| {
            let mut tx = client.transaction().map_err(s.failed("release: begin"))?;
            end_lease(s, &mut tx, id, token)?;
            tx.execute(
                "UPDATE imapmig_mailboxes SET status = 'queued', updated_at = now() WHERE id = $1",
                &[&id.0],
            )
            .map_err(s.failed("release"))?;
            tx.commit().map_err(s.failed("release: commit"))
        })
    }

    /// Queues every `failed` mailbox again (their last results stay until
    /// they finish anew) and returns how many.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn requeue_failed(&self) -> Result<u64, Error> {
        self.connection().call(|client, s| {
            client
                .execute(
                    "UPDATE imapmig_mailboxes SET status = 'queued', updated_at = now()
                     WHERE status = 'failed'",
                    &[],
                )
                .map_err(s.failed("requeue failed mailboxes"))
        })
    }

    /// One mailbox, `None` when no mailbox has this id.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::UnexpectedValue`].
    pub fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>, Error> {
        self.connection().call(move |client, s| {
            let row = client
                .query_opt(
                    &format!("SELECT {MAILBOX_COLUMNS} FROM imapmig_mailboxes WHERE id = $1"),
                    &[&id.0],
                )
                .map_err(s.failed("read a mailbox"))?;
            row.as_ref().map(mailbox_from_row).transpose()
        })
    }

    /// The results a mailbox had at the end of its earlier rounds, kept
    /// when a later round queued it again: `(round, result)`, oldest round
    /// first.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::UnexpectedValue`].
    pub fn round_results(&self, id: MailboxId) -> Result<Vec<(u32, MailboxResult)>, Error> {
        self.connection().call(move |client, s| {
            let rows = client
                .query(
                    "SELECT round, status, exit_class, exit_code, copied, present, skipped,
                            failed, bytes, duration_ms, reason
                     FROM imapmig_round_results WHERE mailbox_id = $1 ORDER BY round",
                    &[&id.0],
                )
                .map_err(s.failed("read the round results"))?;
            rows.iter()
                .map(|row| {
                    let status: Status = row.get::<_, &str>(1).parse()?;
                    let exit_code: i16 = row.get::<_, Option<i16>>(3).unwrap_or_default();
                    let result = MailboxResult {
                        outcome: if status == Status::Done {
                            Outcome::Done
                        } else {
                            Outcome::Failed
                        },
                        exit_class: row.get::<_, Option<String>>(2).unwrap_or_default(),
                        exit_code: u8::try_from(exit_code).map_err(|_| Error::UnexpectedValue {
                            column: "exit_code",
                            value: exit_code.to_string(),
                        })?,
                        copied: opt_u64(row, 4, "copied")?,
                        present: opt_u64(row, 5, "present")?,
                        skipped: opt_u64(row, 6, "skipped")?,
                        failed: opt_u64(row, 7, "failed")?,
                        bytes: opt_u64(row, 8, "bytes")?,
                        duration: Duration::from_millis(opt_u64(row, 9, "duration_ms")?),
                        reason: row.get(10),
                    };
                    Ok((round_of(row.get(0))?, result))
                })
                .collect()
        })
    }

    /// Every mailbox, by id (for a status table).
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::UnexpectedValue`].
    pub fn mailboxes(&self) -> Result<Vec<Mailbox>, Error> {
        self.connection().call(|client, s| {
            let rows = client
                .query(
                    &format!("SELECT {MAILBOX_COLUMNS} FROM imapmig_mailboxes ORDER BY id"),
                    &[],
                )
                .map_err(s.failed("read the mailboxes"))?;
            rows.iter().map(mailbox_from_row).collect()
        })
    }
}

/// [`Database::claim_next`] on the connection's thread.
fn claim(
    client: &mut Client,
    s: &Session,
    worker: String,
    ttl: Duration,
    max_round: Option<i32>,
) -> Result<Option<Claim>, Error> {
    let mut passed: Vec<i64> = Vec::new();
    while passed.len() < CLAIM_CANDIDATES {
        let mut tx = client.transaction().map_err(s.failed("claim: begin"))?;
        let candidate = tx
            .query_opt(
                "SELECT m.id FROM imapmig_mailboxes m
                 WHERE (m.status = 'queued'
                        OR (m.status = 'running' AND NOT EXISTS (
                            SELECT 1 FROM imapmig_leases l
                            WHERE l.mailbox_id = m.id AND l.expires_at > now())))
                   AND m.id <> ALL($1)
                   AND ($2::int4 IS NULL OR m.round <= $2)
                 ORDER BY m.size_bytes DESC, m.id
                 LIMIT 1
                 FOR UPDATE OF m SKIP LOCKED",
                &[&passed, &max_round],
            )
            .map_err(s.failed("claim: pick"))?;
        let Some(candidate) = candidate else {
            tx.commit().map_err(s.failed("claim: commit"))?;
            return Ok(None);
        };
        let id: i64 = candidate.get(0);
        // A fresh snapshot under the row lock: the owner may have renewed
        // or finished after the pick's snapshot was taken.
        let now = tx
            .query_one(
                "SELECT m.status, l.worker, coalesce(l.expires_at > now(), false), m.round
                 FROM imapmig_mailboxes m
                 LEFT JOIN imapmig_leases l ON l.mailbox_id = m.id
                 WHERE m.id = $1",
                &[&id],
            )
            .map_err(s.failed("claim: recheck"))?;
        let status: Status = now.get::<_, &str>(0).parse()?;
        let previous: Option<String> = now.get(1);
        let live: bool = now.get(2);
        let in_round = max_round.is_none_or(|max| now.get::<_, i32>(3) <= max);
        let free = in_round && (status == Status::Queued || (status == Status::Running && !live));
        if !free {
            tx.rollback().map_err(s.failed("claim: rollback"))?;
            passed.push(id);
            continue;
        }
        let lease = tx
            .query_one(
                "INSERT INTO imapmig_leases (mailbox_id, worker, token, acquired_at, expires_at)
                 VALUES ($1, $2, nextval('imapmig_lease_token'), now(),
                         now() + $3::float8 * interval '1 second')
                 ON CONFLICT (mailbox_id) DO UPDATE SET
                     worker = EXCLUDED.worker, token = EXCLUDED.token,
                     acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
                 RETURNING token, expires_at",
                &[&id, &worker, &ttl.as_secs_f64()],
            )
            .map_err(s.failed("claim: take the lease"))?;
        let row = tx
            .query_one(
                &format!(
                    "UPDATE imapmig_mailboxes
                     SET status = 'running', attempts = attempts + 1, worker = $2,
                         updated_at = now()
                     WHERE id = $1
                     RETURNING {MAILBOX_COLUMNS}"
                ),
                &[&id, &worker],
            )
            .map_err(s.failed("claim: mark running"))?;
        let mailbox = mailbox_from_row(&row)?;
        tx.commit().map_err(s.failed("claim: commit"))?;
        return Ok(Some(Claim {
            mailbox,
            worker,
            token: LeaseToken(lease.get(0)),
            ttl,
            expires_at: lease.get(1),
            taken_over_from: if status == Status::Running {
                previous
            } else {
                None
            },
        }));
    }
    Ok(None)
}

/// Locks a mailbox row for an update of its lease.
fn lock_mailbox(
    s: &Session,
    tx: &mut postgres::Transaction<'_>,
    id: MailboxId,
    step: &'static str,
) -> Result<(), Error> {
    tx.query_opt(
        "SELECT 1 FROM imapmig_mailboxes WHERE id = $1 FOR UPDATE",
        &[&id.0],
    )
    .map_err(s.failed(step))?
    .map(|_| ())
    .ok_or(Error::UnknownMailbox { mailbox: id })
}

/// Deletes the lease if it is still current.
fn end_lease(
    s: &Session,
    tx: &mut postgres::Transaction<'_>,
    id: MailboxId,
    token: LeaseToken,
) -> Result<(), Error> {
    lock_mailbox(s, tx, id, "end the lease: lock")?;
    let deleted = tx
        .execute(
            "DELETE FROM imapmig_leases WHERE mailbox_id = $1 AND token = $2",
            &[&id.0, &token.0],
        )
        .map_err(s.failed("end the lease"))?;
    if deleted == 0 {
        return Err(Error::LeaseLost { mailbox: id, token });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_passwords_are_refused_without_showing_them() {
        for (url, ok) in [
            ("imap://alice@old.example:143", true),
            ("imaps://alice%40corp@old.example", true),
            ("imap://old.example/INBOX?x=a:b@c", true),
            ("imap://alice:hunter2@old.example", false),
            ("imaps://a:b@c@old.example:993", false),
            ("", false),
        ] {
            let got = check_url("source url", url);
            assert_eq!(got.is_ok(), ok, "{url}");
            if let Err(e) = got {
                assert!(!e.to_string().contains("hunter2"), "{e}");
            }
        }
    }

    #[test]
    fn worker_names_and_ttls_are_bounded() {
        assert!(check_worker("node-3/pid-77").is_ok());
        assert!(check_worker("").is_err());
        assert!(check_worker("a\nb").is_err());
        assert!(check_worker(&"w".repeat(201)).is_err());
        assert!(check_ttl(Duration::from_secs(30)).is_ok());
        assert!(check_ttl(Duration::ZERO).is_err());
        assert!(check_ttl(Duration::from_secs(8 * 24 * 3600)).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            Status::Queued,
            Status::Running,
            Status::Done,
            Status::Failed,
        ] {
            assert_eq!(status.as_str().parse::<Status>().ok(), Some(status));
        }
        assert!(matches!(
            "paused".parse::<Status>(),
            Err(Error::UnexpectedValue {
                column: "status",
                ..
            })
        ));
    }
}
