//! One IMAP account on a server that testkit can reach only over IMAP
//! (Cyrus, Courier: no admin tool like doveadm): seeding with `APPEND`,
//! reading messages, folders and UIDVALIDITYs back, and waiting for the
//! server's greeting at start.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::imap::{self, RawImap};
use crate::process::ProcessGroup;

/// How long a server may take to greet before the start counts as failed.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports to try when the one picked is taken meanwhile.
pub(crate) const START_ATTEMPTS: u32 = 5;
/// How long one reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages per `MULTIAPPEND` when the server has `LITERAL+`.
const SEED_BATCH: usize = 200;

/// How a server takes the literals of an `APPEND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Literals {
    /// `LITERAL+` and `MULTIAPPEND` (Cyrus): many messages per command, no
    /// round trip per literal.
    NonSynchronizing,
    /// Only synchronising `{n}` literals (Courier): one message per
    /// command, sent after the server's `+` continuation.
    Synchronizing,
}

/// A user's account on a running server.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) addr: SocketAddr,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) literals: Literals,
}

impl Account {
    /// A new, logged-in [`RawImap`] connection.
    pub(crate) fn session(&self) -> RawImap {
        let mut session = RawImap::connect(self.addr);
        session.login(&self.user, &self.password);
        session
    }

    /// Creates a folder (full name); panics unless the server says OK.
    pub(crate) fn create(&self, folder: &str) {
        let mut session = self.session();
        let reply = session.command(&format!("CREATE {}", imap::quote_mailbox(folder)));
        assert!(
            imap::completion_is_ok(&reply),
            "testkit: CREATE {folder} failed: {}",
            String::from_utf8_lossy(&reply)
        );
        session.command("LOGOUT");
    }

    /// One `APPEND` of one message with a synchronising literal, over a new
    /// connection; returns the whole reply (the `+` continuation and any
    /// untagged lines included) without judging it.
    pub(crate) fn append(&self, folder: &str, message: &[u8]) -> Vec<u8> {
        let mut session = LiteralSession::login(self);
        let reply = session.append(folder, message);
        session.logout();
        reply
    }

    /// Appends the messages byte for byte, creating the folder if missing;
    /// panics when the server refuses one.
    pub(crate) fn seed(&self, folder: &str, messages: &[&[u8]]) {
        if folder != "INBOX" {
            let mut session = self.session();
            // Fails harmlessly when the folder exists.
            session.command(&format!("CREATE {}", imap::quote_mailbox(folder)));
            session.command("LOGOUT");
        }
        let refused = |count: usize, reply: &[u8]| -> ! {
            panic!(
                "testkit: seeding {count} messages into {folder} failed: {}",
                String::from_utf8_lossy(reply)
            )
        };
        match self.literals {
            Literals::NonSynchronizing => {
                let mut session = self.session();
                for batch in messages.chunks(SEED_BATCH) {
                    let reply = session.command_bytes(&imap::append_command(folder, batch));
                    if !imap::completion_is_ok(&reply) {
                        refused(batch.len(), imap::completion(&reply));
                    }
                }
                session.command("LOGOUT");
            }
            Literals::Synchronizing => {
                let mut session = LiteralSession::login(self);
                for message in messages {
                    let reply = session.append(folder, message);
                    if !imap::completion_is_ok(&reply) {
                        refused(1, &reply);
                    }
                }
                session.logout();
            }
        }
    }

    /// The raw bytes of every message in the folder, in UID order.
    pub(crate) fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        let mut session = self.session();
        let messages = session.fetch_all(folder);
        session.command("LOGOUT");
        messages
    }

    /// Every folder `LIST "" "*"` shows, names decoded to UTF-8, in the
    /// server's order.
    pub(crate) fn folders(&self) -> Vec<String> {
        let mut session = self.session();
        let reply = session.command("LIST \"\" \"*\"");
        assert!(
            imap::completion_is_ok(&reply),
            "testkit: LIST failed: {}",
            String::from_utf8_lossy(&reply)
        );
        session.command("LOGOUT");
        list_names(&reply)
    }

    /// The folder's UIDVALIDITY, from `STATUS`.
    pub(crate) fn uidvalidity(&self, folder: &str) -> u32 {
        let mut session = self.session();
        let reply = session.command(&format!(
            "STATUS {} (UIDVALIDITY)",
            imap::quote_mailbox(folder)
        ));
        session.command("LOGOUT");
        status_uidvalidity(&reply).unwrap_or_else(|| {
            panic!(
                "testkit: STATUS {folder} gave no UIDVALIDITY: {}",
                String::from_utf8_lossy(&reply)
            )
        })
    }

    /// Runs `change` (which recreates the folder somehow) until the folder's
    /// UIDVALIDITY differs from what it was: servers that derive it from the
    /// clock give the same one within a second. Returns the new UIDVALIDITY.
    pub(crate) fn change_uidvalidity(&self, folder: &str, mut change: impl FnMut()) -> u32 {
        let before = self.uidvalidity(folder);
        for _ in 0..5 {
            change();
            let after = self.uidvalidity(folder);
            if after != before {
                return after;
            }
            thread::sleep(Duration::from_millis(400));
        }
        panic!("testkit: the UIDVALIDITY of {folder} stayed {before}");
    }

    /// Runs one command over `session`, panicking unless it succeeds.
    pub(crate) fn ok(session: &mut RawImap, command: &str) -> Vec<u8> {
        let reply = session.command(command);
        assert!(
            imap::completion_is_ok(&reply),
            "testkit: {command} failed: {}",
            String::from_utf8_lossy(&reply)
        );
        reply
    }
}

/// A logged-in connection that sends each `APPEND` literal only after the
/// server's `+` continuation, so that a server without `LITERAL+` never
/// reads message bytes as commands, also when it refuses the `APPEND` at
/// once.
struct LiteralSession {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    next_tag: u32,
}

impl LiteralSession {
    fn login(account: &Account) -> LiteralSession {
        let fail =
            |e: std::io::Error| -> ! { panic!("testkit: IMAP connect to {}: {e}", account.addr) };
        let stream = TcpStream::connect(account.addr).unwrap_or_else(|e| fail(e));
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .unwrap_or_else(|e| fail(e));
        let writer = stream.try_clone().unwrap_or_else(|e| fail(e));
        let mut session = LiteralSession {
            writer,
            reader: BufReader::new(stream),
            next_tag: 1,
        };
        let greeting = session.line();
        assert!(
            greeting.starts_with(b"* OK"),
            "testkit: greeting {}",
            String::from_utf8_lossy(&greeting)
        );
        let reply = session.send(
            format!(
                "LOGIN {} {}",
                imap::quote(&account.user),
                imap::quote(&account.password)
            )
            .as_bytes(),
            None,
        );
        assert!(
            imap::completion_is_ok(&reply),
            "testkit: LOGIN {} failed: {}",
            account.user,
            String::from_utf8_lossy(&reply)
        );
        session
    }

    fn append(&mut self, folder: &str, message: &[u8]) -> Vec<u8> {
        let command = format!(
            "APPEND {} {{{}}}",
            imap::quote_mailbox(folder),
            message.len()
        );
        self.send(command.as_bytes(), Some(message))
    }

    fn logout(mut self) {
        self.send(b"LOGOUT", None);
    }

    /// Sends `tag command`; when the server answers `+`, sends `literal`
    /// and the final CRLF. Returns every line up to the tagged completion.
    fn send(&mut self, command: &[u8], literal: Option<&[u8]>) -> Vec<u8> {
        let tag = format!("s{}", self.next_tag);
        self.next_tag += 1;
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(command);
        line.extend_from_slice(b"\r\n");
        self.write(&line);
        let mut reply = Vec::new();
        let mut literal = literal;
        loop {
            let line = self.line();
            reply.extend_from_slice(&line);
            if line.starts_with(b"+") {
                let Some(data) = literal.take() else {
                    panic!(
                        "testkit: unexpected continuation: {}",
                        String::from_utf8_lossy(&reply)
                    );
                };
                self.write(data);
                self.write(b"\r\n");
            } else if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                return reply;
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("testkit: IMAP write failed: {e}"));
    }

    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => line,
            Ok(_) => panic!(
                "testkit: the server closed the connection after {}",
                String::from_utf8_lossy(&line)
            ),
            Err(e) => panic!("testkit: IMAP read failed: {e}"),
        }
    }
}

/// Waits until a server greets on `addr` with a line containing `expected`;
/// false if the server exited, someone else answered, or it timed out.
pub(crate) fn wait_for_greeting(
    process: &mut ProcessGroup,
    addr: SocketAddr,
    expected: &str,
) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if process.has_exited() {
            return false;
        }
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            if BufReader::new(stream)
                .read_line(&mut line)
                .is_ok_and(|n| n > 0)
            {
                return line.starts_with("* OK") && line.contains(expected);
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

/// The UIDVALIDITY in a `* STATUS` reply.
pub(crate) fn status_uidvalidity(reply: &[u8]) -> Option<u32> {
    let text = String::from_utf8_lossy(reply);
    let at = text.find("UIDVALIDITY ")? + "UIDVALIDITY ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The mailbox names of the `* LIST` lines of a reply, decoded from
/// modified UTF-7: atoms, quoted strings and literals.
fn list_names(reply: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = reply;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        let Some(args) = line.strip_prefix(b"* LIST ") else {
            continue;
        };
        let args = args.strip_suffix(b"\r\n").unwrap_or(args);
        // "(flags) delimiter name": the flags hold no ')', the delimiter is
        // NIL or a quoted character (perhaps escaped).
        let Some(close) = args.iter().position(|&b| b == b')') else {
            continue;
        };
        let after_flags = args[close + 1..].strip_prefix(b" ").unwrap_or(&[]);
        let name = if let Some(nil) = after_flags.strip_prefix(b"NIL ") {
            nil
        } else if after_flags.starts_with(b"\"\\") {
            after_flags.get(5..).unwrap_or(&[])
        } else {
            after_flags.get(4..).unwrap_or(&[])
        };
        let raw = if let Some(n) = imap::literal_length(line) {
            let (literal, after) = rest.split_at(n.min(rest.len()));
            rest = after;
            literal.to_vec()
        } else if let Some(quoted) = name.strip_prefix(b"\"") {
            unquote(quoted.strip_suffix(b"\"").unwrap_or(quoted))
        } else {
            name.to_vec()
        };
        names.push(decode_mutf7(&String::from_utf8_lossy(&raw)));
    }
    names
}

fn unquote(quoted: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(quoted.len());
    let mut escaped = false;
    for &b in quoted {
        if b == b'\\' && !escaped {
            escaped = true;
        } else {
            out.push(b);
            escaped = false;
        }
    }
    out
}

/// Decodes a modified UTF-7 mailbox name (RFC 3501 section 5.1.3); a broken
/// shift sequence is kept as it is.
fn decode_mutf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let shifted = &rest[amp + 1..];
        let Some(dash) = shifted.find('-') else {
            out.push_str(&rest[amp..]);
            return out;
        };
        let encoded = &shifted[..dash];
        if encoded.is_empty() {
            out.push('&');
        } else {
            match decode_base64_utf16(encoded) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&rest[amp..=amp + 1 + dash]),
            }
        }
        rest = &shifted[dash + 1..];
    }
    out.push_str(rest);
    out
}

fn decode_base64_utf16(encoded: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut units = Vec::new();
    for c in encoded.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 16 {
            count -= 16;
            units.push(u16::try_from((bits >> count) & 0xffff).ok()?);
            bits &= (1 << count) - 1;
        }
    }
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_list_names_of_every_form() {
        let reply = b"* LIST (\\HasNoChildren) \".\" INBOX.Work\r\n\
* LIST (\\HasChildren \\Noselect) \".\" \"INBOX.Sp ace\"\r\n\
* LIST () NIL \"a\\\\b\"\r\n\
* LIST () \"\\\\\" {5}\r\nINBOX\r\n\
* LIST (\\Marked) \".\" INBOX.Entw&APw-rfe\r\n\
a1 OK done\r\n";
        assert_eq!(
            list_names(reply),
            [
                "INBOX.Work",
                "INBOX.Sp ace",
                "a\\b",
                "INBOX",
                "INBOX.Entwürfe"
            ]
        );
    }

    #[test]
    fn decodes_modified_utf7() {
        for (encoded, want) in [
            ("Entw&APw-rfe", "Entwürfe"),
            ("&-x", "&x"),
            ("&ZeVnLIqe-", "日本語"),
            ("plain", "plain"),
            ("&broken", "&broken"),
            ("a&!!-b", "a&!!-b"),
        ] {
            assert_eq!(decode_mutf7(encoded), want, "{encoded}");
        }
    }

    #[test]
    fn reads_status_uidvalidity() {
        assert_eq!(
            status_uidvalidity(b"* STATUS \"INBOX\" (UIDVALIDITY 796339839)\r\na1 OK x\r\n"),
            Some(796_339_839)
        );
        assert_eq!(status_uidvalidity(b"a1 NO nope\r\n"), None);
    }
}
