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
mod batch;
mod batch_pg;
mod crash;
mod eightbit_headers;
mod eightbit_names;
mod engine;
mod faults;
mod flags;
mod gmail;
mod gmail_labels;
mod large;
mod logindisabled;
mod matrix;
mod oauth;
mod plan;
mod refusals;
mod repair;
mod resume;
mod source_faults;
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
    assert_exactly(folder, d.messages(folder), expected);
}

/// [`assert_holds_exactly`] for a folder of another user than the default one.
pub(crate) fn assert_user_holds_exactly(
    d: &Dovecot,
    user: &str,
    folder: &str,
    expected: &[Vec<u8>],
) {
    assert_exactly(
        &format!("{user} {folder}"),
        d.messages_as(user, folder),
        expected,
    );
}

/// `got` and `expected` hold the same messages, each as often (`what` names the folder).
fn assert_exactly(what: &str, mut got: Vec<Vec<u8>>, expected: &[Vec<u8>]) {
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
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
        "{what}: {} messages, {} expected; {missing} missing, {extra} extra or doubled",
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

/// Messages a server stores in all its folders, counted from the maildir files (`cur/` and
/// `new/`): cheap enough to poll every few milliseconds while a migration runs.
pub(crate) fn stored_count(d: &Dovecot) -> u64 {
    fn walk(dir: &Path, count: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if matches!(entry.file_name().to_str(), Some("cur" | "new")) {
                *count += std::fs::read_dir(&path).map_or(0, |e| e.count() as u64);
            } else {
                walk(&path, count);
            }
        }
    }
    let mut count = 0;
    walk(&d.dir().join("mail"), &mut count);
    count
}

/// How a run started by [`run_until_stored`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// Killed with SIGKILL once the target held this many messages.
    Killed(u64),
    /// The run ended by itself (exit status code) before the mark.
    Finished(Option<i32>),
}

/// Starts `cmd` (output discarded) and kills it with SIGKILL as soon as `dst` stores at least
/// `mark` messages, polling the maildir; waits for the child either way. Fails the test when
/// the run neither ends nor reaches the mark within `limit`.
pub(crate) fn run_until_stored(
    mut cmd: Command,
    dst: &Dovecot,
    mark: u64,
    limit: std::time::Duration,
) -> RunEnd {
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start imapmig");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return RunEnd::Finished(status.code());
        }
        let stored = stored_count(dst);
        if stored >= mark {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            child.wait().unwrap();
            return RunEnd::Killed(stored);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no end and no {mark} messages stored within {limit:?} (at {stored})");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Runs `cmd` to its end and returns its output, failing the test after `limit` (the child is
/// killed) so a hung migrator fails instead of stalling the suite.
pub(crate) fn output_within(mut cmd: Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start imapmig");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            panic!(
                "imapmig still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Stdout lines of the run that report a duplicate the migrator made (`duplicate: ...`).
pub(crate) fn reported_duplicates(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("duplicate:"))
        .map(str::to_owned)
        .collect()
}
