//! Running the `imapmig` binary built for these tests: the one runner every
//! subcommand's module uses.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `imapmig ARGS...` with no input and returns what it did.
pub(crate) fn imapmig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `imapmig ARGS...` with `stdin` as its standard input.
pub(crate) fn imapmig_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The lines of standard output (UTF-8, or the test fails).
pub(crate) fn lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
