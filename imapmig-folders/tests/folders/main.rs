//! imapmig-folders integration tests: one binary, one module per suite.

mod conformance;
mod mutf7_props;
mod parser_props;
mod traces;
