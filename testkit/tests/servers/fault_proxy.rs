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

/// The untagged `* n FETCH` lines of a reply (literal data skipped).
fn fetch_lines(reply: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = reply;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..=end];
        rest = &rest[end + 1..];
        let text = text(line);
        if text.starts_with("* ") && text.contains(" FETCH (") {
            lines.push(text.trim_end().to_owned());
        }
        if let Some(open) = text.trim_end().strip_suffix('}').and_then(|t| t.rfind('{'))
            && let Ok(n) = text.trim_end()[open + 1..text.trim_end().len() - 1].parse::<usize>()
        {
            rest = &rest[n.min(rest.len())..];
        }
    }
    lines
}

/// Sends `commands` (tagged `t1`, `t2`...) on a fresh connection through the
/// proxy at once and returns every byte until the connection closes (the
/// greeting included).
fn until_closed(proxy: &FaultProxy, commands: &[&str]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(proxy.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut script = String::new();
    for (i, c) in commands.iter().enumerate() {
        script.push_str(&format!("t{} {c}\r\n", i + 1));
    }
    stream.write_all(script.as_bytes()).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).unwrap();
    got
}

fn last_line(reply: &[u8]) -> String {
    text(reply)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn small(i: usize) -> Vec<u8> {
    format!("Subject: small {i}\r\nMessage-ID: <{i}@example.com>\r\n\r\nbody {i}\r\n").into_bytes()
}

fn seed_small(server: &Dovecot, n: usize) {
    let msgs: Vec<Vec<u8>> = (0..n).map(small).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    server.seed("INBOX", &refs);
}

#[test]
fn reject_every_counts_across_connections_and_hides_untagged_data() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    seed_small(&server, 3);
    let proxy = FaultProxy::start(server.addr());
    let mut a = login(&server, &proxy);
    let mut b = login(&server, &proxy);
    proxy.set(Fault::RejectEvery {
        commands: vec!["select".into(), "FETCH".into(), "STATUS".into()],
        every: 3,
        code: RejectCode::Throttled,
    });
    let throttled = RejectCode::Throttled.reply_text();
    // 1st and 2nd pass; NOOP and EXAMINE are not counted.
    assert!(text(&a.command("SELECT INBOX")).contains("* 3 EXISTS"));
    assert!(last_line(&a.command("NOOP")).contains(" OK "));
    assert!(last_line(&b.command("EXAMINE INBOX")).contains(" OK "));
    assert!(last_line(&b.command("STATUS INBOX (MESSAGES)")).contains(" OK "));
    // 3rd, on the other connection: refused, and nothing but the refusal.
    let reply = b.command("SELECT INBOX");
    assert_eq!(text(&reply), format!("{} {throttled}\r\n", b.last_tag()));
    // 4th and 5th: a UID FETCH counts as FETCH.
    assert_eq!(fetch_lines(&a.command("UID FETCH 1:* (FLAGS)")).len(), 3);
    assert!(last_line(&a.command("UID STORE 1 +FLAGS (\\Flagged)")).contains(" OK "));
    assert_eq!(fetch_lines(&a.command("FETCH 1 (FLAGS)")).len(), 1);
    // 6th: refused, though the server ran it (the flag is set).
    let reply = a.command("UID FETCH 1:* (UID BODY.PEEK[])");
    assert_eq!(text(&reply), format!("{} {throttled}\r\n", a.last_tag()));
    assert!(last_line(&a.command("UID STORE 2 +FLAGS (\\Flagged)")).contains(" OK "));
    let counts = proxy.counts();
    assert_eq!(
        (counts.every_counted, counts.every_rejected),
        (6, 2),
        "{counts:?}"
    );
    assert_eq!(counts.rejected, 0);
    // every: 1 refuses each one; clear lets all pass.
    proxy.set(Fault::RejectEvery {
        commands: vec!["NOOP".into()],
        every: 1,
        code: RejectCode::Limit,
    });
    assert!(last_line(&b.command("NOOP")).contains(" NO [LIMIT] "));
    assert!(last_line(&b.command("NOOP")).contains(" NO [LIMIT] "));
    proxy.clear();
    assert!(last_line(&b.command("NOOP")).contains(" OK "));
    assert_eq!(proxy.counts().every_rejected, 4);
}

#[test]
fn fetch_no_and_bad_after_n_responses_cut_uid_fetch_only() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    seed_small(&server, 12);
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    imap.command("EXAMINE INBOX");
    proxy.set(Fault::FetchNoAfter { responses: 5 });
    let reply = imap.command("UID FETCH 1:* (UID BODY.PEEK[])");
    let lines = fetch_lines(&reply);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[4].starts_with("* 5 FETCH (UID 5 "), "{lines:?}");
    assert!(text(&reply).contains("body 4\r\n") && !text(&reply).contains("body 5\r\n"));
    assert_eq!(
        last_line(&reply),
        format!(
            "{} NO Some messages could not be FETCHed (Failure)",
            imap.last_tag()
        )
    );
    // Each UID FETCH is cut anew; one within the limit, or a plain FETCH, passes.
    let reply = imap.command("UID FETCH 6:* (UID FLAGS)");
    assert_eq!(fetch_lines(&reply).len(), 5);
    assert!(last_line(&reply).contains(" NO Some messages could not be FETCHed"));
    let reply = imap.command("UID FETCH 1:5 (UID FLAGS)");
    assert_eq!(fetch_lines(&reply).len(), 5);
    assert!(last_line(&reply).contains(" OK "));
    let reply = imap.command("FETCH 1:* (UID)");
    assert_eq!(fetch_lines(&reply).len(), 12);
    assert!(last_line(&reply).contains(" OK "));
    let counts = proxy.counts();
    assert_eq!(
        (counts.fetch_no, counts.fetch_responses_dropped),
        (2, 7 + 2)
    );

    proxy.clear();
    proxy.set(Fault::FetchBadAfter { responses: 3 });
    let reply = imap.command("UID FETCH 1:* (UID)");
    assert_eq!(fetch_lines(&reply).len(), 3);
    assert_eq!(
        last_line(&reply),
        format!(
            "{} BAD Internal error occurred. Refer to server log for more information.",
            imap.last_tag()
        )
    );
    assert!(last_line(&imap.command("NOOP")).contains(" OK "));
    assert_eq!(proxy.counts().fetch_bad, 1);
}

#[test]
fn bye_in_literal_cuts_the_first_large_body_of_each_connection() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let big = format!(
        "Subject: big\r\n\r\n{}\r\n",
        "0123456789abcdef".repeat(131_072)
    );
    let little = small(1);
    server.seed("INBOX", &[&little, big.as_bytes(), big.as_bytes()]);
    let proxy = FaultProxy::start(server.addr());
    proxy.set(Fault::ByeInLiteral { after_bytes: 1000 });
    let script = [
        "LOGIN test secret",
        "EXAMINE INBOX",
        "UID FETCH 1:* (UID BODY.PEEK[])",
    ];
    for connection in 1..=2u64 {
        let got = until_closed(&proxy, &script);
        // The small message whole, then the first big one cut at 1000 bytes.
        assert!(text(&got).contains("body 1\r\n"), "{}", text(&got));
        let open = got
            .windows(11)
            .position(|w| w == b"{2097170}\r\n")
            .expect("the big literal starts");
        let literal = &got[open + 11..];
        assert_eq!(literal.len(), 1000 + b"\r\n* BYE going away\r\n".len());
        assert_eq!(&literal[..1000], &big.as_bytes()[..1000]);
        assert!(literal.ends_with(b"\r\n* BYE going away\r\n"));
        assert_eq!(proxy.counts().literal_byes, connection);
    }
    // Only the first large literal of a connection: once one was cut, the
    // next connection's second big body passes.
    let got = until_closed(
        &proxy,
        &[
            "LOGIN test secret",
            "EXAMINE INBOX",
            "UID FETCH 2 (BODY.PEEK[])",
        ],
    );
    assert!(got.ends_with(b"\r\n* BYE going away\r\n"));
    proxy.clear();
    let mut imap = login(&server, &proxy);
    assert_eq!(imap.fetch_all("INBOX")[2], big.as_bytes());
}

#[test]
fn bye_in_literal_fires_once_per_connection() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(5000));
    server.seed("INBOX", &[big.as_bytes(), big.as_bytes()]);
    let proxy = FaultProxy::start(server.addr());
    // A literal no larger than the limit passes.
    proxy.set(Fault::ByeInLiteral {
        after_bytes: big.len() as u64,
    });
    let mut imap = login(&server, &proxy);
    imap.command("EXAMINE INBOX");
    assert!(last_line(&imap.command("UID FETCH 1 (BODY.PEEK[])")).contains(" OK "));
    assert_eq!(proxy.counts().literal_byes, 0);
    // With 0 the BYE follows the literal's announcement; the second body
    // on the same connection would pass, but the connection is gone.
    proxy.set(Fault::ByeInLiteral { after_bytes: 0 });
    let got = until_closed(
        &proxy,
        &[
            "LOGIN test secret",
            "EXAMINE INBOX",
            "UID FETCH 1:2 (BODY.PEEK[])",
        ],
    );
    assert!(
        got.ends_with(b"{5018}\r\n\r\n* BYE going away\r\n"),
        "{}",
        text(&got)
    );
    assert_eq!(proxy.counts().literal_byes, 1);
}

#[test]
fn unsolicited_fetch_flags_precede_each_uid_fetch_response() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    seed_small(&server, 3);
    let proxy = FaultProxy::start(server.addr());
    let mut imap = login(&server, &proxy);
    imap.command("EXAMINE INBOX");
    proxy.set(Fault::UnsolicitedFetchFlags);
    let reply = imap.command("UID FETCH 1:* (UID RFC822.SIZE)");
    let lines = fetch_lines(&reply);
    assert_eq!(lines.len(), 6, "{lines:?}");
    for (i, pair) in lines.chunks(2).enumerate() {
        let n = i + 1;
        assert_eq!(pair[0], format!("* {n} FETCH (FLAGS (\\Seen))"));
        assert!(
            pair[1].starts_with(&format!("* {n} FETCH (UID {n} ")),
            "{pair:?}"
        );
    }
    assert!(last_line(&reply).contains(" OK "));
    // Only UID FETCH: a plain FETCH and a STORE's own FETCH lines are untouched.
    assert_eq!(fetch_lines(&imap.command("FETCH 1:* (UID)")).len(), 3);
    assert_eq!(proxy.counts().unsolicited_flags, 3);
    // Injected, not stored: the server's flags are unchanged.
    let reply = imap.command("FETCH 1:* (FLAGS)");
    assert!(!text(&reply).contains("\\Seen"), "{}", text(&reply));
}

#[test]
fn garbage_line_before_the_first_uid_fetch_completion_of_each_connection() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    seed_small(&server, 2);
    let proxy = FaultProxy::start(server.addr());
    proxy.set(Fault::GarbageLine);
    for connection in 1..=2u64 {
        let mut imap = login(&server, &proxy);
        imap.command("EXAMINE INBOX");
        // Other commands are untouched.
        let noop = text(&imap.command("NOOP"));
        assert!(
            noop.starts_with(&format!("{} OK NOOP completed", imap.last_tag())),
            "{noop}"
        );
        let reply = imap.command("UID FETCH 1:* (UID FLAGS)");
        let tagged = format!("{} OK ", imap.last_tag());
        let at = text(&reply).find(&tagged).expect("completion");
        assert!(
            reply[..at].ends_with(Fault::GARBAGE_LINE),
            "{}",
            text(&reply)
        );
        assert_eq!(fetch_lines(&reply).len(), 2);
        let again = imap.command("UID FETCH 1:* (UID FLAGS)");
        assert!(!again.windows(10).any(|w| w == &Fault::GARBAGE_LINE[..10]));
        assert_eq!(proxy.counts().garbage_lines, connection);
    }
    assert!(literal_free(Fault::GARBAGE_LINE));
}

/// Whether a line announces no literal (so a client stays in step after it).
fn literal_free(line: &[u8]) -> bool {
    !line.trim_ascii_end().ends_with(b"}") && line.ends_with(b"\r\n")
}

#[test]
fn cut_after_applies_to_each_connection_separately() {
    let Some(server) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(300_000));
    server.seed("INBOX", &[big.as_bytes()]);
    let proxy = FaultProxy::start(server.addr());
    proxy.set(Fault::CutAfter { bytes: 100_000 });
    let script = [
        "LOGIN test secret",
        "EXAMINE INBOX",
        "UID FETCH 1 (BODY.PEEK[])",
    ];
    for connection in 1..=3u64 {
        let got = until_closed(&proxy, &script);
        assert_eq!(got.len(), 100_000, "connection {connection}");
        assert!(got.ends_with(&big.as_bytes()[..100]) || got.ends_with(b"yyyy"));
        assert_eq!(proxy.counts().cuts, connection);
    }
}
