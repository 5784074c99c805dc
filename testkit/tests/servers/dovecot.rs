use std::time::{Duration, Instant};

use testkit::{Dovecot, DovecotConfig, Layout, RawImap};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the server's processes and temp dir are gone after drop.
fn stop_and_check(server: Dovecot) {
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
fn slash_layout_lists_selects_and_seeds() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    assert_eq!((server.separator(), server.prefix()), ('/', ""));
    server.create_folder("Work/2024");
    server.create_folder("Entwürfe");
    server.seed(
        "Work/2024",
        &[b"Subject: one\r\n\r\n1\r\n", b"Subject: two\n\n2\n"],
    );
    let mut imap = server.session();
    let list = text(&imap.command("LIST \"\" \"*\""));
    assert!(list.contains("\"/\" Work/2024\r\n"), "{list}");
    assert!(list.contains("\"/\" Entw&APw-rfe\r\n"), "{list}");
    let select = text(&imap.command("SELECT Work/2024"));
    assert!(select.contains("* 2 EXISTS"), "{select}");
    assert_eq!(
        server.messages("Work/2024"),
        vec![
            b"Subject: one\r\n\r\n1\r\n".to_vec(),
            b"Subject: two\r\n\r\n2\r\n".to_vec()
        ]
    );
    let mut folders = server.folders();
    folders.sort();
    assert_eq!(folders, ["Entwürfe", "INBOX", "Work", "Work/2024"]);
    drop(imap);
    stop_and_check(server);
}

#[test]
fn dot_inbox_layout() {
    let Some(server) = Dovecot::start(Layout::DotInbox) else {
        return;
    };
    assert_eq!((server.separator(), server.prefix()), ('.', "INBOX."));
    server.create_folder("INBOX.Sent");
    server.seed("INBOX.Work.Jobs", &[b"Subject: x\r\n\r\nx\r\n"]);
    let mut imap = server.session();
    let list = text(&imap.command("LIST \"\" \"*\""));
    assert!(
        list.contains("(\\HasNoChildren \\Sent) \".\" INBOX.Sent\r\n"),
        "{list}"
    );
    assert!(list.contains("\".\" INBOX.Work.Jobs\r\n"), "{list}");
    let ns = text(&imap.command("NAMESPACE"));
    assert!(
        ns.contains("* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL"),
        "{ns}"
    );
    assert_eq!(server.messages("INBOX.Work.Jobs").len(), 1);
    drop(imap);
    stop_and_check(server);
}

#[test]
fn set_uidvalidity_is_visible_over_imap() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    server.seed("Work", &[b"Subject: x\r\n\r\nx\r\n"]);
    server.set_uidvalidity("Work", 4242);
    let mut imap = server.session();
    let status = text(&imap.command("STATUS Work (UIDVALIDITY MESSAGES)"));
    assert!(status.contains("UIDVALIDITY 4242"), "{status}");
    let select = text(&imap.command("SELECT Work"));
    assert!(select.contains("[UIDVALIDITY 4242]"), "{select}");
    server.set_uidvalidity("Work", 4243);
    let closed = imap
        .try_command("NOOP")
        .expect_err("the session must be closed");
    assert!(text(&closed.received).contains("* BYE"), "{closed}");
    stop_and_check(server);
}

#[test]
fn seeding_thousands_is_fast_and_byte_exact() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let messages: Vec<Vec<u8>> = (0..2000)
        .map(|i| {
            format!(
                "Message-ID: <{i}@t>\r\nSubject: {i} \u{e9}\r\n\r\n{}\r\n",
                "x".repeat(2000)
            )
            .into_bytes()
        })
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let started = Instant::now();
    server.seed("Big", &refs);
    let took = started.elapsed();
    eprintln!("seeded 2000 messages in {took:?}");
    assert_eq!(server.messages("Big"), messages);
    stop_and_check(server);
}

#[test]
fn gmail_layout_all_mail_and_archive() {
    let Some(server) = Dovecot::start(Layout::Gmail) else {
        return;
    };
    server.seed("INBOX", &[b"Subject: inbox\r\n\r\n1\r\n"]);
    server.seed("Label", &[b"Subject: label\r\n\r\n1\r\n"]);
    server.seed("[Gmail]/Sent Mail", &[b"Subject: sent\r\n\r\n1\r\n"]);
    server.seed("[Gmail]/Trash", &[b"Subject: trash\r\n\r\n1\r\n"]);
    server.seed_archived(&[b"Subject: archived\r\n\r\n1\r\n"]);
    let mut imap = server.session();
    let list = text(&imap.command("LIST \"\" \"*\""));
    for want in [
        "(\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\"",
        "(\\HasNoChildren \\Sent) \"/\" \"[Gmail]/Sent Mail\"",
        "(\\HasNoChildren \\Trash) \"/\" [Gmail]/Trash",
        "(\\HasNoChildren \\Drafts) \"/\" [Gmail]/Drafts",
        "(\\HasNoChildren \\Junk) \"/\" [Gmail]/Spam",
        "\"/\" Label",
    ] {
        assert!(list.contains(want), "{want} missing from {list}");
    }
    assert!(
        !list.contains("Archived") && !list.contains("Special"),
        "{list}"
    );
    let subjects = |folder: &str| -> Vec<String> {
        let mut s: Vec<String> = server
            .messages(folder)
            .iter()
            .map(|m| text(m).lines().next().unwrap_or_default().to_owned())
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        subjects("[Gmail]/All Mail"),
        [
            "Subject: archived",
            "Subject: inbox",
            "Subject: label",
            "Subject: sent"
        ]
    );
    assert_eq!(subjects("[Gmail]/Sent Mail"), ["Subject: sent"]);
    assert_eq!(subjects("[Gmail]/Trash"), ["Subject: trash"]);
    let append = text(&imap.append("[Gmail]/All Mail", b"Subject: no\r\n\r\n1\r\n"));
    assert!(append.contains(" NO "), "{append}");
    for folder in server.folders() {
        assert!(!folder.contains("Archived"), "{folder}");
    }
    drop(imap);
    stop_and_check(server);
}

#[test]
fn quota_refuses_append_with_overquota() {
    let config = DovecotConfig::default().with_quota_bytes(10_000);
    let Some(server) = Dovecot::start_with(config) else {
        return;
    };
    let mut imap = server.session();
    let quota = text(&imap.command("GETQUOTAROOT INBOX"));
    assert!(quota.contains("(STORAGE 0 10)"), "{quota}");
    let small = text(&imap.append("INBOX", &[b'x'; 4000]));
    assert!(small.contains(" OK "), "{small}");
    let big = text(&imap.append("INBOX", &[b'y'; 8000]));
    assert!(big.contains(" NO [OVERQUOTA]"), "{big}");
    stop_and_check(server);
}

#[test]
fn connection_limit_refuses_third_login() {
    let config = DovecotConfig {
        max_connections: Some(2),
        ..DovecotConfig::default()
    };
    let Some(server) = Dovecot::start_with(config) else {
        return;
    };
    let first = server.session();
    let second = server.session();
    let mut third = RawImap::connect(server.addr());
    let reply = text(&third.command("LOGIN test secret"));
    assert!(reply.contains(" NO [LIMIT]"), "{reply}");
    drop((first, second));
    stop_and_check(server);
}

#[test]
fn a_panicking_test_still_stops_the_server() {
    let seen = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let Some(server) = Dovecot::start(Layout::Gmail) else {
            return;
        };
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
fn tls_server_offers_starttls_and_an_imaps_port_with_its_own_ca() {
    let Some(server) = Dovecot::start_with(DovecotConfig::new(Layout::Slash).with_tls()) else {
        return;
    };
    let ca = server.ca_pem().expect("a CA with tls");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let imaps = server.imaps_port().expect("an imaps port with tls");
    assert_ne!(imaps, server.port());
    // The plain port offers STARTTLS; the imaps port speaks TLS at once (no plain greeting).
    let mut plain = RawImap::connect(server.addr());
    let caps = String::from_utf8_lossy(&plain.command("CAPABILITY")).into_owned();
    assert!(caps.contains("STARTTLS"), "{caps}");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", imaps)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::{Read, Write};
    // A TLS ClientHello-less peer: the server waits for the handshake, so a plain
    // greeting never comes; sending garbage makes it close with a TLS alert (0x15).
    tcp.write_all(b"a1 CAPABILITY\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"* OK"),
        "imaps greeted in plain text"
    );

    let plain_server = Dovecot::start(Layout::Slash).unwrap();
    assert_eq!(plain_server.imaps_port(), None);
    assert_eq!(plain_server.ca_pem(), None);
}

#[test]
fn xoauth2_and_oauthbearer_accept_the_password_as_token() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let caps = text(&RawImap::connect(server.addr()).command("CAPABILITY"));
    assert!(
        caps.contains("AUTH=XOAUTH2") && caps.contains("AUTH=OAUTHBEARER"),
        "{caps}"
    );
    // base64("user=test\x01auth=Bearer secret\x01\x01")
    let mut imap = RawImap::connect(server.addr());
    let reply =
        text(&imap.command("AUTHENTICATE XOAUTH2 dXNlcj10ZXN0AWF1dGg9QmVhcmVyIHNlY3JldAEB"));
    assert!(reply.contains(" OK "), "{reply}");
    assert!(text(&imap.command("SELECT INBOX")).contains(" OK "));
    // base64("n,a=test,\x01auth=Bearer secret\x01\x01")
    let mut imap = RawImap::connect(server.addr());
    let reply =
        text(&imap.command("AUTHENTICATE OAUTHBEARER bixhPXRlc3QsAWF1dGg9QmVhcmVyIHNlY3JldAEB"));
    assert!(reply.contains(" OK "), "{reply}");
    // base64("user=test\x01auth=Bearer wrong\x01\x01"): refused (after an error challenge,
    // answered with the empty response).
    // The empty response is pipelined after the command line.
    let mut imap = RawImap::connect(server.addr());
    let reply =
        text(&imap.command("AUTHENTICATE XOAUTH2 dXNlcj10ZXN0AWF1dGg9QmVhcmVyIHdyb25nAQE=\r\n"));
    assert!(
        reply.contains(&format!("{} NO ", imap.last_tag())),
        "{reply}"
    );
    assert!(text(&imap.command("SELECT INBOX")).contains(" BAD "));
    stop_and_check(server);
}
