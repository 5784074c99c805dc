//! Integration tests of imapmig-core: one binary, one module per subject.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a test failure"
)]

mod engine_sim;
mod model;
mod plan_props;
mod replies;
mod stage_props;
