//! [`RawImap`]: a minimal blocking IMAP client for tests.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::mutf7;

/// How long a test waits for one server reply before failing.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The server closed the connection (or a read failed) before the tagged
/// completion arrived; `received` holds every byte read for the command.
#[derive(Debug)]
pub struct Closed {
    /// Bytes received before the connection ended.
    pub received: Vec<u8>,
    /// The IO error, `None` on a clean end of stream.
    pub error: Option<io::Error>,
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => write!(f, "connection failed ({e})")?,
            None => write!(f, "connection closed by the server")?,
        }
        write!(f, " after {:?}", String::from_utf8_lossy(&self.received))
    }
}

impl std::error::Error for Closed {}

/// A plain-text IMAP connection that sends commands verbatim and returns the
/// server's raw reply bytes, literals included. For tests only: every method
/// panics with the server's words when something unexpected happens, except
/// the `try_` variants, which report a closed connection as [`Closed`].
///
/// ```
/// let Some(server) = testkit::Dovecot::start(testkit::Layout::Slash) else { return };
/// let mut imap = server.session();
/// let reply = imap.command("LIST \"\" \"*\"");
/// assert!(reply.starts_with(b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"));
/// assert!(reply.ends_with(b"\r\n") && imap.last_tag() == "a2");
/// ```
#[derive(Debug)]
pub struct RawImap {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    greeting: Vec<u8>,
    next_tag: u32,
    last_tag: String,
}

impl RawImap {
    /// Connects and reads the greeting; panics if either fails.
    pub fn connect(addr: SocketAddr) -> RawImap {
        RawImap::try_connect(addr)
            .unwrap_or_else(|e| panic!("testkit: IMAP connect to {addr} failed: {e}"))
    }

    /// Connects and reads the greeting line; fails if the server closes
    /// the connection before greeting or greets with `* BYE`.
    pub fn try_connect(addr: SocketAddr) -> Result<RawImap, Closed> {
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT).map_err(|e| Closed {
            received: Vec::new(),
            error: Some(e),
        })?;
        let closed = |e| Closed {
            received: Vec::new(),
            error: Some(e),
        };
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(closed)?;
        stream.set_nodelay(true).map_err(closed)?;
        let writer = stream.try_clone().map_err(closed)?;
        let mut imap = RawImap {
            writer,
            reader: BufReader::new(stream),
            greeting: Vec::new(),
            next_tag: 1,
            last_tag: String::new(),
        };
        let mut greeting = Vec::new();
        loop {
            greeting.clear();
            match imap.reader.read_until(b'\n', &mut greeting) {
                // Dovecot under load first says this, then greets.
                Ok(_) if greeting.starts_with(b"* OK Waiting for authentication") => {}
                // A `* BYE` greeting refuses the connection (RFC 9051 7.1.5).
                Ok(_) if greeting.ends_with(b"\n") && !greeting.starts_with(b"* BYE") => break,
                Ok(_) => {
                    return Err(Closed {
                        received: greeting,
                        error: None,
                    });
                }
                Err(e) => {
                    return Err(Closed {
                        received: greeting,
                        error: Some(e),
                    });
                }
            }
        }
        imap.greeting = greeting;
        Ok(imap)
    }

    /// The greeting line the server sent, CRLF included.
    pub fn greeting(&self) -> &[u8] {
        &self.greeting
    }

    /// The tag of the last command sent (`"a1"`, `"a2"`, ...).
    pub fn last_tag(&self) -> &str {
        &self.last_tag
    }

    /// Sends `LOGIN` with quoted credentials; panics unless the reply is OK.
    pub fn login(&mut self, user: &str, password: &str) -> Vec<u8> {
        let reply = self.command(&format!("LOGIN {} {}", quote(user), quote(password)));
        assert!(
            completion_is_ok(&reply),
            "testkit: LOGIN {user} failed: {}",
            String::from_utf8_lossy(&reply)
        );
        reply
    }

    /// Sends `<tag> <cmd>\r\n` and returns every byte up to and including the
    /// tagged completion line. `cmd` may carry `{n+}` literals with their data.
    pub fn command(&mut self, cmd: &str) -> Vec<u8> {
        self.command_bytes(cmd.as_bytes())
    }

    /// [`RawImap::command`] for a command that is not UTF-8 (8-bit literals).
    pub fn command_bytes(&mut self, cmd: &[u8]) -> Vec<u8> {
        self.try_command_bytes(cmd).unwrap_or_else(|closed| {
            panic!(
                "testkit: IMAP {}: {closed}",
                String::from_utf8_lossy(first_line(cmd))
            )
        })
    }

    /// Like [`RawImap::command`] but reports a connection the server (or a
    /// proxy) closed before completing the command.
    pub fn try_command(&mut self, cmd: &str) -> Result<Vec<u8>, Closed> {
        self.try_command_bytes(cmd.as_bytes())
    }

    /// Like [`RawImap::command_bytes`] but reports a closed connection.
    pub fn try_command_bytes(&mut self, cmd: &[u8]) -> Result<Vec<u8>, Closed> {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        self.last_tag.clone_from(&tag);
        let mut line = Vec::with_capacity(tag.len() + cmd.len() + 3);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        if let Err(e) = self.writer.write_all(&line) {
            return Err(Closed {
                received: Vec::new(),
                error: Some(e),
            });
        }
        self.read_response(&tag).map(|(bytes, _)| bytes)
    }

    /// Reads until the completion tagged `tag`; returns the bytes and the
    /// contents of every literal in them.
    fn read_response(&mut self, tag: &str) -> Result<(Vec<u8>, Vec<Vec<u8>>), Closed> {
        let mut out = Vec::new();
        let mut literals = Vec::new();
        let mut at_start = true;
        loop {
            let line_start = out.len();
            match self.reader.read_until(b'\n', &mut out) {
                Ok(0) => {
                    return Err(Closed {
                        received: out,
                        error: None,
                    });
                }
                Ok(_) if !out.ends_with(b"\n") => {
                    return Err(Closed {
                        received: out,
                        error: None,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(Closed {
                        received: out,
                        error: Some(e),
                    });
                }
            }
            let line = &out[line_start..];
            let tagged = at_start
                && line.len() > tag.len()
                && line.starts_with(tag.as_bytes())
                && line[tag.len()] == b' ';
            match literal_length(line) {
                Some(n) => {
                    let mut literal = vec![0; n];
                    if let Err(e) = self.reader.read_exact(&mut literal) {
                        return Err(Closed {
                            received: out,
                            error: Some(e),
                        });
                    }
                    out.extend_from_slice(&literal);
                    literals.push(literal);
                    at_start = false;
                }
                None if tagged => return Ok((out, literals)),
                None => at_start = true,
            }
        }
    }

    /// Reads one line the server sends unprompted (an untagged `* BYE`, say);
    /// `None` at end of stream.
    pub fn read_line(&mut self) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }

    /// Appends one message (raw bytes, sent as a `LITERAL+` literal) to the
    /// folder named in UTF-8; returns the reply without checking it.
    pub fn append(&mut self, folder: &str, message: &[u8]) -> Vec<u8> {
        self.command_bytes(&append_command(folder, &[message]))
    }

    /// Selects the folder (read-only) and returns the raw bytes of every
    /// message (`BODY.PEEK[]`) in UID order. Panics unless both commands
    /// succeed.
    pub fn fetch_all(&mut self, folder: &str) -> Vec<Vec<u8>> {
        let reply = self.command(&format!("EXAMINE {}", quote_mailbox(folder)));
        assert!(
            completion_is_ok(&reply),
            "testkit: EXAMINE {folder} failed: {}",
            String::from_utf8_lossy(&reply)
        );
        if !reply.windows(9).any(|w| w == b" EXISTS\r\n") || reply.starts_with(b"* 0 EXISTS") {
            return Vec::new();
        }
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        self.last_tag.clone_from(&tag);
        let line = format!("{tag} UID FETCH 1:* (BODY.PEEK[])\r\n");
        self.writer
            .write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("testkit: IMAP write failed: {e}"));
        let (reply, literals) = self
            .read_response(&tag)
            .unwrap_or_else(|closed| panic!("testkit: UID FETCH in {folder}: {closed}"));
        assert!(
            completion_is_ok(&reply),
            "testkit: UID FETCH in {folder} failed: {}",
            String::from_utf8_lossy(&reply)
        );
        literals
    }
}

/// The `APPEND` command (MULTIAPPEND when several) for `messages`.
pub(crate) fn append_command(folder: &str, messages: &[&[u8]]) -> Vec<u8> {
    let mut cmd = format!("APPEND {}", quote_mailbox(folder)).into_bytes();
    for message in messages {
        cmd.extend_from_slice(format!(" {{{}+}}\r\n", message.len()).as_bytes());
        cmd.extend_from_slice(message);
    }
    cmd
}

/// The length of the literal announced at the end of `line` (`{n}` or
/// `{n+}` before CRLF), if any.
pub(crate) fn literal_length(line: &[u8]) -> Option<usize> {
    let body = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let body = body.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Whether the last line of a reply is a tagged `OK`.
pub(crate) fn completion_is_ok(reply: &[u8]) -> bool {
    completion(reply).split(|&b| b == b' ').nth(1) == Some(b"OK")
}

/// The last line of a reply (the tagged completion).
pub(crate) fn completion(reply: &[u8]) -> &[u8] {
    let trimmed = reply.strip_suffix(b"\r\n").unwrap_or(reply);
    match trimmed.iter().rposition(|&b| b == b'\n') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

fn first_line(cmd: &[u8]) -> &[u8] {
    cmd.split(|&b| b == b'\n').next().unwrap_or(cmd)
}

/// A quoted IMAP string (the value must not contain CR or LF).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A UTF-8 folder name as a quoted modified-UTF-7 IMAP mailbox name.
pub fn quote_mailbox(name: &str) -> String {
    quote(&mutf7::encode(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_lengths() {
        for (line, want) in [
            (&b"* 1 FETCH (BODY[] {12}\r\n"[..], Some(12)),
            (b"a1 APPEND x {3+}\r\n", Some(3)),
            (b"* OK {x}\r\n", None),
            (b"* OK {}\r\n", None),
            (b"* OK done\r\n", None),
            (b"* 1 FETCH (BODY[] {0}\r\n", Some(0)),
        ] {
            assert_eq!(
                literal_length(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn reads_completion() {
        assert!(completion_is_ok(b"* 1 EXISTS\r\na1 OK done\r\n"));
        assert!(!completion_is_ok(
            b"* 1 EXISTS\r\na1 NO [OVERQUOTA] full\r\n"
        ));
        assert_eq!(completion(b"a1 BAD x\r\n"), b"a1 BAD x");
    }

    #[test]
    fn quotes_names() {
        assert_eq!(quote_mailbox("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_mailbox("Entwürfe"), "\"Entw&APw-rfe\"");
    }
}
