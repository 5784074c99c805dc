//! Real servers for imapmig's tests: Dovecot, Cyrus and Courier (IMAP) and
//! Knot (DNS), each started on a free port of 127.0.0.1 in a fresh temp
//! dir, in its own process group, and killed and removed on drop, also when
//! a test panics.
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
//! - [`Cyrus`] (Cyrus IMAP 3.6) and [`Courier`] (Courier-IMAP 5), both
//!   with the `INBOX.` prefix and `.` separator, an optional storage quota
//!   ([`CyrusConfig`], [`CourierConfig`]), and what a migrator must cope
//!   with left as the servers do it: Cyrus stores raw 8-bit header bytes as
//!   `X` and answers a plain `NO Over quota`; Courier has no `LITERAL+` (its
//!   `seed` and `append` wait for the `+`), refuses an `APPEND` into a
//!   `\Noselect` parent with `NO [TRYCREATE]`. Both seed, read back and
//!   force a new UIDVALIDITY over IMAP only. Debian's packages of the three
//!   IMAP servers conflict: `scripts/test` installs Dovecot and unpacks
//!   `cyrus-imapd` and `courier-imap` into `TESTKIT_SERVERS_ROOT` (default
//!   `target/servers`), where testkit finds them. Courier needs root: each
//!   instance runs in a private mount namespace.
//! - [`Knot`] serving zone texts over UDP and TCP.
//! - [`Postgres`] (Debian's `postgresql`, any installed major version):
//!   a fresh cluster with trust authentication for the superuser
//!   `postgres`, its URL ([`Postgres::url`]), a database per test
//!   ([`Postgres::create_database`]) and `psql` to look inside. `initdb`
//!   runs once per version and user into a template kept under
//!   `target/testkit-postgres` (2 to 3 s); each server copies it and
//!   accepts connections 0.5 to 0.8 s after `start`. As root it runs as
//!   Debian's `postgres` user.
//! - [`FaultProxy`] in front of any TCP server: delays, bandwidth caps,
//!   cuts, injected `* BYE` and `NO [THROTTLED]`/`[LIMIT]`/`[UNAVAILABLE]`,
//!   `APPEND`s refused as Cyrus/Exchange/Gmail do ([`Fault::RejectAppend`]);
//!   source-side misbehaviour: every n-th named command refused
//!   ([`Fault::RejectEvery`]), `UID FETCH` ended by `NO`/`BAD` after n
//!   responses, `* BYE` inside a body literal, unsolicited `FETCH (FLAGS)`,
//!   an unparseable line.
//! - [`GmailFront`]: an emulation of Gmail's IMAP extensions (X-GM-EXT-1,
//!   `X-GM-MSGID`, `X-GM-LABELS` from the folders a message is in) before a
//!   [`Layout::Gmail`] Dovecot.
//! - [`RawImap`]: a blocking IMAP connection returning raw reply bytes.
//!
//! # Missing servers
//! Binaries are looked up in `TESTKIT_PATH` if set, else in `PATH` plus
//! `/usr/local/sbin`, `/usr/sbin` and `/sbin` (Cyrus's and Courier's
//! helpers also where Debian puts them outside `PATH`, and their `imapd`
//! under `TESTKIT_SERVERS_ROOT`). When one is missing,
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

mod courier;
mod cyrus;
mod dovecot;
mod fault_proxy;
mod front;
mod gmail;
mod imap;
mod imap_account;
mod internal_date;
mod knot;
mod mutf7;
mod packaged;
mod postgres;
mod process;

pub use courier::{Courier, CourierConfig};
pub use cyrus::{Cyrus, CyrusConfig};
pub use dovecot::{Dovecot, DovecotConfig, Layout};
pub use fault_proxy::{AppendRule, Fault, FaultCounts, FaultProxy, RejectCode};
pub use gmail::{GM_ID_HEADER, GmailFront};
pub use imap::{Closed, RawImap, quote_mailbox};
pub use knot::Knot;
pub use postgres::Postgres;
pub use process::group_alive;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Whether the environment variable `CI` is `true`: missing servers then
/// fail tests instead of skipping them.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}
