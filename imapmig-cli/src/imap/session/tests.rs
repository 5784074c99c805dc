//! The session against real Dovecot servers, with testkit's FaultProxy for what Dovecot does
//! not do by itself (truncated FETCHes, garbage, unsolicited flags, stalls, slow links), and a
//! small scripted peer for Gmail's `OK [THROTTLED]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use testkit::{Dovecot, Fault, FaultProxy, Layout, RejectCode};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use super::*;
use crate::imap::secret::Secret;

const T: Duration = Duration::from_secs(10);

fn endpoint(port: u16) -> Endpoint {
    format!("imap://test@127.0.0.1:{port}").parse().unwrap()
}

fn password(d: &Dovecot) -> Credential {
    Credential::Password(Secret::new(d.password().to_owned()))
}

async fn open(d: &Dovecot, port: u16, timeout: Duration) -> Connection {
    Connection::open(&endpoint(port), &password(d), timeout)
        .await
        .unwrap()
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: a{i}@example.com\r\nSubject: session {i}\r\nMessage-ID: <s{i}@example.com>\r\n\r\nBody {i}\r\n"
    )
    .into_bytes()
}

fn seeded(n: usize) -> Option<(Dovecot, Vec<Vec<u8>>)> {
    let d = Dovecot::start(Layout::Slash)?;
    let msgs: Vec<Vec<u8>> = (0..n).map(message).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    d.seed("INBOX", &refs);
    Some((d, msgs))
}

#[tokio::test]
async fn names_with_quote_specials_go_as_literals_dovecot_takes_with_and_without_literal_plus() {
    let Some(d) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let mut c = open(&d, d.port(), T).await;
    assert!(c.capabilities().literal_plus);
    let none: Vec<String> = Vec::new();
    for (literal_plus, name) in [
        (true, &b"Say \"hi\" \\ there"[..]),
        (false, &b"Quote \" sync"[..]),
    ] {
        // Without LITERAL+ each literal waits for Dovecot's `+`.
        c.caps.literal_plus = literal_plus;
        c.create(name).await.unwrap();
        let body = message(7);
        let item = AppendItem {
            flags: &none,
            internal_date: None,
            body: &body,
        };
        let out = c.append_batch(name, &[item.clone(), item]).await.unwrap();
        assert!(
            out.iter().all(|a| matches!(a, Appended::Stored { .. })),
            "{out:?}"
        );
        assert_eq!(c.select(name, true).await.unwrap().exists, 2);
        assert_eq!(c.folder_size(name).await.unwrap().0, 2);
        let shown = String::from_utf8(name.to_vec()).unwrap();
        assert_eq!(d.messages(&shown).len(), 2, "{shown}");
    }
}

#[tokio::test]
async fn dovecot_names_itself_in_its_greeting_and_its_id() {
    let Some(d) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let mut c = open(&d, d.port(), T).await;
    assert!(
        c.greeting_text().contains("ready"),
        "{:?}",
        c.greeting_text()
    );
    let id = c.server_id().await.unwrap();
    assert!(
        id.iter().any(|(k, v)| k == "name" && v == "Dovecot"),
        "{id:?}"
    );
    // The connection goes on after ID.
    assert_eq!(c.select(b"INBOX", true).await.unwrap().exists, 0);
}

#[tokio::test]
async fn the_commands_of_a_migration_against_dovecot() {
    let (Some((src, msgs)), Some(dst)) = (seeded(3), Dovecot::start(Layout::Slash)) else {
        return;
    };
    let mut c = open(&src, src.port(), T).await;
    assert!(c.capabilities().uidplus && c.capabilities().literal_plus);
    let raw = c.listing_raw().await.unwrap();
    assert!(
        raw.starts_with(b"* LIST "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert!(c.namespace().await.unwrap().is_some());
    let sel = c.select("INBOX", true).await.unwrap();
    assert_eq!(sel.exists, 3);
    assert!(sel.uid_validity > 0);
    let metas = c.fetch_meta("1:*", &["MESSAGE-ID"]).await.unwrap();
    assert_eq!(metas.len(), 3);
    for (m, body) in metas.iter().zip(&msgs) {
        assert_eq!(m.size as usize, body.len());
        assert!(m.header.starts_with(b"Message-ID: <s"), "{:?}", m.header);
        assert!(m.internal_date.is_some());
    }
    assert_eq!(
        c.folder_size("INBOX").await.unwrap(),
        (3, msgs.iter().map(|m| m.len() as u64).sum())
    );
    // Bodies, then APPEND to the target.
    let mut t = open(&dst, dst.port(), T).await;
    t.create("Copy").await.unwrap();
    t.create("Copy").await.unwrap();
    c.select("INBOX", true).await.unwrap();
    let budget = Arc::new(Semaphore::new(1 << 20));
    let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
    let mut fetch = c.fetch_bodies(&uids).await.unwrap();
    let mut bodies = Vec::new();
    while let Some(b) = fetch.next(&budget).await {
        let b = b.unwrap();
        assert_eq!(b.permit.num_permits(), b.body.len());
        bodies.push(b);
    }
    assert!(fetch.missing().is_empty());
    drop(fetch);
    let flags = vec!["\\Seen".to_owned(), "$Work".to_owned()];
    let items: Vec<AppendItem<'_>> = bodies
        .iter()
        .map(|b| AppendItem {
            flags: &flags,
            internal_date: metas[0].internal_date,
            body: &b.body,
        })
        .collect();
    let out = t.append_batch("Copy", &items).await.unwrap();
    assert_eq!(out.len(), 3);
    assert!(
        out.iter()
            .all(|o| matches!(o, Appended::Stored { uid: Some(_), .. })),
        "{out:?}"
    );
    assert_eq!(dst.messages("Copy"), msgs);
    // Flags: STORE, then CHANGEDSINCE sees them.
    let sel = t.select("Copy", false).await.unwrap();
    let Appended::Stored {
        uid: Some(first), ..
    } = out[0]
    else {
        unreachable!()
    };
    t.store_flags(first, &["\\Flagged".to_owned()], &["$Work".to_owned()])
        .await
        .unwrap();
    let changed = t
        .fetch_changed_flags(sel.highest_modseq.unwrap())
        .await
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].0, first);
    assert!(
        changed[0].1.contains(&"\\Flagged".to_owned())
            && !changed[0].1.contains(&"$Work".to_owned())
    );
    // A refused STORE is an error, not a silent success.
    let e = t
        .store_flags(
            first,
            &["bad\u{1}flag".to_owned(), "\\Bogus".to_owned()],
            &[],
        )
        .await;
    assert!(matches!(e, Err(ImapError::No { .. })), "{e:?}");
    let e = t.select("Nope", true).await.unwrap_err();
    assert!(
        matches!(e, ImapError::No { ref command, .. } if command == "EXAMINE"),
        "{e:?}"
    );
    assert_eq!(t.storage_quota().await.unwrap(), None);
    t.logout().await;
    c.logout().await;
}

#[tokio::test]
async fn appends_with_and_without_literal_plus_keep_each_outcome_in_step() {
    let Some(dst) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let good: Vec<Vec<u8>> = (0..4).map(message).collect();
    for literal_plus in [true, false] {
        let folder = if literal_plus { "Plus" } else { "Sync" };
        let mut t = open(&dst, dst.port(), T).await;
        t.caps.literal_plus = literal_plus;
        t.create(folder).await.unwrap();
        let none: Vec<String> = Vec::new();
        // Dovecot refuses an empty message; the ones around it must still be stored.
        let bodies: [&[u8]; 5] = [&good[0], &good[1], b"", &good[2], &good[3]];
        let items: Vec<AppendItem<'_>> = bodies
            .iter()
            .map(|b| AppendItem {
                flags: &none,
                internal_date: None,
                body: b,
            })
            .collect();
        let out = t.append_batch(folder, &items).await.unwrap();
        assert_eq!(out.len(), 5);
        for (i, o) in out.iter().enumerate() {
            match (i, o) {
                (2, Appended::Refused(r)) => {
                    assert!(!r.text.is_empty());
                    assert!(r.to_string().starts_with("NO ") || r.to_string().starts_with("BAD "));
                }
                (2, o) => panic!("an empty message stored: {o:?}"),
                (_, Appended::Stored { uid: Some(_), .. }) => {}
                (_, o) => panic!("{literal_plus}: message {i}: {o:?}"),
            }
        }
        assert_eq!(dst.messages(folder), good, "literal_plus {literal_plus}");
        // The connection is still in step: a later command works.
        assert_eq!(t.select(folder, true).await.unwrap().exists, 4);
        t.logout().await;
    }
}

#[tokio::test]
async fn a_no_or_bad_after_part_of_a_fetch_is_an_error_after_the_bodies_that_came() {
    let Some((src, msgs)) = seeded(5) else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    let budget = Arc::new(Semaphore::new(1 << 20));
    for (fault, bad) in [
        (Fault::FetchNoAfter { responses: 2 }, false),
        (Fault::FetchBadAfter { responses: 2 }, true),
    ] {
        proxy.set(fault);
        let mut c = open(&src, proxy.port(), T).await;
        c.select("INBOX", true).await.unwrap();
        let e = c.fetch_meta("1:*", &[]).await.unwrap_err();
        assert!(
            matches!(e, ImapError::No { bad: b, .. } if b == bad),
            "{e:?}"
        );
        let mut fetch = c.fetch_bodies(&[1, 2, 3, 4, 5]).await.unwrap();
        let mut got = Vec::new();
        let end = loop {
            match fetch.next(&budget).await {
                Some(Ok(b)) => got.push(b),
                Some(Err(e)) => break e,
                None => panic!("a truncated FETCH read as success"),
            }
        };
        assert!(fetch.next(&budget).await.is_none());
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].body[..], &msgs[0][..]);
        assert_eq!(fetch.missing(), vec![3, 4, 5]);
        drop(fetch);
        match &end {
            ImapError::No {
                command,
                bad: b,
                text,
                ..
            } => {
                assert_eq!(*b, bad);
                assert!(command.starts_with("UID FETCH"));
                assert!(!text.is_empty());
            }
            other => panic!("{other:?}"),
        }
        // Still in step.
        assert_eq!(c.select("INBOX", true).await.unwrap().exists, 5);
        proxy.clear();
        c.logout().await;
    }
}

#[tokio::test]
async fn refusals_carry_typed_codes_and_classes() {
    let Some((src, _)) = seeded(2) else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    let mut c = open(&src, proxy.port(), T).await;
    proxy.set(Fault::RejectEvery {
        commands: vec!["SELECT".into(), "EXAMINE".into(), "FETCH".into()],
        every: 1,
        code: RejectCode::Throttled,
    });
    let e = c.select("INBOX", true).await.unwrap_err();
    match &e {
        ImapError::No { code, .. } => assert_eq!(code, &Some(ReplyCode::Throttled)),
        other => panic!("{other:?}"),
    }
    assert!(e.is_transient());
    assert_eq!(
        e.reply_class().retry_after(),
        Some(Duration::from_millis(1000))
    );
    proxy.clear();
    c.select("INBOX", true).await.unwrap();
    proxy.set(Fault::RejectEvery {
        commands: vec!["FETCH".into()],
        every: 1,
        code: RejectCode::Unavailable,
    });
    let e = c.fetch_meta("1:*", &[]).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ImapError::No {
                code: Some(ReplyCode::Unavailable),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_transient());
    proxy.clear();
}

#[tokio::test]
async fn unsolicited_fetch_responses_are_events_not_messages() {
    let Some((src, msgs)) = seeded(3) else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    let mut c = open(&src, proxy.port(), T).await;
    c.select("INBOX", true).await.unwrap();
    proxy.set(Fault::UnsolicitedFetchFlags);
    let metas = c.fetch_meta("1:*", &["MESSAGE-ID"]).await.unwrap();
    assert_eq!(metas.len(), 3);
    assert!(
        metas.iter().all(|m| m.size > 0 && !m.header.is_empty()),
        "{metas:?}"
    );
    let events = c.take_unsolicited();
    assert_eq!(
        events,
        vec![
            Unsolicited::Fetch(1),
            Unsolicited::Fetch(2),
            Unsolicited::Fetch(3)
        ]
    );
    let budget = Arc::new(Semaphore::new(1 << 20));
    let mut fetch = c.fetch_bodies(&[1, 2, 3]).await.unwrap();
    let mut got = Vec::new();
    while let Some(b) = fetch.next(&budget).await {
        got.push(b.unwrap().body.to_vec());
    }
    drop(fetch);
    assert_eq!(got, msgs);
    assert_eq!(c.take_unsolicited().len(), 3);
    proxy.clear();
    // Real Dovecot: another session's flag change and new mail arrive during our FETCH.
    let mut other = src.session();
    other.command("SELECT INBOX");
    other.command("UID STORE 1 +FLAGS (\\Flagged)");
    other.append("INBOX", &message(9));
    let metas = c.fetch_meta("2:3", &["MESSAGE-ID"]).await.unwrap();
    assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![2, 3]);
    let events = c.take_unsolicited();
    assert!(events.contains(&Unsolicited::Exists(4)), "{events:?}");
    c.logout().await;
}

#[tokio::test]
async fn an_unparseable_line_breaks_the_connection_with_a_short_transient_error() {
    let Some((src, _)) = seeded(2) else {
        return;
    };
    let proxy = FaultProxy::start(src.addr());
    let mut c = open(&src, proxy.port(), T).await;
    c.select("INBOX", true).await.unwrap();
    proxy.set(Fault::GarbageLine);
    let e = c.fetch_meta("1:*", &[]).await.unwrap_err();
    let ImapError::Unparseable { len, head, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*len, Fault::GARBAGE_LINE.len());
    assert_eq!(head, "* )(garbage \\\"unt");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("secret-mail-words") && !text.contains("Garbage Sender"),
        "{text}"
    );
    assert!(e.is_transient());
    let started = std::time::Instant::now();
    let again = c.select("INBOX", true).await.unwrap_err();
    assert!(matches!(again, ImapError::Broken { .. }), "{again:?}");
    assert!(again.is_transient());
    assert!(started.elapsed() < Duration::from_millis(100));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(src.password()) && !debug.contains("secret-mail-words"),
        "{debug}"
    );
    proxy.clear();
}

#[tokio::test]
async fn a_bye_inside_a_body_is_a_lost_connection() {
    let Some(src) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let big = [message(0), vec![b'x'; 200_000], b"\r\n".to_vec()].concat();
    src.seed("INBOX", &[&big]);
    let proxy = FaultProxy::start(src.addr());
    proxy.set(Fault::ByeInLiteral {
        after_bytes: 50_000,
    });
    let mut c = open(&src, proxy.port(), T).await;
    c.select("INBOX", true).await.unwrap();
    let budget = Arc::new(Semaphore::new(1 << 20));
    let mut fetch = c.fetch_bodies(&[1]).await.unwrap();
    let e = fetch.next(&budget).await.unwrap().unwrap_err();
    assert!(fetch.next(&budget).await.is_none());
    assert_eq!(fetch.missing(), vec![1]);
    drop(fetch);
    assert!(e.is_transient(), "{e:?}");
    // The permits taken for the cut body went back.
    assert_eq!(budget.available_permits(), 1 << 20);
    proxy.clear();
}

#[tokio::test]
async fn a_literal_over_the_bound_is_refused_before_it_is_read() {
    let Some((src, _)) = seeded(1) else {
        return;
    };
    let mut c = open(&src, src.port(), T).await;
    c.set_limits(Limits {
        max_line: 1 << 20,
        max_literal: 10,
    });
    c.select("INBOX", true).await.unwrap();
    let budget = Arc::new(Semaphore::new(1 << 20));
    let mut fetch = c.fetch_bodies(&[1]).await.unwrap();
    let e = fetch.next(&budget).await.unwrap().unwrap_err();
    drop(fetch);
    assert!(
        matches!(
            e,
            ImapError::TooLarge {
                what: "literal",
                limit: 10,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(matches!(
        c.select("INBOX", true).await,
        Err(ImapError::Broken { .. })
    ));
}

#[tokio::test]
async fn inactivity_not_duration_times_a_command_out() {
    let Some(src) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let big = [message(0), vec![b'y'; 240_000], b"\r\n".to_vec()].concat();
    src.seed("INBOX", &[&big]);
    let proxy = FaultProxy::start(src.addr());
    let mut c = open(&src, proxy.port(), Duration::from_secs(1)).await;
    assert_eq!(c.timeout(), Duration::from_secs(1));
    c.select("INBOX", true).await.unwrap();
    // Slow but steady: ~2.4 s for the body, more than the 1 s timeout.
    proxy.set(Fault::Bandwidth {
        bytes_per_second: 100_000,
    });
    let budget = Arc::new(Semaphore::new(1 << 20));
    let started = std::time::Instant::now();
    let mut fetch = c.fetch_bodies(&[1]).await.unwrap();
    let b = fetch.next(&budget).await.unwrap().unwrap();
    assert!(fetch.next(&budget).await.is_none());
    drop(fetch);
    assert_eq!(b.body.len(), big.len());
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // A stall longer than the timeout is detected.
    proxy.set(Fault::Delay(Duration::from_millis(2500)));
    let e = c.select("INBOX", true).await.unwrap_err();
    assert!(matches!(e, ImapError::Timeout { secs: 1, .. }), "{e:?}");
    assert!(e.is_transient());
    proxy.clear();
}

/// A one-connection scripted peer: a greeting announcing `IMAP4rev1`, then one reply per
/// command line (`{tag}` is replaced by the command's tag).
async fn scripted(replies: Vec<&'static str>) -> u16 {
    scripted_greeting("* OK [CAPABILITY IMAP4rev1] ready\r\n", replies)
        .await
        .0
}

/// [`scripted`] with this greeting; the lines the client sent are collected.
async fn scripted_greeting(
    greeting: &'static str,
    replies: Vec<&'static str>,
) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        w.write_all(greeting.as_bytes()).await.unwrap();
        for reply in replies {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 {
                return;
            }
            log.lock().unwrap().push(line.trim_end().to_owned());
            let tag = line.split(' ').next().unwrap_or("").to_owned();
            w.write_all(reply.replace("{tag}", &tag).as_bytes())
                .await
                .unwrap();
        }
        let mut rest = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut r, &mut rest).await;
        if !rest.is_empty() {
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&rest).into_owned());
        }
    });
    (port, received)
}

#[tokio::test]
async fn logindisabled_means_authenticate_plain_or_no_password_sent() {
    use base64::Engine as _;
    // LOGINDISABLED with AUTH=PLAIN: AUTHENTICATE PLAIN, never LOGIN; the capabilities come
    // from the OK's code, so no CAPABILITY is sent after login.
    let (port, received) = scripted_greeting(
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready\r\n",
        vec![
            "+ \r\n",
            "m1 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n",
        ],
    )
    .await;
    let cred = Credential::Password(Secret::new("pw".into()));
    let c = Connection::open(&endpoint(port), &cred, T).await.unwrap();
    assert!(c.capabilities().uidplus);
    let sent = received.lock().unwrap().clone();
    let plain = base64::engine::general_purpose::STANDARD.encode(b"\0test\0pw");
    assert_eq!(sent, ["m1 AUTHENTICATE PLAIN".to_owned(), plain]);
    // LOGINDISABLED without AUTH=PLAIN (and LOGIN asked for in the URL): a refused login
    // saying why, and not one byte of the password on the wire.
    let (port, received) = scripted_greeting(
        "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED STARTTLS] ready\r\n",
        vec![],
    )
    .await;
    let mut ep = endpoint(port);
    ep.mechanism = Some(Mechanism::Login);
    let e = Connection::open(&ep, &cred, T).await.unwrap_err();
    match &e {
        ImapError::Login { reason, .. } => {
            assert!(reason.contains("LOGINDISABLED"), "{reason}");
            assert!(reason.contains("TLS"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(received.lock().unwrap().is_empty(), "{received:?}");
    // Without a capability code in the greeting, CAPABILITY is asked before login, and
    // again after a login whose OK does not say.
    let (port, received) = scripted_greeting(
        "* OK ready\r\n",
        vec![
            "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK\r\n",
            "{tag} OK Logged in\r\n",
            "* CAPABILITY IMAP4rev1 LITERAL+\r\n{tag} OK\r\n",
        ],
    )
    .await;
    let c = Connection::open(&endpoint(port), &cred, T).await.unwrap();
    assert!(c.capabilities().literal_plus);
    let sent = received.lock().unwrap().clone();
    assert_eq!(
        sent,
        [
            "m1 CAPABILITY".to_owned(),
            "m2 LOGIN \"test\" \"pw\"".to_owned(),
            "m3 CAPABILITY".to_owned()
        ]
    );
}

#[test]
fn the_login_mechanism_from_the_capabilities() {
    let password = Credential::Password(Secret::new("pw".into()));
    let token = Credential::Token(Secret::new("tok".into()));
    let words = |s: &str| -> Vec<String> { s.split(' ').map(str::to_owned).collect() };
    let cases: &[(Option<Mechanism>, &Credential, &str, Option<Mechanism>)] = &[
        (
            None,
            &password,
            "IMAP4REV1 AUTH=PLAIN",
            Some(Mechanism::Login),
        ),
        (None, &password, "IMAP4REV1", Some(Mechanism::Login)),
        (
            None,
            &password,
            "IMAP4REV1 LOGINDISABLED AUTH=PLAIN",
            Some(Mechanism::Plain),
        ),
        (None, &password, "IMAP4REV1 LOGINDISABLED", None),
        (None, &password, "IMAP4REV1 STARTTLS LOGINDISABLED", None),
        (
            Some(Mechanism::Login),
            &password,
            "IMAP4REV1 LOGINDISABLED auth=plain",
            Some(Mechanism::Plain),
        ),
        (
            Some(Mechanism::Login),
            &password,
            "IMAP4REV1 LOGINDISABLED",
            None,
        ),
        (
            Some(Mechanism::Plain),
            &password,
            "IMAP4REV1 LOGINDISABLED",
            None,
        ),
        (
            Some(Mechanism::Plain),
            &password,
            "IMAP4REV1",
            Some(Mechanism::Plain),
        ),
        (
            None,
            &token,
            "IMAP4REV1 LOGINDISABLED",
            Some(Mechanism::XOAuth2),
        ),
        (
            Some(Mechanism::OAuthBearer),
            &token,
            "IMAP4REV1 LOGINDISABLED",
            Some(Mechanism::OAuthBearer),
        ),
    ];
    for (requested, cred, caps, want) in cases {
        let got = choose_mechanism(*requested, cred, &words(caps));
        assert_eq!(
            got.as_ref().ok().copied(),
            *want,
            "{requested:?} {caps}: {got:?}"
        );
        if let Err(why) = got {
            assert!(
                why.contains("LOGINDISABLED") && !why.contains("pw"),
                "{why}"
            );
        }
    }
    assert_eq!(
        capability_code(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"),
        Some(words("IMAP4REV1 LITERAL+ AUTH=PLAIN"))
    );
    assert_eq!(capability_code(b"* OK [ALERT] hi\r\n"), None);
    assert_eq!(capability_code(b"* OK hi\r\n"), None);
}

#[tokio::test]
async fn gmail_slow_down_is_recorded_once() {
    let port = scripted(vec![
        "{tag} OK LOGIN done\r\n",
        "* CAPABILITY IMAP4rev1 APPENDLIMIT=35882577\r\n{tag} OK\r\n",
        "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n{tag} OK [READ-ONLY] Success [THROTTLED]\r\n",
        "* OK [THROTTLED] Request is throttled. Suggested Backoff Time: 2500 milliseconds\r\n* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n{tag} OK [READ-ONLY] done\r\n",
    ])
    .await;
    let cred = Credential::Password(Secret::new("pw".into()));
    let mut c = Connection::open(&endpoint(port), &cred, T).await.unwrap();
    assert_eq!(c.capabilities().append_limit, Some(35_882_577));
    assert_eq!(c.take_slowdown(), None);
    assert_eq!(c.select("INBOX", true).await.unwrap().uid_validity, 7);
    assert_eq!(c.take_slowdown(), Some(Duration::from_secs(1)));
    assert_eq!(c.take_slowdown(), None);
    c.select("INBOX", true).await.unwrap();
    assert_eq!(c.take_slowdown(), Some(Duration::from_millis(2500)));
}

#[tokio::test]
async fn login_refusals_and_quota_forms() {
    let port = scripted(vec![
        "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n",
    ])
    .await;
    let cred = Credential::Password(Secret::new("wrong".into()));
    let e = Connection::open(&endpoint(port), &cred, T)
        .await
        .unwrap_err();
    match &e {
        ImapError::Login { reason, .. } => {
            assert_eq!(
                reason,
                "[AUTHENTICATIONFAILED] Invalid credentials (Failure)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{e} {e:?}").contains("wrong"));
    // An empty QUOTA list, or none at all (Courier 5), is no quota; a STORAGE resource is
    // read in KiB.
    for (reply, want) in [
        (
            "* QUOTAROOT INBOX \"ROOT\"\r\n* QUOTA \"ROOT\"\r\n{tag} OK\r\n",
            None,
        ),
        (
            "* QUOTAROOT INBOX \"ROOT\"\r\n* QUOTA \"ROOT\" ()\r\n{tag} OK\r\n",
            None,
        ),
        (
            "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 10 512)\r\n{tag} OK\r\n",
            Some((10 * 1024, 512 * 1024)),
        ),
    ] {
        let port = scripted(vec![
            "{tag} OK\r\n",
            "* CAPABILITY IMAP4rev1 QUOTA\r\n{tag} OK\r\n",
            reply,
        ])
        .await;
        let mut c = Connection::open(&endpoint(port), &cred, T).await.unwrap();
        assert_eq!(c.storage_quota().await.unwrap(), want);
    }
}

#[tokio::test]
async fn starttls_refuses_data_sent_before_the_handshake() {
    let port = scripted(vec!["{tag} OK Begin TLS\r\n* OK injected\r\n"]).await;
    let mut ep = endpoint(port);
    ep.security = Security::StartTls;
    let cred = Credential::Password(Secret::new("pw".into()));
    let e = Connection::open(&ep, &cred, T).await.unwrap_err();
    assert!(matches!(e, ImapError::Tls { .. }), "{e:?}");
}

/// The environment variable that makes the memory test run its measured half.
const RSS_CHILD: &str = "IMAPMIG_TEST_RSS_CHILD";
const BIG: usize = 100 << 20;

/// A large message written to `path` without holding it in memory.
fn write_big_message(path: &std::path::Path, i: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        f,
        "From: big{i}@example.com\r\nSubject: big {i}\r\nMessage-ID: <big{i}@example.com>\r\n\r\n"
    )
    .unwrap();
    let line = format!("{:076}\r\n", i);
    let mut written = 0;
    while written < BIG {
        f.write_all(line.as_bytes()).unwrap();
        written += line.len();
    }
    f.flush().unwrap();
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn three_100_mb_messages_copy_within_one_and_a_half_bodies_of_memory() {
    if let Ok(ports) = std::env::var(RSS_CHILD) {
        // The measured half, in a fresh process: fetch and APPEND, one body in flight.
        let (s, d) = ports.split_once(',').unwrap();
        let cred = Credential::Password(Secret::new("secret".into()));
        let mut src = Connection::open(&endpoint(s.parse().unwrap()), &cred, T)
            .await
            .unwrap();
        let mut dst = Connection::open(&endpoint(d.parse().unwrap()), &cred, T)
            .await
            .unwrap();
        src.select("INBOX", true).await.unwrap();
        let before = vm_hwm_kib();
        let budget = Arc::new(Semaphore::new(BIG + (16 << 20)));
        let none: Vec<String> = Vec::new();
        let mut fetch = src.fetch_bodies(&[1, 2, 3]).await.unwrap();
        let mut stored = 0;
        while let Some(b) = fetch.next(&budget).await {
            let b = b.unwrap();
            let item = AppendItem {
                flags: &none,
                internal_date: None,
                body: &b.body,
            };
            let out = dst.append_batch("INBOX", &[item]).await.unwrap();
            assert!(matches!(out[0], Appended::Stored { .. }), "{out:?}");
            stored += 1;
        }
        drop(fetch);
        assert_eq!(stored, 3);
        println!("RSS before={before} peak={}", vm_hwm_kib());
        return;
    }
    let (Some(src), Some(dst)) = (Dovecot::start(Layout::Slash), Dovecot::start(Layout::Slash))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let path = dir.path().join(format!("big{i}.eml"));
        write_big_message(&path, i);
        let out = std::process::Command::new("doveadm")
            .arg("-c")
            .arg(src.config_path())
            .args(["save", "-u", src.user(), "-m", "INBOX"])
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "imap::session::tests::three_100_mb_messages_copy_within_one_and_a_half_bodies_of_memory",
            "--nocapture",
        ])
        .env(RSS_CHILD, format!("{},{}", src.port(), dst.port()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RSS "))
        .expect("no RSS line");
    let peak: u64 = line
        .split("peak=")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    eprintln!("{line} (KiB)");
    let limit_kib = (BIG as u64 * 3 / 2 + (64 << 20)) / 1024;
    assert!(
        peak <= limit_kib,
        "peak RSS {peak} KiB over {limit_kib} KiB"
    );
    // The target holds the three, byte for byte the same size.
    let cred = password(&dst);
    let mut s = Connection::open(&endpoint(src.port()), &cred, T)
        .await
        .unwrap();
    let mut d = Connection::open(&endpoint(dst.port()), &cred, T)
        .await
        .unwrap();
    let want = s.folder_size("INBOX").await.unwrap();
    assert_eq!(want.0, 3);
    assert_eq!(d.folder_size("INBOX").await.unwrap(), want);
}

#[test]
fn uid_set_table() {
    let cases: &[(&[u32], &str)] = &[
        (&[], ""),
        (&[1], "1"),
        (&[3, 1, 2], "1:3"),
        (&[1, 2, 4, 6, 7, 7], "1:2,4,6:7"),
    ];
    for (uids, want) in cases {
        assert_eq!(uid_set(uids), *want);
    }
}

/// (name, the command with LITERAL+, without it, waits for `+` without it).
type NameCase = (&'static [u8], &'static [u8], &'static [u8], usize);

#[test]
fn mailbox_names_go_out_quoted_or_as_literals_byte_for_byte() {
    // The bytes after the tag, pieces joined, and how many waits for `+` the command has.
    let cases: &[NameCase] = &[
        (b"INBOX", b"SELECT \"INBOX\"", b"SELECT \"INBOX\"", 0),
        (
            b"Caf&AOk-",
            b"SELECT \"Caf&AOk-\"",
            b"SELECT \"Caf&AOk-\"",
            0,
        ),
        (b"a b", b"SELECT \"a b\"", b"SELECT \"a b\"", 0),
        (
            b"Caf\xe9",
            b"SELECT {4+}\r\nCaf\xe9",
            b"SELECT {4}\r\nCaf\xe9",
            1,
        ),
        (
            b"Gr\xc3\xbc\xc3\x9fe",
            b"SELECT {7+}\r\nGr\xc3\xbc\xc3\x9fe",
            b"SELECT {7}\r\nGr\xc3\xbc\xc3\x9fe",
            1,
        ),
        (b"a\"b", b"SELECT {3+}\r\na\"b", b"SELECT {3}\r\na\"b", 1),
        (b"a\\b", b"SELECT {3+}\r\na\\b", b"SELECT {3}\r\na\\b", 1),
        (
            b"a\r\nb",
            b"SELECT {4+}\r\na\r\nb",
            b"SELECT {4}\r\na\r\nb",
            1,
        ),
        (b"", b"SELECT \"\"", b"SELECT \"\"", 0),
    ];
    for (name, plus, sync, waits) in cases {
        for (literal_plus, want) in [(true, plus), (false, sync)] {
            let mut cmd = Command::new(literal_plus, b"SELECT ");
            cmd.string(name).unwrap();
            assert_eq!(cmd.bytes(), *want, "{} {literal_plus}", name.escape_ascii());
            let w = cmd.pieces().filter(|(wait, _)| *wait).count();
            assert_eq!(w, if literal_plus { 0 } else { *waits });
        }
    }
    let mut cmd = Command::new(false, b"CREATE ");
    assert_eq!(cmd.string(b"a\0b").unwrap_err().offset, 1);
}

#[test]
fn append_args_keep_flags_and_date() {
    let flags = vec![
        "\\Seen".to_owned(),
        "\\Recent".to_owned(),
        "$Label1".to_owned(),
        "bad(flag".to_owned(),
    ];
    let date = DateTime::parse_from_rfc3339("2024-02-03T04:05:06+01:00").unwrap();
    let item = AppendItem {
        flags: &flags,
        internal_date: Some(date),
        body: b"x",
    };
    assert_eq!(
        append_args(&item),
        " (\\Seen $Label1) \"03-Feb-2024 04:05:06 +0100\""
    );
}

#[test]
fn capabilities_from_words() {
    let c = Capabilities::from_words(vec![
        "IMAP4REV1".into(),
        "UIDPLUS".into(),
        "LITERAL+".into(),
        "STATUS=SIZE".into(),
        "QRESYNC".into(),
    ]);
    assert!(c.uidplus && c.literal_plus && c.status_size && c.qresync && c.condstore);
    assert!(!c.namespace && !c.gmail && !c.special_use && !c.moves);
    assert_eq!(c.append_limit, None);
}

#[test]
fn gmail_items_are_read_from_the_raw_frame() {
    // A label sent as a literal and atoms imap-proto does not read; the body literal before
    // the Gmail items is skipped whole.
    let frame = b"* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {14}\r\nSubject: )x\r\n UID 9 X-GM-MSGID 1278455344230334865 X-GM-LABELS (\\Inbox {5}\r\na b c \"Q\\\"t\" Atom))\r\n";
    let meta = gmail_fetch_items(frame).unwrap();
    assert_eq!(meta.uid, 9);
    assert_eq!(meta.msgid, Some(1_278_455_344_230_334_865));
    let labels = imapmig_folders::parse_labels(meta.labels.as_deref().unwrap()).unwrap();
    assert_eq!(labels.len(), 4, "{labels:?}");
    assert_eq!(labels[1], imapmig_folders::GmailLabel::User("a b c".into()));
    // Not a FETCH with Gmail items, or cut short: no answer, no panic.
    assert_eq!(gmail_fetch_items(b"* 1 FETCH (UID 4 FLAGS ())\r\n"), None);
    assert_eq!(gmail_fetch_items(b"* 1 EXISTS\r\n"), None);
    assert_eq!(
        gmail_fetch_items(b"* 1 FETCH (UID 4 X-GM-LABELS (\"a"),
        None
    );
    assert_eq!(
        gmail_fetch_items(b"* 1 FETCH (UID 4 X-GM-LABELS {99}\r\nab)"),
        None
    );
    let deep = format!(
        "* 1 FETCH (UID 4 X-GM-LABELS {}a{})\r\n",
        "(".repeat(500),
        ")".repeat(500)
    );
    assert_eq!(gmail_fetch_items(deep.as_bytes()), None);
}
