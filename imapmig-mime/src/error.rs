//! The crate's one error type.
//!
//! Classification never fails: a damaged message is a [`Verdict`](crate::Verdict),
//! not an error. Errors come from the edges: reading a mailbox from disk
//! ([`source`](crate::source)) and decoding a string that is not what its
//! caller said it was (an IMCEA address, an X.500 DN).

use std::path::PathBuf;

/// Everything that can go wrong in this crate, with the position of what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file or directory failed.
    #[error("cannot read {path}")]
    Io {
        /// The file or directory that could not be read.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A directory was given as a mailbox but has neither `cur/` nor `new/`.
    #[error("{path} is a directory but not a Maildir (no cur/ or new/)")]
    NotAMaildir {
        /// The directory.
        path: PathBuf,
    },
    /// A mail folder's name on disk is not UTF-8, so it has no folder name.
    #[error("folder name of {path} is not UTF-8")]
    NonUtf8Name {
        /// The directory or file with the undecodable name.
        path: PathBuf,
    },
    /// A mail tree nests directories deeper than the walker follows.
    #[error("{path} is nested deeper than {limit} directories")]
    TreeTooDeep {
        /// The directory at which the walk stopped.
        path: PathBuf,
        /// The depth limit.
        limit: usize,
    },
    /// A string is not an IMCEA-encapsulated address.
    #[error("not an IMCEA address at offset {offset}: {reason}")]
    NotImcea {
        /// Byte offset in the input where the expected form broke.
        offset: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// An IMCEA address contains a `+` escape that is not two hex digits.
    #[error("invalid '+XX' escape at offset {offset} in IMCEA address")]
    InvalidEscape {
        /// Byte offset of the `+`.
        offset: usize,
    },
    /// A decoded LegacyExchangeDN is not a valid X.500 DN in Exchange's form.
    #[error("invalid LegacyExchangeDN at offset {offset}: {reason}")]
    InvalidDn {
        /// Byte offset in the DN where it broke.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
