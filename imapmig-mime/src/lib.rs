//! Corrupt-MIME classification, safe repairs and Exchange LegacyExchangeDN
//! recovery for email migrations.
//!
//! A migration must not stall on one rotten message from 2014, and must not
//! skip anything silently. This crate tells, for every raw message, whether
//! it is fine, mechanically repairable, or damaged, and why; repairs what can
//! be repaired without changing meaning; and recovers the old Exchange
//! identities (LegacyExchangeDN) that replies to old threads need.
//!
//! # Classify, then repair
//!
//! ```
//! use imapmig_mime::{classify, repair, Verdict};
//!
//! // An mbox-extracted message: LF line ends and a leftover envelope line.
//! let raw = b"From kim@example.org Mon Jan  1 10:00:00 2024\n\
//!             From: Kim <kim@example.org>\n\
//!             Date: Mon, 1 Jan 2024 10:00:00 +0000\n\
//!             Message-ID: <1@example.org>\n\
//!             Subject: hello\n\
//!             \n\
//!             Hi!\n";
//! let c = classify(raw);
//! assert_eq!(c.verdict, Verdict::Repairable);
//! assert_eq!(c.codes(), ["bare-lf", "envelope-from-line"]);
//!
//! let fixed = repair(raw);
//! assert_eq!(fixed.after.verdict, Verdict::Ok);
//! assert!(fixed.bytes.starts_with(b"From: Kim <kim@example.org>\r\n"));
//! ```
//!
//! # What is checked
//!
//! [`classify`] walks the message once and reports [`Defect`]s from a fixed
//! vocabulary ([`DefectKind`], in the order of the project's design, which
//! is also the order of [`Classification::codes`]): the header block (a
//! continuation on the first line, lines without a colon or with an illegal
//! field name, a missing empty line, raw 8-bit bytes that are not UTF-8,
//! malformed RFC 2047 encoded words), lines (NUL, bare LF or CR, lines over
//! 998 octets, an mbox `From ` line), required fields (`From`, a `Date` that
//! parses, exactly one `Message-ID`), the MIME tree (a multipart without a
//! usable boundary, a boundary that never appears or never closes, a part
//! reusing an enclosing boundary), transfer encodings (base64 characters,
//! padding and length; quoted-printable escapes; an unknown encoding or one
//! on a multipart), charsets (unknown labels, bytes invalid in the declared
//! charset, checked as the body is decoded), empty attachments, and
//! `text/calendar` parts that are not valid iCalendar objects.
//!
//! Each defect carries a byte range and the index of the [`Part`] it is in,
//! so a report can point at the broken attachment. The [`Verdict`] is the
//! worst [`Severity`] present: `corrupt` means content is lost or unreadable,
//! `repairable` that the message can be migrated (after [`repair`]).
//!
//! # Exchange identities
//!
//! The [`exchange`] module finds `IMCEAEX-…` addresses and raw X.500 DNs in
//! address headers, decodes them (MS-OXCMAIL §2.1.3.1.8) into
//! LegacyExchangeDN values and formats `X500:` proxy addresses.
//!
//! # Input safety and limits
//!
//! Classification never panics and never returns an error: any input gets a
//! verdict. Time is linear in the input (times the nesting depth) and memory
//! is bounded by [`Limits`] (size, depth, part count, header fields and
//! bytes): a MIME bomb gets `too-large` or `nesting-too-deep`, not the
//! machine. mail-parser, used to parse `Date` values, runs behind a
//! `catch_unwind` barrier: a panic there becomes the `parser-panic` defect.
//! Fuzz targets `mime_classify` and `mime_imceaex` exercise both parsers.
//!
//! # IO
//!
//! Everything is sans-IO except the [`source`] module, which reads messages
//! from a message file, a Maildir or an mbox, and walks trees of them.
//!
//! # Features
//!
//! * `serde`: `Serialize` for the reports ([`Classification`], [`Defect`],
//!   [`Part`], the `exchange` results); `Serialize` and `Deserialize` for the
//!   value types ([`Verdict`], [`DefectKind`] as its code, [`Severity`],
//!   [`Limits`], [`TransferEncoding`], [`source::SourceKind`]).

mod calendar;
mod charset;
mod classify;
mod date;
mod defect;
mod encoded_word;
mod error;
pub mod exchange;
mod header;
mod limits;
mod repair;
pub mod source;
mod transfer;

pub use classify::{Classification, Part, Verdict, classify, classify_with};
pub use defect::{Defect, DefectKind, Severity, UnknownDefectCode};
pub use error::Error;
pub use limits::Limits;
pub use repair::{Repaired, repair, repair_classified, repair_with};
pub use transfer::TransferEncoding;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
