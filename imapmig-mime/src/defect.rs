//! The defect vocabulary: what can be wrong with a message, in a fixed order.
//!
//! The codes and their order are fixed by the project's design ("Defect
//! vocabulary") so that scripts and reports can rely on them. The last code,
//! `parser-panic`, is this crate's addition: it marks a message on which a
//! third-party parser panicked (the panic is caught, see
//! [`classify`](crate::classify)).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// How bad a defect is on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Severity {
    /// The message can be migrated, after [`repair`](crate::repair) where a
    /// repair exists, when nothing worse is present.
    Repairable,
    /// Part of the message is lost or unreadable: migrating it copies damage.
    Corrupt,
}

/// A kind of defect, one per code of the vocabulary, in the vocabulary's order.
///
/// `Ord` follows the vocabulary's order, so sorting defects by kind sorts them
/// as the command line prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(into = "&'static str", try_from = "String"))]
#[non_exhaustive]
pub enum DefectKind {
    /// `empty`: zero bytes, or only whitespace.
    Empty,
    /// `no-headers`: the message does not start with a header block.
    NoHeaders,
    /// `nul-byte`: the message contains a NUL byte.
    NulByte,
    /// `bare-lf`: a line ends with LF without CR, or a CR stands without LF.
    BareLf,
    /// `line-too-long`: a line is longer than 998 octets (RFC 5322 §2.1.1).
    LineTooLong,
    /// `envelope-from-line`: an mbox `From ` line inside the header block.
    EnvelopeFromLine,
    /// `first-line-continuation`: the first header line starts with white space.
    FirstLineContinuation,
    /// `invalid-header`: a header line without a colon, or with an illegal field name.
    InvalidHeader,
    /// `missing-header-body-separator`: the header block ends without an empty line.
    MissingHeaderBodySeparator,
    /// `eight-bit-header`: raw 8-bit bytes in a header that are not UTF-8 (RFC 6532).
    EightBitHeader,
    /// `invalid-encoded-word`: a malformed RFC 2047 encoded word.
    InvalidEncodedWord,
    /// `missing-from`: no `From` header.
    MissingFrom,
    /// `missing-date`: no `Date` header.
    MissingDate,
    /// `invalid-date`: a `Date` header that does not parse.
    InvalidDate,
    /// `missing-message-id`: no (or an empty) `Message-ID` header.
    MissingMessageId,
    /// `duplicate-message-id-header`: more than one `Message-ID` header.
    DuplicateMessageIdHeader,
    /// `no-boundary`: a multipart without a usable boundary parameter.
    NoBoundary,
    /// `start-boundary-missing`: the boundary never appears in the multipart body.
    StartBoundaryMissing,
    /// `close-boundary-missing`: the closing boundary is absent (the message is truncated).
    CloseBoundaryMissing,
    /// `invalid-cte`: an unknown Content-Transfer-Encoding, or a non-identity one on a
    /// multipart or a message/rfc822 (RFC 2045 §6.4, RFC 2046 §5.2.1).
    InvalidCte,
    /// `invalid-base64`: bad characters, padding or length in a base64 part.
    InvalidBase64,
    /// `invalid-quoted-printable`: a malformed quoted-printable escape.
    InvalidQuotedPrintable,
    /// `unknown-charset`: a charset label no decoder knows.
    UnknownCharset,
    /// `undecodable-text`: bytes that are invalid in the declared charset.
    UndecodableText,
    /// `empty-attachment`: an attachment with zero bytes of content.
    EmptyAttachment,
    /// `calendar-malformed`: a `text/calendar` part that is not a valid iCalendar object.
    CalendarMalformed,
    /// `nesting-too-deep`: MIME nesting beyond [`Limits::max_depth`](crate::Limits::max_depth).
    NestingTooDeep,
    /// `too-large`: over a configured size limit (bytes, parts, header fields).
    TooLarge,
    /// `parser-panic`: a third-party parser panicked on the message (caught).
    ParserPanic,
}

impl DefectKind {
    /// Every kind, in the vocabulary's order.
    pub const ALL: [DefectKind; 29] = [
        Self::Empty,
        Self::NoHeaders,
        Self::NulByte,
        Self::BareLf,
        Self::LineTooLong,
        Self::EnvelopeFromLine,
        Self::FirstLineContinuation,
        Self::InvalidHeader,
        Self::MissingHeaderBodySeparator,
        Self::EightBitHeader,
        Self::InvalidEncodedWord,
        Self::MissingFrom,
        Self::MissingDate,
        Self::InvalidDate,
        Self::MissingMessageId,
        Self::DuplicateMessageIdHeader,
        Self::NoBoundary,
        Self::StartBoundaryMissing,
        Self::CloseBoundaryMissing,
        Self::InvalidCte,
        Self::InvalidBase64,
        Self::InvalidQuotedPrintable,
        Self::UnknownCharset,
        Self::UndecodableText,
        Self::EmptyAttachment,
        Self::CalendarMalformed,
        Self::NestingTooDeep,
        Self::TooLarge,
        Self::ParserPanic,
    ];

    /// The code, as printed by `imapmig mime classify`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NoHeaders => "no-headers",
            Self::NulByte => "nul-byte",
            Self::BareLf => "bare-lf",
            Self::LineTooLong => "line-too-long",
            Self::EnvelopeFromLine => "envelope-from-line",
            Self::FirstLineContinuation => "first-line-continuation",
            Self::InvalidHeader => "invalid-header",
            Self::MissingHeaderBodySeparator => "missing-header-body-separator",
            Self::EightBitHeader => "eight-bit-header",
            Self::InvalidEncodedWord => "invalid-encoded-word",
            Self::MissingFrom => "missing-from",
            Self::MissingDate => "missing-date",
            Self::InvalidDate => "invalid-date",
            Self::MissingMessageId => "missing-message-id",
            Self::DuplicateMessageIdHeader => "duplicate-message-id-header",
            Self::NoBoundary => "no-boundary",
            Self::StartBoundaryMissing => "start-boundary-missing",
            Self::CloseBoundaryMissing => "close-boundary-missing",
            Self::InvalidCte => "invalid-cte",
            Self::InvalidBase64 => "invalid-base64",
            Self::InvalidQuotedPrintable => "invalid-quoted-printable",
            Self::UnknownCharset => "unknown-charset",
            Self::UndecodableText => "undecodable-text",
            Self::EmptyAttachment => "empty-attachment",
            Self::CalendarMalformed => "calendar-malformed",
            Self::NestingTooDeep => "nesting-too-deep",
            Self::TooLarge => "too-large",
            Self::ParserPanic => "parser-panic",
        }
    }

    /// How bad this defect is on its own.
    pub const fn severity(self) -> Severity {
        match self {
            Self::Empty
            | Self::NoHeaders
            | Self::NoBoundary
            | Self::StartBoundaryMissing
            | Self::CloseBoundaryMissing
            | Self::InvalidBase64
            | Self::CalendarMalformed
            | Self::NestingTooDeep
            | Self::TooLarge
            | Self::ParserPanic => Severity::Corrupt,
            _ => Severity::Repairable,
        }
    }
}

impl fmt::Display for DefectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl From<DefectKind> for &'static str {
    fn from(kind: DefectKind) -> Self {
        kind.code()
    }
}

/// The error of parsing a defect code that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown defect code {0:?}")]
pub struct UnknownDefectCode(pub String);

impl FromStr for DefectKind {
    type Err = UnknownDefectCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.code() == code)
            .ok_or_else(|| UnknownDefectCode(code.to_owned()))
    }
}

impl TryFrom<String> for DefectKind {
    type Error = UnknownDefectCode;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        code.parse()
    }
}

impl TryFrom<&str> for DefectKind {
    type Error = UnknownDefectCode;

    fn try_from(code: &str) -> Result<Self, Self::Error> {
        code.parse()
    }
}

/// One defect found in a message: what, where, and how often.
///
/// Defects are merged per kind and part: `range` is the first occurrence and
/// `count` says how many there were. Line-level defects (`nul-byte`,
/// `bare-lf`, `line-too-long`) are merged over the whole message and carry
/// the part of their first occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Defect {
    /// What is wrong.
    pub kind: DefectKind,
    /// Byte range of the first occurrence in the classified message. Empty
    /// when the defect is an absence (a missing header: the range is the
    /// header block; a missing boundary: the end of the part).
    pub range: Range<usize>,
    /// Index in [`Classification::parts`](crate::Classification::parts) of
    /// the part where it was found (0 is the message itself).
    pub part: usize,
    /// How many occurrences were merged into this entry.
    pub count: usize,
    /// A short explanation, when the code alone is not enough.
    pub note: Option<&'static str>,
}

impl Defect {
    /// The defect's code (`"bare-lf"`...).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_in_order() {
        let mut previous = None;
        for kind in DefectKind::ALL {
            assert_eq!(kind.code().parse::<DefectKind>().unwrap(), kind);
            if let Some(previous) = previous {
                assert!(previous < kind, "{previous} before {kind}");
            }
            previous = Some(kind);
        }
        assert!("nope".parse::<DefectKind>().is_err());
    }

    #[test]
    fn severities_match_the_vocabulary() {
        let corrupt: Vec<&str> = DefectKind::ALL
            .into_iter()
            .filter(|k| k.severity() == Severity::Corrupt)
            .map(DefectKind::code)
            .collect();
        assert_eq!(
            corrupt,
            [
                "empty",
                "no-headers",
                "no-boundary",
                "start-boundary-missing",
                "close-boundary-missing",
                "invalid-base64",
                "calendar-malformed",
                "nesting-too-deep",
                "too-large",
                "parser-panic"
            ]
        );
    }
}
