//! One module per subcommand; each exposes `Args` or `Command` and `run`.

pub(crate) mod batch;
pub(crate) mod dedupe;
pub(crate) mod dns;
pub(crate) mod exchange;
pub(crate) mod folders;
pub(crate) mod inventory;
pub(crate) mod migrate;
pub(crate) mod mime;
pub(crate) mod mutf7;
pub(crate) mod preflight;

/// Exit status for bad usage or an error that stopped the command before it did its job.
pub(crate) const EXIT_USAGE: u8 = migrate::Exit::Usage as u8;
