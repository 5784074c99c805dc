//! What must stop a run, or be skipped with a reason: a whale against a small quota, corrupt
//! messages the target refuses under the bad-item threshold, refused logins, unreachable
//! servers, TLS failures and malformed options, each with its documented exit status.

use super::*;

#[test]
fn small_quota_target_refuses_the_whale_before_copying() {
    let Some(src) = server(Layout::Slash) else {
        return;
    };
    let Some(dst) = server_with(DovecotConfig::new(Layout::Slash).with_quota_bytes(20_000)) else {
        return;
    };
    seed(&src, "INBOX", &messages("whale", 150));
    seed(&src, "Big", &messages("whale-big", 50));
    let state = tempfile::tempdir().unwrap();
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 3);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused before copying"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dst.messages("INBOX").is_empty(), "nothing may be copied");
    assert!(
        !dst.folders().iter().any(|f| f == "Big"),
        "no folder may be created: {:?}",
        dst.folders()
    );

    // The same with a quota given on the command line, against a target without one.
    let Some(roomy) = server(Layout::Slash) else {
        return;
    };
    let out = migrate(&src, &roomy, state.path(), &["--quota", "10000"]);
    assert_exit(&out, 3);
    assert!(roomy.messages("INBOX").is_empty());

    // Inventory says the same from the live server, with sizes per folder.
    let out = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["inventory", "--server", &url(&src), "--quota", "20000"])
        .env("IMAPMIG_SOURCE_PASSWORD", "secret")
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let inbox_bytes: usize = src.messages("INBOX").iter().map(Vec::len).sum();
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("INBOX\t150\t{inbox_bytes}")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("Big\t50\t")),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: whale"), "{stdout}");
    let out = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["inventory", "--server", &url(&src), "--quota", "100000000"])
        .env("IMAPMIG_SOURCE_PASSWORD", "secret")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("verdict: fits"));
}

/// Drops zero-byte messages straight into a folder's maildir (Dovecot serves them; a target
/// refuses to store them).
fn plant_empty_messages(d: &Dovecot, folder: &str, n: usize) {
    let cur = d.dir().join("mail").join(d.user()).join(folder).join("cur");
    assert!(cur.is_dir(), "{} missing", cur.display());
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    for i in 0..n {
        let path = cur.join(format!("170000000{i}.M{i}P99.planted:2,"));
        std::fs::write(&path, b"").unwrap();
        std::os::unix::fs::chown(&path, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()))
            .unwrap();
    }
}

#[test]
fn corrupt_messages_are_skipped_with_reasons_within_the_threshold() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let good = messages("good", 4);
    seed(&src, "Broken", &good);
    plant_empty_messages(&src, "Broken", 3);
    assert_eq!(src.messages("Broken").len(), 7);
    let state = tempfile::tempdir().unwrap();
    let skips = state.path().join("skips.csv");
    let skip_arg = skips.to_str().unwrap();

    let out = migrate(
        &src,
        &dst,
        state.path(),
        &["--max-bad", "2", "--skip-log", skip_arg],
    );
    assert_exit(&out, 2);
    // The stopped pair is counted from its state: the good ones copied, the bad ones skipped.
    assert_eq!(totals(&out), (4, 0, 3, 0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exceed the threshold of 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = migrate(
        &src,
        &dst,
        state.path(),
        &["--max-bad", "5", "--skip-log", skip_arg],
    );
    assert_exit(&out, 0);
    let (_, _, skipped, failed) = totals(&out);
    assert_eq!((skipped, failed), (3, 0));
    assert_holds_exactly(&dst, "Broken", &good);
    let csv = std::fs::read_to_string(&skips).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(
        csv.starts_with("folder,source_uid,message_id,size,reason,detail,time"),
        "{csv}"
    );
    for row in rows {
        assert!(
            row.starts_with("Broken,") && row.contains(",corrupt,") && row.contains("empty"),
            "{row}"
        );
    }
}

#[test]
fn bad_logins_servers_and_options_get_their_exit_status() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let run = |cmd: &mut Command| cmd.output().unwrap();

    let out =
        run(migrate_command(&src, &dst, state.path(), &[]).env("IMAPMIG_TARGET_PASSWORD", "wrong"));
    assert_exit(&out, 4);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("login refused") && !stderr.contains("wrong"),
        "{stderr}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&mut migrate_command_urls(
        &url(&src),
        &format!("imap://test@127.0.0.1:{closed}"),
        state.path(),
        &[],
    ));
    assert_exit(&out, 5);

    let out = run(&mut migrate_command_urls(
        &url(&src),
        &format!("imaps://test@127.0.0.1:{}", dst.port()),
        state.path(),
        &["--io-timeout", "5"],
    ));
    assert_exit(&out, 6);

    for bad in [
        "imap://127.0.0.1:143",
        "http://test@127.0.0.1",
        "imap://test:secret@127.0.0.1",
    ] {
        let out = run(&mut migrate_command_urls(
            &url(&src),
            bad,
            state.path(),
            &[],
        ));
        assert_exit(&out, 64);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("secret"));
    }
    let out =
        run(migrate_command(&src, &dst, state.path(), &[]).env_remove("IMAPMIG_SOURCE_PASSWORD"));
    assert_exit(&out, 64);
    let out = run(&mut migrate_command(
        &src,
        &dst,
        state.path(),
        &["--before", "last week"],
    ));
    assert_exit(&out, 64);

    // AUTHENTICATE PLAIN works; XOAUTH2 with a wrong token is refused, and
    // the token never shows.
    let plain = format!("{}?auth=plain", url(&src));
    let out = run(&mut migrate_command_urls(
        &plain,
        &url(&dst),
        state.path(),
        &[],
    ));
    assert_exit(&out, 0);
    let oauth = format!("{}?auth=xoauth2", url(&src));
    let out = run(migrate_command_urls(&oauth, &url(&dst), state.path(), &[])
        .env("IMAPMIG_SOURCE_TOKEN", "ya29.secret-token"));
    assert_exit(&out, 4);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("ya29.secret-token"), "{all}");

    // A password file works where the environment has none.
    let pw = state.path().join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    let out = run(migrate_command(
        &src,
        &dst,
        state.path(),
        &["--source-password-file", pw.to_str().unwrap()],
    )
    .env_remove("IMAPMIG_SOURCE_PASSWORD"));
    assert_exit(&out, 0);
}
