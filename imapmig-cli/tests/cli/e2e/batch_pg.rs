//! `imapmig batch --state postgres://...`: 30 mailboxes on one Dovecot pair, migrated by three
//! concurrent workers sharing testkit's real PostgreSQL; one worker is killed with SIGKILL in
//! the middle of a mailbox, and another takes that mailbox over once its lease runs out. Every
//! message must land exactly once, read back from the target server; `imapmig batch status`
//! then shows the whole fleet done.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::Postgres;

use super::*;

/// The mailboxes of the batch.
const MAILBOXES: usize = 30;
/// The folders of every mailbox.
const FOLDERS: [&str; 3] = ["INBOX", "Work", "Lists/Rust"];

/// A user's messages per folder, in the order they were seeded.
type Seeded = (String, Vec<(&'static str, Vec<Vec<u8>>)>);

/// Mail shaped like a real mailbox: Date headers out of UID order, every seventh message
/// without a Message-ID, and every eleventh with the very same headers as the one before it
/// (a resent notification) but another body.
fn real_mail(user: &str, folder: &str, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut headers = String::new();
    for i in 0..n {
        if i % 11 != 10 || headers.is_empty() {
            // A permutation of the days: UID order is not date order.
            let day = (i * 37 + 11) % 28 + 1;
            let hour = (i * 7) % 24;
            let id = if i % 7 == 3 {
                String::new()
            } else {
                format!(
                    "Message-ID: <{user}.{}.{i}@mail.example.com>\r\n",
                    folder.replace('/', "-")
                )
            };
            headers = format!(
                "Return-Path: <news@lists.example.org>\r\nFrom: \"Sender {}\" <s{}@example.net>\r\n\
                 To: {user}@example.org\r\nSubject: [{folder}] weekly report {}\r\n\
                 Date: Tue, {day:02} Oct 2019 {hour:02}:{:02}:00 +0200\r\n{id}\
                 MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n",
                i % 5,
                i % 5,
                i / 2,
                (i * 13) % 60
            );
        }
        out.push(
            format!(
                "{headers}\r\nHello {user},\r\n\r\nthis is message {i} of {folder}.\r\n{}\r\n",
                "Lorem ipsum dolor sit amet. ".repeat(1 + i % 9)
            )
            .into_bytes(),
        );
    }
    out
}

/// One Dovecot pair with [`MAILBOXES`] users, each with [`FOLDERS`] holding 50 to 200 messages
/// in all.
fn fleet() -> Option<(Dovecot, Dovecot, Vec<Seeded>)> {
    fleet_of(MAILBOXES, 50, 151)
}

/// One Dovecot pair with `count` users, each with [`FOLDERS`] holding `least` to
/// `least + spread - 1` messages in all.
fn fleet_of(count: usize, least: usize, spread: usize) -> Option<(Dovecot, Dovecot, Vec<Seeded>)> {
    let names: Vec<String> = (0..count).map(|i| format!("u{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let config = DovecotConfig::new(Layout::Slash).with_users(&refs);
    let (src, dst) = (server_with(config.clone())?, server_with(config)?);
    let mut users = Vec::new();
    for (i, user) in names.into_iter().enumerate() {
        let total = least + (i * 53) % spread;
        let sizes = [total / 2, total / 3, total - total / 2 - total / 3];
        let mut folders = Vec::new();
        for (folder, n) in FOLDERS.into_iter().zip(sizes) {
            let mail = real_mail(&user, folder, n);
            let refs: Vec<&[u8]> = mail.iter().map(Vec::as_slice).collect();
            src.seed_as(&user, folder, &refs);
            folders.push((folder, mail));
        }
        users.push((user, folders));
    }
    Some((src, dst, users))
}

/// Messages stored for one user of a server, counted from its maildir files.
fn stored_for(d: &Dovecot, user: &str) -> usize {
    fn walk(dir: &Path, count: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if matches!(entry.file_name().to_str(), Some("cur" | "new")) {
                *count += std::fs::read_dir(entry.path()).map_or(0, Iterator::count);
            } else {
                walk(&entry.path(), count);
            }
        }
    }
    let mut count = 0;
    walk(&d.dir().join("mail").join(user), &mut count);
    count
}

fn write_csv(dir: &Path, src: &Dovecot, dst: &Dovecot, users: &[Seeded]) -> PathBuf {
    let mut csv = String::from("source,target,source_secret,target_secret\n");
    for (u, _) in users {
        csv.push_str(&format!(
            "imap://{u}@127.0.0.1:{},imap://{u}@127.0.0.1:{},env:PG_BATCH_SOURCE_PW,file:target.pw\n",
            src.port(),
            dst.port()
        ));
    }
    std::fs::write(dir.join("target.pw"), "secret\n").unwrap();
    // Sizes as `imapmig inventory` would give them: the largest mailboxes are claimed first.
    let mut sizes = String::from("source,bytes\n");
    for (u, folders) in users {
        let bytes: usize = folders.iter().flat_map(|(_, m)| m).map(Vec::len).sum();
        sizes.push_str(&format!("imap://{u}@127.0.0.1:{},{bytes}\n", src.port()));
    }
    std::fs::write(dir.join("sizes.csv"), sizes).unwrap();
    let path = dir.join("mailboxes.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// `imapmig batch` with PostgreSQL state as worker `name`, run in `dir`, with `extra`
/// arguments before `--skip-dir`, then `after` (migrate's own options, if any).
fn worker_command(
    dir: &Path,
    csv: &Path,
    url: &str,
    name: &str,
    extra: &[&str],
    after: &[&str],
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapmig"));
    cmd.current_dir(dir)
        .args(["batch", "--csv"])
        .arg(csv)
        .args(["--state", url, "--jobs", "2", "--worker", name])
        .args(extra)
        .arg("--skip-dir")
        .arg(dir.join(format!("skips-{name}")))
        .args(after)
        .env("PG_BATCH_SOURCE_PW", "secret")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("IMAPMIG_SOURCE_PASSWORD")
        .env_remove("IMAPMIG_TARGET_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A worker of the kill test: short leases, sizes known, and slow enough that a kill
/// lands inside a mailbox (about a second each).
fn worker(dir: &Path, csv: &Path, url: &str, name: &str) -> Child {
    worker_command(
        dir,
        csv,
        url,
        name,
        &["--lease-secs", "3", "--sizes", "sizes.csv"],
        &["--", "--parallel", "2", "--max-rate", "120"],
    )
    .spawn()
    .unwrap()
}

/// A fast `imapmig batch --round N` worker (no rate limit), run in `dir`.
fn round_worker(dir: &Path, csv: &Path, url: &str, name: &str, round: u32) -> Child {
    worker_command(dir, csv, url, name, &["--round", &round.to_string()], &[])
        .spawn()
        .unwrap()
}

/// Two round workers at once; both must exit 0. Returns how many mailboxes each migrated (its
/// last line, `mailboxes: N done: N failed: 0`) summed.
fn run_round(dir: &Path, csv: &Path, url: &str, round: u32) -> usize {
    let workers = [
        round_worker(dir, csv, url, &format!("r{round}a"), round),
        round_worker(dir, csv, url, &format!("r{round}b"), round),
    ];
    let mut migrated = 0;
    for child in workers {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_owned();
        let n: usize = last
            .strip_prefix("mailboxes: ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("last line {last:?}"));
        assert_eq!(last, format!("mailboxes: {n} done: {n} failed: 0"));
        migrated += n;
    }
    migrated
}

/// The target holds exactly the source's messages, folder by folder (no duplicate).
fn assert_same(src: &Dovecot, dst: &Dovecot, users: &[Seeded]) {
    for (user, folders) in users {
        for (folder, _) in folders {
            assert_user_holds_exactly(dst, user, folder, &src.messages_as(user, folder));
        }
    }
}

/// The `copied:` line of `imapmig batch status`: messages copied by the mailboxes' results.
fn status_copied(url: &str) -> (usize, String) {
    let out = status(url);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let copied = text
        .lines()
        .find_map(|l| l.strip_prefix("copied: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no copied line:\n{text}"));
    (copied, text)
}

#[test]
fn a_second_round_copies_only_the_new_mail_and_an_earlier_round_is_refused() {
    let started = Instant::now();
    let Some(pg) = Postgres::start() else {
        return;
    };
    let Some((src, dst, users)) = fleet_of(6, 12, 20) else {
        return;
    };
    let url = pg.create_database("batch_rounds");
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path(), &src, &dst, &users);
    let total: usize = users
        .iter()
        .map(|(_, f)| f.iter().map(|(_, m)| m.len()).sum::<usize>())
        .sum();

    // Round 1: everything.
    assert_eq!(run_round(dir.path(), &csv, &url, 1), 6);
    assert_same(&src, &dst, &users);
    let (copied, _) = status_copied(&url);
    assert_eq!(copied, total, "round 1 copies every message");

    // New mail arrives on the source of three mailboxes (after the MX switch, say), shaped
    // like the rest: no Message-ID on some, identical headers on others.
    let mut new = 0;
    for (user, _) in users.iter().step_by(2) {
        for (folder, n) in [("INBOX", 4), ("Lists/Rust", 11)] {
            let mail = real_mail(&format!("{user}.delta"), folder, n);
            let refs: Vec<&[u8]> = mail.iter().map(Vec::as_slice).collect();
            src.seed_as(user, folder, &refs);
            new += n;
        }
    }

    // Round 2, two workers: every mailbox again, only the new mail copied.
    assert_eq!(run_round(dir.path(), &csv, &url, 2), 6);
    assert_same(&src, &dst, &users);
    let (copied, text) = status_copied(&url);
    assert_eq!(copied, new, "round 2 copies exactly the new mail:\n{text}");
    assert!(text.lines().any(|l| l == "round: 2"), "{text}");
    assert_eq!(
        text.lines().last().unwrap_or_default(),
        "mailboxes: 6 waiting: 0 running: 0 stalled: 0 done: 6 failed: 0"
    );
    assert_eq!(
        pg.psql(
            "batch_rounds",
            "SELECT count(*) || ' ' || sum(copied) FROM imapmig_round_results WHERE round = 1"
        ),
        format!("6 {total}"),
        "round 1's results are kept"
    );

    // Round 2 again: nothing left to do.
    assert_eq!(run_round(dir.path(), &csv, &url, 2), 0);
    assert_same(&src, &dst, &users);
    assert_eq!(status_copied(&url).0, new);

    // An earlier round after a later one: refused, nothing changes.
    let out = round_worker(dir.path(), &csv, &url, "late", 1)
        .wait_with_output()
        .unwrap();
    assert_exit(&out, 64);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--round 1") && stderr.contains("is at round 2"),
        "{stderr}"
    );
    assert_eq!(
        pg.psql(
            "batch_rounds",
            "SELECT string_agg(DISTINCT status || ' ' || round, ',') FROM imapmig_mailboxes"
        ),
        "done 2"
    );
    eprintln!(
        "rounds: {total} then {new} messages copied in {:?}",
        started.elapsed()
    );
}

fn status(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["batch", "status", "--state", url])
        .output()
        .unwrap()
}

#[test]
fn three_workers_share_postgres_and_a_killed_workers_mailbox_is_finished_once() {
    let started = Instant::now();
    let Some(pg) = Postgres::start() else {
        return;
    };
    let Some((src, dst, users)) = fleet() else {
        return;
    };
    let url = pg.create_database("batch_pg");
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path(), &src, &dst, &users);
    let total: usize = users
        .iter()
        .map(|(_, f)| f.iter().map(|(_, m)| m.len()).sum::<usize>())
        .sum();
    let total_bytes: usize = users
        .iter()
        .flat_map(|(_, f)| f.iter().flat_map(|(_, m)| m))
        .map(Vec::len)
        .sum();
    eprintln!(
        "{MAILBOXES} mailboxes, {total} messages seeded in {:?}",
        started.elapsed()
    );

    let mut survivors = vec![
        worker(dir.path(), &csv, &url, "w0"),
        worker(dir.path(), &csv, &url, "w2"),
    ];
    let mut victim = worker(dir.path(), &csv, &url, "w1");

    // Kill w1 once the target holds part, not all, of a mailbox it is migrating.
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed_user = loop {
        assert!(Instant::now() < deadline, "w1 was never seen mid-mailbox");
        assert!(
            victim.try_wait().unwrap().is_none(),
            "w1 ended before it could be killed"
        );
        // The first worker creates the tables.
        if pg.psql(
            "batch_pg",
            "SELECT to_regclass('imapmig_leases') IS NOT NULL",
        ) != "t"
        {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let running = pg.psql(
            "batch_pg",
            "SELECT m.source_url FROM imapmig_mailboxes m JOIN imapmig_leases l \
             ON l.mailbox_id = m.id WHERE m.status = 'running' AND l.worker LIKE 'w1/%'",
        );
        let partly = running.lines().find_map(|source| {
            let user = source.strip_prefix("imap://")?.split('@').next()?;
            let (_, folders) = users.iter().find(|(u, _)| u == user)?;
            let want: usize = folders.iter().map(|(_, m)| m.len()).sum();
            let got = stored_for(&dst, user);
            (got > 0 && got < want).then(|| (user.to_owned(), got, want))
        });
        if let Some((user, got, want)) = partly {
            victim.kill().unwrap();
            let _ = victim.wait();
            eprintln!("killed w1 with {user} at {got} of {want} messages");
            break user;
        }
        std::thread::sleep(Duration::from_millis(10));
    };

    let mut outputs = Vec::new();
    for child in survivors.drain(..) {
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0);
        outputs.push(out);
    }
    let stderr: String = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert!(
        stderr.contains(&format!(
            "{killed_user}@127.0.0.1:{} over from w1/",
            src.port()
        )),
        "a survivor takes {killed_user} over from w1:\n{stderr}"
    );

    // Every message exactly once, read back from the target.
    for (user, folders) in &users {
        for (folder, want) in folders {
            assert_user_holds_exactly(&dst, user, folder, want);
        }
    }
    assert_eq!(
        pg.psql(
            "batch_pg",
            &format!(
                "SELECT status || ' ' || (attempts >= 2)::text FROM imapmig_mailboxes \
                 WHERE source_url LIKE 'imap://{killed_user}@%'"
            )
        ),
        "done true",
        "the killed worker's mailbox was claimed again and finished"
    );

    // What the state store wrote, for docs/scale.md (the workers have exited: their
    // statistics are flushed).
    eprintln!(
        "folder states: rows, bytes, inserts + updates: {}",
        pg.psql(
            "batch_pg",
            "SELECT count(*) || ' ' || sum(octet_length(state)) || ' ' || \
             (SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables \
              WHERE relname = 'imapmig_folder_states') FROM imapmig_folder_states"
        )
    );
    let out = status(&url);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().last().unwrap_or_default(),
        format!(
            "mailboxes: {MAILBOXES} waiting: 0 running: 0 stalled: 0 done: {MAILBOXES} failed: 0"
        ),
        "{text}"
    );
    assert!(
        text.lines().all(|l| !l.starts_with("running:")
            && !l.starts_with("stalled:")
            && !l.starts_with("failed:")),
        "{text}"
    );
    let totals = text.lines().rev().nth(1).unwrap_or_default();
    assert!(
        totals.contains(&format!("(of {total_bytes} enqueued)")) && totals.ends_with("ETA 0s"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(110),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn status_lists_running_stalled_and_failed_mailboxes() {
    use imapmig_pg::{Database, MailboxResult, MailboxRow, Outcome};
    let Some(pg) = Postgres::start() else {
        return;
    };
    let url = pg.create_database("batch_status");
    // Before any worker: an empty fleet, exit 0.
    let out = status(&url);
    assert_exit(&out, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("mailboxes: 0 waiting: 0 running: 0 stalled: 0 done: 0 failed: 0")
    );

    let db = Database::connect(&url).unwrap();
    db.migrate().unwrap();
    let mailbox = |i: u64| {
        MailboxRow::new(
            format!("imap://s{i}@old.example:143"),
            format!("imap://s{i}@new.example:143"),
        )
        .with_size(1000 * (5 - i), 10)
    };
    db.enqueue(&[mailbox(0), mailbox(1), mailbox(2), mailbox(3)])
        .unwrap();
    let failed = db
        .claim_next("node-a/0", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    db.finish(
        &failed,
        &MailboxResult {
            outcome: Outcome::Failed,
            exit_class: "quota".to_owned(),
            exit_code: 3,
            copied: 4,
            present: 0,
            skipped: 1,
            failed: 5,
            bytes: 400,
            duration: Duration::from_secs(2),
            reason: Some("target over quota".to_owned()),
        },
    )
    .unwrap();
    let _running = db
        .claim_next("node-a/1", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let _stalled = db
        .claim_next("node-b/0", Duration::from_millis(200))
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));

    let out = status(&url);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0]
            .starts_with("running: imap://s1@old.example:143 round 1 worker node-a/1 lease age ")
            && lines[0].contains("(expires in "),
        "{text}"
    );
    assert!(
        lines[1]
            .starts_with("stalled: imap://s2@old.example:143 round 1 worker node-b/0 lease age "),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "failed: imap://s0@old.example:143 round 1 exit 3 (quota) attempts 1: target over quota"
    );
    assert_eq!(lines[3], "round: 1");
    assert!(
        lines[4].starts_with("copied: 4 messages, 400 bytes (of 14000 enqueued); elapsed "),
        "{text}"
    );
    assert_eq!(
        lines[5],
        "mailboxes: 4 waiting: 1 running: 1 stalled: 1 done: 0 failed: 1"
    );

    // A directory is not a fleet.
    let out = status("/tmp/imapmig-state");
    assert_exit(&out, 64);

    // A dry run would finish its mailboxes as done: refused before anything is enqueued.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("m.csv");
    std::fs::write(
        &csv,
        "source,target,source_secret,target_secret\n\
         imap://s9@127.0.0.1:1,imap://s9@127.0.0.1:2,env:X,env:Y\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["batch", "--csv"])
        .arg(&csv)
        .args(["--state", &url, "--", "--dry-run"])
        .output()
        .unwrap();
    assert_exit(&out, 64);
    assert_eq!(db.mailboxes().unwrap().len(), 4, "nothing enqueued");
}
