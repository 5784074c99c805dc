//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Duplicate verdicts are never errors: they are [`Verdict`](crate::Verdict)
/// and [`Lookup`](crate::Lookup) values. An `Error` means input that could not
/// be read at all (a Message-ID that does not parse, an index file that is
/// truncated or corrupt) or an operating-system failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Message-ID header value does not parse.
    #[error("invalid message-id at byte {offset}: {reason}")]
    MessageId {
        /// Byte offset into the header value where parsing stopped.
        offset: usize,
        /// What was wrong there.
        reason: MessageIdErrorKind,
    },
    /// A header field name given to [`Fingerprinter::with_fields`](crate::Fingerprinter::with_fields)
    /// is not an RFC 5322 field name.
    #[error("invalid header field name {name:?} at position {position} of the field list")]
    FieldName {
        /// The rejected name.
        name: String,
        /// Its position in the list, from 0.
        position: usize,
    },
    /// A folder number does not fit the index (at most [`FolderId::MAX`](crate::FolderId::MAX)).
    #[error("folder id {0} is larger than the index allows")]
    FolderId(u32),
    /// The index has reached its maximum number of entries.
    #[error("index is full: {entries} entries")]
    IndexFull {
        /// Entries held when the insert was refused.
        entries: usize,
    },
    /// A saved index is truncated, corrupt or from an unknown version.
    #[error("corrupt index{}: at byte {offset}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    CorruptIndex {
        /// The file, when the index was read from one.
        path: Option<PathBuf>,
        /// Byte offset where the problem was found.
        offset: usize,
        /// What was wrong.
        reason: CorruptIndexKind,
    },
    /// The operating system's random source failed while generating a key.
    #[error("cannot generate a fingerprint key: {0}")]
    Random(getrandom::Error),
    /// Reading or writing an index failed.
    #[error("cannot {action}{}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Io {
        /// What was being done (`"write index"`, `"read index"`, ...).
        action: &'static str,
        /// The file involved, when there is one.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a Message-ID did not parse (see [`Error::MessageId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageIdErrorKind {
    /// The value holds no Message-ID at all (empty, only comments, or `<>`).
    #[error("no message-id")]
    Empty,
    /// The value holds more than one Message-ID where exactly one was asked for.
    #[error("more than one message-id")]
    Several,
    /// A `(` comment is not closed.
    #[error("unterminated comment")]
    UnterminatedComment,
    /// Comments nest deeper than [`MAX_COMMENT_DEPTH`](crate::message_id::MAX_COMMENT_DEPTH).
    #[error("comments nested too deep")]
    CommentTooDeep,
    /// A `"` quoted string is not closed.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A `<` has no matching `>`.
    #[error("missing '>'")]
    UnterminatedAngle,
    /// A `[` domain literal has no matching `]`.
    #[error("missing ']'")]
    UnterminatedLiteral,
    /// A byte that cannot appear in a Message-ID (a control character, or a
    /// stray `>` or `)`).
    #[error("unexpected character")]
    UnexpectedByte,
    /// Bytes that are not UTF-8 (RFC 6532 allows UTF-8, nothing else).
    #[error("invalid utf-8")]
    InvalidUtf8,
    /// Longer than [`MAX_MESSAGE_ID_LEN`](crate::message_id::MAX_MESSAGE_ID_LEN).
    #[error("message-id too long")]
    TooLong,
    /// More Message-IDs in one value than [`MAX_IDS_PER_FIELD`](crate::message_id::MAX_IDS_PER_FIELD).
    #[error("too many message-ids in one field")]
    TooMany,
}

/// Why a saved index was rejected (see [`Error::CorruptIndex`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptIndexKind {
    /// The file does not start with the index magic bytes.
    #[error("not an imapmig index (bad magic)")]
    BadMagic,
    /// The file was written by a format version this build does not read.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u32),
    /// The file ends before the data its header announces.
    #[error("truncated")]
    Truncated,
    /// The file has bytes after the end of the index.
    #[error("trailing bytes")]
    TrailingBytes,
    /// The checksum over the file does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// A field holds a value the format does not allow.
    #[error("invalid field value")]
    InvalidField,
}
