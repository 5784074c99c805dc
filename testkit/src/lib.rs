//! Real servers for imapmig's tests (being built).
