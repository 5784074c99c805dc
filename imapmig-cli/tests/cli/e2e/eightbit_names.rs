//! Source folders whose LIST names are raw 8-bit bytes (issue 12, point 3): a Latin-1 name
//! and UTF-8 bytes sent unencoded, as old UW and Courier servers send them instead of
//! modified UTF-7. Every message lands exactly once in the folder the folder map gives (the
//! Latin-1 name decodes to `Caf\u{FFFD}`, the UTF-8 one to `Grüße`), the run exits 0, and a
//! second run copies nothing.
//!
//! Dovecot refuses raw 8-bit names (`NO Mailbox name is not valid mUTF-7`, also for a name
//! created on disk, which LIST then hides), and Courier 5 drops the connection on LIST when
//! a Maildir folder's name is not UTF-8. So the old server is emulated: [`EightBitFront`], a
//! small proxy in front of a real Dovecot, shows Dovecot's `Caf&AOk-` as the raw bytes
//! `"Caf\xe9"` in LIST and STATUS responses and takes those raw bytes back (quoted, or as a
//! literal, synchronising or `LITERAL+`) in the commands that name a mailbox. Optionally it
//! hides `LITERAL+`, as Courier does, so every literal waits for the server's `+`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;

use testkit::RawImap;

use super::*;

/// (the raw bytes the old server shows, the name Dovecot stores, that name in UTF-8).
const NAMES: &[(&[u8], &[u8], &str)] = &[
    (b"Caf\xe9", b"Caf&AOk-", "Café"),
    (b"Gr\xc3\xbc\xc3\x9fe", b"Gr&APwA3w-e", "Grüße"),
];

/// Verbs whose first argument is a mailbox name.
const MAILBOX_VERBS: &[&[u8]] = &[
    b"SELECT",
    b"EXAMINE",
    b"STATUS",
    b"CREATE",
    b"APPEND",
    b"DELETE",
    b"GETQUOTAROOT",
    b"SUBSCRIBE",
];

/// The emulated old server: a proxy to `upstream` that speaks raw 8-bit names.
struct EightBitFront {
    addr: SocketAddr,
}

impl EightBitFront {
    fn start(upstream: SocketAddr, hide_literal_plus: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                thread::spawn(move || relay(client, upstream, hide_literal_plus));
            }
        });
        Self { addr }
    }
}

fn relay(client: TcpStream, upstream: SocketAddr, hide_literal_plus: bool) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_w), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let down_client = client_w.try_clone().unwrap();
    thread::spawn(move || down(BufReader::new(server_r), down_client, hide_literal_plus));
    up(BufReader::new(client), server, client_w);
}

/// `{n}` or `{n+}` at the end of a line: its length, and whether it is non-synchronising.
fn literal_len(line: &[u8]) -> Option<(usize, bool)> {
    let body = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let (digits, plus) = match digits.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (digits, false),
    };
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, plus))
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn quoted(name: &[u8]) -> Vec<u8> {
    [&b"\""[..], name, b"\""].concat()
}

/// Client to Dovecot: a raw name (quoted or in a literal) becomes the stored one; message
/// literals pass untouched.
fn up(mut client: BufReader<TcpStream>, mut server: TcpStream, mut client_w: TcpStream) {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut line = Vec::new();
        if client.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            let _ = server.shutdown(Shutdown::Write);
            return;
        }
        let literal = literal_len(&line);
        if let Some((n, plus)) = literal {
            let marker = line.iter().rposition(|&b| b == b'{').unwrap();
            let head = [&pending[..], &line[..marker]].concat();
            let words: Vec<&[u8]> = head
                .split(|&b| b == b' ')
                .filter(|w| !w.is_empty())
                .collect();
            let names_mailbox = words.len() == 2
                && MAILBOX_VERBS
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(words[1]));
            if names_mailbox {
                if !plus && client_w.write_all(b"+ go ahead\r\n").is_err() {
                    return;
                }
                let mut name = vec![0; n];
                if client.read_exact(&mut name).is_err() {
                    return;
                }
                let stored = NAMES
                    .iter()
                    .find(|(raw, _, _)| *raw == name.as_slice())
                    .map_or(name.clone(), |(_, stored, _)| stored.to_vec());
                pending = [head, quoted(&stored)].concat();
                continue;
            }
        }
        let mut out = [&pending[..], &line[..]].concat();
        pending.clear();
        for (raw, stored, _) in NAMES {
            out = replace(&out, &quoted(raw), &quoted(stored));
        }
        if server.write_all(&out).is_err() {
            return;
        }
        if let Some((n, _)) = literal {
            let copied = std::io::copy(&mut (&mut client).take(n as u64), &mut server);
            if copied.ok() != Some(n as u64) {
                return;
            }
        }
    }
}

/// Dovecot to client: the stored names in LIST, LSUB and STATUS become raw bytes; message
/// literals pass untouched.
fn down(mut server: BufReader<TcpStream>, mut client: TcpStream, hide_literal_plus: bool) {
    loop {
        let mut line = Vec::new();
        if server.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let upper = line.to_ascii_uppercase();
        if [&b"* LIST "[..], b"* LSUB ", b"* STATUS "]
            .iter()
            .any(|p| upper.starts_with(p))
        {
            for (raw, stored, _) in NAMES {
                line = replace(&line, &quoted(stored), &quoted(raw));
                let atom_end = [&b" "[..], stored, b"\r\n"].concat();
                line = replace(
                    &line,
                    &atom_end,
                    &[&b" "[..], &quoted(raw), b"\r\n"].concat(),
                );
                let atom_mid = [&b" "[..], stored, b" "].concat();
                line = replace(&line, &atom_mid, &[&b" "[..], &quoted(raw), b" "].concat());
            }
        }
        if hide_literal_plus && upper.windows(10).any(|w| w == b"CAPABILITY") {
            line = replace(&line, b" LITERAL+", b"");
        }
        if client.write_all(&line).is_err() {
            return;
        }
        if let Some((n, _)) = literal_len(&line) {
            let copied = std::io::copy(&mut (&mut server).take(n as u64), &mut client);
            if copied.ok() != Some(n as u64) {
                return;
            }
        }
    }
}

/// Seeds Dovecot behind the front, checks the front shows raw names, migrates twice.
fn eight_bit_names_copy_once(hide_literal_plus: bool) {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let mut latin1 = messages("latin1", 4);
    // Real mail: one without a Message-ID.
    latin1.push(
        b"From: old@example.com\r\nSubject: no id\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\nNo Message-ID here.\r\n"
            .to_vec(),
    );
    let utf8 = messages("utf8raw", 3);
    let inbox = messages("inbox8", 2);
    seed(&src, NAMES[0].2, &latin1);
    seed(&src, NAMES[1].2, &utf8);
    seed(&src, "INBOX", &inbox);
    let front = EightBitFront::start(src.addr(), hide_literal_plus);

    // The front lists the raw bytes, never the modified UTF-7 Dovecot stores.
    let mut raw = RawImap::connect(front.addr);
    raw.login(src.user(), src.password());
    let list = raw.command("LIST \"\" \"*\"");
    for (name, stored, _) in NAMES {
        assert!(
            list.windows(name.len() + 2).any(|w| w == quoted(name)),
            "{}",
            list.escape_ascii()
        );
        assert!(
            !list.windows(stored.len()).any(|w| w == *stored),
            "{}",
            list.escape_ascii()
        );
    }
    let capability = raw.command("CAPABILITY");
    assert_eq!(
        capability.windows(8).any(|w| w == b"LITERAL+"),
        !hide_literal_plus
    );

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let source = format!("imap://{}@127.0.0.1:{}", src.user(), front.addr.port());
    let out = migrate_command_urls(&source, &url(&dst), &state, &[])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (10, 0, 0, 0));
    // The folder map's choice: the Latin-1 name decodes to a replacement character, the
    // UTF-8 one to its text; both become modified UTF-7 on the target.
    assert_holds_exactly(&dst, "Caf\u{FFFD}", &latin1);
    assert_holds_exactly(&dst, "Grüße", &utf8);
    assert_holds_exactly(&dst, "INBOX", &inbox);
    // Logs name the Latin-1 folder by its bytes, not by a replacement character.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("folder Caf\\xe9 -> "), "{stdout}");

    // Resumed from the state the first run keyed by the raw bytes: nothing copied again.
    let out = migrate_command_urls(&source, &url(&dst), &state, &[])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let (copied, _, skipped, failed) = totals(&out);
    assert_eq!((copied, skipped, failed), (0, 0, 0));
    assert_holds_exactly(&dst, "Caf\u{FFFD}", &latin1);
    assert_holds_exactly(&dst, "Grüße", &utf8);
    assert_holds_exactly(&dst, "INBOX", &inbox);
}

#[test]
fn raw_eight_bit_source_names_copy_once_with_literal_plus() {
    eight_bit_names_copy_once(false);
}

#[test]
fn raw_eight_bit_source_names_copy_once_with_synchronising_literals() {
    eight_bit_names_copy_once(true);
}
