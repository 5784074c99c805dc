//! The tables, created and upgraded by versioned migrations.
//!
//! `imapmig_schema(version, applied_at)` records every migration applied.
//! [`Database::migrate`] applies the missing ones in order, each in its own
//! transaction together with its `imapmig_schema` row, under a transaction
//! advisory lock: two processes migrating at once apply each migration
//! exactly once, and a crash leaves the schema at a recorded version.

use crate::{Database, Error};

/// The key of the advisory lock taken around each migration
/// (`pg_advisory_xact_lock`): "imapmig" in ASCII.
const MIGRATION_LOCK: i64 = 0x0069_6d61_706d_6967;

/// The migrations, in order: migration `n` (from 1) brings the schema from
/// version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: the mailbox queue and its leases.
    "CREATE TABLE imapmig_mailboxes (
        id           bigserial PRIMARY KEY,
        source_url   text NOT NULL,
        target_url   text NOT NULL,
        size_bytes   bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
        messages     bigint NOT NULL DEFAULT 0 CHECK (messages >= 0),
        status       text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed')),
        attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        worker       text,
        exit_class   text,
        exit_code    smallint,
        copied       bigint,
        present      bigint,
        skipped      bigint,
        failed       bigint,
        bytes        bigint,
        duration_ms  bigint,
        reason       text,
        enqueued_at  timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        UNIQUE (source_url, target_url)
    );
    CREATE INDEX imapmig_mailboxes_claim ON imapmig_mailboxes (size_bytes DESC, id)
        WHERE status IN ('queued', 'running');
    CREATE SEQUENCE imapmig_lease_token;
    CREATE TABLE imapmig_leases (
        mailbox_id   bigint PRIMARY KEY REFERENCES imapmig_mailboxes (id) ON DELETE CASCADE,
        worker       text NOT NULL,
        token        bigint NOT NULL,
        acquired_at  timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL
    );",
    // 2: folder states, one per mailbox and store key.
    "CREATE TABLE imapmig_folder_states (
        mailbox_id   bigint NOT NULL REFERENCES imapmig_mailboxes (id) ON DELETE CASCADE,
        store_key    text NOT NULL,
        state        bytea NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (mailbox_id, store_key)
    );",
    // 3: values every worker of a batch must share, made once (the
    // fingerprint key).
    "CREATE TABLE imapmig_shared (
        name         text PRIMARY KEY,
        value        bytea NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now()
    );",
    // 4: rounds (delta passes): the round each mailbox was last enqueued
    // for, and the result of every earlier round it finished.
    "ALTER TABLE imapmig_mailboxes
        ADD COLUMN round integer NOT NULL DEFAULT 1 CHECK (round >= 1);
    CREATE TABLE imapmig_round_results (
        mailbox_id   bigint NOT NULL REFERENCES imapmig_mailboxes (id) ON DELETE CASCADE,
        round        integer NOT NULL,
        status       text NOT NULL,
        attempts     integer NOT NULL,
        worker       text,
        exit_class   text,
        exit_code    smallint,
        copied       bigint,
        present      bigint,
        skipped      bigint,
        failed       bigint,
        bytes        bigint,
        duration_ms  bigint,
        reason       text,
        archived_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (mailbox_id, round)
    );",
];

/// The schema version this build creates and works with.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "a handful of migrations"
)]
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// What [`Database::migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (0: no tables yet).
    pub from: i32,
    /// The version now ([`SCHEMA_VERSION`]).
    pub to: i32,
    /// How many migrations this call applied (0 when another process had
    /// applied them, or the schema was current).
    pub applied: u32,
}

const CREATE_SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS imapmig_schema (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)";

impl Database {
    /// Creates the tables or brings them to [`SCHEMA_VERSION`]. Idempotent,
    /// and safe when several workers call it at once (an advisory lock
    /// serialises them; each migration is applied once, in its own
    /// transaction).
    ///
    /// # Errors
    /// [`Error::FutureSchema`] when a newer build migrated the database
    /// further; [`Error::Database`] when a statement fails.
    pub fn migrate(&self) -> Result<Migrated, Error> {
        self.connection().call(|client, s| {
            let mut from = None;
            let mut applied = 0;
            loop {
                let mut tx = client.transaction().map_err(s.failed("migrate: begin"))?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .map_err(s.failed("migrate: lock"))?;
                tx.batch_execute(CREATE_SCHEMA_TABLE)
                    .map_err(s.failed("migrate: create imapmig_schema"))?;
                let current: i32 = tx
                    .query_one("SELECT coalesce(max(version), 0) FROM imapmig_schema", &[])
                    .map_err(s.failed("migrate: read version"))?
                    .get(0);
                from.get_or_insert(current);
                if current > SCHEMA_VERSION {
                    return Err(Error::FutureSchema {
                        found: current,
                        supported: SCHEMA_VERSION,
                    });
                }
                let Some(sql) = usize::try_from(current)
                    .ok()
                    .and_then(|i| MIGRATIONS.get(i))
                else {
                    tx.commit().map_err(s.failed("migrate: commit"))?;
                    return Ok(Migrated {
                        from: from.unwrap_or(current),
                        to: current,
                        applied,
                    });
                };
                tx.batch_execute(sql)
                    .map_err(s.failed("migrate: apply a migration"))?;
                tx.execute(
                    "INSERT INTO imapmig_schema (version) VALUES ($1)",
                    &[&(current + 1)],
                )
                .map_err(s.failed("migrate: record the version"))?;
                tx.commit().map_err(s.failed("migrate: commit"))?;
                applied += 1;
            }
        })
    }

    /// The schema version of the database: 0 when it was never migrated.
    ///
    /// # Errors
    /// [`Error::Database`] when the query fails.
    pub fn schema_version(&self) -> Result<i32, Error> {
        self.connection().call(|client, s| {
            let exists: bool = client
                .query_one("SELECT to_regclass('imapmig_schema') IS NOT NULL", &[])
                .map_err(s.failed("read the schema version"))?
                .get(0);
            if !exists {
                return Ok(0);
            }
            let row = client
                .query_one("SELECT coalesce(max(version), 0) FROM imapmig_schema", &[])
                .map_err(s.failed("read the schema version"))?;
            Ok(row.get(0))
        })
    }
}
