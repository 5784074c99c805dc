//! testkit's own tests: every server starts, answers and stops cleanly.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

mod courier;
mod cyrus;
mod dovecot;
mod fault_proxy;
mod knot;
mod missing;
mod postgres;
