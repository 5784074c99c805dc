//! A misbehaving SOURCE behind testkit's FaultProxy (issue 11, scenarios 2 and 3 and the
//! source faults): connections cut every 100 KB, every third SELECT/EXAMINE/STATUS/FETCH
//! throttled, `UID FETCH` ending in `NO`/`BAD` after a few responses, a `* BYE` inside a
//! body literal, unsolicited `FETCH (FLAGS)` responses, an unparseable line. Each run must
//! end with exit 0 and every message on the target exactly once, read from the target.

use std::time::{Duration, Instant};

use testkit::{Fault, FaultProxy, RejectCode};

use super::*;

const RUN_LIMIT: Duration = Duration::from_secs(150);

/// A source with `folders` (name, count) of messages padded to about `size` bytes.
fn seeded_source(
    tag: &str,
    folders: &[(&str, usize)],
    size: usize,
) -> Option<(Dovecot, Vec<Vec<Vec<u8>>>)> {
    let src = server(Layout::Slash)?;
    let mut seeded = Vec::new();
    for (f, (name, n)) in folders.iter().enumerate() {
        let msgs: Vec<Vec<u8>> = (0..*n)
            .map(|i| {
                let mut m = message(&format!("{tag}{f}"), i);
                let fill = size.saturating_sub(m.len());
                let line = "The quick brown fox jumps over the lazy dog 0123456789.\r\n";
                m.extend(line.repeat(fill / line.len()).into_bytes());
                m
            })
            .collect();
        seed(&src, name, &msgs);
        seeded.push(msgs);
    }
    Some((src, seeded))
}

/// Runs one migration from the proxy (in front of `src`) to `dst`.
fn migrate_via(proxy: &FaultProxy, dst: &Dovecot, state: &Path, extra: &[&str]) -> Output {
    let source = format!("imap://test@127.0.0.1:{}", proxy.port());
    output_within(
        migrate_command_urls(&source, &url(dst), state, extra),
        RUN_LIMIT,
    )
}

/// Starts a migration from the proxy in the background.
fn spawn_via(
    proxy: &FaultProxy,
    dst: &Dovecot,
    state: &Path,
    extra: &[&str],
) -> std::process::Child {
    let source = format!("imap://test@127.0.0.1:{}", proxy.port());
    migrate_command_urls(&source, &url(dst), state, extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn assert_all_once(dst: &Dovecot, folders: &[(&str, usize)], seeded: &[Vec<Vec<u8>>]) {
    for ((name, _), msgs) in folders.iter().zip(seeded) {
        assert_holds_exactly(dst, name, msgs);
    }
}

#[test]
fn scenario_two_source_cut_every_100_kb_one_invocation_copies_all_200() {
    let folders = [("INBOX", 70), ("Alpha", 70), ("Beta", 60)];
    let (Some((src, seeded)), Some(dst)) =
        (seeded_source("cut", &folders, 3000), server(Layout::Slash))
    else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::CutAfter { bytes: 100_000 });
    let state = tempfile::tempdir().unwrap();
    let out = migrate_via(&proxy, &dst, state.path(), &[]);
    let counts = proxy.counts();
    assert_exit(&out, 0);
    assert_all_once(&dst, &folders, &seeded);
    assert!(
        counts.cuts >= 5,
        "600 KB through 100 KB connections: {counts:?}"
    );
}

#[test]
fn scenario_three_every_third_select_examine_status_fetch_throttled() {
    let folders = [("INBOX", 100), ("Alpha", 100), ("Beta", 100)];
    let (Some((src, seeded)), Some(dst)) =
        (seeded_source("thr", &folders, 600), server(Layout::Slash))
    else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::RejectEvery {
        commands: ["SELECT", "EXAMINE", "STATUS", "FETCH"]
            .map(str::to_owned)
            .to_vec(),
        every: 3,
        code: RejectCode::Throttled,
    });
    let state = tempfile::tempdir().unwrap();
    let out = migrate_via(&proxy, &dst, state.path(), &[]);
    let counts = proxy.counts();
    assert_exit(&out, 0);
    assert_all_once(&dst, &folders, &seeded);
    assert!(counts.every_rejected >= 3, "{counts:?}");
    assert_eq!(
        counts.every_rejected,
        counts.every_counted / 3,
        "{counts:?}"
    );
}

/// Every `UID FETCH` ends after 5 responses: the migrator must keep what it got, ask again
/// for the rest, and finish.
#[test]
fn fetch_no_after_five_responses_progresses_five_at_a_time() {
    let folders = [("INBOX", 33), ("Work", 24)];
    let (Some((src, seeded)), Some(dst)) =
        (seeded_source("fno", &folders, 400), server(Layout::Slash))
    else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::FetchNoAfter { responses: 5 });
    let state = tempfile::tempdir().unwrap();
    let out = migrate_via(
        &proxy,
        &dst,
        state.path(),
        &["--retries", "40", "--io-timeout", "20"],
    );
    let counts = proxy.counts();
    assert_exit(&out, 0);
    assert_all_once(&dst, &folders, &seeded);
    // 57 bodies, 5 per UID FETCH at most: at least 12 body fetches were cut short.
    assert!(counts.fetch_no >= 11, "{counts:?}");
}

#[test]
fn fetch_bad_after_five_responses_progresses_and_completes() {
    let folders = [("INBOX", 21), ("Work", 17)];
    let (Some((src, seeded)), Some(dst)) =
        (seeded_source("fbad", &folders, 400), server(Layout::Slash))
    else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::FetchBadAfter { responses: 5 });
    let state = tempfile::tempdir().unwrap();
    let out = migrate_via(
        &proxy,
        &dst,
        state.path(),
        &["--retries", "40", "--io-timeout", "20"],
    );
    let counts = proxy.counts();
    assert_exit(&out, 0);
    assert_all_once(&dst, &folders, &seeded);
    assert!(counts.fetch_bad >= 7, "{counts:?}");
}

/// A 2 MB body cut by `* BYE` after 500 KB, twice (two connections), then the server
/// behaves: the run reconnects, copies the body whole, and nothing else twice.
#[test]
fn bye_inside_a_2_mb_body_is_survived_and_the_body_arrives_whole() {
    let folders = [("INBOX", 40)];
    let (Some((src, mut seeded)), Some(dst)) =
        (seeded_source("bye", &folders, 500), server(Layout::Slash))
    else {
        return;
    };
    let mut big = message("bye-big", 0);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while big.len() < 2_000_000 {
        let line: String = (0..76)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'A' + (x % 26) as u8)
            })
            .collect();
        big.extend_from_slice(line.as_bytes());
        big.extend_from_slice(b"\r\n");
    }
    seed(&src, "INBOX", std::slice::from_ref(&big));
    seeded[0].push(big.clone());
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::ByeInLiteral {
        after_bytes: 500_000,
    });
    let state = tempfile::tempdir().unwrap();
    let mut child = spawn_via(
        &proxy,
        &dst,
        state.path(),
        &["--retries", "20", "--io-timeout", "20"],
    );
    let deadline = Instant::now() + RUN_LIMIT;
    while proxy.counts().literal_byes < 2 && child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "no BYE fired: {:?}",
            proxy.counts()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let byes = proxy.counts().literal_byes;
    proxy.clear();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert!(byes >= 2, "{:?}", proxy.counts());
    assert_all_once(&dst, &folders, &seeded);
}

/// Unsolicited `* n FETCH (FLAGS (\Seen))` before every FETCH response: never taken for a
/// message (no empty message on the target), counts exact.
#[test]
fn unsolicited_fetch_flags_never_become_messages() {
    let folders = [("INBOX", 45), ("Work", 30)];
    let (Some((src, seeded)), Some(dst)) =
        (seeded_source("uns", &folders, 500), server(Layout::Slash))
    else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::UnsolicitedFetchFlags);
    let state = tempfile::tempdir().unwrap();
    let out = migrate_via(&proxy, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert!(
        proxy.counts().unsolicited_flags >= 75,
        "{:?}",
        proxy.counts()
    );
    for ((name, n), msgs) in folders.iter().zip(&seeded) {
        let got = dst.messages(name);
        assert_eq!(got.len(), *n, "{name}");
        assert!(
            got.iter().all(|m| !m.is_empty() && m.len() >= 100),
            "{name}: an empty or headless message"
        );
        assert_holds_exactly(&dst, name, msgs);
    }
}

/// An unparseable line before a `UID FETCH` completion (twice, on two connections): the run
/// completes, and its error output quotes at most 16 bytes of that line.
#[test]
fn garbage_line_is_survived_and_not_echoed() {
    let folders = [("INBOX", 30), ("Work", 20)];
    let (Some((src, seeded)), Some(dst)) =
        (seeded_source("garb", &folders, 400), server(Layout::Slash))
    else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::GarbageLine);
    let state = tempfile::tempdir().unwrap();
    let mut child = spawn_via(
        &proxy,
        &dst,
        state.path(),
        &["--retries", "20", "--io-timeout", "20"],
    );
    let deadline = Instant::now() + RUN_LIMIT;
    while proxy.counts().garbage_lines < 2 && child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "no garbage sent: {:?}",
            proxy.counts()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    proxy.clear();
    let out = child.wait_with_output().unwrap();
    assert!(proxy.counts().garbage_lines >= 1, "{:?}", proxy.counts());
    assert_exit(&out, 0);
    assert_all_once(&dst, &folders, &seeded);
    let mut said = out.stderr.clone();
    said.extend_from_slice(&out.stdout);
    let line = Fault::GARBAGE_LINE.trim_ascii_end();
    for window in line.windows(17) {
        assert!(
            !said.windows(17).any(|w| w == window),
            "more than 16 bytes of the garbage line were echoed ({:?}):\n{}",
            String::from_utf8_lossy(window),
            String::from_utf8_lossy(&said)
        );
    }
}
