//! `imapmig batch`: many mailboxes from a CSV, with file state, as one process with
//! `--jobs`, as shards run side by side (the way a Kubernetes Indexed Job, a Slurm array or
//! GNU parallel runs them), killed and resumed. Every message must land exactly once, read
//! back from the servers.

use std::process::{Command, Output, Stdio};

use super::*;

/// A user with the messages of its INBOX and of its Work folder.
type Mailbox = (String, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// One pair of servers with `n` mailboxes: user `mN` on both, the source seeded with two
/// folders of different sizes. Returns the servers and each user's messages per folder.
fn fleet(n: usize) -> Option<(Dovecot, Dovecot, Vec<Mailbox>)> {
    let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let config = DovecotConfig::new(Layout::Slash).with_users(&refs);
    let (src, dst) = (server_with(config.clone())?, server_with(config)?);
    let mut users = Vec::new();
    for (i, user) in names.into_iter().enumerate() {
        let inbox = messages(&format!("{user}-inbox"), 10 + (i * 7) % 30);
        let work = messages(&format!("{user}-work"), 5 + (i * 11) % 20);
        let refs: Vec<&[u8]> = inbox.iter().map(Vec::as_slice).collect();
        src.seed_as(&user, "INBOX", &refs);
        let refs: Vec<&[u8]> = work.iter().map(Vec::as_slice).collect();
        src.seed_as(&user, "Work", &refs);
        users.push((user, inbox, work));
    }
    Some((src, dst, users))
}

fn write_csv(dir: &Path, src: &Dovecot, dst: &Dovecot, users: &[String]) -> std::path::PathBuf {
    let mut csv = String::from("source,target,source_secret,target_secret\n");
    for u in users {
        csv.push_str(&format!(
            "imap://{u}@127.0.0.1:{},imap://{u}@127.0.0.1:{},env:BATCH_SOURCE_PW,env:BATCH_TARGET_PW\n",
            src.port(),
            dst.port()
        ));
    }
    let path = dir.join("mailboxes.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn batch_command(csv: &Path, state: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapmig"));
    cmd.args(["batch", "--csv"])
        .arg(csv)
        .arg("--state")
        .arg(state)
        .args(extra)
        .env("BATCH_SOURCE_PW", "secret")
        .env("BATCH_TARGET_PW", "secret")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("IMAPMIG_SOURCE_PASSWORD")
        .env_remove("IMAPMIG_TARGET_PASSWORD");
    cmd
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn assert_fleet_copied_once(dst: &Dovecot, users: &[Mailbox]) {
    for (user, inbox, work) in users {
        for (folder, want) in [("INBOX", inbox), ("Work", work)] {
            assert_user_holds_exactly(dst, user, folder, want);
        }
    }
}

/// Sum of the `copied` column over the result tables in `state`.
fn copied_in_results(state: &Path) -> u64 {
    let mut copied = 0;
    for entry in std::fs::read_dir(state).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let rows: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for row in rows.as_array().unwrap() {
                copied += row["copied"].as_u64().unwrap();
            }
        }
    }
    copied
}

#[test]
fn a_bad_csv_is_refused_before_anything_starts_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "source,target,source_secret,target_secret\n\
         imap://a@127.0.0.1:1,imap://a@127.0.0.1:2,env:X,env:Y\n\
         imap://b@127.0.0.1:1,imap://b@127.0.0.1:2,hunter2,env:Y\n\
         ftp://c@127.0.0.1:1,imap://c@127.0.0.1:2,env:X,file:/pw\n",
    )
    .unwrap();
    let out = batch_command(&csv, &dir.path().join("state"), &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3, column 3 (source_secret)"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4, column 1 (source)"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "a secret is never echoed: {stderr}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "nothing starts on a bad CSV"
    );

    std::fs::write(&csv, "source,target\nimap://a@h:1,imap://a@h:2\n").unwrap();
    let out = batch_command(&csv, &dir.path().join("state"), &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1, column 1"));
}

#[test]
fn one_process_with_jobs_migrates_every_mailbox_once_and_a_rerun_copies_nothing() {
    let Some((src, dst, users)) = fleet(6) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = users.iter().map(|u| u.0.clone()).collect();
    let csv = write_csv(dir.path(), &src, &dst, &names);
    let state = dir.path().join("state");
    let out = batch_command(&csv, &state, &["--jobs", "3", "--", "--parallel", "2"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(last_line(&out), "mailboxes: 6 done: 6 failed: 0");
    assert_fleet_copied_once(&dst, &users);
    let expected: u64 = users
        .iter()
        .map(|(_, a, b)| (a.len() + b.len()) as u64)
        .sum();
    assert_eq!(copied_in_results(&state), expected);
    let table = std::fs::read_to_string(state.join("results-0-of-1.csv")).unwrap();
    assert_eq!(table.lines().count(), 7, "{table}");
    assert!(
        table.starts_with(
            "line,source,target,exit,class,copied,present,skipped,failed,bytes,duration_s,reason"
        ),
        "{table}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("batch: done 6 running 0 failed 0 waiting 0 of 6"),
        "{stderr}"
    );

    let out = batch_command(&csv, &state, &["--jobs", "3"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(copied_in_results(&state), 0, "the rerun copies nothing");
    assert_fleet_copied_once(&dst, &users);
}

#[test]
fn three_shards_side_by_side_then_again_copy_everything_exactly_once() {
    let Some((src, dst, users)) = fleet(9) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = users.iter().map(|u| u.0.clone()).collect();
    let csv = write_csv(dir.path(), &src, &dst, &names);
    let state = dir.path().join("state");
    // Sizes balance the shards: the largest mailboxes first, to the lightest shard.
    let sizes = dir.path().join("sizes.csv");
    let mut text = String::from("source,bytes\n");
    for (u, a, b) in &users {
        let bytes: usize = a.iter().chain(b).map(Vec::len).sum();
        text.push_str(&format!("imap://{u}@127.0.0.1:{},{bytes}\n", src.port()));
    }
    std::fs::write(&sizes, text).unwrap();
    for round in 0..2 {
        let children: Vec<_> = (0..3)
            .map(|i| {
                let shard = format!("{i}/3");
                batch_command(
                    &csv,
                    &state,
                    &["--shard", &shard, "--sizes", sizes.to_str().unwrap()],
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        let mut total = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_exit(&out, 0);
            let line = last_line(&out);
            let n: usize = line
                .strip_prefix("mailboxes: ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            total += n;
        }
        assert_eq!(total, 9, "the shards partition the mailboxes");
        assert_fleet_copied_once(&dst, &users);
        if round == 1 {
            assert_eq!(
                copied_in_results(&state),
                0,
                "the second round copies nothing"
            );
        }
    }

    // The index from a Kubernetes Indexed Job's environment.
    let out = batch_command(&csv, &state, &[])
        .env("JOB_COMPLETION_INDEX", "1")
        .env("IMAPMIG_SHARD_COUNT", "3")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shard 1/3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gnu_parallel_runs_the_shards_as_the_readme_shows() {
    let parallel = ["/usr/bin/parallel", "/usr/local/bin/parallel"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(parallel) = parallel else {
        assert!(
            !testkit::ci(),
            "GNU parallel is missing: scripts/test installs it (package `parallel`)"
        );
        eprintln!("skipping: GNU parallel is not installed");
        return;
    };
    let Some((src, dst, users)) = fleet(4) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = users.iter().map(|u| u.0.clone()).collect();
    let csv = write_csv(dir.path(), &src, &dst, &names);
    let state = dir.path().join("state");
    // The README's example, with this test's binary and files.
    let out = Command::new(parallel)
        .args(["--will-cite", "--halt", "now,fail=1", "-j", "2"])
        .arg(env!("CARGO_BIN_EXE_imapmig"))
        .args(["batch", "--csv"])
        .arg(&csv)
        .arg("--state")
        .arg(&state)
        .args(["--shard", "{}/2", ":::", "0", "1"])
        .env("BATCH_SOURCE_PW", "secret")
        .env("BATCH_TARGET_PW", "secret")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_fleet_copied_once(&dst, &users);
}

#[test]
fn a_batch_killed_mid_mailbox_is_finished_by_the_next_run_without_duplicates() {
    let Some((src, dst, users)) = fleet(4) else {
        return;
    };
    // One larger mailbox, so the kill lands inside a copy.
    let big = messages("m0-big", 600);
    let refs: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    src.seed_as("m0", "Big", &refs);
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = users.iter().map(|u| u.0.clone()).collect();
    let csv = write_csv(dir.path(), &src, &dst, &names);
    let state = dir.path().join("state");
    let mut child = batch_command(&csv, &state, &["--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        // Every mailbox's messages on the target, counted from its maildirs.
        let landed = stored_count(&dst);
        if landed >= 300 || std::time::Instant::now() > deadline {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the batch must still be running when it is killed"
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        dst.messages_as("m0", "Big").len() < big.len(),
        "the kill lands inside m0's Big folder"
    );
    let out = batch_command(&csv, &state, &["--jobs", "2"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_fleet_copied_once(&dst, &users);
    assert_user_holds_exactly(&dst, "m0", "Big", &big);
}
