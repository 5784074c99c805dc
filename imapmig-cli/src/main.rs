//! `imapmig`: the command that composes the imapmig crates (all of it is in the library,
//! [`imapmig_cli::run`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    imapmig_cli::run()
}
