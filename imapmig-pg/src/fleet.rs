//! [`FleetSummary`]: how far a whole batch is, across every worker.

use std::fmt;

use crate::{Database, Error};

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
    /// The workers holding a live lease, by name.
    pub workers: Vec<String>,
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
                     coalesce(sum(m.bytes), 0)::int8
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
                workers,
            })
        })
    }
}
