//! Message identity for email migrations: Message-ID parsing, keyed 128-bit
//! fingerprints, a compact duplicate index, and duplicate reports.
//!
//! Repeat passes are normal in a safe migration (a historic sync, then a
//! delta at cutover, then a resume after throttling), so every pass must
//! recognise mail that is already at the destination: even when UIDs changed
//! (UIDVALIDITY reset), headers were rewritten in transit, or Gmail showed one
//! message under several labels. A false "duplicate" loses mail; a missed one
//! doubles it. This crate gives each message an identity that survives those
//! changes and refuses to merge messages that merely share a Message-ID.
//!
//! # What is here
//!
//! - [`message_id`]: RFC 5322 `msg-id` parsing with the obsolete forms, a
//!   documented normalisation, and [`MessageIdStatus`] for ids that cannot
//!   identify a message (absent, empty, ambiguous, weak).
//! - [`fingerprint`]: a [`Fingerprinter`] computing [`Fingerprint`]s by three
//!   [`Strategy`]s: Message-ID, header fields (from a
//!   [`FETCH_HEADER_FIELDS`](fingerprint::FETCH_HEADER_FIELDS) response alone),
//!   and content without transport headers. BLAKE3 keyed with a secret
//!   [`FingerprintKey`], so a sender cannot forge another message's identity.
//! - [`index`]: the [`Index`], under 24 bytes per message (22.8 measured
//!   at 10 million), with a [`Scope`] (same folder, any folder, previous runs)
//!   and crash-safe [`Index::save`] / [`Index::load`].
//! - [`group`]: a [`DuplicateFinder`] that gives each message a [`Verdict`]
//!   and a [`Report`] of duplicate groups, with the false-merge guard.
//!
//! # Example
//!
//! ```
//! use imapmig_dedupe::{FolderId, Index, Lookup, Scope};
//!
//! // First pass: record what was copied, then save beside the migration state.
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("dedupe.idx");
//! let mut index = Index::new(Scope::PREVIOUS_RUNS)?;
//! let fingerprinter = index.fingerprinter();
//! let inbox = FolderId::new(0).unwrap();
//! let copied = b"Message-ID: <k3j4@example.org>\r\nSubject: Q3\r\n\r\nnumbers\r\n";
//! let fp = fingerprinter.headers(copied);
//! assert_eq!(index.insert(fp, inbox)?, Lookup::New);
//! index.save(&path)?;
//!
//! // Next pass, after the source's UIDVALIDITY changed: ask for the header
//! // fields only (`fingerprint::FETCH_HEADER_FIELDS`), and skip what is there.
//! let index = Index::load(&path)?;
//! let fetched = b"Message-ID: <k3j4@EXAMPLE.org>\r\nSubject: =?utf-8?q?Q3?=\r\n\r\n";
//! let fp = index.fingerprinter().headers(fetched);
//! assert_eq!(index.lookup(fp, inbox), Lookup::Duplicate { folder: inbox, previous_run: true });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Other crates of the workspace take fingerprints as plain `u128` values
//! ([`Fingerprint::as_u128`], `From<Fingerprint> for u128`).
//!
//! # Input safety and limits
//!
//! Every parser here takes arbitrary bytes, never panics (the fuzz targets
//! `dedupe_message_id` and `dedupe_fingerprint` check this), and runs in time
//! linear in its input. Message-ID parsing is bounded by
//! [`MAX_MESSAGE_ID_LEN`](message_id::MAX_MESSAGE_ID_LEN),
//! [`MAX_COMMENT_DEPTH`](message_id::MAX_COMMENT_DEPTH) and
//! [`MAX_IDS_PER_FIELD`](message_id::MAX_IDS_PER_FIELD), and reports the byte
//! offset of what was wrong. Fingerprinting allocates at most a copy of one
//! header field at a time plus one small record per header field. Loading an
//! index allocates in step with the bytes actually read, so a lying entry
//! count cannot exhaust memory; a truncated or corrupt file is an
//! [`Error::CorruptIndex`]. Verdicts (duplicate, conflict, weak id) are
//! values, never errors.
//!
//! The crate is sans-IO except [`Index::save`] and [`Index::load`], which
//! write and read one file; everything else takes bytes.
//!
//! # Features
//!
//! - `serde`: `Serialize`/`Deserialize` for [`Fingerprint`], [`Strategy`],
//!   [`Scope`], [`Policy`], [`Verdict`] and the [`Report`] types.

mod error;
pub mod fingerprint;
pub mod group;
mod header;
pub mod index;
pub mod message_id;
mod store;

pub use error::{CorruptIndexKind, Error, MessageIdErrorKind};
pub use fingerprint::{Fingerprint, FingerprintKey, Fingerprinter, MessageFingerprints, Strategy};
pub use group::{Conflict, DuplicateFinder, DuplicateGroup, Member, Policy, Report, Verdict};
pub use index::{FolderId, FolderScope, Index, Lookup, RunScope, Scope};
pub use message_id::{MessageId, MessageIdStatus, Weakness};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
