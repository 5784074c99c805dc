//! Integration tests of imapmig-dedupe: the Message-ID corpus and the
//! proptest properties of fingerprints and the index.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

mod corpus;
mod known_answers;
mod properties;
