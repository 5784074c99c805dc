//! The `imapmig` command's integration tests: one binary, one module per subcommand.

mod command;
mod dedupe;
mod dns;
mod e2e;
mod exchange;
mod folders;
mod mime;
mod mutf7;
mod preflight;
