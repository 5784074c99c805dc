//! imapmig-dns integration tests: one binary, one module per area.

mod spf_suite;
