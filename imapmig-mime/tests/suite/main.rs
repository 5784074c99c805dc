//! Integration tests of imapmig-mime: one binary, one module per suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is a test failure, which is what we want"
)]

mod classify_corpus;
mod eight_bit_corpus;
mod exchange_conformance;
mod fuzz_regressions;
mod properties;
