//! Corrupt-MIME classification, safe repairs and Exchange LegacyExchangeDN
//! recovery for email migrations.
//!
//! The [`source`] module reads messages from message files, Maildirs and mbox
//! files; it is the only module that does IO.
//!
//! ```
//! let mbox = b"From a Mon Jan  1 00:00:00 2024\nSubject: hi\n\nbody\n";
//! assert_eq!(imapmig_mime::source::mbox_messages(mbox).count(), 1);
//! ```

mod error;
pub mod source;

pub use error::Error;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
