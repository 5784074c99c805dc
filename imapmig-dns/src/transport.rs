//! The blocking network edge: UDP with EDNS0, TCP when truncated.
//!
//! Each query gets a random ID and a fresh socket (so a random source port
//! chosen by the system); a datagram that does not match the query is
//! ignored, not believed. No async runtime is involved.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::wire::{Response, decode_response, encode_query};
use crate::{DomainName, Error, Lookup, RecordType, Resolver};

/// How queries are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportOptions {
    /// Time allowed for each attempt.
    pub timeout: Duration,
    /// Attempts over UDP before giving up.
    pub attempts: u32,
    /// EDNS0 payload size advertised; `None` sends no OPT record (512-byte answers).
    pub edns_payload: Option<u16>,
    /// The RD bit: set for a recursive resolver, clear for an authoritative server.
    pub recursion_desired: bool,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            timeout: Duration::from_secs(2),
            attempts: 3,
            edns_payload: Some(1232),
            recursion_desired: true,
        }
    }
}

/// A resolver that asks one DNS server over the network.
///
/// ```no_run
/// use imapmig_dns::{NetworkResolver, RecordType, Resolver};
/// let r = NetworkResolver::new("127.0.0.1:53".parse().unwrap());
/// let mx = r.lookup(&"example.com".parse()?, RecordType::Mx)?;
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct NetworkResolver {
    server: SocketAddr,
    options: TransportOptions,
}

impl NetworkResolver {
    /// A resolver asking `server` with default options.
    pub fn new(server: SocketAddr) -> Self {
        Self::with_options(server, TransportOptions::default())
    }

    /// A resolver asking `server` with `options`.
    pub fn with_options(server: SocketAddr, options: TransportOptions) -> Self {
        NetworkResolver { server, options }
    }

    /// The first `nameserver` of `/etc/resolv.conf`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read or names no server.
    pub fn from_system() -> Result<Self, Error> {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 53));
        let text = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| Error::Io {
            server: unspecified,
            reason: format!("/etc/resolv.conf: {e}"),
        })?;
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .filter_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| Self::new(SocketAddr::new(ip, 53)))
            .next()
            .ok_or(Error::Io {
                server: unspecified,
                reason: "no nameserver in /etc/resolv.conf".into(),
            })
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Io {
            server: self.server,
            reason: e.to_string(),
        }
    }

    /// One UDP attempt: `Ok(None)` on timeout.
    fn udp_once(&self, name: &DomainName, rtype: RecordType) -> Result<Option<Response>, Error> {
        let id: u16 = rand::random();
        let query = encode_query(
            id,
            name,
            rtype,
            self.options.recursion_desired,
            self.options.edns_payload,
        )?;
        let bind: SocketAddr = if self.server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let socket = UdpSocket::bind(bind).map_err(|e| self.io(e))?;
        socket.connect(self.server).map_err(|e| self.io(e))?;
        socket.send(&query).map_err(|e| self.io(e))?;
        let deadline = Instant::now() + self.options.timeout;
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| self.io(e))?;
            match socket.recv(&mut buf) {
                Ok(n) => match decode_response(id, name, rtype, &buf[..n]) {
                    Ok(r) => return Ok(Some(r)),
                    Err(Error::Wire { .. }) => continue,
                    Err(e) => return Err(e),
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    fn tcp(&self, name: &DomainName, rtype: RecordType) -> Result<Lookup, Error> {
        let id: u16 = rand::random();
        let query = encode_query(
            id,
            name,
            rtype,
            self.options.recursion_desired,
            self.options.edns_payload,
        )?;
        let timeout = self.options.timeout;
        let mut stream =
            TcpStream::connect_timeout(&self.server, timeout).map_err(|e| self.io(e))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| self.io(e))?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| self.io(e))?;
        let len = u16::try_from(query.len()).map_err(|_| Error::Wire {
            reason: "query too long".into(),
        })?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        stream.write_all(&framed).map_err(|e| self.io(e))?;
        let mut len_buf = [0u8; 2];
        stream.read_exact(&mut len_buf).map_err(|e| self.io(e))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
        stream.read_exact(&mut body).map_err(|e| self.io(e))?;
        match decode_response(id, name, rtype, &body)? {
            Response::Answer(l) => Ok(l),
            Response::Truncated => Err(Error::Wire {
                reason: "truncated answer over TCP".into(),
            }),
        }
    }
}

impl Resolver for NetworkResolver {
    fn lookup(&self, name: &DomainName, rtype: RecordType) -> Result<Lookup, Error> {
        for _ in 0..self.options.attempts.max(1) {
            match self.udp_once(name, rtype)? {
                Some(Response::Answer(l)) => return Ok(l),
                Some(Response::Truncated) => return self.tcp(name, rtype),
                None => continue,
            }
        }
        Err(Error::Timeout {
            server: self.server,
            name: name.to_string(),
            rtype,
        })
    }
}
