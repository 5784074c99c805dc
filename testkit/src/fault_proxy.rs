//! [`FaultProxy`]: a TCP proxy that misbehaves on command, so throttling,
//! slowness and dropped connections are tested against a real server.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

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
}

#[derive(Debug, Default)]
struct Faults {
    delay: Option<Duration>,
    bandwidth: Option<u64>,
    cut_after: Option<u64>,
    bye: Option<String>,
    reject: Option<(RejectCode, u32)>,
    max_connections: Option<u32>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    counts: Mutex<FaultCounts>,
    /// Both sockets of every open connection, to close them on drop.
    open: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next_id: AtomicU64,
    stop: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking pump thread must not disable the proxy for the test.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("testkit: proxy cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("testkit: local_addr of the proxy: {e}"));
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(FaultCounts::default()),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
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
        lock(&self.shared.open).len()
    }

    /// Closes every open connection at once (both sides), as a network
    /// failure would.
    pub fn disconnect_all(&self) {
        for (client, server) in lock(&self.shared.open).values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.disconnect_all();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let max = lock(&shared.faults).max_connections;
        if max.is_some_and(|max| lock(&shared.open).len() >= max as usize) {
            let _ = client.shutdown(Shutdown::Both);
            shared.count(|c| c.refused += 1);
            continue;
        }
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            shared.count(|c| c.upstream_failures += 1);
            continue;
        };
        shared.count(|c| c.accepted += 1);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        lock(&shared.open).insert(id, (c3, s3));
        let connection = Arc::new(Connection {
            id,
            shared: Arc::clone(shared),
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
}

impl Connection {
    fn close(&self) {
        if let Some((client, server)) = lock(&self.shared.open).remove(&self.id) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
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
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if connection.forward(&mut server, &buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    connection.close();
}

fn server_to_client(mut server: TcpStream, mut client: TcpStream, connection: &Connection) {
    let mut buf = vec![0; CHUNK];
    let mut framer = Framer::default();
    let mut sent: u64 = 0;
    'read: loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for segment in framer.push(&buf[..n]) {
            match segment {
                Segment::ResponseStart(line) => {
                    let mut faults = lock(&connection.shared.faults);
                    if let Some(text) = faults.bye.take() {
                        drop(faults);
                        out.extend_from_slice(format!("* BYE {text}\r\n").as_bytes());
                        connection.shared.count(|c| c.byes += 1);
                        let _ = write_capped(connection, &mut client, &out, &mut sent);
                        break 'read;
                    }
                    if is_tagged(&line)
                        && let Some((code, times)) = faults.reject.as_mut()
                        && *times > 0
                    {
                        *times -= 1;
                        let code = *code;
                        drop(faults);
                        let tag = line.split(|&b| b == b' ').next().unwrap_or_default();
                        out.extend_from_slice(tag);
                        out.extend_from_slice(format!(" {}\r\n", code.reply_text()).as_bytes());
                        connection.shared.count(|c| c.rejected += 1);
                    } else {
                        out.extend_from_slice(&line);
                    }
                }
                Segment::Other(bytes) => out.extend_from_slice(&bytes),
            }
        }
        match write_capped(connection, &mut client, &out, &mut sent) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    connection.close();
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
    /// Literal data, or a line continuing a response after a literal.
    Other(Vec<u8>),
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
                segments.push(Segment::Other(self.pending.drain(..n).collect()));
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
    fn frames_lines_and_literals_split_anywhere() {
        let stream: &[u8] =
            b"* OK hi\r\n* 1 FETCH (BODY[] {7}\r\na1 OK x) \r\n* 2 EXISTS\r\na1 OK done\r\n";
        let whole = Framer::default().push(stream);
        let starts: Vec<&[u8]> = whole
            .iter()
            .filter_map(|s| match s {
                Segment::ResponseStart(l) => Some(l.as_slice()),
                Segment::Other(_) => None,
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
                    Segment::ResponseStart(b) | Segment::Other(b) => b.clone(),
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
