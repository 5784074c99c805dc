//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Verdicts (a whale mailbox, a throttled reply, an exceeded bad-item
/// threshold) are values, not errors: this enum only covers input that
/// cannot be understood and I/O that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value could not be turned into one of the crate's newtypes.
    #[error("invalid {what}: {value:?}: {reason}")]
    InvalidValue {
        /// Which newtype was being built (`uid`, `flag`, `store key`, ...).
        what: &'static str,
        /// The rejected input, shortened to at most 64 characters.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An I/O operation of the state store failed.
    #[error("state store {path}: {step} failed")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The step that failed (`create`, `write`, `fsync`, `rename`, ...).
        step: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A state file is damaged: bad header, wrong length, bad checksum or
    /// a body that does not follow the format. Never treated as an empty
    /// state.
    #[error("state file {path}: corrupt at byte {offset}: {reason}")]
    CorruptState {
        /// The file that was read (empty for in-memory input).
        path: PathBuf,
        /// Byte offset in the file where the problem was found.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A state file was written by a newer version of the format.
    #[error("state file {path}: format version {found} is newer than the supported {supported}")]
    FutureVersion {
        /// The file that was read.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A state file belongs to another key than the one asked for.
    #[error("state file {path}: holds key {found:?}, expected {expected:?}")]
    KeyMismatch {
        /// The file that was read.
        path: PathBuf,
        /// The key recorded in the file.
        found: String,
        /// The key that was asked for.
        expected: String,
    },
    /// A STATUS response (RFC 3501 §7.2.4, RFC 8438) did not parse.
    #[error("status response: {reason} at byte {offset}")]
    StatusSyntax {
        /// Byte offset of the problem in the input.
        offset: usize,
        /// What was expected or wrong.
        reason: &'static str,
    },
    /// Writing the skipped-items CSV failed.
    #[error("cannot write skip log {path}")]
    SkipLog {
        /// The log file (empty when writing to a caller's writer).
        path: PathBuf,
        /// The underlying CSV or I/O error.
        #[source]
        source: csv::Error,
    },
    /// The migration engine got an event that breaks its protocol: nobody
    /// asked for it, or it names a message that is not in the current
    /// batch (a bug in the driver).
    #[error("migration engine: unexpected {event}{}, expected {expected}", uid.map(|u| format!(" for uid {u}")).unwrap_or_default())]
    UnexpectedEvent {
        /// The event's name (`Copied`, `Saved`, ...).
        event: &'static str,
        /// The source UID the event names, if any.
        uid: Option<crate::ids::Uid>,
        /// What the engine waited for.
        expected: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid(what: &'static str, value: &str, reason: &'static str) -> Self {
        let value = value.chars().take(64).collect();
        Error::InvalidValue {
            what,
            value,
            reason,
        }
    }
}
