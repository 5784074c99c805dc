//! End-to-end tests of `imapmig migrate` and `imapmig inventory` against real Dovecot servers
//! (testkit). Every test asserts from the servers' own state afterwards (`Dovecot::messages`,
//! `Dovecot::folders`), never from what the tool printed alone: each source message must be on
//! the target exactly once, or in the skip log.
//!
//! Without Dovecot installed the tests skip (with a note); under `CI=true` they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

mod basic;
mod faults;
mod flags;
mod gmail;
mod oauth;
mod refusals;
mod repair;
mod resume;
mod tls;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use testkit::{Dovecot, DovecotConfig, Layout};

/// Starts a server, or `None` when Dovecot is missing outside CI.
pub(crate) fn server(layout: Layout) -> Option<Dovecot> {
    Dovecot::start(layout)
}

/// Starts a server with limits.
pub(crate) fn server_with(config: DovecotConfig) -> Option<Dovecot> {
    Dovecot::start_with(config)
}

/// `imap://test@127.0.0.1:PORT` for a server.
pub(crate) fn url(d: &Dovecot) -> String {
    format!("imap://{}@127.0.0.1:{}", d.user(), d.port())
}

/// The migrate command for this pair, passwords in the environment, not started.
pub(crate) fn migrate_command(
    src: &Dovecot,
    dst: &Dovecot,
    state: &Path,
    extra: &[&str],
) -> Command {
    migrate_command_urls(&url(src), &url(dst), state, extra)
}

/// The migrate command for these URLs (password `secret` on both sides).
pub(crate) fn migrate_command_urls(src: &str, dst: &str, state: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapmig"));
    cmd.args(["migrate", "--source", src, "--target", dst, "--state"])
        .arg(state)
        .args(extra)
        .env("IMAPMIG_SOURCE_PASSWORD", "secret")
        .env("IMAPMIG_TARGET_PASSWORD", "secret")
        .env_remove("IMAPMIG_SOURCE_TOKEN")
        .env_remove("IMAPMIG_TARGET_TOKEN");
    cmd
}

/// Runs a migration to the end.
pub(crate) fn migrate(src: &Dovecot, dst: &Dovecot, state: &Path, extra: &[&str]) -> Output {
    migrate_command(src, dst, state, extra)
        .output()
        .expect("run imapmig")
}

/// The last stdout line parsed: (copied, present, skipped, failed).
pub(crate) fn totals(out: &Output) -> (u64, u64, u64, u64) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    let nums: Vec<u64> = last
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        last.starts_with("copied: ") && nums.len() == 4,
        "last line {last:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (nums[0], nums[1], nums[2], nums[3])
}

/// Asserts a run exited with `code`, showing its output otherwise.
pub(crate) fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A distinct, well-formed message.
pub(crate) fn message(tag: &str, i: usize) -> Vec<u8> {
    format!(
        "From: Sender {i} <sender{i}@example.com>\r\nTo: test@example.org\r\nSubject: {tag} message {i}\r\n\
         Date: Mon, 01 Jan 2024 {:02}:{:02}:00 +0000\r\nMessage-ID: <{tag}.{i}@example.com>\r\n\r\nBody of {tag} {i}.\r\n",
        (i / 60) % 24,
        i % 60
    )
    .into_bytes()
}

/// `n` messages tagged `tag`.
pub(crate) fn messages(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| message(tag, i)).collect()
}

/// Seeds a folder with owned messages.
pub(crate) fn seed(d: &Dovecot, folder: &str, msgs: &[Vec<u8>]) {
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    d.seed(folder, &refs);
}

/// The folder's messages as a multiset (sorted), from the server.
pub(crate) fn mail(d: &Dovecot, folder: &str) -> Vec<Vec<u8>> {
    let mut m = d.messages(folder);
    m.sort();
    m
}

/// Asserts the target folder holds exactly the given messages, each once.
pub(crate) fn assert_holds_exactly(d: &Dovecot, folder: &str, expected: &[Vec<u8>]) {
    let mut want = expected.to_vec();
    want.sort();
    let got = mail(d, folder);
    let (g, w) = (multiset(&got), multiset(&want));
    let missing = w
        .iter()
        .filter(|(k, n)| g.get(*k).copied().unwrap_or(0) < **n)
        .count();
    let extra = g
        .iter()
        .filter(|(k, n)| w.get(*k).copied().unwrap_or(0) < **n)
        .count();
    assert!(
        missing == 0 && extra == 0,
        "{folder}: {} messages, {} expected; {missing} missing, {extra} extra or doubled",
        got.len(),
        want.len()
    );
}

fn multiset(v: &[Vec<u8>]) -> BTreeMap<&[u8], usize> {
    let mut m = BTreeMap::new();
    for x in v {
        *m.entry(x.as_slice()).or_default() += 1;
    }
    m
}
