//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate.
///
/// Each variant says where the problem is: a byte offset into the input, or
/// a line and column of a rules file. Verdicts (a folder skipped, a name
/// transformed for a target) are not errors: they are values in a
/// [`FolderPlan`](crate::FolderPlan).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A modified UTF-7 mailbox name that does not decode (RFC 3501 §5.1.3).
    #[error("invalid modified utf-7 at byte {offset}: {kind}")]
    Mutf7 {
        /// Byte offset of the offending character or of the `&` that opened the bad run.
        offset: usize,
        /// What was wrong.
        kind: Mutf7ErrorKind,
    },
    /// Input that must be UTF-8 is not.
    #[error("input is not valid utf-8 at byte {offset}")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A mailbox name that no IMAP command can carry (NUL, CR or LF).
    #[error("mailbox name has a forbidden byte 0x{byte:02x} at byte {offset}")]
    ForbiddenByte {
        /// Byte offset of the byte.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A LIST, LSUB or NAMESPACE response that does not follow its grammar.
    #[error("malformed {response} response at byte {offset}: {reason}")]
    Response {
        /// Which response was being parsed (`LIST`, `LSUB`, `NAMESPACE`, `X-GM-LABELS`).
        response: &'static str,
        /// Byte offset into the response.
        offset: usize,
        /// What was expected or wrong.
        reason: &'static str,
    },
    /// A response larger than the parser's limit.
    #[error("{response} response of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Which response.
        response: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A rules file line that does not parse.
    #[error("rules line {line}, column {column}: {reason}")]
    Rule {
        /// 1-based line number.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What was wrong (for a bad regex, the regex engine's message).
        reason: String,
    },
    /// Two distinct source folders would land on one target folder.
    #[error(
        "folder collision: {first:?} and {second:?} would both become {target:?} on the target"
    )]
    Collision {
        /// The first source folder (decoded).
        first: String,
        /// The second source folder (decoded).
        second: String,
        /// The target name both would land on (decoded).
        target: String,
    },
    /// A hierarchy delimiter that cannot be used (not a single printable ASCII character).
    #[error("invalid hierarchy delimiter {0:?}: must be one printable ascii character")]
    Delimiter(String),
}

/// What was wrong in a modified UTF-7 name; see [`Error::Mutf7`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mutf7ErrorKind {
    /// A base64 run (`&...`) with no closing `-`.
    Unterminated,
    /// A character that is not in the modified base64 alphabet inside a run.
    InvalidBase64,
    /// A base64 run directly after another one (`&...-&...-`): not canonical.
    NullShift,
    /// A base64 run that encodes a printable US-ASCII character, which must represent itself.
    UnnecessaryEncoding,
    /// A base64 run whose unused trailing bits are not zero, or that leaves
    /// a partial UTF-16 unit.
    BadPadding,
    /// A UTF-16 surrogate without its partner.
    LoneSurrogate,
    /// A raw byte outside printable US-ASCII (0x20-0x7e).
    NonPrintable(u8),
}

impl fmt::Display for Mutf7ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unterminated => f.write_str("base64 run not closed by '-'"),
            Self::InvalidBase64 => f.write_str("character outside the modified base64 alphabet"),
            Self::NullShift => f.write_str("base64 run directly follows another (null shift)"),
            Self::UnnecessaryEncoding => {
                f.write_str("base64 encodes a printable ascii character that must represent itself")
            }
            Self::BadPadding => f.write_str("non-zero or excess padding bits at the end of a run"),
            Self::LoneSurrogate => f.write_str("utf-16 surrogate without its partner"),
            Self::NonPrintable(b) => write!(f, "raw byte 0x{b:02x} outside printable ascii"),
        }
    }
}
