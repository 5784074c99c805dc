//! The crate's one error type.

use crate::queue::{LeaseToken, MailboxId};

/// Everything that can go wrong in this crate.
///
/// No variant carries a password: URLs appear with it replaced by `***`.
/// A mailbox that failed to migrate is not an error but a
/// [`MailboxResult`](crate::MailboxResult) with [`Outcome::Failed`](crate::Outcome::Failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection URL does not parse.
    #[error("invalid postgres url {url}: {reason}")]
    InvalidUrl {
        /// The URL, its password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached, or refused the login.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL, its password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// A statement failed (connection lost, constraint, timeout...).
    #[error("{url}: {step} failed")]
    Database {
        /// The URL, its password replaced by `***`.
        url: String,
        /// What was being done (`claim`, `save state`, `migration 2`...).
        step: &'static str,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// The connection's thread is gone: a statement's handling panicked
    /// there. Connect again.
    #[error("{url}: the connection's thread is gone")]
    ConnectionGone {
        /// The URL, its password replaced by `***`.
        url: String,
    },
    /// A thread (for the connection, or to keep a lease renewed) could
    /// not be started.
    #[error("cannot start a thread")]
    Thread {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The database was migrated by a newer build: its schema is not one
    /// this build knows.
    #[error("database schema version {found} is newer than this build's {supported}")]
    FutureSchema {
        /// The version recorded in `imapmig_schema`.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
    /// The lease was taken over by another worker (after it expired), or
    /// the mailbox was finished or released: this worker must stop working
    /// on the mailbox. Nothing was written.
    #[error("lease {token} on mailbox {mailbox} is lost: another worker owns the mailbox now")]
    LeaseLost {
        /// The mailbox.
        mailbox: MailboxId,
        /// The fencing token that is no longer current.
        token: LeaseToken,
    },
    /// [`Database::enqueue_round`](crate::Database::enqueue_round) was
    /// asked for a round lower than the one a mailbox is already at: an
    /// earlier pass cannot run after a later one started. Nothing was
    /// enqueued.
    #[error(
        "mailbox {url} is at round {current}: round {asked} is behind it \
         (ask for round {current} or higher)"
    )]
    RoundBehind {
        /// The mailbox's source URL (without a password).
        url: String,
        /// The round the mailbox is at.
        current: u32,
        /// The round asked for.
        asked: u32,
    },
    /// No mailbox has this id.
    #[error("mailbox {mailbox} does not exist")]
    UnknownMailbox {
        /// The id asked for.
        mailbox: MailboxId,
    },
    /// A value given to this crate is out of range or malformed.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidValue {
        /// What the value is (`worker`, `lease ttl`, `source url`...).
        what: &'static str,
        /// The value, shortened to 64 characters (a URL with its password
        /// replaced).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A stored folder state is larger than the store's limit: it is not
    /// read into memory.
    #[error("mailbox {mailbox}: state {key} is {bytes} bytes, over the limit of {limit}")]
    StateTooLarge {
        /// The mailbox.
        mailbox: MailboxId,
        /// The store key.
        key: String,
        /// Its size in the database.
        bytes: u64,
        /// The store's limit.
        limit: u64,
    },
    /// The database holds a value this build cannot read (a status it does
    /// not know, a negative count): changed by hand, or by a newer build.
    #[error("unexpected {column} {value:?} in the database")]
    UnexpectedValue {
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

impl Error {
    /// This crate's error inside an error of imapmig-core, where
    /// [`PgStore`](crate::PgStore)'s `StateStore` methods put it (as the
    /// source of [`imapmig_core::Error::Io`]): so a driver that gets a
    /// core error back can tell a lost lease from a broken connection.
    ///
    /// ```
    /// use imapmig_pg::{Error, LeaseToken, MailboxId};
    ///
    /// let lost = Error::LeaseLost { mailbox: MailboxId::new(7), token: LeaseToken::new(3) };
    /// let core = imapmig_core::Error::Io {
    ///     path: "postgres://u@db/imapmig#mailbox=7".into(),
    ///     step: "save",
    ///     source: std::io::Error::other(lost),
    /// };
    /// assert!(matches!(Error::from_core(&core), Some(Error::LeaseLost { .. })));
    /// ```
    pub fn from_core(error: &imapmig_core::Error) -> Option<&Error> {
        match error {
            imapmig_core::Error::Io { source, .. } => source.get_ref()?.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// Whether this is [`Error::LeaseLost`].
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, Error::LeaseLost { .. })
    }

    pub(crate) fn invalid(what: &'static str, value: &str, reason: &'static str) -> Error {
        Error::InvalidValue {
            what,
            value: value.chars().take(64).collect(),
            reason,
        }
    }
}
