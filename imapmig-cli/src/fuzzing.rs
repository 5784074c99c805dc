//! Thin entry points into the binary's own parsers, for the fuzz targets in `fuzz/` and tests.
//!
//! Nothing here re-implements a parser: [`parse_imap_url`] is the `Endpoint` parser the
//! `--source`/`--target` options use, and [`read_frames`] drives the real response framing
//! (`FrameReader`) and classifier that every IMAP session reads through, over bytes held in
//! memory, with small limits ([`MAX_LINE`], [`MAX_LITERAL`]). Not a stable API.
//!
//! ```
//! use imapmig_cli::fuzzing::{FrameEnd, FrameKind, parse_imap_url, read_frames};
//!
//! assert_eq!(
//!     parse_imap_url("imaps://alice@mail.example.org").as_deref(),
//!     Ok("imaps://alice@mail.example.org:993"),
//! );
//!
//! let run = read_frames(b"* 1 FETCH (BODY[] {5}\r\nHello)\r\na1 OK done\r\n");
//! assert_eq!(run.frames.len(), 2);
//! assert_eq!(run.frames[0].literals, vec![5]);
//! assert_eq!(run.frames[1].kind, FrameKind::Done);
//! assert_eq!(run.end, FrameEnd::Closed);
//! ```

use std::time::Duration;

use crate::imap::Endpoint;
use crate::imap::wire::{Classified, FrameReader, Limits, ReadFailure, Step, classify};

/// The longest line [`read_frames`] accepts (CRLF included, literals not counted).
pub const MAX_LINE: usize = 512;

/// The largest literal [`read_frames`] accepts.
pub const MAX_LITERAL: u64 = 4096;

/// Parses an `imap[s]://USER@HOST[:PORT][?starttls][&auth=…]` URL as `--source`/`--target`
/// do: `Ok` with the endpoint's display form (`imap[s]://USER@HOST:PORT`), or `Err` with the
/// error's text (any password in the URL redacted).
///
/// ```
/// use imapmig_cli::fuzzing::parse_imap_url;
///
/// assert_eq!(
///     parse_imap_url("imap://bob@127.0.0.1:1143?starttls").as_deref(),
///     Ok("imap://bob@127.0.0.1:1143"),
/// );
/// let err = parse_imap_url("imap://bob:hunter2@host").unwrap_err();
/// assert!(err.contains("password in the URL is refused"), "{err}");
/// assert!(!err.contains("hunter2"), "{err}");
/// ```
pub fn parse_imap_url(url: &str) -> Result<String, String> {
    url.parse::<Endpoint>()
        .map(|e| e.to_string())
        .map_err(|e| e.to_string())
}

/// What the session's frame classifier made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `+ …`: a continuation request.
    Continue,
    /// A tagged completion.
    Done,
    /// An untagged response imap-proto parsed.
    Untagged,
    /// An untagged response the session reads with its own parsers (or ignores).
    Raw,
    /// Not IMAP as the session knows it.
    Unparseable,
}

/// One whole response cut from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The response's bytes, CRLF and literals included.
    pub bytes: Vec<u8>,
    /// The literal lengths announced in it, in order.
    pub literals: Vec<u64>,
    /// What the classifier made of it.
    pub kind: FrameKind,
}

/// Why [`read_frames`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEnd {
    /// The input ran out (any bytes after the last frame are an unfinished response).
    Closed,
    /// A line longer than [`MAX_LINE`].
    LineTooLong {
        /// Bytes of the line read without its end.
        at: usize,
        /// The limit.
        limit: usize,
    },
    /// A literal announced larger than [`MAX_LITERAL`].
    LiteralTooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Any other read failure (a read error, a time-out, or no runtime), as text.
    Other(String),
}

/// The frames read from an input, and why reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRun {
    /// The whole responses, in order.
    pub frames: Vec<Frame>,
    /// Why reading stopped.
    pub end: FrameEnd,
}

/// Reads `bytes` as a server's response stream with the session's `FrameReader` (limits
/// [`MAX_LINE`] and [`MAX_LITERAL`]) until it fails, and classifies each frame.
///
/// ```
/// use imapmig_cli::fuzzing::{FrameEnd, FrameKind, MAX_LITERAL, read_frames};
///
/// let run = read_frames(b"+ go ahead\r\n* 3 EXISTS\r\n* BYE {99999}\r\n");
/// let kinds: Vec<_> = run.frames.iter().map(|f| f.kind).collect();
/// assert_eq!(kinds, [FrameKind::Continue, FrameKind::Untagged]);
/// assert_eq!(run.end, FrameEnd::LiteralTooLarge { size: 99999, limit: MAX_LITERAL });
/// ```
pub fn read_frames(bytes: &[u8]) -> FrameRun {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return FrameRun {
                frames: Vec::new(),
                end: FrameEnd::Other(e.to_string()),
            };
        }
    };
    runtime.block_on(async {
        let mut reader = FrameReader::new(Limits {
            max_line: MAX_LINE,
            max_literal: MAX_LITERAL,
        });
        let mut io = bytes;
        let mut frames = Vec::new();
        let mut literals = Vec::new();
        loop {
            match reader.step(&mut io, Duration::from_secs(5)).await {
                Ok(Step::Literal(n)) => literals.push(n),
                Ok(Step::Frame(frame)) => {
                    let kind = match classify(&frame) {
                        Classified::Continue => FrameKind::Continue,
                        Classified::Done(_) => FrameKind::Done,
                        Classified::Untagged(_) => FrameKind::Untagged,
                        Classified::Raw(_) => FrameKind::Raw,
                        Classified::Unparseable => FrameKind::Unparseable,
                    };
                    frames.push(Frame {
                        bytes: frame.to_vec(),
                        literals: std::mem::take(&mut literals),
                        kind,
                    });
                }
                Err(failure) => {
                    let end = match failure {
                        ReadFailure::Closed => FrameEnd::Closed,
                        ReadFailure::LineTooLong { at, limit } => {
                            FrameEnd::LineTooLong { at, limit }
                        }
                        ReadFailure::LiteralTooLarge { size, limit } => {
                            FrameEnd::LiteralTooLarge { size, limit }
                        }
                        other => FrameEnd::Other(format!("{other:?}")),
                    };
                    return FrameRun { frames, end };
                }
            }
        }
    })
}
