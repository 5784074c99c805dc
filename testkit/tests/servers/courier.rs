//! Courier-IMAP 5: starts in a private mount namespace, announces no
//! LITERAL+ or CONDSTORE, seeds with synchronising literals and reads back
//! byte-exact, refuses APPEND into a `\Noselect` parent with `[TRYCREATE]`
//! and over quota with an `[ALERT]`, forces a new UIDVALIDITY by RENAME,
//! runs two instances side by side, and stops cleanly.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use testkit::{Courier, CourierConfig, RawImap};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the server's processes and temp dir are gone after drop.
fn stop_and_check(server: Courier) {
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

/// The words of the `* CAPABILITY` line of a reply.
fn capabilities(reply: &str) -> Vec<String> {
    reply
        .lines()
        .find(|line| line.starts_with("* CAPABILITY "))
        .unwrap_or_default()
        .split(' ')
        .skip(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn logs_in_without_literal_plus_or_condstore_in_the_inbox_namespace() {
    let started = Instant::now();
    let Some(server) = Courier::start() else {
        return;
    };
    eprintln!("Courier started in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!((server.separator(), server.prefix()), ('.', "INBOX."));
    let mut imap = RawImap::connect(server.addr());
    assert!(
        text(imap.greeting()).contains("Courier-IMAP ready"),
        "{}",
        text(imap.greeting())
    );
    imap.login(server.user(), server.password());
    let reply = text(&imap.command("CAPABILITY"));
    let words = capabilities(&reply);
    for wanted in ["IMAP4rev1", "UIDPLUS", "NAMESPACE", "QUOTA", "CHILDREN"] {
        assert!(words.iter().any(|w| w == wanted), "no {wanted} in {reply}");
    }
    for absent in [
        "LITERAL+",
        "CONDSTORE",
        "QRESYNC",
        "SPECIAL-USE",
        "MOVE",
        "ID",
        "MULTIAPPEND",
    ] {
        assert!(!words.iter().any(|w| w == absent), "{absent} in {reply}");
    }
    let namespace = text(&imap.command("NAMESPACE"));
    assert!(
        namespace.starts_with("* NAMESPACE ((\"INBOX.\" \".\")) "),
        "{namespace}"
    );
    // No quota configured: an empty QUOTA response.
    let quota = text(&imap.command("GETQUOTAROOT INBOX"));
    assert!(quota.contains("* QUOTA \"ROOT\"\r\n"), "{quota}");
    drop(imap);
    stop_and_check(server);
}

#[test]
fn seeds_with_synchronising_literals_and_reads_back_byte_exact() {
    let Some(server) = Courier::start() else {
        return;
    };
    let messages: [&[u8]; 3] = [
        b"Subject: one\r\n\r\n1\r\n",
        b"From: a@example.org\r\nSubject: two\r\n\r\nline\r\n.\r\n",
        b"Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n",
    ];
    server.seed("INBOX.Work", &messages);
    assert_eq!(server.messages("INBOX.Work"), messages);
    server.seed("INBOX", &messages[..1]);
    assert_eq!(server.messages("INBOX"), messages[..1]);
    server.create_folder("INBOX.Entwürfe");
    let mut folders = server.folders();
    folders.sort();
    assert_eq!(folders, ["INBOX", "INBOX.Entwürfe", "INBOX.Work"]);
    // The literal went after the continuation, never as commands.
    let reply = text(&server.append("INBOX.Work", b"Subject: 4\r\n\r\n4\r\n"));
    assert!(reply.starts_with('+'), "{reply}");
    assert!(reply.contains(" OK [APPENDUID "), "{reply}");
    assert_eq!(server.messages("INBOX.Work").len(), 4);
    stop_and_check(server);
}

#[test]
fn append_into_a_noselect_parent_is_trycreate() {
    let Some(server) = Courier::start() else {
        return;
    };
    server.create_folder("INBOX.Work.2024");
    let mut imap = server.session();
    let list = text(&imap.command("LIST \"\" \"INBOX.Work\""));
    assert!(list.contains("\\Noselect"), "{list}");
    let reply = text(&server.append("INBOX.Work", b"Subject: x\r\n\r\nx\r\n"));
    assert!(reply.contains(" NO [TRYCREATE]"), "{reply}");
    // Refused before the continuation: the message was never sent.
    assert!(!reply.starts_with('+'), "{reply}");
    assert!(server.messages("INBOX.Work.2024").is_empty());
    drop(imap);
    stop_and_check(server);
}

#[test]
fn over_quota_is_an_alert_after_a_stray_untagged_no() {
    let Some(server) = Courier::start_with(CourierConfig::default().with_quota_kib(10)) else {
        return;
    };
    let small = b"Subject: small\r\n\r\nfits\r\n";
    server.seed("INBOX", &[small]);
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b"0123456789abcdef\r\n", 1200).flatten());
    let reply = text(&server.append("INBOX", &big));
    assert!(
        reply.ends_with(" NO [ALERT] You exceeded your mail quota.\r\n"),
        "{reply}"
    );
    assert!(reply.starts_with("+ "), "{reply}");
    // The stray `* NO` comes with the reply to the next command.
    let next = refused_append_then_noop(&server, &big);
    assert!(
        next.starts_with("* NO Error in IMAP command received by server.\r\n"),
        "{next}"
    );
    assert!(next.ends_with("n2 OK NOOP completed\r\n"), "{next}");
    assert_eq!(server.messages("INBOX"), [small]);
    let mut imap = server.session();
    let quota = text(&imap.command("GETQUOTAROOT INBOX"));
    assert!(quota.contains("(STORAGE "), "{quota}");
    drop(imap);
    stop_and_check(server);
}

/// Logs in, APPENDs `message` to INBOX with a synchronising literal,
/// expects the quota refusal and returns the reply to a NOOP sent next.
fn refused_append_then_noop(server: &Courier, message: &[u8]) -> String {
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut exchange = |command: &[u8], tag: &str, literal: Option<&[u8]>| {
        writer.write_all(command).unwrap();
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "closed: {reply}");
            reply.push_str(&line);
            if let (true, Some(data)) = (line.starts_with('+'), literal) {
                writer.write_all(data).unwrap();
                writer.write_all(b"\r\n").unwrap();
            }
            if line.starts_with(&format!("{tag} ")) {
                return reply;
            }
        }
    };
    exchange(b"", "*", None);
    exchange(b"n0 LOGIN test secret\r\n", "n0", None);
    let append = format!("n1 APPEND INBOX {{{}}}\r\n", message.len());
    let refused = exchange(append.as_bytes(), "n1", Some(message));
    assert!(refused.contains("n1 NO [ALERT]"), "{refused}");
    exchange(b"n2 NOOP\r\n", "n2", None)
}

#[test]
fn rename_away_and_back_gives_a_new_uidvalidity() {
    let Some(server) = Courier::start() else {
        return;
    };
    let messages: [&[u8]; 2] = [b"Subject: a\r\n\r\na\r\n", b"Subject: b\r\n\r\nb\r\n"];
    server.seed("INBOX.Old", &messages);
    let before = server.uidvalidity("INBOX.Old");
    let after = server.new_uidvalidity("INBOX.Old");
    assert_ne!(before, after);
    assert_eq!(server.uidvalidity("INBOX.Old"), after);
    // Same messages, but the new UIDs follow the Maildir's directory order,
    // not the order of arrival.
    let mut renumbered = server.messages("INBOX.Old");
    renumbered.sort();
    assert_eq!(renumbered, messages);
    let mut folders = server.folders();
    folders.sort();
    assert_eq!(folders, ["INBOX", "INBOX.Old"]);
    stop_and_check(server);
}

#[test]
fn two_instances_run_side_by_side_and_show_nothing_outside() {
    let (Some(first), Some(second)) = (Courier::start(), Courier::start()) else {
        return;
    };
    first.seed("INBOX", &[b"Subject: first\r\n\r\n1\r\n"]);
    second.add_user("other", "pass word");
    let mut other = RawImap::connect(second.addr());
    other.login("other", "pass word");
    assert!(text(&other.command("SELECT INBOX")).contains("* 0 EXISTS"));
    // The other user exists only on the second server (a refused LOGIN
    // answers after Courier's 5 s pause).
    let refused = text(&RawImap::connect(first.addr()).command("LOGIN other \"pass word\""));
    assert!(refused.contains("a1 NO"), "{refused}");
    assert_eq!(first.messages("INBOX").len(), 1);
    assert!(second.messages("INBOX").is_empty());
    // The bind mounts live only in the servers' namespaces.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for server in [&first, &second] {
        let dir = server.dir().to_string_lossy().into_owned();
        assert!(!mounts.contains(&dir), "{dir} mounted outside: {mounts}");
    }
    drop(other);
    stop_and_check(first);
    stop_and_check(second);
}

#[test]
fn a_panicking_test_still_stops_the_server() {
    let seen = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let Some(server) = Courier::start() else {
            return;
        };
        // A connection keeps an imapd child of couriertcpd running.
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
fn missing_courier_fails_under_ci_and_skips_otherwise() {
    if std::env::var("TESTKIT_TEST_CHILD").as_deref() == Ok("courier") {
        assert!(Courier::start().is_none());
        return;
    }
    crate::cyrus::missing_server_fails_under_ci_and_skips_otherwise(
        "courier::missing_courier_fails_under_ci_and_skips_otherwise",
        "courier",
        "Courier-IMAP is not installed: missing imapd, imaplogin, authdaemond, couriertcpd, \
         makeuserdb, maildirmake, openssl, unshare, mount",
    );
}
