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
    duration_ms, reason";

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
    /// queued again).
    pub result: Option<MailboxResult>,
}

/// What [`Database::enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The id of each row, in the order given (a row enqueued before keeps
    /// its id).
    pub ids: Vec<MailboxId>,
    /// How many rows were new.
    pub added: u64,
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
    })
}

impl Database {
    /// Adds mailbox pairs to the queue, in one transaction. Idempotent by
    /// (source, target): a pair enqueued before keeps its id, status and
    /// results; its size is updated only while it is still queued.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for an empty or over-long URL, a URL holding
    /// a password, or a size over `i64::MAX` (nothing is enqueued then);
    /// [`Error::Database`].
    pub fn enqueue(&self, rows: &[MailboxRow]) -> Result<Enqueued, Error> {
        let rows = rows
            .iter()
            .map(|row| Ok((row.source.clone(), row.target.clone(), row.check()?)))
            .collect::<Result<Vec<_>, Error>>()?;
        self.connection().call(move |client, s| {
            let mut tx = client.transaction().map_err(s.failed("enqueue: begin"))?;
            let insert = tx
                .prepare(
                    "INSERT INTO imapmig_mailboxes (source_url, target_url, size_bytes, messages)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (source_url, target_url) DO UPDATE SET
                         size_bytes = CASE WHEN imapmig_mailboxes.status = 'queued'
                                      THEN EXCLUDED.size_bytes ELSE imapmig_mailboxes.size_bytes END,
                         messages = CASE WHEN imapmig_mailboxes.status = 'queued'
                                    THEN EXCLUDED.messages ELSE imapmig_mailboxes.messages END
                     RETURNING id, (xmax = 0) AS inserted",
                )
                .map_err(s.failed("enqueue: prepare"))?;
            let mut ids = Vec::with_capacity(rows.len());
            let mut added = 0;
            for (source, target, (size, messages)) in &rows {
                let out = tx
                    .query_one(&insert, &[source, target, size, messages])
                    .map_err(s.failed("enqueue"))?;
                ids.push(MailboxId(out.get(0)));
                if out.get::<_, bool>(1) {
                    added += 1;
                }
            }
            tx.commit().map_err(s.failed("enqueue: commit"))?;
            Ok(Enqueued { ids, added })
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
            .call(move |client, s| claim(client, s, worker, ttl))
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
    /// `failed` with the result's fields, and the lease is dropped.
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
        let exit_class = result.exit_class.clone();
        let exit_code = i16::from(result.exit_code);
        let reason = result.reason.clone();
        self.connection().call(move |client, s| {
            let mut tx = client.transaction().map_err(s.failed("finish: begin"))?;
            end_lease(s, &mut tx, id, token)?;
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
                 ORDER BY m.size_bytes DESC, m.id
                 LIMIT 1
                 FOR UPDATE OF m SKIP LOCKED",
                &[&passed],
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
                "SELECT m.status, l.worker, coalesce(l.expires_at > now(), false)
                 FROM imapmig_mailboxes m
                 LEFT JOIN imapmig_leases l ON l.mailbox_id = m.id
                 WHERE m.id = $1",
                &[&id],
            )
            .map_err(s.failed("claim: recheck"))?;
        let status: Status = now.get::<_, &str>(0).parse()?;
        let previous: Option<String> = now.get(1);
        let live: bool = now.get(2);
        let free = status == Status::Queued || (status == Status::Running && !live);
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
