//! [`PgStore`]: imapmig-core's [`StateStore`] on PostgreSQL, one mailbox's
//! folder states, optionally fenced by a lease.

use std::io;
use std::path::PathBuf;

use crate::database::Connection;
use crate::queue::{Claim, LeaseToken, MailboxId};
use crate::{Database, Error};
use imapmig_core::FolderState;
use imapmig_core::store::{self, StateStore, StoreKey};

/// The largest state read back by default, as for imapmig-core's
/// `FileStore` (PostgreSQL's own limit for a `bytea` is 1 GiB too).
pub const DEFAULT_MAX_STATE_BYTES: u64 = 1 << 30;

/// The folder states of one mailbox in the `imapmig_folder_states` table,
/// encoded with imapmig-core's versioned, checksummed format
/// ([`store::encode`]).
///
/// Each [`save`](StateStore::save) is one UPSERT in one transaction:
/// after a crash, [`load`](StateStore::load) returns the previous state or
/// the new one. A fenced store ([`Database::fenced_store`]) saves only
/// while its claim's lease is the mailbox's current one: once another
/// worker took the mailbox over, a save fails with [`Error::LeaseLost`]
/// (inside [`imapmig_core::Error::Io`]; see [`Error::from_core`]) and
/// writes nothing.
///
/// It shares its [`Database`]'s connection: like it, it blocks, and may
/// be called from any thread.
pub struct PgStore {
    connection: Connection,
    mailbox: MailboxId,
    fence: Option<LeaseToken>,
    max_state_bytes: u64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", self.connection.url())
            .field("mailbox", &self.mailbox)
            .field("fence", &self.fence)
            .field("max_state_bytes", &self.max_state_bytes)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// The folder states of a mailbox, unfenced: for reading (a status
    /// report) or for a single worker without leases.
    pub fn state_store(&self, mailbox: MailboxId) -> PgStore {
        PgStore {
            connection: self.connection().clone(),
            mailbox,
            fence: None,
            max_state_bytes: DEFAULT_MAX_STATE_BYTES,
        }
    }

    /// The folder states of a claimed mailbox, fenced by the claim's
    /// token: saves fail once the lease is lost.
    pub fn fenced_store(&self, claim: &Claim) -> PgStore {
        PgStore {
            fence: Some(claim.token),
            ..self.state_store(claim.id())
        }
    }
}

impl PgStore {
    /// The mailbox whose states this store holds.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// The lease token saves are fenced by, if any.
    pub fn fence(&self) -> Option<LeaseToken> {
        self.fence
    }

    /// Sets the largest state [`load`](StateStore::load) reads (larger ones
    /// are an error, not read into memory).
    #[must_use]
    pub fn with_max_state_bytes(mut self, bytes: u64) -> PgStore {
        self.max_state_bytes = bytes;
        self
    }

    /// The keys saved for this mailbox, sorted.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::UnexpectedValue`] for a key that is
    /// not a valid [`StoreKey`].
    pub fn keys(&self) -> Result<Vec<StoreKey>, Error> {
        let mailbox = self.mailbox;
        self.connection.call(move |client, s| {
            let rows = client
                .query(
                    "SELECT store_key FROM imapmig_folder_states WHERE mailbox_id = $1
                     ORDER BY store_key",
                    &[&mailbox.get()],
                )
                .map_err(s.failed("list state keys"))?;
            rows.iter()
                .map(|row| {
                    let key: &str = row.get(0);
                    StoreKey::new(key).map_err(|_| Error::UnexpectedValue {
                        column: "store_key",
                        value: key.chars().take(64).collect(),
                    })
                })
                .collect()
        })
    }

    /// Where errors say the state is: the URL and the mailbox.
    fn location(&self) -> PathBuf {
        PathBuf::from(format!(
            "{}#mailbox={}",
            self.connection.url(),
            self.mailbox
        ))
    }

    fn core_error(&self, step: &'static str, error: Error) -> imapmig_core::Error {
        imapmig_core::Error::Io {
            path: self.location(),
            step,
            source: io::Error::other(error),
        }
    }

    /// The stored bytes of a key, `None` when never saved.
    fn load_bytes(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, Error> {
        let limit = self.max_state_bytes;
        let mailbox = self.mailbox;
        let key = key.clone();
        self.connection.call(move |client, s| {
            let row = client
                .query_opt(
                    "SELECT octet_length(state)::int8,
                            CASE WHEN octet_length(state) <= $3::int8 THEN state END
                     FROM imapmig_folder_states WHERE mailbox_id = $1 AND store_key = $2",
                    &[
                        &mailbox.get(),
                        &key.as_str(),
                        &i64::try_from(limit).unwrap_or(i64::MAX),
                    ],
                )
                .map_err(s.failed("load state"))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let bytes: Option<Vec<u8>> = row.get(1);
            match bytes {
                Some(bytes) => Ok(Some(bytes)),
                None => Err(Error::StateTooLarge {
                    mailbox,
                    key: key.to_string(),
                    bytes: u64::try_from(row.get::<_, i64>(0)).unwrap_or_default(),
                    limit,
                }),
            }
        })
    }

    /// The UPSERT, after checking the mailbox exists and, when fenced,
    /// that the lease is current (the mailbox row is locked `FOR SHARE`
    /// meanwhile, so no claim can take it over between check and write).
    fn save_bytes(&self, key: &StoreKey, bytes: Vec<u8>) -> Result<(), Error> {
        let (mailbox, fence) = (self.mailbox, self.fence);
        let key = key.clone();
        self.connection.call(move |client, s| {
            let mut tx = client
                .transaction()
                .map_err(s.failed("save state: begin"))?;
            let lease = tx
                .query_opt(
                    "SELECT l.token FROM imapmig_mailboxes m
                     LEFT JOIN imapmig_leases l ON l.mailbox_id = m.id
                     WHERE m.id = $1
                     FOR SHARE OF m",
                    &[&mailbox.get()],
                )
                .map_err(s.failed("save state: check the lease"))?
                .ok_or(Error::UnknownMailbox { mailbox })?;
            if let Some(fence) = fence {
                let current: Option<i64> = lease.get(0);
                if current != Some(fence.get()) {
                    return Err(Error::LeaseLost {
                        mailbox,
                        token: fence,
                    });
                }
            }
            tx.execute(
                "INSERT INTO imapmig_folder_states (mailbox_id, store_key, state, updated_at)
                 VALUES ($1, $2, $3, now())
                 ON CONFLICT (mailbox_id, store_key)
                 DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
                &[&mailbox.get(), &key.as_str(), &bytes],
            )
            .map_err(s.failed("save state"))?;
            tx.commit().map_err(s.failed("save state: commit"))
        })
    }
}

impl StateStore for PgStore {
    /// Loads and decodes a state. A stored state that does not decode, or
    /// that names another key, is an error ([`imapmig_core::Error::CorruptState`],
    /// [`imapmig_core::Error::KeyMismatch`]), never `None`; database
    /// trouble is [`imapmig_core::Error::Io`] with this crate's [`Error`]
    /// as its source.
    fn load(&self, key: &StoreKey) -> Result<Option<FolderState>, imapmig_core::Error> {
        let Some(bytes) = self
            .load_bytes(key)
            .map_err(|e| self.core_error("load", e))?
        else {
            return Ok(None);
        };
        let (found, state) = store::decode(&bytes).map_err(|e| match e {
            imapmig_core::Error::CorruptState { offset, reason, .. } => {
                imapmig_core::Error::CorruptState {
                    path: self.location(),
                    offset,
                    reason,
                }
            }
            other => other,
        })?;
        if &found != key {
            return Err(imapmig_core::Error::KeyMismatch {
                path: self.location(),
                found: found.to_string(),
                expected: key.to_string(),
            });
        }
        Ok(Some(state))
    }

    /// Encodes and saves a state atomically; when fenced, only while the
    /// lease is current ([`Error::LeaseLost`] inside
    /// [`imapmig_core::Error::Io`] otherwise).
    fn save(&self, key: &StoreKey, state: &FolderState) -> Result<(), imapmig_core::Error> {
        let bytes = store::encode(key, state);
        self.save_bytes(key, bytes)
            .map_err(|e| self.core_error("save", e))
    }
}
