//! [`FaultProxy`]: a TCP proxy that misbehaves on command, so throttling,
//! slowness and dropped connections are tested against a real server.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::front::{self, Joined, Pairs, bind, lock};
use crate::imap::literal_length;

/// Bytes read from either side at a time.
const CHUNK: usize = 16 * 1024;

/// One kind of misbehaviour. [`FaultProxy::set`] switches it on (replacing
/// an earlier fault of the same kind); [`FaultProxy::clear`] switches all
/// off. Faults act on every connection, those open already included.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Wait this long before forwarding each chunk, in both directions.
    Delay(Duration),
    /// Forward at most this many bytes per second in each direction of each
    /// connection.
    Bandwidth {
        /// The cap; 0 counts as 1.
        bytes_per_second: u64,
    },
    /// Close a connection (both sides) once the server has sent it this many
    /// bytes in total, counted from its start: the client gets exactly that
    /// many bytes.
    CutAfter {
        /// Server-to-client bytes a connection may carry.
        bytes: u64,
    },
    /// One shot: instead of the next response the server starts on any
    /// connection (the greeting of a new one included), send
    /// `* BYE <text>` and close that connection.
    Bye {
        /// The text after `* BYE `.
        text: String,
    },
    /// Replace the next `times` tagged completions (on any connection) with
    /// `<tag> NO [<code>] <text>`; the server did run those commands.
    Reject {
        /// The response code to claim.
        code: RejectCode,
        /// How many completions to replace.
        times: u32,
    },
    /// Keep at most this many connections open: a connection beyond it is
    /// accepted and closed at once, before any greeting.
    MaxConnections(u32),
    /// Refuse, as Cyrus, Exchange or Gmail do, every `APPEND` whose message
    /// literal breaks `rule`: the proxy holds the command with its
    /// non-synchronising (`{n+}`, LITERAL+) literal, never forwards the
    /// message, and answers `<tag> NO [PARSE] <why>` (it sends the server a
    /// `NOOP` under the same tag in its place, so replies stay in order).
    /// An `APPEND` with a synchronising `{n}` literal passes unchanged.
    RejectAppend {
        /// What makes a message unacceptable.
        rule: AppendRule,
    },
    /// Of the client commands named in `commands` (upper case; `UID FETCH`
    /// counts as `FETCH`, `UID STORE` as `STORE`), every `every`-th one,
    /// counted across all connections of the proxy, is refused: the server
    /// runs it, but its untagged data is dropped and its tagged completion
    /// replaced by `<tag> NO [<code>] <text>`, so the client sees a refusal
    /// only. Office 365 throttles so (`NO [THROTTLED]`).
    RejectEvery {
        /// Command names to count, e.g. `["SELECT", "FETCH"]`.
        commands: Vec<String>,
        /// Refuse the `every`-th, `2·every`-th... matching command; 0 and 1
        /// refuse every one.
        every: u32,
        /// The response code to claim.
        code: RejectCode,
    },
    /// In each `UID FETCH`, after this many untagged `FETCH` responses the
    /// rest are dropped and the command ends `<tag> NO Some messages could
    /// not be FETCHed (Failure)`, Gmail's words (RFC 2180 4.1.1). A `UID
    /// FETCH` with no more responses than that passes unchanged.
    FetchNoAfter {
        /// `FETCH` responses let through per `UID FETCH`.
        responses: u32,
    },
    /// As [`Fault::FetchNoAfter`], with the completion
    /// `<tag> BAD Internal error occurred. Refer to server log for more
    /// information.` (Dovecot's words for a failed command).
    FetchBadAfter {
        /// `FETCH` responses let through per `UID FETCH`.
        responses: u32,
    },
    /// On each connection, the first literal of a `FETCH` response that is
    /// larger than `after_bytes` is cut after `after_bytes` bytes; then
    /// `\r\n* BYE going away\r\n` is sent and the connection closed, as a
    /// server that restarts mid-body does.
    ByeInLiteral {
        /// Literal bytes let through before the `BYE`.
        after_bytes: u64,
    },
    /// Before every untagged `FETCH` response to a `UID FETCH`, inject
    /// `* <n> FETCH (FLAGS (\Seen))` with that response's sequence number,
    /// as a server does when another session changed the flags.
    UnsolicitedFetchFlags,
    /// Once per connection, just before the tagged completion of its first
    /// `UID FETCH`, inject [`Fault::GARBAGE_LINE`], a line no IMAP parser
    /// accepts (not a literal: the stream stays in step after it).
    GarbageLine,
}

impl Fault {
    /// The line [`Fault::GarbageLine`] injects, CRLF included. Its words
    /// after the first 16 bytes look like mail, so a test can check that an
    /// error message quotes no more than 16 bytes of it.
    pub const GARBAGE_LINE: &'static [u8] =
        b"* )(garbage \"unterminated From: Garbage Sender <garbage-sender@example.net> secret-mail-words\r\n";
}

/// How a [`Fault::FetchNoAfter`] or [`Fault::FetchBadAfter`] ends a
/// truncated `UID FETCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truncation {
    No,
    Bad,
}

impl Truncation {
    fn reply_text(self) -> &'static str {
        match self {
            Truncation::No => "NO Some messages could not be FETCHed (Failure)",
            Truncation::Bad => {
                "BAD Internal error occurred. Refer to server log for more information."
            }
        }
    }
}

/// What a [`Fault::RejectAppend`] refuses in an `APPEND` literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppendRule {
    /// A bare LF (one not preceded by CR) anywhere in the message.
    BareLf,
    /// A message that starts with an mbox envelope line (`From `).
    EnvelopeFromLine,
}

impl AppendRule {
    /// Whether `message` breaks the rule.
    pub fn breaks(self, message: &[u8]) -> bool {
        match self {
            AppendRule::BareLf => message
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\n' && (i == 0 || message[i - 1] != b'\r')),
            AppendRule::EnvelopeFromLine => message.starts_with(b"From "),
        }
    }

    /// The tagged reply sent instead of the server's, after the tag.
    pub fn reply_text(self) -> &'static str {
        match self {
            AppendRule::BareLf => "NO [PARSE] Bare newlines (LF without CR) are not allowed",
            AppendRule::EnvelopeFromLine => {
                "NO [PARSE] Message starts with an mbox From line, not a header"
            }
        }
    }
}

/// The response code of a [`Fault::Reject`], each with the text providers
/// send with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectCode {
    /// `NO [THROTTLED]` (Office 365's throttling).
    Throttled,
    /// `NO [LIMIT]` (Gmail's bandwidth and command limits).
    Limit,
    /// `NO [UNAVAILABLE]` (a backend that is down for now).
    Unavailable,
}

impl RejectCode {
    /// What follows the tag: `NO [THROTTLED] ...`.
    pub fn reply_text(self) -> &'static str {
        match self {
            RejectCode::Throttled => {
                "NO [THROTTLED] Request is throttled. Suggested Backoff Time: 1000 milliseconds"
            }
            RejectCode::Limit => "NO [LIMIT] Account exceeded command or bandwidth limits.",
            RejectCode::Unavailable => "NO [UNAVAILABLE] Server temporarily unavailable.",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reply_text())
    }
}

/// What the proxy has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultCounts {
    /// Connections accepted and forwarded.
    pub accepted: u64,
    /// Connections closed at once because of [`Fault::MaxConnections`].
    pub refused: u64,
    /// Connections whose upstream connect failed (closed at once).
    pub upstream_failures: u64,
    /// Chunks held back by [`Fault::Delay`].
    pub delayed_chunks: u64,
    /// Pauses made to honour [`Fault::Bandwidth`].
    pub bandwidth_pauses: u64,
    /// Connections cut by [`Fault::CutAfter`].
    pub cuts: u64,
    /// `* BYE` lines injected by [`Fault::Bye`].
    pub byes: u64,
    /// Tagged completions replaced by [`Fault::Reject`].
    pub rejected: u64,
    /// `APPEND`s refused by [`Fault::RejectAppend`].
    pub appends_rejected: u64,
    /// Tagged completions replaced by [`Fault::RejectEvery`].
    pub every_rejected: u64,
    /// Commands [`Fault::RejectEvery`] counted (refused or not).
    pub every_counted: u64,
    /// `UID FETCH`es ended with `NO` by [`Fault::FetchNoAfter`].
    pub fetch_no: u64,
    /// `UID FETCH`es ended with `BAD` by [`Fault::FetchBadAfter`].
    pub fetch_bad: u64,
    /// Untagged `FETCH` responses dropped by [`Fault::FetchNoAfter`] or
    /// [`Fault::FetchBadAfter`].
    pub fetch_responses_dropped: u64,
    /// Literals cut by [`Fault::ByeInLiteral`] (each followed by a `BYE`).
    pub literal_byes: u64,
    /// `* n FETCH (FLAGS (\Seen))` lines injected by
    /// [`Fault::UnsolicitedFetchFlags`].
    pub unsolicited_flags: u64,
    /// Lines injected by [`Fault::GarbageLine`].
    pub garbage_lines: u64,
}

#[derive(Debug, Default)]
struct Faults {
    delay: Option<Duration>,
    bandwidth: Option<u64>,
    cut_after: Option<u64>,
    bye: Option<String>,
    reject: Option<(RejectCode, u32)>,
    max_connections: Option<u32>,
    reject_append: Option<AppendRule>,
    reject_every: Option<EveryRule>,
    fetch_no_after: Option<u32>,
    fetch_bad_after: Option<u32>,
    bye_in_literal: Option<u64>,
    unsolicited_flags: bool,
    garbage_line: bool,
}

/// A [`Fault::RejectEvery`] in force.
#[derive(Debug)]
struct EveryRule {
    commands: Vec<String>,
    every: u32,
    code: RejectCode,
    /// Matching commands seen since the fault was set.
    seen: u64,
}

impl Faults {
    /// The truncation in force and after how many responses.
    fn truncation(&self) -> Option<(u32, Truncation)> {
        self.fetch_no_after
            .map(|n| (n, Truncation::No))
            .or(self.fetch_bad_after.map(|n| (n, Truncation::Bad)))
    }
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    counts: Mutex<FaultCounts>,
    /// Both sockets of every open connection, to close them on drop.
    pairs: Pairs,
    stop: AtomicBool,
}

impl Shared {
    fn count(&self, update: impl FnOnce(&mut FaultCounts)) {
        update(&mut lock(&self.counts));
    }
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` (a [`crate::Dovecot`],
/// usually), forwarding bytes unchanged until told to misbehave with
/// [`FaultProxy::set`]. Threads and blocking sockets; dropping it closes
/// every connection and stops the threads.
///
/// ```
/// use testkit::{Dovecot, Fault, FaultProxy, Layout, RawImap, RejectCode};
///
/// let Some(server) = Dovecot::start(Layout::Slash) else { return };
/// let proxy = FaultProxy::start(server.addr());
/// let mut imap = RawImap::connect(proxy.addr());
/// imap.login(server.user(), server.password());
/// proxy.set(Fault::Reject { code: RejectCode::Throttled, times: 1 });
/// let reply = imap.command("SELECT INBOX");
/// assert!(reply.ends_with(b" NO [THROTTLED] Request is throttled. Suggested Backoff Time: 1000 milliseconds\r\n"));
/// assert_eq!(proxy.counts().rejected, 1);
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts forwarding a free port of 127.0.0.1 to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let (listener, addr) = bind("proxy");
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(FaultCounts::default()),
            pairs: Pairs::default(),
            stop: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("testkit-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &for_thread))
            .unwrap_or_else(|e| panic!("testkit: cannot spawn the proxy thread: {e}"));
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server behind the proxy.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Switches a fault on, replacing an earlier one of the same kind.
    pub fn set(&self, fault: Fault) {
        let mut faults = lock(&self.shared.faults);
        match fault {
            Fault::Delay(d) => faults.delay = Some(d),
            Fault::Bandwidth { bytes_per_second } => {
                faults.bandwidth = Some(bytes_per_second.max(1));
            }
            Fault::CutAfter { bytes } => faults.cut_after = Some(bytes),
            Fault::Bye { text } => faults.bye = Some(text),
            Fault::Reject { code, times } => faults.reject = Some((code, times)),
            Fault::MaxConnections(n) => faults.max_connections = Some(n),
            Fault::RejectAppend { rule } => faults.reject_append = Some(rule),
            Fault::RejectEvery {
                commands,
                every,
                code,
            } => {
                faults.reject_every = Some(EveryRule {
                    commands: commands.iter().map(|c| c.to_ascii_uppercase()).collect(),
                    every: every.max(1),
                    code,
                    seen: 0,
                });
            }
            Fault::FetchNoAfter { responses } => faults.fetch_no_after = Some(responses),
            Fault::FetchBadAfter { responses } => faults.fetch_bad_after = Some(responses),
            Fault::ByeInLiteral { after_bytes } => faults.bye_in_literal = Some(after_bytes),
            Fault::UnsolicitedFetchFlags => faults.unsolicited_flags = true,
            Fault::GarbageLine => faults.garbage_line = true,
        }
    }

    /// Switches every fault off: from now on bytes pass unchanged.
    pub fn clear(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// What the proxy has injected, delayed, cut and refused so far.
    pub fn counts(&self) -> FaultCounts {
        *lock(&self.shared.counts)
    }

    /// Connections open through the proxy right now.
    pub fn open_connections(&self) -> usize {
        self.shared.pairs.len()
    }

    /// Closes every open connection at once (both sides), as a network
    /// failure would.
    pub fn disconnect_all(&self) {
        self.shared.pairs.close_all();
    }
}

impl Drop for FaultProxy {
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
        let max = lock(&shared.faults).max_connections;
        // Count before closing: a client that sees the close may read the
        // counts at once, and must find this refusal there.
        if max.is_some_and(|max| shared.pairs.len() >= max as usize) {
            shared.count(|c| c.refused += 1);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            shared.count(|c| c.upstream_failures += 1);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        shared.count(|c| c.accepted += 1);
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
            refused_tags: Mutex::new(HashMap::new()),
            commands: Mutex::new(HashMap::new()),
        });
        let up = Arc::clone(&connection);
        let spawned = thread::Builder::new()
            .name("testkit-proxy-up".into())
            .spawn(move || client_to_server(c2, s2, &up));
        if spawned.is_err() {
            connection.close();
            continue;
        }
        let _ = thread::Builder::new()
            .name("testkit-proxy-down".into())
            .spawn(move || server_to_client(server, client, &connection));
    }
}

/// One proxied connection; closed and forgotten when both pumps are done.
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    /// Tags of APPENDs [`Fault::RejectAppend`] refused, with the rule: their
    /// completions (of the NOOP sent instead) are replaced.
    refused_tags: Mutex<HashMap<Vec<u8>, AppendRule>>,
    /// Commands the client sent whose completion has not come back, by tag.
    commands: Mutex<HashMap<Vec<u8>, Pending>>,
}

/// A command on its way, as the server-side pump needs to know it.
#[derive(Debug)]
struct Pending {
    /// `UID FETCH` (not a plain `FETCH`).
    uid_fetch: bool,
    /// Refused by [`Fault::RejectEvery`] when it completes.
    reject: Option<RejectCode>,
}

/// A client command line's tag and upper-cased name (`UID FETCH` named
/// `FETCH`), and whether it had the `UID` prefix.
fn command_name(line: &[u8]) -> Option<(Vec<u8>, String, bool)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    let tag = words.next().filter(|t| !t.is_empty())?;
    let mut name = words.next().filter(|n| !n.is_empty())?.to_ascii_uppercase();
    let uid = name == b"UID";
    if uid {
        name = words.next().filter(|n| !n.is_empty())?.to_ascii_uppercase();
    }
    Some((tag.to_vec(), String::from_utf8(name).ok()?, uid))
}

/// The sequence number of an untagged `* <n> FETCH ...` line.
fn fetch_number(line: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let (number, rest) = rest.split_at(space);
    let name = rest.get(1..6)?;
    if !name.eq_ignore_ascii_case(b"FETCH") || !matches!(rest.get(6), Some(b' ' | b'\r')) {
        return None;
    }
    std::str::from_utf8(number).ok()?.parse().ok()
}

impl Connection {
    /// Remembers the commands that start in `segments` (client bytes), and
    /// counts them for [`Fault::RejectEvery`], before they are forwarded.
    fn record_commands(&self, segments: &[Segment]) {
        for segment in segments {
            let Segment::ResponseStart(line) = segment else {
                continue;
            };
            let Some((tag, name, uid)) = command_name(line) else {
                continue;
            };
            let mut reject = None;
            {
                let mut faults = lock(&self.shared.faults);
                if let Some(rule) = faults.reject_every.as_mut()
                    && rule.commands.contains(&name)
                {
                    rule.seen += 1;
                    if rule.seen % u64::from(rule.every) == 0 {
                        reject = Some(rule.code);
                    }
                    drop(faults);
                    self.shared.count(|c| c.every_counted += 1);
                }
            }
            lock(&self.commands).insert(
                tag,
                Pending {
                    uid_fetch: uid && name == "FETCH",
                    reject,
                },
            );
        }
    }

    /// Whether a `UID FETCH` is outstanding on this connection.
    fn uid_fetch_outstanding(&self) -> bool {
        lock(&self.commands).values().any(|p| p.uid_fetch)
    }

    /// Whether a command [`Fault::RejectEvery`] refuses is outstanding: its
    /// untagged data is dropped.
    fn reject_outstanding(&self) -> bool {
        lock(&self.commands).values().any(|p| p.reject.is_some())
    }

    fn close(&self) {
        self.shared.pairs.close(self.id);
    }

    fn delay(&self) -> Option<Duration> {
        lock(&self.shared.faults).delay
    }

    fn bandwidth(&self) -> Option<u64> {
        lock(&self.shared.faults).bandwidth
    }

    /// Writes `data` honouring the delay (once per chunk) and bandwidth
    /// faults.
    fn forward(&self, to: &mut TcpStream, data: &[u8]) -> io::Result<()> {
        if let Some(delay) = self.delay() {
            self.shared.count(|c| c.delayed_chunks += 1);
            thread::sleep(delay);
        }
        let Some(rate) = self.bandwidth() else {
            return to.write_all(data);
        };
        // Slices of a twentieth of a second keep the rate smooth.
        let slice = usize::try_from(rate / 20).unwrap_or(usize::MAX).max(1);
        for part in data.chunks(slice) {
            to.write_all(part)?;
            self.shared.count(|c| c.bandwidth_pauses += 1);
            #[allow(clippy::cast_precision_loss, reason = "sizes far below 2^52")]
            thread::sleep(Duration::from_secs_f64(part.len() as f64 / rate as f64));
        }
        Ok(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

fn client_to_server(mut client: TcpStream, mut server: TcpStream, connection: &Connection) {
    let mut buf = vec![0; CHUNK];
    let mut framer = Framer::default();
    let mut held: Option<HeldAppend> = None;
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let rule = lock(&connection.shared.faults).reject_append;
        let segments = framer.push(&buf[..n]);
        connection.record_commands(&segments);
        let sent = if rule.is_none() && held.is_none() {
            // No APPEND screening: forward as read.
            connection.forward(&mut server, &buf[..n])
        } else {
            screen_appends(connection, &mut server, segments, &mut held, rule)
        };
        if sent.is_err() {
            break;
        }
    }
    connection.close();
}

/// An `APPEND` held back by [`Fault::RejectAppend`] until its last literal.
struct HeldAppend {
    tag: Vec<u8>,
    command: Vec<u8>,
    literal: Vec<u8>,
    broken: bool,
}

/// Client bytes while [`Fault::RejectAppend`] is on (or an `APPEND` is held):
/// forwards everything but `APPEND`s with `{n+}` literals, which are held
/// whole, then forwarded, or replaced by a `NOOP` under their tag when a
/// literal breaks the rule.
fn screen_appends(
    connection: &Connection,
    server: &mut TcpStream,
    segments: Vec<Segment>,
    held: &mut Option<HeldAppend>,
    rule: Option<AppendRule>,
) -> io::Result<()> {
    let mut out = Vec::new();
    for segment in segments {
        let Some(h) = held.as_mut() else {
            match segment {
                Segment::ResponseStart(line) if rule.is_some() && is_append_plus(&line) => {
                    let tag = line
                        .split(|&b| b == b' ')
                        .next()
                        .unwrap_or_default()
                        .to_vec();
                    *held = Some(HeldAppend {
                        tag,
                        command: line,
                        literal: Vec::new(),
                        broken: false,
                    });
                }
                Segment::ResponseStart(bytes) | Segment::Other(bytes) | Segment::Literal(bytes) => {
                    out.extend_from_slice(&bytes);
                }
            }
            continue;
        };
        let line = match segment {
            Segment::Literal(bytes) => {
                h.command.extend_from_slice(&bytes);
                h.literal.extend_from_slice(&bytes);
                continue;
            }
            Segment::ResponseStart(line) | Segment::Other(line) => line,
        };
        // A line after a literal: judge the literal; the command ends here
        // unless another literal follows.
        h.command.extend_from_slice(&line);
        if rule.is_some_and(|r| r.breaks(&h.literal)) {
            h.broken = true;
        }
        h.literal.clear();
        let more = literal_length(&line).is_some();
        if more && line.ends_with(b"+}\r\n") {
            continue;
        }
        let Some(h) = held.take() else { continue };
        match rule {
            Some(rule) if h.broken && !more => {
                lock(&connection.refused_tags).insert(h.tag.clone(), rule);
                connection.shared.count(|c| c.appends_rejected += 1);
                out.extend_from_slice(&h.tag);
                out.extend_from_slice(b" NOOP\r\n");
            }
            // Done and acceptable, or a synchronising literal follows (it
            // needs the server's `+`): forward as sent.
            _ => out.extend_from_slice(&h.command),
        }
    }
    if out.is_empty() {
        return Ok(());
    }
    connection.forward(server, &out)
}

/// Whether a command line is `<tag> APPEND ... {n+}`.
fn is_append_plus(line: &[u8]) -> bool {
    let mut words = line.split(|&b| b == b' ');
    let _tag = words.next();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
        && line.ends_with(b"+}\r\n")
        && literal_length(line).is_some()
}

/// What the server-side pump of one connection is in the middle of.
#[derive(Debug, Default)]
struct Downstream {
    /// The current response (with its literals) is being dropped.
    dropping: bool,
    /// The current response is an untagged `FETCH`.
    in_fetch: bool,
    /// Untagged `FETCH` responses to the outstanding `UID FETCH`.
    fetch_seen: u32,
    /// How the outstanding `UID FETCH` ends, once responses were dropped.
    truncated: Option<Truncation>,
    /// [`Fault::GarbageLine`] has fired on this connection.
    garbage_sent: bool,
    /// [`Fault::ByeInLiteral`] has picked its literal on this connection.
    literal_cut: bool,
    /// Bytes of the literal being cut still to forward before the `BYE`.
    cutting: Option<u64>,
}

/// The `BYE` [`Fault::ByeInLiteral`] sends in the middle of a literal.
const LITERAL_BYE: &[u8] = b"\r\n* BYE going away\r\n";

impl Downstream {
    /// Starts cutting the literal announced at the end of `line` when
    /// [`Fault::ByeInLiteral`] wants it; true when the `BYE` is due at once.
    fn watch_literal(&mut self, connection: &Connection, line: &[u8]) -> bool {
        if self.literal_cut || !self.in_fetch {
            return false;
        }
        let Some(after) = lock(&connection.shared.faults).bye_in_literal else {
            return false;
        };
        let Some(length) = literal_length(line) else {
            return false;
        };
        if length as u64 <= after {
            return false;
        }
        self.literal_cut = true;
        self.cutting = Some(after);
        after == 0
    }
}

fn server_to_client(mut server: TcpStream, mut client: TcpStream, connection: &Connection) {
    let mut buf = vec![0; CHUNK];
    let mut framer = Framer::default();
    let mut sent: u64 = 0;
    let mut down = Downstream::default();
    'read: loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for segment in framer.push(&buf[..n]) {
            match segment {
                Segment::ResponseStart(line) => {
                    down.dropping = false;
                    down.in_fetch = false;
                    let bye = lock(&connection.shared.faults).bye.take();
                    if let Some(text) = bye {
                        out.extend_from_slice(format!("* BYE {text}\r\n").as_bytes());
                        connection.shared.count(|c| c.byes += 1);
                        let _ = write_capped(connection, &mut client, &out, &mut sent);
                        break 'read;
                    }
                    if is_tagged(&line) {
                        completion(connection, &mut down, &line, &mut out);
                    } else if line.starts_with(b"* ") {
                        if untagged(connection, &mut down, &line, &mut out) {
                            out.extend_from_slice(LITERAL_BYE);
                            connection.shared.count(|c| c.literal_byes += 1);
                            let _ = write_capped(connection, &mut client, &out, &mut sent);
                            break 'read;
                        }
                    } else {
                        out.extend_from_slice(&line);
                    }
                }
                Segment::Other(line) => {
                    if down.dropping {
                        continue;
                    }
                    out.extend_from_slice(&line);
                    if down.watch_literal(connection, &line) {
                        out.extend_from_slice(LITERAL_BYE);
                        connection.shared.count(|c| c.literal_byes += 1);
                        let _ = write_capped(connection, &mut client, &out, &mut sent);
                        break 'read;
                    }
                }
                Segment::Literal(bytes) => {
                    if down.dropping {
                        continue;
                    }
                    let Some(left) = down.cutting else {
                        out.extend_from_slice(&bytes);
                        continue;
                    };
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    out.extend_from_slice(&bytes[..take]);
                    let left = left - take as u64;
                    down.cutting = Some(left);
                    if left == 0 {
                        out.extend_from_slice(LITERAL_BYE);
                        connection.shared.count(|c| c.literal_byes += 1);
                        let _ = write_capped(connection, &mut client, &out, &mut sent);
                        break 'read;
                    }
                }
            }
        }
        match write_capped(connection, &mut client, &out, &mut sent) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    connection.close();
}

/// A tagged completion from the server: forwarded, or replaced as the
/// faults say (with a garbage line before it for [`Fault::GarbageLine`]).
fn completion(connection: &Connection, down: &mut Downstream, line: &[u8], out: &mut Vec<u8>) {
    let tag = line.split(|&b| b == b' ').next().unwrap_or_default();
    let pending = lock(&connection.commands).remove(tag);
    let refused = lock(&connection.refused_tags).remove(tag);
    let uid_fetch = pending.as_ref().is_some_and(|p| p.uid_fetch);
    let truncated = if uid_fetch {
        down.fetch_seen = 0;
        down.truncated.take()
    } else {
        None
    };
    if uid_fetch && !down.garbage_sent && lock(&connection.shared.faults).garbage_line {
        down.garbage_sent = true;
        out.extend_from_slice(Fault::GARBAGE_LINE);
        connection.shared.count(|c| c.garbage_lines += 1);
    }
    let mut faults = lock(&connection.shared.faults);
    let text: Option<&str> = if let Some(rule) = refused {
        Some(rule.reply_text())
    } else if let Some((code, times)) = faults.reject.as_mut()
        && *times > 0
    {
        *times -= 1;
        let code = *code;
        connection.shared.count(|c| c.rejected += 1);
        Some(code.reply_text())
    } else if let Some(code) = pending.and_then(|p| p.reject) {
        connection.shared.count(|c| c.every_rejected += 1);
        Some(code.reply_text())
    } else if let Some(truncation) = truncated {
        connection.shared.count(|c| match truncation {
            Truncation::No => c.fetch_no += 1,
            Truncation::Bad => c.fetch_bad += 1,
        });
        Some(truncation.reply_text())
    } else {
        None
    };
    drop(faults);
    match text {
        Some(text) => {
            out.extend_from_slice(tag);
            out.extend_from_slice(format!(" {text}\r\n").as_bytes());
        }
        None => out.extend_from_slice(line),
    }
}

/// An untagged response line from the server: forwarded, dropped or
/// preceded by an injected line as the faults say. True when
/// [`Fault::ByeInLiteral`] wants its `BYE` right after this line.
fn untagged(
    connection: &Connection,
    down: &mut Downstream,
    line: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    if connection.reject_outstanding() {
        down.dropping = true;
        return false;
    }
    let Some(number) = fetch_number(line) else {
        out.extend_from_slice(line);
        return false;
    };
    down.in_fetch = true;
    if connection.uid_fetch_outstanding() {
        down.fetch_seen += 1;
        let (truncation, flags) = {
            let faults = lock(&connection.shared.faults);
            (faults.truncation(), faults.unsolicited_flags)
        };
        if let Some((limit, how)) = truncation
            && down.fetch_seen > limit
        {
            down.dropping = true;
            down.truncated = Some(how);
            connection.shared.count(|c| c.fetch_responses_dropped += 1);
            return false;
        }
        if flags {
            out.extend_from_slice(format!("* {number} FETCH (FLAGS (\\Seen))\r\n").as_bytes());
            connection.shared.count(|c| c.unsolicited_flags += 1);
        }
    }
    out.extend_from_slice(line);
    down.watch_literal(connection, line)
}

/// Forwards `data` unless the cut fault says the connection has carried
/// enough; false once cut.
fn write_capped(
    connection: &Connection,
    client: &mut TcpStream,
    data: &[u8],
    sent: &mut u64,
) -> io::Result<bool> {
    let cut_after = lock(&connection.shared.faults).cut_after;
    let allowed = match cut_after {
        Some(limit) => usize::try_from(limit.saturating_sub(*sent)).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let part = &data[..data.len().min(allowed)];
    if !part.is_empty() {
        connection.forward(client, part)?;
        *sent += part.len() as u64;
    }
    if part.len() < data.len() || cut_after.is_some_and(|limit| *sent >= limit) {
        connection.shared.count(|c| c.cuts += 1);
        return Ok(false);
    }
    Ok(true)
}

/// Whether a line that starts a response is a tagged completion.
fn is_tagged(line: &[u8]) -> bool {
    !(line.starts_with(b"* ") || line.starts_with(b"+"))
}

/// A piece of the server's byte stream.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    /// A whole line that starts a response (untagged, continuation
    /// request, or tagged completion).
    ResponseStart(Vec<u8>),
    /// A line continuing a response (or command) after a literal.
    Other(Vec<u8>),
    /// Literal data (part of one literal, or all of it).
    Literal(Vec<u8>),
}

/// Splits the server's stream into response lines and literals.
#[derive(Debug)]
struct Framer {
    pending: Vec<u8>,
    literal_left: usize,
    at_start: bool,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer {
            pending: Vec::new(),
            literal_left: 0,
            at_start: true,
        }
    }
}

impl Framer {
    fn push(&mut self, data: &[u8]) -> Vec<Segment> {
        self.pending.extend_from_slice(data);
        let mut segments = Vec::new();
        loop {
            if self.literal_left > 0 {
                if self.pending.is_empty() {
                    break;
                }
                let n = self.literal_left.min(self.pending.len());
                segments.push(Segment::Literal(self.pending.drain(..n).collect()));
                self.literal_left -= n;
                continue;
            }
            let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let literal = literal_length(&line);
            segments.push(if self.at_start {
                Segment::ResponseStart(line)
            } else {
                Segment::Other(line)
            });
            self.literal_left = literal.unwrap_or(0);
            self.at_start = literal.is_none();
        }
        segments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_rules_table() {
        let cases: &[(AppendRule, &[u8], bool)] = &[
            (AppendRule::BareLf, b"Subject: a\r\n\r\nb\r\n", false),
            (AppendRule::BareLf, b"Subject: a\n\r\nb\r\n", true),
            (AppendRule::BareLf, b"\nSubject: a\r\n", true),
            (AppendRule::BareLf, b"", false),
            (
                AppendRule::EnvelopeFromLine,
                b"From a@b Mon Jan  1 00:00:00 2024\r\n",
                true,
            ),
            (AppendRule::EnvelopeFromLine, b"From: a@b\r\n", false),
            (
                AppendRule::EnvelopeFromLine,
                b"Subject: x\r\n\r\nFrom here\r\n",
                false,
            ),
        ];
        for &(rule, message, breaks) in cases {
            assert_eq!(rule.breaks(message), breaks, "{rule:?} {message:?}");
        }
        assert!(is_append_plus(b"a7 APPEND INBOX (\\Seen) {12+}\r\n"));
        assert!(is_append_plus(b"a7 append \"x\" {1+}\r\n"));
        assert!(!is_append_plus(b"a7 APPEND INBOX {12}\r\n"));
        assert!(!is_append_plus(b"a7 FETCH 1 {12+}\r\n"));
    }

    #[test]
    fn frames_lines_and_literals_split_anywhere() {
        let stream: &[u8] =
            b"* OK hi\r\n* 1 FETCH (BODY[] {7}\r\na1 OK x) \r\n* 2 EXISTS\r\na1 OK done\r\n";
        let whole = Framer::default().push(stream);
        let starts: Vec<&[u8]> = whole
            .iter()
            .filter_map(|s| match s {
                Segment::ResponseStart(l) => Some(l.as_slice()),
                Segment::Other(_) | Segment::Literal(_) => None,
            })
            .collect();
        assert_eq!(
            starts,
            [
                &b"* OK hi\r\n"[..],
                b"* 1 FETCH (BODY[] {7}\r\n",
                b"* 2 EXISTS\r\n",
                b"a1 OK done\r\n"
            ]
        );
        for split in 0..stream.len() {
            let mut framer = Framer::default();
            let mut segments = framer.push(&stream[..split]);
            segments.extend(framer.push(&stream[split..]));
            let joined: Vec<u8> = segments
                .iter()
                .flat_map(|s| match s {
                    Segment::ResponseStart(b) | Segment::Other(b) | Segment::Literal(b) => {
                        b.clone()
                    }
                })
                .collect();
            assert_eq!(joined, stream, "split at {split}");
            let tagged = segments
                .iter()
                .filter(|s| matches!(s, Segment::ResponseStart(l) if is_tagged(l)))
                .count();
            assert_eq!(
                tagged, 1,
                "split at {split}: the literal's `a1 OK x` is data"
            );
        }
    }

    #[test]
    fn tagged_lines() {
        for (line, tagged) in [
            (&b"a1 OK done\r\n"[..], true),
            (b"* BYE x\r\n", false),
            (b"+ go ahead\r\n", false),
            (b"+\r\n", false),
        ] {
            assert_eq!(is_tagged(line), tagged);
        }
    }
}
