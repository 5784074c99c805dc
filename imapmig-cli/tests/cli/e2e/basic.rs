//! Folder translation: a dot/`INBOX.` server to a slash server and back, with nested,
//! non-ASCII and delimiter-containing names; a rerun copies nothing; staging and dry runs.

use super::*;

#[test]
fn dot_to_slash_and_back_then_rerun_copies_nothing() {
    let (Some(dot), Some(slash)) = (server(Layout::DotInbox), server(Layout::Slash)) else {
        return;
    };
    let folders = [
        ("INBOX", "INBOX", 12),
        ("INBOX.Work", "Work", 5),
        ("INBOX.Work.Projects", "Work/Projects", 7),
        ("INBOX.Über", "Über", 4),
        ("INBOX.日本語.Ärger", "日本語/Ärger", 3),
    ];
    let mut seeded = Vec::new();
    for (i, (src, _, n)) in folders.iter().enumerate() {
        let msgs = messages(&format!("f{i}"), *n);
        seed(&dot, src, &msgs);
        seeded.push(msgs);
    }
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&dot, &slash, state.path(), &[]);
    assert_exit(&out, 0);
    let total: u64 = folders.iter().map(|f| f.2 as u64).sum();
    assert_eq!(totals(&out), (total, 0, 0, 0));
    let target_folders = slash.folders();
    for ((_, dst, _), msgs) in folders.iter().zip(&seeded) {
        assert!(
            target_folders.iter().any(|f| f == dst),
            "{dst} missing on target: {target_folders:?}"
        );
        assert_holds_exactly(&slash, dst, msgs);
    }

    // A rerun copies nothing and leaves the target as it was.
    let out = migrate(&dot, &slash, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, total, 0, 0));
    for ((_, dst, _), msgs) in folders.iter().zip(&seeded) {
        assert_holds_exactly(&slash, dst, msgs);
    }

    // And back, to a fresh dot server, with a slash-side folder whose name holds a dot.
    let Some(dot2) = server(Layout::DotInbox) else {
        return;
    };
    let dotted = messages("dotted", 3);
    seed(&slash, "v1.2 notes", &dotted);
    let state2 = tempfile::tempdir().unwrap();
    let out = migrate(&slash, &dot2, state2.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (total + 3, 0, 0, 0));
    for ((src, _, _), msgs) in folders.iter().zip(&seeded) {
        assert_holds_exactly(&dot2, src, msgs);
    }
    let back = dot2.folders();
    let escaped: Vec<&String> = back.iter().filter(|f| f.contains("notes")).collect();
    assert_eq!(escaped.len(), 1, "one folder for `v1.2 notes`: {back:?}");
    assert!(
        !back
            .iter()
            .any(|f| f == "INBOX.v1.2 notes" || f == "INBOX.v1"),
        "the dot must not split the name: {back:?}"
    );
    assert_holds_exactly(&dot2, escaped[0], &dotted);
}

#[test]
fn dry_run_changes_nothing_and_staging_splits_by_date() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    // Two old messages (2001) and three new ones (2024), by INTERNALDATE.
    let mut session = src.session();
    for (i, date) in [
        "01-Jan-2001 10:00:00 +0000",
        "02-Feb-2001 10:00:00 +0000",
        "01-Jan-2024 10:00:00 +0000",
        "02-Jan-2024 10:00:00 +0000",
        "03-Jan-2024 10:00:00 +0000",
    ]
    .iter()
    .enumerate()
    {
        let m = message("staged", i);
        let mut cmd = format!("APPEND INBOX (\\Seen) \"{date}\" {{{}+}}\r\n", m.len()).into_bytes();
        cmd.extend_from_slice(&m);
        let reply = session.command_bytes(&cmd);
        assert!(
            String::from_utf8_lossy(&reply).contains("OK"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &["--dry-run"]);
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would copy 5"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(dst.messages("INBOX").is_empty(), "a dry run must not copy");

    let out = migrate(&src, &dst, state.path(), &["--before", "2010-01-01"]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 2);
    assert_holds_exactly(&dst, "INBOX", &[message("staged", 0), message("staged", 1)]);

    // The final delta pass copies only what the pre-stage left.
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (3, 2, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &messages("staged", 5));
    // Flags and INTERNALDATE came along.
    let mut s = dst.session();
    s.command("EXAMINE INBOX");
    let reply =
        String::from_utf8_lossy(&s.command("UID FETCH 1:* (FLAGS INTERNALDATE)")).into_owned();
    assert_eq!(reply.matches("\\Seen").count(), 5, "{reply}");
    assert!(
        reply.contains("01-Jan-2001 10:00:00 +0000")
            && reply.contains("03-Jan-2024 10:00:00 +0000"),
        "{reply}"
    );

    // A later flag change on the source reaches the target on the next pass.
    let mut s = src.session();
    s.command("SELECT INBOX");
    let reply = s.command("UID STORE 1 +FLAGS (\\Flagged)");
    assert!(String::from_utf8_lossy(&reply).contains("OK"));
    s.command("LOGOUT");
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, 5, 0, 0));
    let mut d = dst.session();
    d.command("EXAMINE INBOX");
    let reply = String::from_utf8_lossy(
        &d.command("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
    )
    .into_owned();
    let flagged: Vec<&str> = reply
        .split("* ")
        .filter(|r| r.contains("\\Flagged"))
        .collect();
    assert_eq!(flagged.len(), 1, "{reply}");
    assert!(flagged[0].contains("<staged.0@example.com>"), "{reply}");
}
