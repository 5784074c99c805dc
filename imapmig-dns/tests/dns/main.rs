//! imapmig-dns integration tests: one binary, one module per area.

#![allow(clippy::panic, reason = "helpers of tests fail the test by panicking")]

mod knot;
mod properties;
mod spf_suite;
