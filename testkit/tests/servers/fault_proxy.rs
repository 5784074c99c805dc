use std::thread;
use std::time::{Duration, Instant};

use testkit::{AppendRule, Dovecot, Fault, FaultProxy, Layout, RawImap, RejectCode};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn login(server: &Dovecot, proxy: &FaultProxy) -> RawImap {
    let mut imap = RawImap::connect(proxy.addr());
    imap.login(server.user(), server.password());
    imap
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn forwards_unchanged_until_told_otherwise() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let message = format!("Subject: big\r\n\r\n{}\r\n", "0123456789".repeat(10_000));
    server.seed("INBOX", &[message.as_bytes()]);
    let proxy = FaultProxy::start(server.addr());
    assert_eq!(proxy.upstream(), server.addr());
    let mut imap = login(&server, &proxy);
    assert!(text(imap.greeting()).starts_with("* OK"));
    assert_eq!(imap.fetch_all("INBOX"), [message.as_bytes()]);
    assert_eq!(proxy.open_connections(), 1);
    let counts = proxy.counts();
    assert_eq!(
        (counts.accepted, counts.rejected, counts.byes, counts.cuts),
        (1, 0, 0, 0)
    );
    drop(imap);
    wait_until("the connection is closed", || proxy.open_connections() == 0);
}

#[test]
fn delay_slows_every_round_trip() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    proxy.set(Fault::Delay(Duration::from_millis(150)));
    let started = Instant::now();
    imap.command("NOOP");
    // One chunk each way.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert!(proxy.counts().delayed_chunks >= 2);
    proxy.clear();
    let started = Instant::now();
    imap.command("NOOP");
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bandwidth_cap_limits_throughput() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let message = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(40_000));
    server.seed("INBOX", &[message.as_bytes()]);
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    proxy.set(Fault::Bandwidth {
        bytes_per_second: 40_000,
    });
    let started = Instant::now();
    assert_eq!(imap.fetch_all("INBOX"), [message.as_bytes()]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "40 KB at 40 KB/s took {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(proxy.counts().bandwidth_pauses >= 20);
}

#[test]
fn cut_after_n_bytes() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let greeting_len = RawImap::connect(server.addr()).greeting().len() as u64;
    proxy.set(Fault::CutAfter {
        bytes: greeting_len + 10,
    });
    let mut imap = RawImap::connect(proxy.addr());
    let closed = imap
        .try_command("LOGIN test secret")
        .expect_err("the cut closes the connection");
    assert_eq!(closed.received.len(), 10, "{closed}");
    assert!(text(&closed.received).starts_with("a1 OK ["), "{closed}");
    assert_eq!(proxy.counts().cuts, 1);
    wait_until("the cut connection is forgotten", || {
        proxy.open_connections() == 0
    });
}

#[test]
fn bye_replaces_the_next_response_once() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    proxy.set(Fault::Bye {
        text: "Too many connections, slow down".into(),
    });
    let closed = imap
        .try_command("NOOP")
        .expect_err("BYE closes the connection");
    assert_eq!(
        closed.received,
        b"* BYE Too many connections, slow down\r\n"
    );
    assert_eq!(proxy.counts().byes, 1);
    // One shot: the next connection works.
    let mut again = login(&server, &proxy);
    assert!(text(&again.command("NOOP")).contains(" OK "));
    // Set before connecting, the greeting itself becomes the BYE.
    proxy.set(Fault::Bye {
        text: "go away".into(),
    });
    let refused = RawImap::try_connect(proxy.addr())
        .map(|_| ())
        .expect_err("no OK greeting");
    assert_eq!(refused.received, b"* BYE go away\r\n");
}

#[test]
fn reject_replaces_tagged_replies_with_each_code() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    for (code, words) in [
        (RejectCode::Throttled, "NO [THROTTLED] "),
        (RejectCode::Limit, "NO [LIMIT] "),
        (RejectCode::Unavailable, "NO [UNAVAILABLE] "),
    ] {
        proxy.set(Fault::Reject { code, times: 2 });
        for _ in 0..2 {
            let reply = text(&imap.command("SELECT INBOX"));
            let last = reply.lines().last().unwrap_or_default().to_owned();
            assert_eq!(last, format!("{} {}", imap.last_tag(), code.reply_text()));
            assert!(last.contains(words), "{last}");
            // The server did answer: its untagged data still arrives.
            assert!(reply.contains("* OK [UIDVALIDITY "), "{reply}");
        }
        let reply = text(&imap.command("SELECT INBOX"));
        assert!(
            reply.contains(&format!("{} OK ", imap.last_tag())),
            "{reply}"
        );
    }
    assert_eq!(proxy.counts().rejected, 6);
}

#[test]
fn refuses_connections_beyond_the_limit() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    proxy.set(Fault::MaxConnections(1));
    let first = login(&server, &proxy);
    let refused = RawImap::try_connect(proxy.addr())
        .map(|_| ())
        .expect_err("beyond the limit");
    assert!(refused.received.is_empty());
    assert_eq!(proxy.counts().refused, 1);
    drop(first);
    wait_until("the first connection is closed", || {
        proxy.open_connections() == 0
    });
    let _second = login(&server, &proxy);
    assert_eq!(proxy.counts().accepted, 2);
}

#[test]
fn disconnect_all_and_drop_close_everything() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    proxy.disconnect_all();
    assert!(imap.try_command("NOOP").is_err());
    let mut imap = login(&server, &proxy);
    let addr = proxy.addr();
    drop(proxy);
    assert!(imap.try_command("NOOP").is_err());
    assert!(
        RawImap::try_connect(addr).is_err(),
        "the port is closed after drop"
    );
}

#[test]
fn reject_append_refuses_bare_lf_and_from_lines_and_stores_nothing() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    proxy.set(Fault::RejectAppend {
        rule: AppendRule::BareLf,
    });
    let good: &[u8] = b"Subject: good\r\n\r\nfine\r\n";
    let bare: &[u8] = b"Subject: bare\n\nlf only\n";
    let from: &[u8] =
        b"From kim@example.org Mon Jan  1 10:00:00 2024\r\nSubject: mbox\r\n\r\nx\r\n";

    let reply = text(&imap.append("INBOX", bare));
    let tag = imap.last_tag().to_owned();
    assert!(
        reply.contains(&format!("{tag} NO [PARSE] Bare newlines")),
        "{reply}"
    );
    assert!(text(&imap.append("INBOX", good)).contains(" OK "));
    // MULTIAPPEND with one bad literal: all refused, nothing stored.
    let mut multi = b"APPEND INBOX".to_vec();
    for m in [good, bare] {
        multi.extend_from_slice(format!(" {{{}+}}\r\n", m.len()).as_bytes());
        multi.extend_from_slice(m);
    }
    let reply = text(&imap.command_bytes(&multi));
    assert!(reply.contains(" NO [PARSE] "), "{reply}");
    // Other rules pass what the first refused.
    assert!(text(&imap.append("INBOX", from)).contains(" OK "));
    proxy.set(Fault::RejectAppend {
        rule: AppendRule::EnvelopeFromLine,
    });
    let reply = text(&imap.append("INBOX", from));
    assert!(
        reply.contains(" NO [PARSE] Message starts with an mbox From line"),
        "{reply}"
    );
    assert!(text(&imap.append("INBOX", bare)).contains(" OK "));
    assert!(text(&imap.command("NOOP")).contains(" OK "));
    assert_eq!(proxy.counts().appends_rejected, 3);

    // A synchronising `{n}` literal passes unchanged (documented).
    let mut sync = format!("APPEND INBOX {{{}}}\r\n", from.len()).into_bytes();
    sync.extend_from_slice(from);
    let reply = text(&imap.command_bytes(&sync));
    assert!(reply.starts_with("+ ") && reply.contains(" OK "), "{reply}");
    assert_eq!(proxy.counts().appends_rejected, 3);

    proxy.clear();
    assert!(text(&imap.append("INBOX", from)).contains(" OK "));
    assert_eq!(server.messages("INBOX").len(), 5);
    assert_eq!(server.messages("INBOX")[0], good);
}
