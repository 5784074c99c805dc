//! Planning before copying: target profiles (names Exchange would refuse are fixed before
//! CREATE), stage cutoffs saved in the state (a delta that would leave a gap is refused), and
//! quota judged once against the mail already on the target, per seat or against a pool.

use super::*;

/// Appends `m` to the server's INBOX with this INTERNALDATE.
fn append_dated(d: &Dovecot, folder: &str, date: &str, m: &[u8]) {
    let mut session = d.session();
    let mut cmd = format!("APPEND {folder} \"{date}\" {{{}+}}\r\n", m.len()).into_bytes();
    cmd.extend_from_slice(m);
    let reply = session.command_bytes(&cmd);
    assert!(
        String::from_utf8_lossy(&reply).contains("OK"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    session.command("LOGOUT");
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn exchange_profile_fixes_names_before_create() {
    let Some(src) = server(Layout::Slash) else {
        return;
    };
    // Two folders Exchange would see as one, a trailing blank, a reserved name.
    let folders = [
        ("INBOX", "inbox"),
        ("Work", "work-upper"),
        ("work", "work-lower"),
        ("Projects ", "projects"),
        ("Calendar", "calendar"),
    ];
    for (i, (folder, tag)) in folders.iter().enumerate() {
        seed(&src, folder, &messages(tag, 3 + i));
    }

    // The collision is refused before anything is created, as `folders map` shows it.
    let Some(dst) = server(Layout::Slash) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &["--target-profile", "exchange"]);
    assert_exit(&out, 8);
    assert!(
        stderr(&out).contains("target profile: exchange (--target-profile)"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dst.folders().iter().any(|f| f.starts_with("Calendar")),
        "nothing may be created: {:?}",
        dst.folders()
    );

    // A rule settles it: every folder lands under the profile's name, every message once.
    let rules = state.path().join("rules");
    std::fs::write(&rules, "^work$ -> Work 2\n").unwrap();
    let rules = rules.to_str().unwrap();
    let out = migrate(
        &src,
        &dst,
        state.path(),
        &["--target-profile", "exchange", "--rules", rules],
    );
    assert_exit(&out, 0);
    let total: usize = (0..folders.len()).map(|i| 3 + i).sum();
    assert_eq!(totals(&out), (total as u64, 0, 0, 0));
    let mut got = dst.folders();
    got.sort();
    assert_eq!(
        got,
        ["Calendar (mail)", "INBOX", "Projects", "Work", "Work 2"],
        "{}",
        stderr(&out)
    );
    for ((_, tag), target) in
        folders
            .iter()
            .zip(["INBOX", "Work", "Work 2", "Projects", "Calendar (mail)"])
    {
        let n = folders.iter().position(|(_, t)| t == tag).unwrap() + 3;
        assert_holds_exactly(&dst, target, &messages(tag, n));
    }
    // Run again: nothing copied twice.
    let out = migrate(
        &src,
        &dst,
        state.path(),
        &["--target-profile", "exchange", "--rules", rules],
    );
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, total as u64, 0, 0));

    // Without the profile (guessed generic from Dovecot's CAPABILITY), names stay as today.
    let Some(plain) = server(Layout::Slash) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &plain, state.path(), &[]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("target profile: generic (guessed"),
        "{}",
        stderr(&out)
    );
    let mut got = plain.folders();
    got.sort();
    assert_eq!(got, ["Calendar", "INBOX", "Projects ", "Work", "work"]);
    for (folder, tag) in folders {
        let n = folders.iter().position(|(_, t)| *t == tag).unwrap() + 3;
        assert_holds_exactly(&plain, folder, &messages(tag, n));
    }
}

#[test]
fn a_delta_after_the_pre_stage_cutoff_is_refused_and_the_stages_cover_everything() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    // Dates out of UID order, one exactly at the cutoff, one far in the future.
    let dates = [
        "15-Jan-2024 08:00:00 +0000",
        "01-Jun-2020 10:00:00 +0000",
        "01-Jan-2024 00:00:00 +0000",
        "31-Dec-2023 23:59:59 +0000",
        "01-Jan-2099 00:00:00 +0000",
        "01-Mar-2024 12:00:00 +0000",
        "01-Jan-1971 00:00:00 +0000",
    ];
    let msgs = messages("stage", dates.len());
    for (m, date) in msgs.iter().zip(dates) {
        append_dated(&src, "INBOX", date, m);
    }
    let older = [&msgs[1], &msgs[3], &msgs[6]].map(|m| m.clone());
    let state = tempfile::tempdir().unwrap();

    let out = migrate(&src, &dst, state.path(), &["--before", "2024-01-01"]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 3);
    assert_holds_exactly(&dst, "INBOX", &older);

    // A delta from later than the saved pre-stage cutoff would never copy January.
    let out = migrate(&src, &dst, state.path(), &["--since", "2024-02-01"]);
    assert_exit(&out, 64);
    let err = stderr(&out);
    assert!(
        err.contains("--since 2024-02-01") && err.contains("--before 2024-01-01"),
        "{err}"
    );
    assert_holds_exactly(&dst, "INBOX", &older);

    // From the cutoff on it runs, and the two stages together hold every message once.
    let out = migrate(&src, &dst, state.path(), &["--since", "2024-01-01"]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 4);
    assert_holds_exactly(&dst, "INBOX", &msgs);

    // The final pass finds nothing missing.
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, dates.len() as u64, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &msgs);
}

/// A message of about 2 KB.
fn big(tag: &str, i: usize) -> Vec<u8> {
    let mut m = message(tag, i);
    m.truncate(m.len() - 2);
    m.extend(std::iter::repeat_n(b'x', 2000));
    m.extend_from_slice(b"\r\n");
    m
}

#[test]
fn quota_counts_mail_on_the_target_once_and_pools_are_judged() {
    let Some(src) = server(Layout::Slash) else {
        return;
    };
    let msgs: Vec<Vec<u8>> = (0..20).map(|i| big("quota", i)).collect();
    seed(&src, "INBOX", &msgs);
    let source_bytes: u64 = msgs.iter().map(|m| m.len() as u64).sum();
    let half: u64 = msgs[..10].iter().map(|m| m.len() as u64).sum();

    // Half the source is on the target already: what is left fits only if that half is
    // counted once (used + rest <= quota < used + whole source).
    let quota = source_bytes + 6_000;
    assert!(half + source_bytes > quota);
    let Some(dst) = server_with(DovecotConfig::new(Layout::Slash).with_quota_bytes(quota)) else {
        return;
    };
    seed(&dst, "INBOX", &msgs[..10]);
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (10, 10, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &msgs);

    // The same target as a pool shared by another mailbox: without --quota-pool-used, what
    // the target's GETQUOTAROOT says is used (the first mailbox's mail) counts against it.
    let Some(other) = server(Layout::Slash) else {
        return;
    };
    let more: Vec<Vec<u8>> = (0..10).map(|i| big("other", i)).collect();
    seed(&other, "Other", &more);
    let more_bytes: u64 = more.iter().map(|m| m.len() as u64).sum();
    let state = tempfile::tempdir().unwrap();
    // The pool (about 2 KB left) is tighter than the target's own quota (about 6 KB left).
    let tight = (source_bytes + 2_000).to_string();
    let out = migrate(&other, &dst, state.path(), &["--quota-pool", &tight]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("shared pool"), "{err}");
    assert!(
        !dst.folders().iter().any(|f| f == "Other"),
        "nothing created"
    );
    // A roomier pool does not lift the target's own quota, which this mail does not fit.
    let ample = (source_bytes + more_bytes * 2).to_string();
    let out = migrate(&other, &dst, state.path(), &["--quota-pool", &ample]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("the target's own GETQUOTAROOT leaves")
            && err.contains("refused before copying"),
        "{err}"
    );
    assert!(
        !dst.folders().iter().any(|f| f == "Other"),
        "nothing created"
    );

    // A pool shared with other mailboxes: judged against what the pool has left.
    let Some(roomy) = server(Layout::Slash) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let pool = (source_bytes * 2).to_string();
    let crowded = (source_bytes + source_bytes / 2).to_string();
    let out = migrate(
        &src,
        &roomy,
        state.path(),
        &["--quota-pool", &pool, "--quota-pool-used", &crowded],
    );
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("refused before copying") && err.contains("shared pool"),
        "{err}"
    );
    assert!(
        err.contains(&format!("quota pool: {pool} bytes, {crowded} used")),
        "{err}"
    );
    assert!(roomy.messages("INBOX").is_empty(), "nothing may be copied");
    let light = (source_bytes / 2).to_string();
    let out = migrate(
        &src,
        &roomy,
        state.path(),
        &["--quota-pool", &pool, "--quota-pool-used", &light],
    );
    assert_exit(&out, 0);
    assert_holds_exactly(&roomy, "INBOX", &msgs);
}

#[test]
fn a_target_size_that_cannot_be_read_is_reported() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let msgs = messages("parent", 4);
    seed(&src, "Parent", &msgs);
    // On the target, Parent exists only as the \Noselect parent of Parent/Child: listed, but
    // its STATUS is refused.
    dst.create_folder("Parent/Child");
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &["--quota", "100000000"]);
    let err = stderr(&out);
    assert!(
        err.contains("warning: the size of target folder Parent cannot be read"),
        "{err}"
    );
    assert_exit(&out, 0);
    assert_holds_exactly(&dst, "Parent", &msgs);
}
