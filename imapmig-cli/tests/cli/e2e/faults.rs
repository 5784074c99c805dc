//! A misbehaving target behind testkit's FaultProxy: `NO [THROTTLED]` with a backoff hint,
//! a connection cap, an injected `* BYE`, and a stall longer than the I/O timeout. The run
//! must complete, honour the hint, and leave every message on the target exactly once.

use std::time::{Duration, Instant};

use testkit::{Fault, FaultProxy, RejectCode};

use super::*;

#[test]
fn throttling_bye_stalls_and_connection_caps_are_survived() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let folders = ["INBOX", "Alpha", "Beta", "Gamma"];
    let mut seeded = Vec::new();
    for (i, f) in folders.iter().enumerate() {
        let msgs = messages(&format!("fault{i}"), 150);
        seed(&src, f, &msgs);
        seeded.push(msgs);
    }
    let proxy = FaultProxy::start(dst.addr());
    // From the start: throttled completions (LOGIN, SELECT or APPEND alike) and at most two
    // connections to the target while four folders want one each.
    proxy.set(Fault::Reject {
        code: RejectCode::Throttled,
        times: 3,
    });
    proxy.set(Fault::MaxConnections(2));
    let state = tempfile::tempdir().unwrap();
    let target = format!("imap://test@127.0.0.1:{}", proxy.port());
    let started = Instant::now();
    let mut child = migrate_command_urls(
        &url(&src),
        &target,
        state.path(),
        &["--parallel", "4", "--io-timeout", "2", "--retries", "30"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Once mail flows: a BYE, then a stall longer than the I/O timeout, then calm.
    let deadline = Instant::now() + Duration::from_secs(120);
    while dst.messages("INBOX").is_empty()
        && folders[1..]
            .iter()
            .all(|f| !dst.folders().iter().any(|x| x == f) || dst.messages(f).is_empty())
    {
        assert!(Instant::now() < deadline, "no mail reached the target");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.set(Fault::Bye {
        text: "Server shutting down.".into(),
    });
    std::thread::sleep(Duration::from_millis(300));
    proxy.set(Fault::Delay(Duration::from_millis(3000)));
    std::thread::sleep(Duration::from_millis(3500));
    proxy.set(Fault::Delay(Duration::ZERO));
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    assert_exit(&out, 0);
    let (copied, present, skipped, failed) = totals(&out);
    assert_eq!(copied + present, 600, "{:?}", (copied, present));
    assert_eq!((skipped, failed), (0, 0));
    for (f, msgs) in folders.iter().zip(&seeded) {
        assert_holds_exactly(&dst, f, msgs);
    }
    let counts = proxy.counts();
    assert_eq!(counts.rejected, 3, "{counts:?}");
    assert!(counts.byes >= 1, "{counts:?}");
    assert!(
        counts.refused >= 1,
        "the cap must have turned connections away: {counts:?}"
    );
    // The throttling replies asked for a 1000 ms backoff each.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retry"), "retries are reported: {stderr}");
}
