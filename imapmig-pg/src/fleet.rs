//! [`FleetSummary`]: how far a whole batch is, across every worker.

use std::fmt;
use std::time::Duration;

use crate::queue::MailboxId;
use crate::{Database, Error};

/// A claimed mailbox in a [`FleetSummary`]: who has it, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningMailbox {
    /// Its id.
    pub id: MailboxId,
    /// Its source URL.
    pub source: String,
    /// The worker holding (or, once expired, last holding) the lease.
    pub worker: String,
    /// The round the mailbox is at (raised while it runs when a later
    /// round was enqueued meanwhile: it is queued again once it finishes).
    pub round: u32,
    /// How long ago the lease was taken, by the database's clock.
    pub lease_age: Duration,
    /// How long the lease still runs; `None` once it expired (the worker
    /// died or stalled: the next claim takes the mailbox over).
    pub expires_in: Option<Duration>,
}

/// Counts over the whole queue, for `imapmig batch status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSummary {
    /// Every mailbox enqueued.
    pub mailboxes: u64,
    /// Waiting for a worker.
    pub queued: u64,
    /// Claimed, under a live lease.
    pub running: u64,
    /// Claimed, but the lease expired: the worker died or stalled; the
    /// next claim takes it over.
    pub stalled: u64,
    /// Finished, done.
    pub done: u64,
    /// Finished, failed.
    pub failed: u64,
    /// Messages of every mailbox, as enqueued.
    pub messages_total: u64,
    /// Messages of the done mailboxes, as enqueued.
    pub messages_done: u64,
    /// Bytes of every mailbox, as enqueued.
    pub bytes_total: u64,
    /// Bytes of the done mailboxes, as enqueued.
    pub bytes_done: u64,
    /// Bytes copied, by the last result of every mailbox that has one
    /// (done or failed).
    pub bytes_copied: u64,
    /// Messages copied, by the last result of every mailbox that has one.
    pub messages_copied: u64,
    /// Time since the first mailbox was enqueued (the batch's start), by
    /// the database's clock.
    pub elapsed: Duration,
    /// The workers holding a live lease, by name.
    pub workers: Vec<String>,
    /// Every `running` mailbox (live or stalled), oldest lease first.
    pub running_mailboxes: Vec<RunningMailbox>,
    /// The latest round any mailbox was enqueued for (0 when the queue is
    /// empty).
    pub round: u32,
    /// Mailboxes still at an earlier round than [`FleetSummary::round`]
    /// (not in the CSV the latest round enqueued).
    pub behind: u64,
}

impl FleetSummary {
    /// Mailboxes finished (done or failed).
    pub fn finished(&self) -> u64 {
        self.done + self.failed
    }

    /// Bytes copied per second since the batch started, `None` before any
    /// mailbox finished.
    pub fn bytes_per_second(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (self.finished() > 0 && secs > 0.0).then(|| self.bytes_copied as f64 / secs)
    }

    /// Messages copied per second since the batch started, `None` before
    /// any mailbox finished.
    pub fn messages_per_second(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (self.finished() > 0 && secs > 0.0).then(|| self.messages_copied as f64 / secs)
    }

    /// How long the rest should take at the pace measured so far: by bytes
    /// when the sizes were enqueued (the bytes of the mailboxes not done,
    /// at [`FleetSummary::bytes_per_second`]), else by mailboxes (the
    /// unfinished ones at the mean time per finished one). `Some(ZERO)`
    /// when nothing is left; `None` before any mailbox finished.
    pub fn eta(&self) -> Option<Duration> {
        let left = self.mailboxes.saturating_sub(self.finished());
        if left == 0 {
            return Some(Duration::ZERO);
        }
        let secs = self.elapsed.as_secs_f64();
        if self.finished() == 0 || secs <= 0.0 {
            return None;
        }
        let bytes_left = self.bytes_total.saturating_sub(self.bytes_done);
        let eta = match self.bytes_per_second() {
            Some(rate) if self.bytes_total > 0 && rate > 0.0 => bytes_left as f64 / rate,
            _ => secs / self.finished() as f64 * left as f64,
        };
        Some(Duration::from_secs_f64(eta.clamp(0.0, 1e12)))
    }
}

impl fmt::Display for FleetSummary {
    /// `mailboxes: N queued: Q running: R stalled: S done: D failed: F`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mailboxes: {} queued: {} running: {} stalled: {} done: {} failed: {}",
            self.mailboxes, self.queued, self.running, self.stalled, self.done, self.failed
        )
    }
}

fn count(value: i64) -> u64 {
    // Sums and counts of columns checked to be >= 0.
    u64::try_from(value).unwrap_or_default()
}

/// A non-negative, finite number of seconds as a duration.
fn seconds(secs: f64) -> Duration {
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs.min(1e12))
    } else {
        Duration::ZERO
    }
}

impl Database {
    /// Counts by status, messages and bytes done, and the workers with a
    /// live lease, in one consistent snapshot.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub fn fleet_summary(&self) -> Result<FleetSummary, Error> {
        self.connection().call(|client, s| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(s.failed("fleet summary: begin"))?;
            let totals = tx
                .query_one(
                    "SELECT
                     count(*)::int8,
                     count(*) FILTER (WHERE m.status = 'queued')::int8,
                     count(*) FILTER (WHERE m.status = 'running' AND l.expires_at > now())::int8,
                     count(*) FILTER (WHERE m.status = 'running'
                                      AND (l.expires_at IS NULL OR l.expires_at <= now()))::int8,
                     count(*) FILTER (WHERE m.status = 'done')::int8,
                     count(*) FILTER (WHERE m.status = 'failed')::int8,
                     coalesce(sum(m.messages), 0)::int8,
                     coalesce(sum(m.messages) FILTER (WHERE m.status = 'done'), 0)::int8,
                     coalesce(sum(m.size_bytes), 0)::int8,
                     coalesce(sum(m.size_bytes) FILTER (WHERE m.status = 'done'), 0)::int8,
                     coalesce(sum(m.bytes), 0)::int8,
                     coalesce(sum(m.copied), 0)::int8,
                     coalesce(extract(epoch FROM now() - min(m.enqueued_at)), 0)::float8,
                     coalesce(max(m.round), 0)::int4,
                     count(*) FILTER (WHERE m.round < (SELECT max(round)
                                                       FROM imapmig_mailboxes))::int8
                 FROM imapmig_mailboxes m
                 LEFT JOIN imapmig_leases l ON l.mailbox_id = m.id",
                    &[],
                )
                .map_err(s.failed("fleet summary"))?;
            let workers = tx
                .query(
                    "SELECT DISTINCT l.worker FROM imapmig_leases l
                 JOIN imapmig_mailboxes m ON m.id = l.mailbox_id
                 WHERE m.status = 'running' AND l.expires_at > now()
                 ORDER BY l.worker",
                    &[],
                )
                .map_err(s.failed("fleet summary: workers"))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let running_mailboxes = tx
                .query(
                    "SELECT m.id, m.source_url, l.worker, m.round,
                            greatest(extract(epoch FROM now() - l.acquired_at), 0)::float8,
                            extract(epoch FROM l.expires_at - now())::float8
                     FROM imapmig_mailboxes m
                     JOIN imapmig_leases l ON l.mailbox_id = m.id
                     WHERE m.status = 'running'
                     ORDER BY l.acquired_at, m.id",
                    &[],
                )
                .map_err(s.failed("fleet summary: running mailboxes"))?
                .iter()
                .map(|row| {
                    let left: f64 = row.get(5);
                    RunningMailbox {
                        id: MailboxId::new(row.get(0)),
                        source: row.get(1),
                        worker: row.get(2),
                        round: u32::try_from(row.get::<_, i32>(3)).unwrap_or_default(),
                        lease_age: seconds(row.get(4)),
                        expires_in: (left > 0.0).then(|| seconds(left)),
                    }
                })
                .collect();
            tx.commit().map_err(s.failed("fleet summary: commit"))?;
            let n = |i: usize| count(totals.get(i));
            Ok(FleetSummary {
                mailboxes: n(0),
                queued: n(1),
                running: n(2),
                stalled: n(3),
                done: n(4),
                failed: n(5),
                messages_total: n(6),
                messages_done: n(7),
                bytes_total: n(8),
                bytes_done: n(9),
                bytes_copied: n(10),
                messages_copied: n(11),
                elapsed: seconds(totals.get(12)),
                workers,
                running_mailboxes,
                round: u32::try_from(totals.get::<_, i32>(13)).unwrap_or_default(),
                behind: n(14),
            })
        })
    }
}
