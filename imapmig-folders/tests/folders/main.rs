//! imapmig-folders integration tests: one binary, one module per suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

mod conformance;
mod corpus;
mod dovecot;
mod mutf7_props;
mod parser_props;
mod traces;
