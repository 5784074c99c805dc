//! [`GmailFront`]: an EMULATION of Gmail's IMAP extensions
//! (<https://developers.google.com/gmail/imap/imap-extensions>) in front of
//! a [`crate::Dovecot`] in [`crate::Layout::Gmail`], so that a migrator's
//! X-GM-EXT-1 path is tested against a real server's folders and bodies.
//!
//! # What it emulates
//! - `X-GM-EXT-1` in every capability list the server sends: the greeting's
//!   `[CAPABILITY ...]`, `* CAPABILITY`, and a tagged `OK [CAPABILITY ...]`.
//! - `X-GM-MSGID` and `X-GM-LABELS` in `FETCH` and `UID FETCH`: the front
//!   takes both items out of the command before Dovecot sees it (adding
//!   `UID`, which it needs to know the message), and puts them at the start
//!   of each `* n FETCH (...)` answer to that command.
//! - Labels come from the folders a message is in, found by a scan of every
//!   selectable folder over a side connection when such a `FETCH` arrives:
//!   `\Inbox` for INBOX; `\Sent`, `\Draft`, `\Spam`, `\Trash`, `\Starred`,
//!   `\Important` for the folders with the special uses `\Sent`, `\Drafts`,
//!   `\Junk`, `\Trash`, `\Flagged`, `\Important`; a user label as its folder
//!   name in modified UTF-7, quoted (`"Work/Projects"`); system labels
//!   first, then user labels, each in LIST order. All Mail (`\All`) is no
//!   label. A message is known across folders by its
//!   `X-Testkit-Gm-Msgid` header ([`GmailFront::with_gm_id`] writes it),
//!   else by its Message-ID, else by a hash of its whole header.
//! - `X-GM-MSGID` is a stable 64-bit number per message
//!   ([`GmailFront::msgid_of`]): a hash of that identity.
//! - The selected mailbox is tracked per connection (`SELECT`/`EXAMINE`
//!   and their completions, `CLOSE`, `UNSELECT`); responses and commands
//!   with literals (bodies, `APPEND`) pass byte for byte.
//!
//! # What it does not emulate
//! - All Mail shows a message once: testkit's virtual All Mail shows it
//!   once per folder it was seeded into, each copy with the same
//!   `X-GM-MSGID` (a client that keys on `X-GM-MSGID` sees one message).
//! - `X-GM-THRID`, `X-GM-RAW` search, `STORE X-GM-LABELS`, labels set by
//!   `APPEND`, `COPY` into `[Gmail]/All Mail` as archiving, Gmail's
//!   expunge-as-label-removal semantics, `X-GM-LABELS` in `LIST`, its limits
//!   and throttling (see [`crate::FaultProxy`]), `STARTTLS`/TLS, and a
//!   mailbox name sent as a literal in `SELECT`. The scan logs in as the
//!   server's default user, whoever the client logs in as.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::Dovecot;
use crate::front::{self, Joined, Pairs, bind, lock};
use crate::imap::{RawImap, literal_length, quote};

/// The header [`GmailFront::with_gm_id`] writes: the message's identity
/// across folders.
pub const GM_ID_HEADER: &str = "X-Testkit-Gm-Msgid";

/// A proxy on a free port of 127.0.0.1 before a Gmail-layout [`Dovecot`]
/// that offers `X-GM-EXT-1` and answers `X-GM-MSGID` and `X-GM-LABELS`
/// from the folders each message is in (see the module docs: an
/// emulation). Threads and blocking sockets; dropping it closes every
/// connection.
///
/// ```
/// use testkit::{Dovecot, GmailFront, Layout, RawImap};
///
/// let Some(server) = Dovecot::start(Layout::Gmail) else { return };
/// let message = GmailFront::with_gm_id("m1", b"Subject: hi\r\n\r\nbody\r\n");
/// server.seed("INBOX", &[&message]);
/// server.seed("Work", &[&message]);
/// let front = GmailFront::start(&server);
/// let mut imap = RawImap::connect(front.addr());
/// assert!(String::from_utf8_lossy(&imap.login(server.user(), server.password())).contains("X-GM-EXT-1"));
/// imap.command("EXAMINE INBOX");
/// let reply = String::from_utf8_lossy(&imap.command("UID FETCH 1:* (X-GM-LABELS X-GM-MSGID)")).into_owned();
/// let id = GmailFront::msgid_of("m1");
/// assert!(reply.starts_with(&format!("* 1 FETCH (X-GM-MSGID {id} X-GM-LABELS (\\Inbox \"Work\") UID 1)")), "{reply}");
/// ```
#[derive(Debug)]
pub struct GmailFront {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    user: String,
    password: String,
    stop: AtomicBool,
    pairs: Pairs,
    labelled: AtomicU64,
}

impl GmailFront {
    /// Starts the front before `server` (meant for [`crate::Layout::Gmail`]).
    pub fn start(server: &Dovecot) -> GmailFront {
        let (listener, addr) = bind("gmail front");
        let shared = Arc::new(Shared {
            upstream: server.addr(),
            user: server.user().to_owned(),
            password: server.password().to_owned(),
            stop: AtomicBool::new(false),
            pairs: Pairs::default(),
            labelled: AtomicU64::new(0),
        });
        let for_thread = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("testkit-gmail-accept".into())
            .spawn(move || accept_loop(&listener, &for_thread))
            .unwrap_or_else(|e| panic!("testkit: cannot spawn the gmail front thread: {e}"));
        GmailFront {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The front's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `FETCH` responses the front has added Gmail items to so far.
    pub fn labelled_responses(&self) -> u64 {
        self.shared.labelled.load(Ordering::SeqCst)
    }

    /// `message` with an `X-Testkit-Gm-Msgid: <id>` header in front: seed
    /// the same bytes into several folders and the front sees one message
    /// with a label per folder (also without a Message-ID).
    pub fn with_gm_id(id: &str, message: &[u8]) -> Vec<u8> {
        let mut out = format!("{GM_ID_HEADER}: {id}\r\n").into_bytes();
        out.extend_from_slice(message);
        out
    }

    /// The `X-GM-MSGID` the front gives a message whose identity (its
    /// `X-Testkit-Gm-Msgid`, else its Message-ID) is `identity`.
    pub fn msgid_of(identity: &str) -> u64 {
        // FNV-1a, kept below 2^63 and above 0.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in identity.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h >> 1).max(1)
    }
}

impl Drop for GmailFront {
    fn drop(&mut self) {
        front::stop(
            &self.shared.stop,
            self.addr,
            self.acceptor.take(),
            &self.shared.pairs,
        );
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let Some(Joined {
            id,
            client: c2,
            server: s2,
        }) = shared.pairs.join(&client, &server)
        else {
            continue;
        };
        let connection = Arc::new(Connection {
            id,
            shared: Arc::clone(shared),
            state: Mutex::new(State::default()),
        });
        let up = Arc::clone(&connection);
        let _ = thread::Builder::new()
            .name("testkit-gmail-up".into())
            .spawn(move || client_to_server(c2, s2, &up));
        let _ = thread::Builder::new()
            .name("testkit-gmail-down".into())
            .spawn(move || server_to_client(server, client, &connection));
    }
}

/// One proxied connection.
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    state: Mutex<State>,
}

/// What a connection's two pumps share.
#[derive(Default)]
struct State {
    /// The selected mailbox (wire name), once its SELECT/EXAMINE completed OK.
    selected: Option<String>,
    /// Commands in flight whose completion matters, by tag.
    pending: HashMap<Vec<u8>, Pending>,
    /// The latest scan of the mailbox.
    index: Option<Arc<Index>>,
}

/// A command in flight.
#[derive(Debug)]
enum Pending {
    /// SELECT or EXAMINE of this mailbox.
    Select(String),
    /// CLOSE or UNSELECT.
    Close,
    /// A FETCH that asked for Gmail items.
    GmFetch {
        /// X-GM-MSGID asked.
        msgid: bool,
        /// X-GM-LABELS asked.
        labels: bool,
    },
}

impl Connection {
    fn close(&self) {
        self.shared.pairs.close(self.id);
    }

    fn scan(&self) -> Arc<Index> {
        let index = Arc::new(Index::scan(&self.shared));
        lock(&self.state).index = Some(Arc::clone(&index));
        index
    }
}

fn client_to_server(client: TcpStream, mut server: TcpStream, connection: &Connection) {
    let mut reader = BufReader::new(client);
    let mut continuation = false;
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !continuation {
            line = command(connection, line);
        }
        if server.write_all(&line).is_err() {
            break;
        }
        match literal_length(&line) {
            Some(n) => {
                continuation = true;
                let mut literal = vec![0; n];
                if reader.read_exact(&mut literal).is_err() || server.write_all(&literal).is_err() {
                    break;
                }
            }
            None => continuation = false,
        }
    }
    connection.close();
}

/// Looks at the first line of a client command: records what the server
/// pump must know, and takes the Gmail items out of a FETCH.
fn command(connection: &Connection, line: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&line).into_owned();
    let body = text.trim_end_matches(['\r', '\n']);
    let mut words = body.splitn(3, ' ');
    let (Some(tag), Some(first)) = (words.next(), words.next()) else {
        return line;
    };
    let rest = words.next().unwrap_or("");
    let (uid, name, args) = if first.eq_ignore_ascii_case("UID") {
        let mut w = rest.splitn(2, ' ');
        (true, w.next().unwrap_or(""), w.next().unwrap_or(""))
    } else {
        (false, first, rest)
    };
    let name = name.to_ascii_uppercase();
    let tag = tag.as_bytes().to_vec();
    match name.as_str() {
        "SELECT" | "EXAMINE" => {
            let mailbox = mailbox_arg(args);
            lock(&connection.state)
                .pending
                .insert(tag, Pending::Select(mailbox));
            line
        }
        "CLOSE" | "UNSELECT" => {
            lock(&connection.state).pending.insert(tag, Pending::Close);
            line
        }
        "FETCH" if args.to_ascii_uppercase().contains("X-GM-") => {
            let Some((set, items)) = args.split_once(' ') else {
                return line;
            };
            let Some((items, tail)) = split_items(items) else {
                return line;
            };
            let mut msgid = false;
            let mut labels = false;
            let mut kept: Vec<&str> = Vec::new();
            for item in items {
                if item.eq_ignore_ascii_case("X-GM-MSGID") {
                    msgid = true;
                } else if item.eq_ignore_ascii_case("X-GM-LABELS") {
                    labels = true;
                } else {
                    kept.push(item);
                }
            }
            if !msgid && !labels {
                return line;
            }
            if !kept.iter().any(|i| i.eq_ignore_ascii_case("UID")) {
                kept.insert(0, "UID");
            }
            connection.scan();
            lock(&connection.state)
                .pending
                .insert(tag.clone(), Pending::GmFetch { msgid, labels });
            let tag = String::from_utf8_lossy(&tag).into_owned();
            let prefix = if uid { "UID FETCH" } else { "FETCH" };
            format!("{tag} {prefix} {set} ({}){tail}\r\n", kept.join(" ")).into_bytes()
        }
        _ => line,
    }
}

/// A mailbox argument (quoted or atom) as its wire name, INBOX upper-cased.
fn mailbox_arg(args: &str) -> String {
    let name = if let Some(rest) = args.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => break,
                c => out.push(c),
            }
        }
        out
    } else {
        args.split(' ').next().unwrap_or("").to_owned()
    };
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_owned()
    } else {
        name
    }
}

/// The FETCH items (a parenthesised list or one item) and what follows
/// them (` (CHANGEDSINCE n)`).
fn split_items(items: &str) -> Option<(Vec<&str>, &str)> {
    let Some(inner) = items.strip_prefix('(') else {
        let end = items.find(' ').unwrap_or(items.len());
        return Some((vec![&items[..end]], &items[end..]));
    };
    let mut depth = 0usize;
    let mut start = 0;
    let mut out = Vec::new();
    for (i, c) in inner.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ')' if depth > 0 => depth -= 1,
            ')' => {
                if i > start {
                    out.push(&inner[start..i]);
                }
                return Some((out, &inner[i + 1..]));
            }
            ' ' if depth == 0 => {
                if i > start {
                    out.push(&inner[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

fn server_to_client(server: TcpStream, mut client: TcpStream, connection: &Connection) {
    let mut reader = BufReader::new(server);
    while let Some(frame) = read_frame(&mut reader) {
        let frame = response(connection, frame);
        if client.write_all(&frame).is_err() {
            break;
        }
    }
    connection.close();
}

/// One whole response: its lines and literals, CRLFs included.
fn read_frame(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut frame = Vec::new();
    loop {
        let start = frame.len();
        match reader.read_until(b'\n', &mut frame) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        match literal_length(&frame[start..]) {
            Some(n) => {
                let at = frame.len();
                frame.resize(at + n, 0);
                reader.read_exact(&mut frame[at..]).ok()?;
            }
            None => return Some(frame),
        }
    }
}

/// Inserts `X-GM-EXT-1` into `[CAPABILITY ...]` of the first line.
fn add_capability_code(frame: &mut Vec<u8>) {
    let first_line = frame
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(frame.len());
    let upper = frame[..first_line].to_ascii_uppercase();
    if let Some(at) = find(&upper, b"[CAPABILITY ")
        && let Some(close) = upper[at..].iter().position(|&b| b == b']')
    {
        let end = at + close;
        frame.splice(end..end, b" X-GM-EXT-1".iter().copied());
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Rewrites one server response on its way to the client.
fn response(connection: &Connection, mut frame: Vec<u8>) -> Vec<u8> {
    if frame.starts_with(b"+") {
        return frame;
    }
    if let Some(rest) = frame.strip_prefix(b"* ") {
        if rest.len() >= 11 && rest[..11].eq_ignore_ascii_case(b"CAPABILITY ") {
            let end = frame.len() - 2;
            frame.splice(end..end, b" X-GM-EXT-1".iter().copied());
            return frame;
        }
        if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"OK ") {
            add_capability_code(&mut frame);
            return frame;
        }
        return fetch_response(connection, frame);
    }
    // A tagged completion.
    add_capability_code(&mut frame);
    let tag = frame.split(|&b| b == b' ').next().unwrap_or(b"").to_vec();
    let ok = frame
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"OK"));
    let mut state = lock(&connection.state);
    match state.pending.remove(&tag) {
        Some(Pending::Select(name)) => state.selected = ok.then_some(name),
        Some(Pending::Close) if ok => state.selected = None,
        _ => {}
    }
    frame
}

/// Adds the Gmail items to a `* n FETCH (` answering a FETCH that asked for
/// them.
fn fetch_response(connection: &Connection, mut frame: Vec<u8>) -> Vec<u8> {
    let Some(open) = fetch_open(&frame) else {
        return frame;
    };
    let (asked, selected, index) = {
        let state = lock(&connection.state);
        let asked = state.pending.values().find_map(|p| match p {
            Pending::GmFetch { msgid, labels } => Some((*msgid, *labels)),
            _ => None,
        });
        (asked, state.selected.clone(), state.index.clone())
    };
    let (Some((want_msgid, want_labels)), Some(selected)) = (asked, selected) else {
        return frame;
    };
    let Some(uid) = uid_in(&frame[open..]) else {
        return frame;
    };
    let mut found = index.and_then(|i| i.items(&selected, uid));
    if found.is_none() {
        // Appended since the last scan.
        found = connection.scan().items(&selected, uid);
    }
    let Some((msgid, labels)) = found else {
        return frame;
    };
    let mut items = String::new();
    if want_msgid {
        items.push_str(&format!("X-GM-MSGID {msgid} "));
    }
    if want_labels {
        items.push_str(&format!("X-GM-LABELS ({}) ", labels.join(" ")));
    }
    frame.splice(open..open, items.into_bytes());
    connection.shared.labelled.fetch_add(1, Ordering::SeqCst);
    frame
}

/// Where the item list of a `* n FETCH (` starts.
fn fetch_open(frame: &[u8]) -> Option<usize> {
    let rest = frame.strip_prefix(b"* ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    if space == 0 || !rest[..space].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let after = &rest[space + 1..];
    (after.len() >= 7 && after[..7].eq_ignore_ascii_case(b"FETCH (")).then_some(2 + space + 1 + 7)
}

/// The value of the `UID` item in a FETCH item list (Dovecot sends it before
/// any literal).
fn uid_in(items: &[u8]) -> Option<u32> {
    let line_end = items
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(items.len());
    let upper = items[..line_end].to_ascii_uppercase();
    let mut at = 0;
    while let Some(i) = find(&upper[at..], b"UID ") {
        let pos = at + i;
        if pos == 0 || upper[pos - 1] == b' ' || upper[pos - 1] == b'(' {
            let digits: Vec<u8> = upper[pos + 4..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            return std::str::from_utf8(&digits).ok()?.parse().ok();
        }
        at = pos + 4;
    }
    None
}

/// Which folders each message is in, from one scan.
#[derive(Debug, Default)]
struct Index {
    /// Label of each folder in LIST order (`None` for All Mail).
    folders: Vec<(String, Option<String>)>,
    /// (folder, UID) -> identity.
    by_uid: HashMap<(String, u32), String>,
    /// Identity -> indexes into `folders`.
    folders_of: HashMap<String, Vec<usize>>,
}

impl Index {
    fn scan(shared: &Shared) -> Index {
        let mut imap = RawImap::connect(shared.upstream);
        imap.login(&shared.user, &shared.password);
        let list = imap.command("LIST \"\" \"*\"");
        let mut index = Index::default();
        for line in list.split(|&b| b == b'\n') {
            let Some((attributes, name)) = list_entry(line) else {
                continue;
            };
            let a = attributes.to_ascii_lowercase();
            if a.contains("\\noselect") || a.contains("\\nonexistent") {
                continue;
            }
            let label = if a.contains("\\all") {
                None
            } else if name.eq_ignore_ascii_case("INBOX") {
                Some("\\Inbox".to_owned())
            } else {
                let by_use = [
                    ("\\sent", "\\Sent"),
                    ("\\drafts", "\\Draft"),
                    ("\\junk", "\\Spam"),
                    ("\\trash", "\\Trash"),
                    ("\\flagged", "\\Starred"),
                    ("\\important", "\\Important"),
                ];
                Some(
                    by_use
                        .iter()
                        .find(|(attr, _)| a.split(' ').any(|w| w == *attr))
                        .map_or_else(|| quote(&name), |(_, label)| (*label).to_owned()),
                )
            };
            let folder = if name.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_owned()
            } else {
                name
            };
            let n = index.folders.len();
            index.folders.push((folder.clone(), label));
            let reply = imap.command(&format!("EXAMINE {}", quote(&folder)));
            if find(&reply, b"* 0 EXISTS\r\n").is_some() || find(&reply, b" EXISTS\r\n").is_none() {
                continue;
            }
            let fetched = imap.command("UID FETCH 1:* (UID BODY.PEEK[HEADER])");
            for (uid, header) in fetched_headers(&fetched) {
                let identity = identity_of(&header);
                index.by_uid.insert((folder.clone(), uid), identity.clone());
                index.folders_of.entry(identity).or_default().push(n);
            }
        }
        imap.command("LOGOUT");
        index
    }

    /// X-GM-MSGID and the labels of the message `uid` of `folder`.
    fn items(&self, folder: &str, uid: u32) -> Option<(u64, Vec<String>)> {
        let identity = self.by_uid.get(&(folder.to_owned(), uid))?;
        let mut labels: Vec<String> = Vec::new();
        for &i in self.folders_of.get(identity).map_or(&[][..], Vec::as_slice) {
            if let Some(label) = &self.folders[i].1
                && !labels.contains(label)
            {
                labels.push(label.clone());
            }
        }
        // System labels first, then user labels, each in LIST order.
        labels.sort_by_key(|l| !l.starts_with('\\'));
        Some((GmailFront::msgid_of(identity), labels))
    }
}

/// (attributes, wire name) of a `* LIST (attrs) "/" name` line (a quoted or
/// atom name; a literal name is skipped).
fn list_entry(line: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let rest = text.strip_prefix("* LIST (")?;
    let close = rest.find(')')?;
    let attributes = rest[..close].to_owned();
    let rest = rest[close + 1..].trim_start();
    // The delimiter: a quoted character or NIL.
    let rest = if let Some(r) = rest.strip_prefix("NIL") {
        r
    } else {
        let r = rest.strip_prefix('"')?;
        let r = r.strip_prefix('\\').unwrap_or(r);
        let r = &r[r.char_indices().nth(1).map_or(r.len(), |(i, _)| i)..];
        r.strip_prefix('"')?
    };
    let rest = rest.trim_start();
    if rest.starts_with('{') {
        return None;
    }
    Some((attributes, mailbox_arg(rest)))
}

/// (UID, header) of each `* n FETCH (UID u BODY[HEADER] {len}` in a reply.
fn fetched_headers(reply: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < reply.len() {
        let end = reply[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(reply.len(), |p| i + p + 1);
        let line = &reply[i..end];
        i = end;
        if fetch_open(line).is_none() {
            continue;
        }
        let (Some(uid), Some(n)) = (uid_in(line), literal_length(line)) else {
            continue;
        };
        let header = reply.get(i..i + n).unwrap_or_default().to_vec();
        i += n;
        out.push((uid, header));
    }
    out
}

/// A message's identity: its `X-Testkit-Gm-Msgid`, else its Message-ID,
/// else a hash of its header.
fn identity_of(header: &[u8]) -> String {
    let text = String::from_utf8_lossy(header);
    let field = |name: &str| {
        text.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    field(GM_ID_HEADER)
        .or_else(|| field("Message-ID"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("header:{:016x}", GmailFront::msgid_of(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;

    #[test]
    fn fetch_items_are_split_and_rewritten() {
        let (items, tail) =
            split_items("(UID X-GM-LABELS BODY.PEEK[HEADER.FIELDS (A B)]) (CHANGEDSINCE 4)")
                .unwrap();
        assert_eq!(
            items,
            ["UID", "X-GM-LABELS", "BODY.PEEK[HEADER.FIELDS (A B)]"]
        );
        assert_eq!(tail, " (CHANGEDSINCE 4)");
        assert_eq!(split_items("X-GM-MSGID").unwrap(), (vec!["X-GM-MSGID"], ""));
        assert_eq!(
            mailbox_arg("\"[Gmail]/All Mail\" (CONDSTORE)"),
            "[Gmail]/All Mail"
        );
        assert_eq!(mailbox_arg("inbox"), "INBOX");
        assert_eq!(uid_in(b"FLAGS (\\Seen) UID 17 RFC822.SIZE 4)"), Some(17));
        assert_eq!(fetch_open(b"* 12 FETCH (UID 1)\r\n"), Some(12));
        assert_eq!(
            list_entry(b"* LIST (\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\"\r\n"),
            Some((
                "\\HasNoChildren \\All".to_owned(),
                "[Gmail]/All Mail".to_owned()
            ))
        );
    }

    #[test]
    fn a_raw_session_sees_the_capability_labels_and_bodies() {
        let Some(server) = Dovecot::start(Layout::Gmail) else {
            return;
        };
        let both = GmailFront::with_gm_id("both", b"Subject: two labels\r\n\r\nbody one\r\n");
        let nested = b"Message-ID: <n@x>\r\nSubject: nested\r\n\r\nbody two\r\n".to_vec();
        let spam = GmailFront::with_gm_id("spam", b"Subject: spam\r\n\r\nbuy\r\n");
        let archived = GmailFront::with_gm_id("arch", b"Subject: old\r\n\r\narchived\r\n");
        server.seed("INBOX", &[&both]);
        server.seed("Work", &[&both]);
        server.seed("Work/Projects", &[&nested]);
        server.seed("[Gmail]/Spam", &[&spam]);
        server.seed_archived(&[&archived]);
        let front = GmailFront::start(&server);
        let mut imap = RawImap::connect(front.addr());
        assert!(
            find(imap.greeting(), b" X-GM-EXT-1]").is_some(),
            "{:?}",
            String::from_utf8_lossy(imap.greeting())
        );
        let login = imap.login(server.user(), server.password());
        assert!(find(&login, b" X-GM-EXT-1]").is_some());
        let caps = imap.command("CAPABILITY");
        assert!(caps.starts_with(b"* CAPABILITY ") && find(&caps, b" X-GM-EXT-1\r\n").is_some());

        imap.command("EXAMINE \"[Gmail]/All Mail\"");
        let reply = String::from_utf8_lossy(
            &imap.command("UID FETCH 1:* (UID X-GM-MSGID X-GM-LABELS BODY.PEEK[])"),
        )
        .into_owned();
        let both_id = GmailFront::msgid_of("both");
        // Seeded twice: testkit's All Mail shows it twice, with one X-GM-MSGID.
        assert_eq!(
            reply
                .matches(&format!(
                    "X-GM-MSGID {both_id} X-GM-LABELS (\\Inbox \"Work\")"
                ))
                .count(),
            2,
            "{reply}"
        );
        let nested_id = GmailFront::msgid_of("<n@x>");
        assert!(
            reply.contains(&format!(
                "X-GM-MSGID {nested_id} X-GM-LABELS (\"Work/Projects\")"
            )),
            "{reply}"
        );
        let arch_id = GmailFront::msgid_of("arch");
        assert!(
            reply.contains(&format!("X-GM-MSGID {arch_id} X-GM-LABELS ()")),
            "{reply}"
        );
        assert!(reply.contains("body two\r\n)"), "bodies pass: {reply}");
        assert!(!reply.contains("spam"), "Spam is not in All Mail: {reply}");

        imap.command("SELECT \"[Gmail]/Spam\"");
        let reply = String::from_utf8_lossy(&imap.command("FETCH 1 (X-GM-LABELS)")).into_owned();
        assert!(
            reply.starts_with("* 1 FETCH (X-GM-LABELS (\\Spam) UID 1)"),
            "{reply}"
        );
        // A FETCH without Gmail items passes unchanged.
        let reply =
            String::from_utf8_lossy(&imap.command("UID FETCH 1:* (UID FLAGS)")).into_owned();
        assert!(!reply.contains("X-GM-"), "{reply}");
        assert!(front.labelled_responses() >= 5);
    }
}
