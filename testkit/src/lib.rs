//! Real servers for imapmig's tests: Dovecot (IMAP) and Knot (DNS), each
//! started on a free port of 127.0.0.1 in a fresh temp dir, in its own
//! process group, and killed and removed on drop, also when a test panics.
//!
//! ```
//! use testkit::{Dovecot, Layout};
//!
//! // `None` only when Dovecot is missing and CI is not "true".
//! let Some(server) = Dovecot::start(Layout::Gmail) else { return };
//! server.seed("INBOX", &[b"Subject: hello\r\n\r\nworld\r\n"]);
//! server.seed_archived(&[b"Subject: old\r\n\r\narchived\r\n"]);
//! assert_eq!(server.messages("INBOX").len(), 1);
//! assert_eq!(server.messages("[Gmail]/All Mail").len(), 2);
//! ```
//!
//! # Servers
//! - [`Dovecot`] in three [`Layout`]s (slash, dot with `INBOX.` prefix,
//!   Gmail-like), with an optional storage quota (`NO [OVERQUOTA]`) and
//!   connection limit (`NO [LIMIT]`) from [`DovecotConfig`]; helpers to seed
//!   raw messages fast, force a UIDVALIDITY, and read back server state.
//! - [`Knot`] serving zone texts over UDP and TCP.
//! - [`FaultProxy`] in front of any TCP server: delays, bandwidth caps,
//!   cuts, injected `* BYE` and `NO [THROTTLED]`/`[LIMIT]`/`[UNAVAILABLE]`,
//!   `APPEND`s refused as Cyrus/Exchange/Gmail do ([`Fault::RejectAppend`]).
//! - [`RawImap`]: a blocking IMAP connection returning raw reply bytes.
//!
//! # Missing servers
//! Binaries are looked up in `TESTKIT_PATH` if set, else in `PATH` plus
//! `/usr/local/sbin`, `/usr/sbin` and `/sbin`. When one is missing,
//! `start` prints what to install and returns `None` so the test can skip,
//! except under `CI=true` ([`ci`]), where it panics: a missing server is a
//! failure there. `scripts/test` installs them all on Debian.
//!
//! # Users
//! As root, Dovecot runs the mail processes as `nobody` and its own as
//! `dovecot`/`dovenull` (Debian's users), as packaged. As any other user,
//! everything runs as that user, without chroot. Timings and pitfalls of
//! both servers are in `TEST-SERVERS.md` of the design notes.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test kit fails the test loudly when a server cannot be set up"
)]

mod dovecot;
mod fault_proxy;
mod imap;
mod internal_date;
mod knot;
mod mutf7;
mod process;

pub use dovecot::{Dovecot, DovecotConfig, Layout};
pub use fault_proxy::{AppendRule, Fault, FaultCounts, FaultProxy, RejectCode};
pub use imap::{Closed, RawImap, quote_mailbox};
pub use knot::Knot;
pub use process::group_alive;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Whether the environment variable `CI` is `true`: missing servers then
/// fail tests instead of skipping them.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}
