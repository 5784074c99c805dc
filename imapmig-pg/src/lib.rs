//! Email migration state in PostgreSQL: the folder states of
//! imapmig-core, a mailbox queue with leases, and fleet progress, so that
//! many workers on many machines (Kubernetes Indexed Jobs, Slurm arrays,
//! GNU parallel) can share one batch migration.
//!
//! # A worker's loop
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use imapmig_core::{FolderState, StateStore, StoreKey};
//! use imapmig_pg::{Database, MailboxResult, MailboxRow, Outcome};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::connect("postgres://migrator@db.example/imapmig")?;
//! db.migrate()?; // idempotent; safe when every worker does it at start
//! db.enqueue(&[
//!     MailboxRow::new("imaps://ann@old.example", "imaps://ann@new.example")
//!         .with_size(7_340_032_000, 52_000),
//!     MailboxRow::new("imaps://bob@old.example", "imaps://bob@new.example"),
//! ])?; // idempotent by (source, target): every worker may enqueue the CSV
//!
//! while let Some(claim) = db.claim_next("node-3", Duration::from_secs(60))? {
//!     // The largest free mailbox, or one whose worker's lease expired.
//!     let started = Instant::now();
//!     let keeper = db.keep_renewed(&claim)?; // renews every 20 s meanwhile
//!     let store = db.fenced_store(&claim);
//!     let key = StoreKey::new("INBOX")?;
//!     let mut state = store.load(&key)?.unwrap_or_else(FolderState::new);
//!     // ... migrate, saving the state as imapmig-core's engine asks:
//!     store.save(&key, &state)?; // refused once another worker took over
//!     if keeper.is_lost() {
//!         continue; // another worker has it now
//!     }
//!     keeper.stop()?;
//!     db.finish(&claim, &MailboxResult {
//!         outcome: Outcome::Done,
//!         exit_class: "complete".into(),
//!         exit_code: 0,
//!         copied: 52_000, present: 0, skipped: 0, failed: 0,
//!         bytes: 7_340_032_000,
//!         duration: started.elapsed(),
//!         reason: None,
//!     })?;
//! }
//! println!("{}", db.fleet_summary()?); // mailboxes: 2 queued: 0 running: 0 ...
//! # Ok(())
//! # }
//! ```
//!
//! # Tables
//!
//! Created by [`Database::migrate`], which records each applied migration
//! in `imapmig_schema(version, applied_at)` ([`SCHEMA_VERSION`] now):
//!
//! | table | holds |
//! |---|---|
//! | `imapmig_mailboxes` | one row per (source URL, target URL): `size_bytes`, `messages`, `status` (`queued`, `running`, `done`, `failed`), `attempts`, the last `worker`, and the result: `exit_class`, `exit_code`, `copied`, `present`, `skipped`, `failed`, `bytes`, `duration_ms`, `reason`; `enqueued_at`, `updated_at`; the `round` it was last enqueued for |
//! | `imapmig_round_results` | per mailbox and earlier round, that round's last result (the columns above), kept when a later round queues the mailbox again ([`Database::enqueue_round`]) |
//! | `imapmig_leases` | the lease of a claimed mailbox: `worker`, fencing `token` (from the sequence `imapmig_lease_token`), `acquired_at`, `expires_at` |
//! | `imapmig_folder_states` | per mailbox and store key, the bytes of imapmig-core's `store::encode` (versioned, checksummed) and `updated_at` |
//! | `imapmig_shared` | values every worker must agree on, made once by the first ([`Database::shared_value`]): `imapmig batch` keeps its fingerprint key there |
//!
//! # Guarantees
//!
//! - **Rounds**: a delta pass (after the MX switch, or `--since`) is a new
//!   round: [`Database::enqueue_round`] queues the mailboxes of earlier
//!   rounds again, their folder states kept, so the pass copies only new
//!   mail; a round behind a mailbox's is refused ([`Error::RoundBehind`]).
//!   See [`queue`].
//! - **Claims**: largest mailbox first, `FOR UPDATE SKIP LOCKED`; a
//!   `running` mailbox whose lease expired (by the database's clock) is
//!   taken over by the next claim, with a new, larger token. Two workers
//!   never hold the same mailbox: see [`queue`] for how.
//! - **Fencing**: [`Database::renew`] (or a [`LeaseKeeper`] doing it in
//!   the background), [`Database::finish`],
//!   [`Database::release`] and saves through [`Database::fenced_store`]
//!   succeed only with the mailbox's current token, else
//!   [`Error::LeaseLost`] and nothing is written. A worker that stalled
//!   past its lease cannot overwrite the new owner's state.
//! - **Atomic saves**: one UPSERT per save in one transaction; `load`
//!   decodes with imapmig-core's checks (damage is an error, never an
//!   empty state) and checks the key.
//! - **Bounded**: a state larger than [`PgStore::with_max_state_bytes`]
//!   (default 1 GiB) is not read; connecting gives up after
//!   [`DEFAULT_CONNECT_TIMEOUT`] unless the URL sets `connect_timeout`.
//! - **No credentials**: a URL is shown with its password replaced by
//!   `***` ([`redact_url`]) in errors and `Debug`; [`Database::enqueue`]
//!   refuses mailbox URLs that hold a password.
//!
//! # Blocking, from any thread; no TLS
//!
//! The API blocks, like a file system call. Each [`Database`] keeps its
//! connection on a thread of its own (the `postgres` crate runs a runtime
//! of its own, which must not run or be dropped on a thread that drives
//! async tasks), so it may be called, and dropped, anywhere: a plain
//! thread, or an async task driving imapmig-core's engine. Calls on one
//! `Database` and its stores run one at a time; open one per worker that
//! should run in parallel. Connections are made without TLS: use a local
//! server, a Unix socket, or a TLS tunnel.
//!
//! # Tests
//!
//! The integration tests run against a real PostgreSQL that testkit starts
//! (Debian's `postgresql`; `scripts/test` installs it).

mod database;
mod error;
mod fleet;
mod lease_keeper;
pub mod queue;
mod schema;
mod shared;
mod state_store;

pub use database::{DEFAULT_CONNECT_TIMEOUT, Database, redact_url};
pub use error::Error;
pub use fleet::{FleetSummary, RunningMailbox};
pub use lease_keeper::LeaseKeeper;
pub use queue::{
    Claim, Enqueued, LeaseToken, Mailbox, MailboxId, MailboxResult, MailboxRow, Outcome, Status,
};
pub use schema::{Migrated, SCHEMA_VERSION};
pub use state_store::{DEFAULT_MAX_STATE_BYTES, PgStore};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
