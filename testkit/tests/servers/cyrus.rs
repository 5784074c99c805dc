//! Cyrus IMAP 3.6: starts, announces what the design notes say, seeds and
//! reads back (8-bit header bytes munged to `X`), refuses over quota with a
//! plain `NO Over quota`, forces a new UIDVALIDITY, and stops cleanly.

use std::time::{Duration, Instant};

use testkit::{Cyrus, CyrusConfig, RawImap};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the server's processes and temp dir are gone after drop.
fn stop_and_check(server: Cyrus) {
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(testkit::group_alive(pid));
    assert!(dir.exists());
    let started = Instant::now();
    drop(server);
    assert!(
        !testkit::group_alive(pid),
        "process group {pid} still alive after drop"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn logs_in_and_announces_literal_plus_condstore_and_the_inbox_namespace() {
    let started = Instant::now();
    let Some(server) = Cyrus::start() else {
        return;
    };
    eprintln!("Cyrus started in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!((server.separator(), server.prefix()), ('.', "INBOX."));
    assert_eq!((server.user(), server.password()), ("test", "secret"));
    let mut imap = RawImap::connect(server.addr());
    assert!(
        text(imap.greeting()).contains("Cyrus IMAP"),
        "{}",
        text(imap.greeting())
    );
    imap.login(server.user(), server.password());
    let capability = text(&imap.command("CAPABILITY"));
    let words: Vec<&str> = capability
        .lines()
        .find(|line| line.starts_with("* CAPABILITY "))
        .unwrap_or_default()
        .split(' ')
        .collect();
    for wanted in [
        "LITERAL+",
        "MULTIAPPEND",
        "UIDPLUS",
        "CONDSTORE",
        "QRESYNC",
        "SPECIAL-USE",
        "STATUS=SIZE",
        "QUOTA",
        "MOVE",
        "NAMESPACE",
    ] {
        assert!(words.contains(&wanted), "no {wanted} in {capability}");
    }
    assert!(
        words.iter().any(|w| w.starts_with("APPENDLIMIT=")),
        "{capability}"
    );
    let namespace = text(&imap.command("NAMESPACE"));
    assert!(
        namespace.starts_with("* NAMESPACE ((\"INBOX.\" \".\")) "),
        "{namespace}"
    );
    // Outside the INBOX. prefix nothing can be created.
    let top = text(&imap.command("CREATE Top"));
    assert!(top.contains(&format!("{} NO", imap.last_tag())), "{top}");
    let wrong = text(&RawImap::connect(server.addr()).command("LOGIN test wrong"));
    assert!(wrong.contains("a1 NO"), "{wrong}");
    drop(imap);
    stop_and_check(server);
}

#[test]
fn seeds_and_reads_back_byte_exact_except_8bit_header_bytes() {
    let Some(server) = Cyrus::start() else {
        return;
    };
    let plain: [&[u8]; 2] = [
        b"Subject: one\r\n\r\n1\r\n",
        b"From: a@example.org\r\nSubject: two\r\n\r\nline\r\n.\r\n",
    ];
    server.seed("INBOX.Work.2024", &plain);
    assert_eq!(server.messages("INBOX.Work.2024"), plain);
    // A parent CREATEd along the way is a real, empty folder.
    assert!(server.messages("INBOX.Work").is_empty());
    let mut folders = server.folders();
    folders.sort();
    assert_eq!(folders, ["INBOX", "INBOX.Work", "INBOX.Work.2024"]);

    // Raw 8-bit bytes in a header become X (munge8bit); the body keeps them.
    let eight_bit = b"Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n";
    server.seed("INBOX", &[eight_bit]);
    assert_eq!(
        server.messages("INBOX"),
        [b"Subject: cafXX\r\n\r\ncaf\xc3\xa9\r\n".to_vec()]
    );
    // Bare LF is refused, not repaired.
    let bare_lf = text(&server.append("INBOX", b"Subject: lf\n\nbody\n"));
    assert!(
        bare_lf.contains(" NO Message contains bare newlines"),
        "{bare_lf}"
    );
    assert_eq!(server.messages("INBOX").len(), 1);
    server.create_folder("INBOX.Entwürfe");
    assert!(server.folders().contains(&"INBOX.Entwürfe".to_owned()));
    stop_and_check(server);
}

#[test]
fn over_quota_is_a_plain_no_over_quota() {
    let Some(server) = Cyrus::start_with(CyrusConfig::default().with_quota_kib(10)) else {
        return;
    };
    let mut imap = server.session();
    let quota = text(&imap.command("GETQUOTAROOT INBOX"));
    assert!(quota.contains("* QUOTA INBOX (STORAGE 0 10)"), "{quota}");
    let small = b"Subject: small\r\n\r\nfits\r\n";
    server.seed("INBOX", &[small]);
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b"0123456789abcdef\r\n", 1200).flatten());
    let reply = text(&server.append("INBOX", &big));
    let last = reply.lines().last().unwrap_or_default();
    assert!(last.ends_with(" NO Over quota"), "{reply}");
    assert!(!reply.contains("[OVERQUOTA]"), "{reply}");
    // The same with LITERAL+: the literal is read and refused as a whole.
    let reply = text(&imap.append("INBOX", &big));
    assert!(reply.ends_with(" NO Over quota\r\n"), "{reply}");
    assert_eq!(server.messages("INBOX"), [small]);
    drop(imap);
    stop_and_check(server);
}

#[test]
fn delete_and_create_give_a_new_uidvalidity_and_keep_the_messages() {
    let Some(server) = Cyrus::start() else {
        return;
    };
    let messages: [&[u8]; 2] = [b"Subject: a\r\n\r\na\r\n", b"Subject: b\r\n\r\nb\r\n"];
    server.seed("INBOX.Old", &messages);
    let before = server.uidvalidity("INBOX.Old");
    let after = server.new_uidvalidity("INBOX.Old");
    assert_ne!(before, after);
    assert_eq!(server.uidvalidity("INBOX.Old"), after);
    assert_eq!(server.messages("INBOX.Old"), messages);
    let mut imap = server.session();
    let select = text(&imap.command("SELECT INBOX.Old"));
    assert!(
        select.contains(&format!("[UIDVALIDITY {after}]")),
        "{select}"
    );
    drop(imap);
    stop_and_check(server);
}

#[test]
fn a_second_user_has_an_inbox_of_its_own() {
    let Some(server) = Cyrus::start() else {
        return;
    };
    server.seed("INBOX", &[b"Subject: mine\r\n\r\nx\r\n"]);
    server.add_user("other", "pass word");
    let mut other = RawImap::connect(server.addr());
    other.login("other", "pass word");
    let select = text(&other.command("SELECT INBOX"));
    assert!(select.contains("* 0 EXISTS"), "{select}");
    let mut test = server.session();
    assert!(text(&test.command("SELECT INBOX")).contains("* 1 EXISTS"));
    drop((other, test));
    stop_and_check(server);
}

#[test]
fn a_panicking_test_still_stops_the_server() {
    let seen = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let Some(server) = Cyrus::start() else {
            return;
        };
        // A connection keeps an imapd child of master running.
        let _imap = server.session();
        *seen.lock().unwrap() = Some((server.pid(), server.dir().to_path_buf()));
        panic!("the test fails while the server runs");
    });
    let Some((pid, dir)) = seen.into_inner().unwrap() else {
        return;
    };
    assert!(outcome.is_err());
    assert!(
        !testkit::group_alive(pid),
        "process group {pid} survived the panic"
    );
    assert!(!dir.exists(), "{} survived the panic", dir.display());
}

#[test]
fn missing_cyrus_fails_under_ci_and_skips_otherwise() {
    if std::env::var("TESTKIT_TEST_CHILD").as_deref() == Ok("cyrus") {
        assert!(Cyrus::start().is_none());
        return;
    }
    missing_server_fails_under_ci_and_skips_otherwise(
        "cyrus::missing_cyrus_fails_under_ci_and_skips_otherwise",
        "cyrus",
        "Cyrus IMAP is not installed: missing imapd, master, ctl_cyrusdb, saslpasswd2",
    );
}

/// Runs the test `name` of this binary as a child whose `TESTKIT_PATH` is
/// an empty directory, with and without `CI=true`: it must fail loudly
/// under CI and skip loudly otherwise, saying `missing` and how to install.
pub(crate) fn missing_server_fails_under_ci_and_skips_otherwise(
    name: &str,
    child: &str,
    missing: &str,
) {
    let empty = tempfile::tempdir().expect("temp dir");
    for ci in [true, false] {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("TESTKIT_TEST_CHILD", child)
            .env("TESTKIT_PATH", empty.path());
        if ci {
            command.env("CI", "true");
        } else {
            command.env_remove("CI");
        }
        let output = command.output().expect("run the test binary");
        let stdout = text(&output.stdout);
        let stderr = text(&output.stderr);
        assert!(
            stdout.contains("running 1 test"),
            "{child} ci={ci}: {stdout}"
        );
        assert!(stderr.contains(missing), "{child} ci={ci}: {stderr}");
        assert!(stderr.contains("apt-get"), "{child} ci={ci}: {stderr}");
        assert!(stderr.contains("scripts/test"), "{child} ci={ci}: {stderr}");
        if ci {
            assert!(!output.status.success(), "{child}: CI=true must fail");
            assert!(
                stderr.contains("CI=true, so a missing server is a test failure"),
                "{stderr}"
            );
        } else {
            assert!(output.status.success(), "{child}: {stdout}{stderr}");
            assert!(stderr.contains("SKIPPING this test"), "{stderr}");
        }
    }
}
