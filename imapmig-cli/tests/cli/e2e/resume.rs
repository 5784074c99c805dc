//! Resumability: UIDVALIDITY resets on either side between passes, and a run killed with
//! SIGKILL at many random points, then rerun: nothing lost, nothing doubled.

use std::time::{Duration, Instant};

use rand::Rng;

use super::*;

#[test]
fn uidvalidity_reset_on_source_then_on_target_copies_only_new_mail() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let first = messages("uv", 12);
    seed(&src, "Work", &first);
    seed(&src, "INBOX", &messages("uv-inbox", 3));
    let state = tempfile::tempdir().unwrap();
    assert_exit(&migrate(&src, &dst, state.path(), &[]), 0);
    assert_holds_exactly(&dst, "Work", &first);

    // The source folder is recreated: new UIDVALIDITY, new UIDs, the old mail in another
    // order, plus two new messages.
    let out = src.doveadm(&["mailbox", "delete", "-u", "test", "Work"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut again: Vec<Vec<u8>> = first.iter().rev().cloned().collect();
    again.extend(messages("uv-new", 2));
    seed(&src, "Work", &again);
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (2, 15, 0, 0));
    assert_holds_exactly(&dst, "Work", &again);

    // Then the target's UIDVALIDITY changes, and one more message arrives on the source.
    dst.set_uidvalidity("Work", 4242);
    let late = messages("uv-late", 1);
    seed(&src, "Work", &late);
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (1, 17, 0, 0));
    let mut all = again.clone();
    all.extend(late);
    assert_holds_exactly(&dst, "Work", &all);

    // The source's UIDVALIDITY alone changes (same UIDs): still nothing to copy.
    src.set_uidvalidity("Work", 777);
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, 18, 0, 0));
    assert_holds_exactly(&dst, "Work", &all);
}

#[test]
fn sigkill_at_random_points_then_rerun_loses_and_doubles_nothing() {
    let (Some(src), Some(dst)) = (server(Layout::DotInbox), server(Layout::Slash)) else {
        return;
    };
    let folders = [
        ("INBOX", "INBOX", 800),
        ("INBOX.Lists", "Lists", 600),
        ("INBOX.Lists.Rust", "Lists/Rust", 600),
    ];
    let total: u64 = folders.iter().map(|f| f.2 as u64).sum();
    let mut seeded = Vec::new();
    for (i, (name, _, n)) in folders.iter().enumerate() {
        let msgs = messages(&format!("kill{i}"), *n);
        seed(&src, name, &msgs);
        seeded.push(msgs);
    }
    let state = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut kills = 0;
    let mut mid_copy = 0;
    let started = Instant::now();
    // Each run is killed at a random instant after it has started copying (so the kill lands
    // between intents, APPENDs and state saves), until six kills or a run ends by itself.
    while kills < 6 {
        let before = target_count(&dst);
        let mut child = migrate_command(&src, &dst, state.path(), &["--parallel", "3"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut finished = false;
        while target_count(&dst) == before {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        kills += 1;
        if target_count(&dst) < total {
            mid_copy += 1;
        }
    }
    assert!(
        mid_copy > 0,
        "no kill landed in the middle of copying ({kills} kills); the test proves nothing"
    );
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    let (copied, present, skipped, failed) = totals(&out);
    assert_eq!(copied + present, total, "{:?}", (copied, present));
    assert_eq!((skipped, failed), (0, 0));
    for ((_, target, _), msgs) in folders.iter().zip(&seeded) {
        assert_holds_exactly(&dst, target, msgs);
    }
    eprintln!(
        "{kills} kills, {mid_copy} mid-copy, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Messages in every folder of a server, from doveadm.
fn target_count(d: &Dovecot) -> u64 {
    let out = d.doveadm(&["mailbox", "status", "-u", "test", "messages", "*"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit('=').next()?.trim().parse::<u64>().ok())
        .sum()
}
