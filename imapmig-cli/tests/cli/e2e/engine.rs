//! What the migration engine decides, seen end to end: messages over a size limit are skipped
//! with a reason and never block their folder; a UIDVALIDITY reset that cannot be confirmed
//! stops with an explanation, and `--accept-reset` then copies by fingerprint, never a message
//! twice; what was not copied is listed in `not-copied.csv`.

use super::*;

/// A well-formed message of about `size` bytes.
fn big_message(tag: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: big@example.com\r\nTo: test@example.org\r\nSubject: {tag}\r\n\
         Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{tag}@example.com>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < size {
        m.extend_from_slice(
            b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
        );
    }
    m
}

#[test]
fn messages_over_the_size_limit_are_skipped_with_a_reason_and_the_folder_completes() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let small = messages("size", 6);
    let mut all = small.clone();
    all.insert(3, big_message("too-big", 300_000));
    seed(&src, "INBOX", &all);
    let state = tempfile::tempdir().unwrap();
    let skip_log = state.path().join("skips.csv");
    let out = migrate(
        &src,
        &dst,
        state.path(),
        &[
            "--max-message-size",
            "100000",
            "--skip-log",
            skip_log.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (6, 0, 1, 0));
    assert_holds_exactly(&dst, "INBOX", &small);
    let log = std::fs::read_to_string(&skip_log).unwrap();
    let rows: Vec<&str> = log.lines().filter(|l| l.contains("too-large")).collect();
    assert_eq!(rows.len(), 1, "{log}");
    assert!(rows[0].contains("<too-big@example.com>"), "{log}");

    // A rerun copies nothing and logs nothing again.
    let out = migrate(
        &src,
        &dst,
        state.path(),
        &[
            "--max-message-size",
            "100000",
            "--skip-log",
            skip_log.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, 6, 1, 0));
    let again = std::fs::read_to_string(&skip_log).unwrap();
    assert_eq!(again.lines().filter(|l| l.contains("too-large")).count(), 1);
    assert_holds_exactly(&dst, "INBOX", &small);
}

#[test]
fn an_unconfirmed_uidvalidity_reset_explains_itself_and_accept_reset_copies_once() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let first = messages("before-reset", 10);
    seed(&src, "Work", &first);
    let state = tempfile::tempdir().unwrap();
    assert_exit(&migrate(&src, &dst, state.path(), &[]), 0);
    assert_holds_exactly(&dst, "Work", &first);

    // The source folder is replaced by one holding other mail: none of the recorded copies
    // can be found again, so the reset cannot be confirmed.
    let out = src.doveadm(&["mailbox", "delete", "-u", "test", "Work"]);
    assert!(out.status.success());
    let other = messages("after-reset", 8);
    seed(&src, "Work", &other);
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 1);
    assert_eq!(
        totals(&out).0,
        0,
        "nothing is copied while the reset is unconfirmed"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("0 of 10") || stderr.contains("0 of 10"),
        "the pairs confirmed out of expected are named:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("--accept-reset"),
        "what to do is named:\n{stderr}"
    );
    assert_holds_exactly(&dst, "Work", &first);

    // The operator accepts: the new mail is copied by fingerprint, once.
    let out = migrate(&src, &dst, state.path(), &["--accept-reset"]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 8);
    let mut both = first.clone();
    both.extend(other.iter().cloned());
    assert_holds_exactly(&dst, "Work", &both);
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 0, "nothing twice");
    assert_holds_exactly(&dst, "Work", &both);
}

#[test]
fn not_copied_messages_are_listed_with_folder_uid_message_id_and_reason() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    seed(&src, "INBOX", &messages("listed", 4));
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    let list = std::fs::read_to_string(state.path().join("not-copied.csv")).unwrap();
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec!["folder,source_uid,message_id,reason"],
        "a complete run lists nothing"
    );

    // The target fills up during the run (its real quota is small; the operator's
    // `--quota` let the plan through): the folder stops, exit 3, and the list names it with
    // what was not settled.
    let Some(src) = server(Layout::Slash) else {
        return;
    };
    let Some(dst) = server_with(DovecotConfig::new(Layout::Slash).with_quota_bytes(3_000)) else {
        return;
    };
    seed(&src, "INBOX", &messages("overflow", 40));
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &["--quota", "100000000"]);
    assert_exit(&out, 3);
    let (copied, _, _, failed) = totals(&out);
    let held = dst.messages("INBOX").len() as u64;
    assert_eq!(copied, held, "what the target holds is what was copied");
    assert_eq!(failed, 40 - held);
    let list = std::fs::read_to_string(state.path().join("not-copied.csv")).unwrap();
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert!(
        rows[0].starts_with("INBOX,0,,")
            && rows[0].contains(&format!("{} messages not settled", 40 - held)),
        "{list}"
    );
}

#[test]
fn state_skip_log_and_folder_map_failures_get_their_exit_status_with_the_totals_line() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    seed(&src, "INBOX", &messages("exits", 3));
    seed(&src, "Other", &messages("exits-other", 2));
    let dir = tempfile::tempdir().unwrap();

    // 7: the state directory is a file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = migrate(&src, &dst, &file, &[]);
    assert_exit(&out, 7);
    assert!(dst.messages("INBOX").is_empty());

    // 7: the skip log cannot be written.
    let state = dir.path().join("state");
    let out = migrate(
        &src,
        &dst,
        &state,
        &["--skip-log", "/nonexistent-dir/imapmig/skips.csv"],
    );
    assert_exit(&out, 7);
    assert!(dst.messages("INBOX").is_empty());
    assert_eq!(
        totals(&out),
        (0, 0, 0, 5),
        "the totals line after discovery"
    );

    // 8: a rule that does not parse, and two folders mapped onto one.
    let rules = dir.path().join("rules");
    std::fs::write(&rules, "^(unclosed -> X\n").unwrap();
    let out = migrate(&src, &dst, &state, &["--rules", rules.to_str().unwrap()]);
    assert_exit(&out, 8);
    std::fs::write(&rules, "^INBOX$ -> Same\n^Other$ -> Same\n").unwrap();
    let out = migrate(&src, &dst, &state, &["--rules", rules.to_str().unwrap()]);
    assert_exit(&out, 8);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Same"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dst.folders().iter().any(|f| f == "Same"),
        "nothing created"
    );

    // And then a clean run: 0.
    let out = migrate(&src, &dst, &state, &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (5, 0, 0, 0));
}

#[test]
fn max_rate_paces_the_copies_and_a_spent_budget_waits_for_its_window_saying_until_when() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let paced = messages("paced", 60);
    seed(&src, "INBOX", &paced);
    let state = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = migrate(&src, &dst, state.path(), &["--max-rate", "20"]);
    let took = started.elapsed();
    assert_exit(&out, 0);
    assert_holds_exactly(&dst, "INBOX", &paced);
    // A burst of one second's worth, then 40 more at 20 a second.
    assert!(
        took >= std::time::Duration::from_millis(1900),
        "60 messages at 20/s took {took:?}"
    );

    // A transfer budget of about a third of the folder per 2-second window: the run waits
    // for the window to reopen twice, says until when, and gives core's ETA.
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let budgeted = messages("budget", 24);
    seed(&src, "INBOX", &budgeted);
    let total: usize = budgeted.iter().map(Vec::len).sum();
    let budget = (total / 3 + 1).to_string();
    let state = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = migrate(
        &src,
        &dst,
        state.path(),
        &["--daily-budget", &budget, "--budget-window", "2"],
    );
    let took = started.elapsed();
    assert_exit(&out, 0);
    assert_holds_exactly(&dst, "INBOX", &budgeted);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let waits: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("transfer budget of") && l.contains("waiting until"))
        .collect();
    assert!(waits.len() >= 2, "two windows waited for:\n{stderr}");
    assert!(
        waits.iter().all(|l| l.contains(" UTC (ETA ")),
        "each wait says until when and the ETA:\n{stderr}"
    );
    assert!(
        took >= std::time::Duration::from_secs(3),
        "three windows of 2 s take at least 4 s minus the first: {took:?}"
    );
}

#[test]
fn credentials_are_never_sent_in_clear_to_another_machine() {
    let Some(dst) = server(Layout::Slash) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    // Refused from the URL alone, before any name is resolved or any byte is sent.
    let out = migrate_command_urls(
        "imap://test@mail.example.invalid:143",
        &url(&dst),
        state.path(),
        &[],
    )
    .output()
    .unwrap();
    assert_exit(&out, 64);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to send credentials to mail.example.invalid without TLS")
            && stderr.contains("--allow-plaintext"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn retry_skipped_tries_earlier_skips_again_and_max_bad_counts_across_runs() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let small = messages("retry", 4);
    let big = big_message("retry-big", 50_000);
    let mut all = small.clone();
    all.push(big.clone());
    seed(&src, "INBOX", &all);
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &["--max-message-size", "20000"]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (4, 0, 1, 0));

    // The earlier skip counts against --max-bad in a later run.
    seed(&src, "Other", &[big_message("other-big", 50_000)]);
    let out = migrate(
        &src,
        &dst,
        state.path(),
        &["--max-message-size", "20000", "--max-bad", "1"],
    );
    assert_exit(&out, 2);

    // Without the limit, the skip stays a skip unless it is retried.
    let out = migrate(&src, &dst, state.path(), &["--max-bad", "5"]);
    assert_exit(&out, 0);
    assert!(
        !dst.messages("INBOX").contains(&big),
        "a skip is not retried by default"
    );
    let out = migrate(&src, &dst, state.path(), &["--retry-skipped"]);
    assert_exit(&out, 0);
    let mut want = small.clone();
    want.push(big);
    assert_holds_exactly(&dst, "INBOX", &want);
    assert_eq!(dst.messages("Other").len(), 1);
}
