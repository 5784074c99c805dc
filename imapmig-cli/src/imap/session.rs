//! One logged-in IMAP connection and the commands a migration sends: LIST, NAMESPACE,
//! SELECT/EXAMINE, STATUS, UID FETCH of metadata and of bodies, pipelined APPEND with
//! APPENDUID, CREATE, STORE, GETQUOTAROOT.
//!
//! Our own session over [`Transport`]: [`FrameReader`] cuts whole responses out of a `BytesMut`
//! (bounded lines and literals, an inactivity timeout on every read), imap-proto 0.17 parses
//! them, and every command ends at its own tagged completion, whose status is always checked: a
//! NO or BAD after part of a FETCH is an error, never a short success. A response that cannot
//! be parsed, a timeout or a lost connection leaves the connection *broken*: every later call
//! fails at once with a transient error, so the driver reconnects.
//!
//! Mailbox names are bytes, exactly as the server listed them (a raw 8-bit name of an old
//! server included): each goes out as a quoted string or a literal ([`Command`]), never
//! re-encoded. Before login the capabilities are read from the greeting (or asked for, and
//! asked again after STARTTLS, RFC 3501 §6.2.1); LOGIN is never sent to a server announcing
//! `LOGINDISABLED` ([`choose_mechanism`]); after login they are taken from the OK's
//! `[CAPABILITY …]` or asked for. The secret goes to the socket from `zeroize` buffers only.
//!
//! Message bodies (`UID FETCH (UID BODY.PEEK[])`) are read once, into the frame buffer, and
//! handed out as [`Bytes`] slices of it ([`BodyFetch`]); APPEND writes them to the target's
//! socket from that slice. `BODY.PEEK[]` rather than `BINARY.PEEK[]`: it is what every server
//! has, it gives the message exactly as stored, and imap-proto reads no `~{n}` literals.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use imap_proto::{AttributeValue, MailboxDatum, Response, ResponseCode};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::endpoint::{Endpoint, Mechanism, Security};
use super::secret::Credential;
use super::transport::Transport;
use super::wire::{
    self, Classified, Command, Done, DoneStatus, FrameReader, Limits, ReadFailure, Step,
};
use super::{ImapError, Refusal, ReplyCode};

/// The pause suggested by a `[THROTTLED]` that came without a hint.
const DEFAULT_SLOWDOWN: Duration = Duration::from_secs(1);

/// What the server said it can do (after login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// RFC 4315: APPENDUID.
    pub(crate) uidplus: bool,
    /// RFC 7162.
    pub(crate) condstore: bool,
    /// RFC 7162.
    pub(crate) qresync: bool,
    /// RFC 6154.
    pub(crate) special_use: bool,
    /// RFC 7888: non-synchronising literals, so APPENDs can be pipelined.
    pub(crate) literal_plus: bool,
    /// RFC 2342.
    pub(crate) namespace: bool,
    /// RFC 6851.
    pub(crate) moves: bool,
    /// RFC 8438: `STATUS (SIZE)`.
    pub(crate) status_size: bool,
    /// Gmail's `X-GM-EXT-1` (labels).
    pub(crate) gmail: bool,
    /// RFC 7889 `APPENDLIMIT=n`: the largest message the server accepts.
    pub(crate) append_limit: Option<u64>,
    /// Every capability word, upper-cased.
    pub(crate) all: Vec<String>,
}

impl Capabilities {
    fn from_words(words: Vec<String>) -> Self {
        let has = |w: &str| words.iter().any(|x| x == w);
        Self {
            uidplus: has("UIDPLUS"),
            condstore: has("CONDSTORE") || has("QRESYNC"),
            qresync: has("QRESYNC"),
            special_use: has("SPECIAL-USE"),
            literal_plus: has("LITERAL+"),
            namespace: has("NAMESPACE"),
            moves: has("MOVE"),
            status_size: has("STATUS=SIZE"),
            gmail: has("X-GM-EXT-1"),
            append_limit: words
                .iter()
                .find_map(|w| w.strip_prefix("APPENDLIMIT=")?.parse().ok()),
            all: words,
        }
    }
}

/// What SELECT/EXAMINE reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selected {
    /// Messages in the folder.
    pub(crate) exists: u32,
    /// UIDVALIDITY (0 when the server sent none).
    pub(crate) uid_validity: u32,
    /// UIDNEXT, if sent.
    pub(crate) uid_next: Option<u32>,
    /// HIGHESTMODSEQ, if CONDSTORE.
    pub(crate) highest_modseq: Option<u64>,
}

/// Per-message metadata from one `UID FETCH (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (…)])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageMeta {
    /// The message UID.
    pub(crate) uid: u32,
    /// Flags and keywords (never `\Recent`).
    pub(crate) flags: Vec<String>,
    /// INTERNALDATE.
    pub(crate) internal_date: Option<DateTime<FixedOffset>>,
    /// RFC822.SIZE.
    pub(crate) size: u32,
    /// The requested header fields, raw.
    pub(crate) header: Vec<u8>,
}

/// One message's Gmail items from `UID FETCH <set> (UID X-GM-MSGID X-GM-LABELS)` (X-GM-EXT-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GmailMeta {
    /// The message UID.
    pub(crate) uid: u32,
    /// X-GM-MSGID: Gmail's identity of the message, the same in every folder it shows in.
    pub(crate) msgid: Option<u64>,
    /// The raw X-GM-LABELS list (`(\Inbox "Work")`), for `imapmig_folders::parse_labels`.
    pub(crate) labels: Option<Vec<u8>>,
}

/// One message to APPEND. The body is borrowed (a [`Bytes`] from [`BodyFetch`] derefs to it),
/// so nothing is copied on the way to the socket.
#[derive(Debug, Clone)]
pub(crate) struct AppendItem<'a> {
    /// Flags to set (`\Recent` is dropped).
    pub(crate) flags: &'a [String],
    /// INTERNALDATE to keep.
    pub(crate) internal_date: Option<DateTime<FixedOffset>>,
    /// The message.
    pub(crate) body: &'a [u8],
}

/// The result of one APPEND of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored; the new UID when the server sent APPENDUID.
    Stored {
        /// UIDVALIDITY from APPENDUID.
        uid_validity: Option<u32>,
        /// The new UID.
        uid: Option<u32>,
    },
    /// Refused with NO (or BAD).
    Refused(Refusal),
}

/// Something the server told us that the command in flight did not ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsolicited {
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT`.
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* n FETCH` without what was asked (a flag change by another client), by sequence
    /// number.
    Fetch(u32),
    /// `* VANISHED` (RFC 7162).
    Vanished,
}

/// A logged-in connection. Its `Debug` shows no secret and no mail content.
#[derive(Debug)]
pub(crate) struct Connection {
    io: Transport,
    reader: FrameReader,
    caps: Capabilities,
    timeout: Duration,
    selected: Option<Vec<u8>>,
    next_tag: u32,
    /// Why the connection is unusable, once it is.
    broken: Option<String>,
    unsolicited: Vec<Unsolicited>,
    slowdown: Option<Duration>,
    /// The most body-budget permits ever seen available at once: the budget's total, as far
    /// as we can tell.
    budget_seen: usize,
    /// The greeting's human text (printable ASCII, at most [`GREETING_TEXT_MAX`] bytes):
    /// servers name themselves there (`The Microsoft Exchange IMAP4 service is ready.`).
    greeting: String,
}

/// The longest greeting text kept.
const GREETING_TEXT_MAX: usize = 200;

/// The length of `s` as a quoted string (quotes and escapes included).
fn quoted_len(s: &[u8]) -> usize {
    s.len() + 2 + s.iter().filter(|b| matches!(b, b'"' | b'\\')).count()
}

/// Appends `s` as a quoted string; `out` must have room for [`quoted_len`] more bytes, so a
/// secret is never copied by a reallocation.
fn push_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// The concatenation of `parts` in a buffer of exactly their length, wiped when dropped.
fn secret_bytes(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// How to log in, from the mechanism asked for (`?auth=`, else LOGIN for a password and
/// XOAUTH2 for a token) and what the server announced before login. LOGIN is never sent to a
/// server that announces `LOGINDISABLED` (RFC 3501 §6.2.3): AUTHENTICATE PLAIN is used when
/// it offers `AUTH=PLAIN`, else the login fails here, saying why, without the password
/// leaving this process.
pub(crate) fn choose_mechanism(
    requested: Option<Mechanism>,
    credential: &Credential,
    announced: &[String],
) -> Result<Mechanism, String> {
    let has = |w: &str| announced.iter().any(|x| x.eq_ignore_ascii_case(w));
    let mechanism = requested.unwrap_or(match credential {
        Credential::Password(_) => Mechanism::Login,
        Credential::Token(_) => Mechanism::XOAuth2,
    });
    if !has("LOGINDISABLED") {
        return Ok(mechanism);
    }
    match mechanism {
        Mechanism::Login | Mechanism::Plain if has("AUTH=PLAIN") => Ok(Mechanism::Plain),
        Mechanism::Login | Mechanism::Plain => Err(
            "the server announces LOGINDISABLED and offers no AUTHENTICATE PLAIN on this \
             connection, so the password was not sent; connect with TLS (imaps:// or \
             ?starttls)"
                .into(),
        ),
        other => Ok(other),
    }
}

/// The words of a `CAPABILITY …` response code's text (`CAPABILITY IMAP4rev1 …`),
/// upper-cased; `None` for another code.
fn capability_list(code_text: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(code_text).ok()?;
    let mut words = text.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("CAPABILITY") {
        return None;
    }
    Some(words.map(str::to_ascii_uppercase).collect())
}

/// The capabilities in a status line's `[CAPABILITY …]` code (a greeting's, usually).
fn capability_code(frame: &[u8]) -> Option<Vec<String>> {
    let open = memchr::memchr(b'[', frame)?;
    let rest = &frame[open + 1..];
    let close = memchr::memchr(b']', rest)?;
    capability_list(&rest[..close])
}

/// Flags as we keep them: `\Recent` and `\*` dropped.
fn flag_texts(flags: &[Cow<'_, str>]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && f.as_ref() != "\\*")
        .map(|f| f.to_string())
        .collect()
}

/// An INTERNALDATE (`17-Jul-1996 02:44:25 -0700`, the day maybe space-padded).
fn internal_date(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()
}

/// The words of a `* CAPABILITY …` response (or `[CAPABILITY …]` code), upper-cased.
fn capability_words(frame: &[u8]) -> Option<Vec<String>> {
    let line = std::str::from_utf8(frame).ok()?.trim_end();
    let rest = line
        .get(..13)
        .filter(|p| p.eq_ignore_ascii_case("* CAPABILITY "))
        .map(|_| &line[13..])?;
    Some(
        rest.split_ascii_whitespace()
            .map(str::to_ascii_uppercase)
            .collect(),
    )
}

/// The UID, X-GM-MSGID and raw X-GM-LABELS of a `* n FETCH (...)` frame (literals inline),
/// `None` unless it is a FETCH carrying a UID and at least one of the two Gmail items.
pub(crate) fn gmail_fetch_items(frame: &[u8]) -> Option<GmailMeta> {
    let rest = frame.strip_prefix(b"* ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    if !rest[..space].iter().all(u8::is_ascii_digit) || space == 0 {
        return None;
    }
    let rest = &rest[space + 1..];
    if !starts_with_ci(rest, b"FETCH (") {
        return None;
    }
    let start = frame.len() - rest.len() + 7;
    let mut meta = GmailMeta {
        uid: 0,
        msgid: None,
        labels: None,
    };
    let mut uid = None;
    let mut i = start;
    loop {
        while frame.get(i) == Some(&b' ') {
            i += 1;
        }
        if *frame.get(i)? == b')' {
            break;
        }
        // The item name: an atom, with a `[section]` that may hold spaces and a `<partial>`.
        let name_start = i;
        while let Some(&b) = frame.get(i) {
            if b == b'[' {
                i += frame[i..].iter().position(|&c| c == b']')? + 1;
                continue;
            }
            if b == b' ' || b == b'(' || b == b')' {
                break;
            }
            i += 1;
        }
        let name = &frame[name_start..i];
        if frame.get(i) != Some(&b' ') {
            return None;
        }
        i += 1;
        let value_start = i;
        i = skip_value(frame, i, 0)?;
        let value = &frame[value_start..i];
        let number = || std::str::from_utf8(value).ok()?.parse::<u64>().ok();
        if name.eq_ignore_ascii_case(b"UID") {
            uid = u32::try_from(number()?).ok();
        } else if name.eq_ignore_ascii_case(b"X-GM-MSGID") {
            meta.msgid = number();
        } else if name.eq_ignore_ascii_case(b"X-GM-LABELS") {
            meta.labels = Some(value.to_vec());
        }
    }
    meta.uid = uid?;
    (meta.msgid.is_some() || meta.labels.is_some()).then_some(meta)
}

/// The end of one value at `i`: an atom or number, a quoted string, a literal, or a
/// parenthesised list of those (nested at most 64 deep); `None` when the frame ends first.
fn skip_value(frame: &[u8], mut i: usize, depth: u32) -> Option<usize> {
    match frame.get(i)? {
        b'"' => {
            i += 1;
            loop {
                match frame.get(i)? {
                    b'\\' => i += 2,
                    b'"' => return Some(i + 1),
                    _ => i += 1,
                }
            }
        }
        b'{' => {
            let close = i + frame[i..].iter().position(|&b| b == b'}')?;
            let digits = &frame[i + 1..close];
            let digits = digits.strip_suffix(b"+").unwrap_or(digits);
            let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
            let data = close + 1 + 2;
            (data + n <= frame.len()).then_some(data + n)
        }
        b'(' if depth < 64 => {
            i += 1;
            loop {
                while frame.get(i) == Some(&b' ') {
                    i += 1;
                }
                if *frame.get(i)? == b')' {
                    return Some(i + 1);
                }
                i = skip_value(frame, i, depth + 1)?;
            }
        }
        b'(' => None,
        _ => {
            let start = i;
            while let Some(&b) = frame.get(i) {
                if b == b'[' {
                    i += frame[i..].iter().position(|&c| c == b']')? + 1;
                    continue;
                }
                if b <= b' ' || b == b'(' || b == b')' {
                    break;
                }
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

fn starts_with_ci(frame: &[u8], prefix: &[u8]) -> bool {
    frame.len() >= prefix.len() && frame[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl Connection {
    fn new(io: Transport, timeout: Duration) -> Self {
        Self {
            io,
            reader: FrameReader::new(Limits::default()),
            caps: Capabilities::default(),
            timeout,
            selected: None,
            next_tag: 1,
            broken: None,
            unsolicited: Vec::new(),
            slowdown: None,
            budget_seen: 0,
            greeting: String::new(),
        }
    }

    /// Connects, secures (TLS or STARTTLS), and logs in. `timeout` is the inactivity
    /// timeout of every later command; connecting and logging in must finish within it.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        credential: &Credential,
        timeout: Duration,
    ) -> Result<Self, ImapError> {
        tokio::time::timeout(timeout, Self::open_inner(endpoint, credential, timeout))
            .await
            .unwrap_or_else(|_| {
                Err(ImapError::Timeout {
                    what: "connect and login".into(),
                    secs: timeout.as_secs(),
                })
            })
    }

    async fn open_inner(
        endpoint: &Endpoint,
        credential: &Credential,
        timeout: Duration,
    ) -> Result<Self, ImapError> {
        let addr = format!("{}:{}", endpoint.host, endpoint.port);
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| ImapError::Unreachable {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        let tls_err = |reason: String| ImapError::Tls {
            addr: addr.clone(),
            reason,
        };
        let mut conn = match endpoint.security {
            Security::Plain => Self::new(Transport::plain(tcp), timeout),
            Security::Tls => Self::new(
                Transport::tls(tcp, &endpoint.host, &endpoint.extra_roots)
                    .await
                    .map_err(|e| tls_err(e.to_string()))?,
                timeout,
            ),
            Security::StartTls => {
                let mut plain = Self::new(Transport::plain(tcp), timeout);
                plain.greeting(&addr).await?;
                let done = plain
                    .run("STARTTLS", b"STARTTLS", |_, _| false)
                    .await
                    .map_err(|e| tls_err(format!("STARTTLS failed: {e}")))?;
                if done.status != DoneStatus::Ok {
                    return Err(tls_err(format!("STARTTLS refused: {}", refusal_of(&done))));
                }
                if plain.reader.buffered() > 0 {
                    return Err(tls_err("data sent before the TLS handshake".into()));
                }
                let tcp = plain
                    .io
                    .into_tcp()
                    .ok_or_else(|| tls_err("not a plain connection".into()))?;
                Self::new(
                    Transport::tls(tcp, &endpoint.host, &endpoint.extra_roots)
                        .await
                        .map_err(|e| tls_err(e.to_string()))?,
                    timeout,
                )
            }
        };
        // After STARTTLS nothing said before the handshake counts (RFC 3501 §6.2.1): the
        // capabilities are asked for again.
        let announced = if endpoint.security == Security::StartTls {
            None
        } else {
            conn.greeting(&addr).await?
        };
        let words = match announced {
            Some(words) => words,
            None => conn.capability().await?,
        };
        let mechanism =
            choose_mechanism(endpoint.mechanism, credential, &words).map_err(|reason| {
                ImapError::Login {
                    user: endpoint.user.clone(),
                    reason,
                }
            })?;
        conn.caps = Capabilities::from_words(words);
        let after_login = conn.login(endpoint, credential, mechanism, &addr).await?;
        // What the server can do changes with the login; ask unless the OK said it.
        let words = match after_login {
            Some(words) => words,
            None => conn.capability().await?,
        };
        conn.caps = Capabilities::from_words(words);
        Ok(conn)
    }

    /// `CAPABILITY`: the words, upper-cased.
    async fn capability(&mut self) -> Result<Vec<String>, ImapError> {
        let mut words = None;
        let done = self
            .run(
                "CAPABILITY",
                b"CAPABILITY",
                |frame, _| match capability_words(frame) {
                    Some(w) => {
                        words = Some(w);
                        true
                    }
                    None => false,
                },
            )
            .await?;
        self.check("CAPABILITY", done)?;
        Ok(words.unwrap_or_default())
    }

    /// Reads the greeting: OK or PREAUTH goes on (with the capabilities, when its
    /// `[CAPABILITY …]` code names them), BYE is [`ImapError::Bye`].
    async fn greeting(&mut self, addr: &str) -> Result<Option<Vec<String>>, ImapError> {
        let connect = |reason: String| ImapError::Connect {
            addr: addr.to_owned(),
            reason,
        };
        let frame = match self.reader.frame(&mut self.io, self.timeout).await {
            Ok(f) => f,
            Err(ReadFailure::Closed) => return Err(connect("closed before greeting".into())),
            Err(e) => return Err(connect(self.fail("greeting", e).to_string())),
        };
        use imapmig_core::throttle::Status as S;
        match wire::untagged_status(&frame) {
            Some((S::Ok | S::Preauth, _, text)) => {
                self.greeting = text
                    .chars()
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(GREETING_TEXT_MAX)
                    .collect();
                Ok(capability_code(&frame))
            }
            Some((S::Bye, code, text)) => Err(ImapError::Bye {
                text: code_and_text(code.as_ref(), &text),
            }),
            _ => Err(connect(format!(
                "unexpected greeting of {} bytes starting \"{}\"",
                frame.len(),
                wire::head_escaped(&frame)
            ))),
        }
    }

    /// The next tag.
    fn take_tag(&mut self) -> String {
        let tag = format!("m{}", self.next_tag);
        self.next_tag = self.next_tag.wrapping_add(1);
        tag
    }

    /// Logs in with `mechanism` (chosen by [`choose_mechanism`]). The secret goes into
    /// [`Zeroizing`] buffers only (the LOGIN line, the SASL payload and its base64), which are
    /// wiped when dropped. Returns the capabilities when the OK names them.
    async fn login(
        &mut self,
        endpoint: &Endpoint,
        credential: &Credential,
        mechanism: Mechanism,
        addr: &str,
    ) -> Result<Option<Vec<String>>, ImapError> {
        let user = endpoint.user.as_str();
        let (first, after, name): (Zeroizing<Vec<u8>>, &[u8], &str) = match (mechanism, credential)
        {
            (Mechanism::Login, Credential::Password(p)) => {
                let password = p.expose().as_bytes();
                if user.contains(['\r', '\n', '\0'])
                    || password.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
                {
                    return Err(ImapError::Secret {
                        reason: "the user name or password contains CR, LF or NUL".into(),
                    });
                }
                let tag = self.take_tag();
                let mut line = Zeroizing::new(Vec::with_capacity(
                    tag.len() + 7 + quoted_len(user.as_bytes()) + 1 + quoted_len(password) + 2,
                ));
                line.extend_from_slice(tag.as_bytes());
                line.extend_from_slice(b" LOGIN ");
                push_quoted(&mut line, user.as_bytes());
                line.push(b' ');
                push_quoted(&mut line, password);
                line.extend_from_slice(b"\r\n");
                let done = async {
                    self.write_idle("LOGIN", &line).await?;
                    self.flush_idle("LOGIN").await?;
                    self.until_done("LOGIN", &tag, |_, _| false).await
                }
                .await
                .map_err(|e| self.login_failure(e, addr))?;
                return self.logged_in(done, user);
            }
            (Mechanism::Plain, Credential::Password(p)) => (
                secret_bytes(&[b"\0", user.as_bytes(), b"\0", p.expose().as_bytes()]),
                b"",
                "PLAIN",
            ),
            (Mechanism::XOAuth2, Credential::Token(t)) => (
                secret_bytes(&[
                    b"user=",
                    user.as_bytes(),
                    b"\x01auth=Bearer ",
                    t.expose().as_bytes(),
                    b"\x01\x01",
                ]),
                b"",
                "XOAUTH2",
            ),
            (Mechanism::OAuthBearer, Credential::Token(t)) => (
                secret_bytes(&[
                    b"n,a=",
                    user.as_bytes(),
                    b",\x01host=",
                    endpoint.host.as_bytes(),
                    b"\x01port=",
                    endpoint.port.to_string().as_bytes(),
                    b"\x01auth=Bearer ",
                    t.expose().as_bytes(),
                    b"\x01\x01",
                ]),
                b"\x01",
                "OAUTHBEARER",
            ),
            (m, _) => {
                return Err(ImapError::Secret {
                    reason: format!(
                        "mechanism {m:?} needs a {}",
                        if m.wants_token() {
                            "bearer token"
                        } else {
                            "password"
                        }
                    ),
                });
            }
        };
        let done = self
            .authenticate(name, &first, after)
            .await
            .map_err(|e| self.login_failure(e, addr))?;
        drop(first);
        self.logged_in(done, user)
    }

    /// `AUTHENTICATE name`, answering the first challenge with `first` and any later one (an
    /// error report, RFC 7628 §3.2.3) with `after`, base64-encoded into a buffer that is
    /// wiped when dropped.
    async fn authenticate(
        &mut self,
        name: &str,
        first: &[u8],
        after: &[u8],
    ) -> Result<Done, ImapError> {
        use base64::Engine as _;
        let command = "AUTHENTICATE";
        let tag = self
            .send(command, format!("AUTHENTICATE {name}").as_bytes())
            .await?;
        let mut answered = false;
        loop {
            let frame = self.read_frame(command).await?;
            match wire::classify(&frame) {
                Classified::Continue => {
                    let answer = if answered { after } else { first };
                    answered = true;
                    let len = base64::encoded_len(answer.len(), true).unwrap_or(usize::MAX);
                    let mut line = Zeroizing::new(vec![0u8; len.saturating_add(2)]);
                    let n = base64::engine::general_purpose::STANDARD
                        .encode_slice(answer, &mut line[..len])
                        .map_err(|e| ImapError::Secret {
                            reason: format!("cannot encode the SASL response: {e}"),
                        })?;
                    line[n..n + 2].copy_from_slice(b"\r\n");
                    self.write_idle(command, &line[..n + 2]).await?;
                    self.flush_idle(command).await?;
                }
                Classified::Done(done) if done.tag == tag => return Ok(done),
                other => self.untagged(command, &frame, &other)?,
            }
        }
    }

    /// A tagged NO/BAD to LOGIN or AUTHENTICATE is a refused login.
    fn logged_in(&mut self, done: Done, user: &str) -> Result<Option<Vec<String>>, ImapError> {
        if done.status == DoneStatus::Ok {
            return Ok(done
                .code_text
                .as_deref()
                .and_then(|c| capability_list(c.as_bytes())));
        }
        Err(ImapError::Login {
            user: user.to_owned(),
            reason: code_and_text(done.code.as_ref(), &done.text),
        })
    }

    /// A failure while logging in: the connection went away (or spoke nonsense).
    fn login_failure(&self, e: ImapError, addr: &str) -> ImapError {
        match e {
            e @ (ImapError::Bye { .. } | ImapError::Timeout { .. }) => e,
            other => ImapError::Connect {
                addr: addr.to_owned(),
                reason: format!("connection failed during login: {other}"),
            },
        }
    }

    /// The server's capabilities.
    pub(crate) fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The inactivity timeout: a command fails when no byte arrives for this long.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for the pair driver (imap/pair.rs)")
    )]
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Responses the server sent that no command asked for (EXISTS, EXPUNGE, RECENT, FETCH of
    /// flags changed by another client), since the last call.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for the pair driver (imap/pair.rs)")
    )]
    pub(crate) fn take_unsolicited(&mut self) -> Vec<Unsolicited> {
        std::mem::take(&mut self.unsolicited)
    }

    /// The pause the server asked for with `[THROTTLED]` in an OK (Gmail's slow-down), once.
    pub(crate) fn take_slowdown(&mut self) -> Option<Duration> {
        self.slowdown.take()
    }

    /// Sets the bounds on a response line and literal (default 1 MiB and 2 GiB).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for the pair driver (imap/pair.rs)")
    )]
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.reader = FrameReader::new(limits);
    }

    // ----- the wire -----

    /// Marks the connection broken by `failure` and returns the error for it.
    fn fail(&mut self, command: &str, failure: ReadFailure) -> ImapError {
        let e = match failure {
            ReadFailure::Closed => ImapError::Io {
                command: command.to_owned(),
                reason: "connection closed".into(),
            },
            ReadFailure::Io(reason) => ImapError::Io {
                command: command.to_owned(),
                reason,
            },
            ReadFailure::Idle(d) => ImapError::Timeout {
                what: command.to_owned(),
                secs: d.as_secs(),
            },
            ReadFailure::LineTooLong { at, limit } => ImapError::TooLarge {
                command: command.to_owned(),
                what: "response line",
                size: at as u64,
                limit: limit as u64,
            },
            ReadFailure::LiteralTooLarge { size, limit } => ImapError::TooLarge {
                command: command.to_owned(),
                what: "literal",
                size,
                limit,
            },
        };
        self.broken(e)
    }

    /// Marks the connection broken by `e` and returns `e`.
    fn broken(&mut self, e: ImapError) -> ImapError {
        if self.broken.is_none() {
            self.broken = Some(e.to_string());
        }
        e
    }

    fn usable(&self, command: &str) -> Result<(), ImapError> {
        match &self.broken {
            Some(reason) => Err(ImapError::Broken {
                command: command.to_owned(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Writes all of `bytes`, each write within the inactivity timeout.
    async fn write_idle(&mut self, command: &str, bytes: &[u8]) -> Result<(), ImapError> {
        self.usable(command)?;
        let mut sent = 0;
        while sent < bytes.len() {
            match tokio::time::timeout(self.timeout, self.io.write(&bytes[sent..])).await {
                Ok(Ok(0)) => {
                    return Err(self.fail(command, ReadFailure::Io("socket closed".into())));
                }
                Ok(Ok(n)) => sent += n,
                Ok(Err(e)) => return Err(self.fail(command, ReadFailure::Io(e.to_string()))),
                Err(_) => return Err(self.fail(command, ReadFailure::Idle(self.timeout))),
            }
        }
        Ok(())
    }

    async fn flush_idle(&mut self, command: &str) -> Result<(), ImapError> {
        match tokio::time::timeout(self.timeout, self.io.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(command, ReadFailure::Io(e.to_string()))),
            Err(_) => Err(self.fail(command, ReadFailure::Idle(self.timeout))),
        }
    }

    /// Writes `<tag> line CRLF` (not flushed) and returns the tag.
    async fn write_command(&mut self, command: &str, line: &[u8]) -> Result<String, ImapError> {
        let tag = format!("m{}", self.next_tag);
        self.next_tag = self.next_tag.wrapping_add(1);
        let mut out = Vec::with_capacity(tag.len() + line.len() + 3);
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        self.write_idle(command, &out).await?;
        Ok(tag)
    }

    /// Sends one command line and returns its tag.
    async fn send(&mut self, command: &str, line: &[u8]) -> Result<String, ImapError> {
        let tag = self.write_command(command, line).await?;
        self.flush_idle(command).await?;
        Ok(tag)
    }

    /// The next whole response.
    async fn read_frame(&mut self, command: &str) -> Result<Bytes, ImapError> {
        self.usable(command)?;
        match self.reader.frame(&mut self.io, self.timeout).await {
            Ok(f) => Ok(f),
            Err(e) => Err(self.fail(command, e)),
        }
    }

    /// What every untagged response means for the connection, whatever the command: BYE ends
    /// it, `[THROTTLED]` in an OK asks for a pause, EXISTS/EXPUNGE/RECENT/FETCH nobody asked
    /// for are recorded, an unparseable response breaks the connection.
    fn untagged(
        &mut self,
        command: &str,
        frame: &Bytes,
        parsed: &Classified<'_>,
    ) -> Result<(), ImapError> {
        use imapmig_core::throttle::Status as S;
        match parsed {
            Classified::Unparseable => {
                let e = ImapError::Unparseable {
                    command: command.to_owned(),
                    len: frame.len(),
                    head: wire::head_escaped(frame),
                };
                return Err(self.broken(e));
            }
            Classified::Done(_) => {
                let e = ImapError::Protocol {
                    command: command.to_owned(),
                    reason: "a completion for a command not in flight".into(),
                };
                return Err(self.broken(e));
            }
            Classified::Continue => {
                let e = ImapError::Protocol {
                    command: command.to_owned(),
                    reason: "a continuation request nobody asked for".into(),
                };
                return Err(self.broken(e));
            }
            Classified::Untagged(r) => match r {
                Response::MailboxData(MailboxDatum::Exists(n)) => {
                    self.unsolicited.push(Unsolicited::Exists(*n));
                }
                Response::MailboxData(MailboxDatum::Recent(n)) => {
                    self.unsolicited.push(Unsolicited::Recent(*n));
                }
                Response::Expunge(n) => self.unsolicited.push(Unsolicited::Expunge(*n)),
                Response::Fetch(n, _) => self.unsolicited.push(Unsolicited::Fetch(*n)),
                Response::Vanished { .. } => self.unsolicited.push(Unsolicited::Vanished),
                _ => {}
            },
            Classified::Raw(_) => {}
        }
        match wire::untagged_status(frame) {
            Some((S::Bye, code, text)) => {
                let e = ImapError::Bye {
                    text: code_and_text(code.as_ref(), &text),
                };
                Err(self.broken(e))
            }
            Some((_, code, text)) => {
                self.note_throttled(code.as_ref(), &text);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a slow-down request (`[THROTTLED]` as the code or in the text).
    fn note_throttled(&mut self, code: Option<&ReplyCode>, text: &str) {
        let throttled = code == Some(&ReplyCode::Throttled)
            || text.to_ascii_uppercase().contains("[THROTTLED]");
        if throttled {
            let hint = imapmig_core::throttle::classify(&format!("NO [THROTTLED] {text}"))
                .retry_after()
                .unwrap_or(DEFAULT_SLOWDOWN);
            self.slowdown = Some(self.slowdown.map_or(hint, |d| d.max(hint)));
        }
    }

    /// Reads responses until the completion tagged `tag`, offering each untagged one to `on`
    /// first (which returns whether it took it).
    async fn until_done(
        &mut self,
        command: &str,
        tag: &str,
        mut on: impl FnMut(&Bytes, &Classified<'_>) -> bool,
    ) -> Result<Done, ImapError> {
        loop {
            let frame = self.read_frame(command).await?;
            let parsed = wire::classify(&frame);
            if let Classified::Done(done) = &parsed
                && done.tag == tag
            {
                let done = done.clone();
                self.note_throttled(done.code.as_ref(), &done.text);
                return Ok(done);
            }
            if !matches!(
                parsed,
                Classified::Done(_) | Classified::Continue | Classified::Unparseable
            ) && on(&frame, &parsed)
            {
                continue;
            }
            self.untagged(command, &frame, &parsed)?;
        }
    }

    /// Sends a command and reads to its completion (see [`Self::until_done`]).
    async fn run(
        &mut self,
        command: &str,
        line: &[u8],
        on: impl FnMut(&Bytes, &Classified<'_>) -> bool,
    ) -> Result<Done, ImapError> {
        let tag = self.send(command, line).await?;
        self.until_done(command, &tag, on).await
    }

    /// A command with string arguments: `name` as a quoted string or a literal (see
    /// [`Command`]), the rest as text.
    fn command_with_name(
        &self,
        command: &str,
        head: &[u8],
        name: &[u8],
        tail: &[u8],
    ) -> Result<Command<'static>, ImapError> {
        let mut cmd = Command::new(self.caps.literal_plus, head);
        cmd.string(name).map_err(|e| ImapError::Protocol {
            command: command.to_owned(),
            reason: format!(
                "the mailbox name holds NUL at byte {}, which no IMAP string can carry",
                e.offset
            ),
        })?;
        cmd.text(tail);
        Ok(cmd)
    }

    /// Writes `<tag> ` and the pieces of `cmd`, waiting for the server's `+` before each
    /// synchronising literal, then CRLF (not flushed). `Ok(Err(done))` when the server
    /// answered the command before a literal was sent (a refusal, usually).
    async fn send_command(
        &mut self,
        command: &str,
        cmd: &Command<'_>,
    ) -> Result<Result<String, Done>, ImapError> {
        let tag = format!("m{}", self.next_tag);
        self.next_tag = self.next_tag.wrapping_add(1);
        let mut first = true;
        for (wait, bytes) in cmd.pieces() {
            if first {
                let mut out = Vec::with_capacity(tag.len() + 1 + bytes.len());
                out.extend_from_slice(tag.as_bytes());
                out.push(b' ');
                out.extend_from_slice(bytes);
                self.write_idle(command, &out).await?;
                first = false;
                continue;
            }
            if wait {
                self.flush_idle(command).await?;
                loop {
                    let frame = self.read_frame(command).await?;
                    match wire::classify(&frame) {
                        Classified::Continue => break,
                        Classified::Done(done) if done.tag == tag => {
                            self.note_throttled(done.code.as_ref(), &done.text);
                            return Ok(Err(done));
                        }
                        other => self.untagged(command, &frame, &other)?,
                    }
                }
            }
            self.write_idle(command, bytes).await?;
        }
        self.write_idle(command, b"\r\n").await?;
        Ok(Ok(tag))
    }

    /// Sends a [`Command`] and reads to its completion (see [`Self::until_done`]).
    async fn run_command(
        &mut self,
        command: &str,
        cmd: &Command<'_>,
        on: impl FnMut(&Bytes, &Classified<'_>) -> bool,
    ) -> Result<Done, ImapError> {
        match self.send_command(command, cmd).await? {
            Ok(tag) => {
                self.flush_idle(command).await?;
                self.until_done(command, &tag, on).await
            }
            Err(done) => Ok(done),
        }
    }

    /// A NO or BAD completion as [`ImapError::No`].
    fn check(&self, command: &str, done: Done) -> Result<Done, ImapError> {
        match done.status {
            DoneStatus::Ok => Ok(done),
            status => Err(ImapError::No {
                command: command.to_owned(),
                bad: status == DoneStatus::Bad,
                code: done.code,
                text: done.text,
            }),
        }
    }

    // ----- commands -----

    /// The greeting's text, as the server sent it (control characters removed).
    pub(crate) fn greeting_text(&self) -> &str {
        &self.greeting
    }

    /// RFC 2971 `ID NIL`: what the server says it is (`name`, `vendor`, `version`...), keys
    /// lower-cased and sorted. Empty when the server has no `ID` capability, answers `NIL`, or
    /// refuses the command (an identification is a hint, never a reason to stop).
    pub(crate) async fn server_id(&mut self) -> Result<Vec<(String, String)>, ImapError> {
        if !self.caps.all.iter().any(|c| c == "ID") {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let done = self
            .run("ID", b"ID NIL", |_, parsed| match parsed {
                Classified::Untagged(Response::Id(map)) => {
                    found = map
                        .iter()
                        .flatten()
                        .take(64)
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                        .collect();
                    true
                }
                _ => false,
            })
            .await?;
        match self.check("ID", done) {
            Ok(_) => {}
            Err(e @ ImapError::No { .. }) if e.is_transient() => return Err(e),
            Err(ImapError::No { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        found.sort();
        Ok(found)
    }

    /// The raw `* NAMESPACE` response, if the server has NAMESPACE.
    pub(crate) async fn namespace(&mut self) -> Result<Option<Vec<u8>>, ImapError> {
        if !self.caps.namespace {
            return Ok(None);
        }
        let mut found = None;
        let done = self
            .run("NAMESPACE", b"NAMESPACE", |frame, parsed| {
                if matches!(parsed, Classified::Raw(wire::RawKind::Namespace)) {
                    found = Some(frame.to_vec());
                    return true;
                }
                false
            })
            .await?;
        self.check("NAMESPACE", done)?;
        Ok(found)
    }

    /// The raw answers to `LIST "" ""`, `LIST "" "*"` and NAMESPACE (when offered), exactly as
    /// the server sent them, for [`imapmig_folders::Listing::parse`].
    pub(crate) async fn listing_raw(&mut self) -> Result<Vec<u8>, ImapError> {
        let mut raw = Vec::new();
        for line in [&b"LIST \"\" \"\""[..], b"LIST \"\" \"*\""] {
            let done = self
                .run("LIST", line, |frame, _| {
                    if starts_with_ci(frame, b"* LIST ") {
                        raw.extend_from_slice(frame);
                        return true;
                    }
                    false
                })
                .await?;
            self.check("LIST", done)?;
        }
        if let Some(ns) = self.namespace().await? {
            raw.extend_from_slice(&ns);
        }
        Ok(raw)
    }

    /// CREATE; "already exists" counts as success.
    pub(crate) async fn create(
        &mut self,
        name: &(impl AsRef<[u8]> + ?Sized),
    ) -> Result<(), ImapError> {
        let cmd = self.command_with_name("CREATE", b"CREATE ", name.as_ref(), b"")?;
        let done = self.run_command("CREATE", &cmd, |_, _| false).await?;
        let exists = done.status == DoneStatus::No
            && (done.text.to_ascii_lowercase().contains("exists")
                || done.code == Some(ReplyCode::Other("ALREADYEXISTS".into())));
        if exists {
            return Ok(());
        }
        self.check("CREATE", done).map(|_| ())
    }

    /// SELECT (read-write) or EXAMINE (read-only) a folder.
    pub(crate) async fn select(
        &mut self,
        name: &(impl AsRef<[u8]> + ?Sized),
        read_only: bool,
    ) -> Result<Selected, ImapError> {
        let name = name.as_ref();
        let command = if read_only { "EXAMINE" } else { "SELECT" };
        let cmd = self.command_with_name(
            command,
            format!("{command} ").as_bytes(),
            name,
            if self.caps.condstore {
                b" (CONDSTORE)"
            } else {
                b""
            },
        )?;
        self.selected = None;
        self.unsolicited.clear();
        let mut sel = Selected {
            exists: 0,
            uid_validity: 0,
            uid_next: None,
            highest_modseq: None,
        };
        let done = self
            .run_command(command, &cmd, |_, parsed| {
                let Classified::Untagged(r) = parsed else {
                    return false;
                };
                match r {
                    Response::MailboxData(MailboxDatum::Exists(n)) => sel.exists = *n,
                    Response::Data {
                        outcome:
                            imap_proto::Outcome {
                                code: Some(code), ..
                            },
                        ..
                    } => match code {
                        ResponseCode::UidValidity(v) => sel.uid_validity = *v,
                        ResponseCode::UidNext(v) => sel.uid_next = Some(*v),
                        ResponseCode::HighestModSeq(v) => sel.highest_modseq = Some(*v),
                        _ => return false,
                    },
                    Response::MailboxData(MailboxDatum::Recent(_)) => {}
                    _ => return false,
                }
                true
            })
            .await?;
        self.check(command, done)?;
        self.selected = Some(name.to_vec());
        Ok(sel)
    }

    /// `STATUS name (MESSAGES SIZE)` where STATUS=SIZE is offered: (messages, bytes).
    pub(crate) async fn status_size(
        &mut self,
        name: &(impl AsRef<[u8]> + ?Sized),
    ) -> Result<Option<(u32, u64)>, ImapError> {
        if !self.caps.status_size {
            return Ok(None);
        }
        let cmd =
            self.command_with_name("STATUS", b"STATUS ", name.as_ref(), b" (MESSAGES SIZE)")?;
        let mut found = None;
        let done = self
            .run_command("STATUS", &cmd, |frame, parsed| {
                if !matches!(
                    parsed,
                    Classified::Raw(wire::RawKind::Status)
                        | Classified::Untagged(Response::MailboxData(MailboxDatum::Status { .. }))
                ) {
                    return false;
                }
                // imapmig-core parses what imap-proto cannot (RFC 8438 SIZE).
                if let Ok(status) = imapmig_core::inventory::parse_status(frame)
                    && let (Some(m), Some(s)) = (status.items.messages, status.items.size)
                {
                    found = Some((m, s));
                }
                true
            })
            .await?;
        self.check("STATUS", done)?;
        Ok(found)
    }

    /// Metadata of the messages in `uid_set` (e.g. `1:*`) of the selected folder, with the
    /// header fields named in `fields`. Only FETCH responses carrying UID, RFC822.SIZE and
    /// (when fields are asked) the header section count; others are unsolicited.
    #[cfg(test)]
    pub(crate) async fn fetch_meta(
        &mut self,
        uid_set: &str,
        fields: &[&str],
    ) -> Result<Vec<MessageMeta>, ImapError> {
        let (out, refused) = self.fetch_meta_partial(uid_set, fields).await?;
        match refused {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Metadata like `fetch_meta`, keeping what arrived before a tagged NO or BAD (Gmail's
    /// `Some messages could not be FETCHed`): the metadata received, and the refusal.
    pub(crate) async fn fetch_meta_partial(
        &mut self,
        uid_set: &str,
        fields: &[&str],
    ) -> Result<(Vec<MessageMeta>, Option<ImapError>), ImapError> {
        let query = if fields.is_empty() {
            "(UID FLAGS INTERNALDATE RFC822.SIZE)".to_owned()
        } else {
            format!(
                "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({})])",
                fields.join(" ")
            )
        };
        let want_header = !fields.is_empty();
        let line = format!("UID FETCH {uid_set} {query}");
        let mut out = Vec::new();
        let done = self
            .run("UID FETCH", line.as_bytes(), |_, parsed| {
                let Classified::Untagged(Response::Fetch(_, attrs)) = parsed else {
                    return false;
                };
                let mut meta = MessageMeta {
                    uid: 0,
                    flags: Vec::new(),
                    internal_date: None,
                    size: 0,
                    header: Vec::new(),
                };
                let (mut uid, mut size, mut header) = (false, false, false);
                for a in attrs {
                    match a {
                        AttributeValue::Uid(u) => (meta.uid, uid) = (*u, true),
                        AttributeValue::Rfc822Size(s) => (meta.size, size) = (*s, true),
                        AttributeValue::Flags(f) => meta.flags = flag_texts(f),
                        AttributeValue::InternalDate(d) => meta.internal_date = internal_date(d),
                        AttributeValue::BodySection {
                            section: Some(imap_proto::SectionPath::Full(_)),
                            data,
                            ..
                        } => {
                            meta.header = data.as_deref().map(<[u8]>::to_vec).unwrap_or_default();
                            header = true;
                        }
                        _ => {}
                    }
                }
                if uid && size && (header || !want_header) {
                    out.push(meta);
                    return true;
                }
                false
            })
            .await?;
        let refused = self.check("UID FETCH", done).err();
        Ok((out, refused))
    }

    /// Gmail's items of every message in `uid_set` of the selected folder: `UID FETCH <set>
    /// (UID X-GM-MSGID X-GM-LABELS)`. imap-proto reads neither a label sent as a literal nor
    /// every atom Gmail sends, so these responses are read from the raw frame
    /// ([`gmail_fetch_items`]); any other response goes the usual way. Like
    /// `fetch_meta_partial`, what arrived before a tagged NO or BAD is kept, with the refusal.
    pub(crate) async fn fetch_gmail(
        &mut self,
        uid_set: &str,
    ) -> Result<(Vec<GmailMeta>, Option<ImapError>), ImapError> {
        const COMMAND: &str = "UID FETCH X-GM-LABELS";
        let line = format!("UID FETCH {uid_set} (UID X-GM-MSGID X-GM-LABELS)");
        let tag = self.send(COMMAND, line.as_bytes()).await?;
        let mut out = Vec::new();
        loop {
            let frame = self.read_frame(COMMAND).await?;
            let parsed = wire::classify(&frame);
            if let Classified::Done(done) = &parsed
                && done.tag == tag
            {
                let done = done.clone();
                self.note_throttled(done.code.as_ref(), &done.text);
                let refused = self.check(COMMAND, done).err();
                return Ok((out, refused));
            }
            if !matches!(parsed, Classified::Done(_) | Classified::Continue)
                && let Some(meta) = gmail_fetch_items(&frame)
            {
                out.push(meta);
                continue;
            }
            self.untagged(COMMAND, &frame, &parsed)?;
        }
    }

    /// UIDs of the selected folder whose metadata changed after `modseq`
    /// (`UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE modseq)`, RFC 7162 §3.1.4), with their
    /// current flags. Only for a server with CONDSTORE, on a folder selected with it.
    pub(crate) async fn fetch_changed_flags(
        &mut self,
        modseq: u64,
    ) -> Result<Vec<(u32, Vec<String>)>, ImapError> {
        let line = format!("UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {modseq})");
        let mut out = Vec::new();
        let done = self
            .run("UID FETCH CHANGEDSINCE", line.as_bytes(), |_, parsed| {
                let Classified::Untagged(Response::Fetch(_, attrs)) = parsed else {
                    return false;
                };
                let uid = attrs.iter().find_map(|a| match a {
                    AttributeValue::Uid(u) => Some(*u),
                    _ => None,
                });
                let flags = attrs.iter().find_map(|a| match a {
                    AttributeValue::Flags(f) => Some(flag_texts(f)),
                    _ => None,
                });
                match (uid, flags) {
                    (Some(u), Some(f)) => {
                        out.push((u, f));
                        true
                    }
                    _ => false,
                }
            })
            .await?;
        self.check("UID FETCH CHANGEDSINCE", done)?;
        Ok(out)
    }

    /// `UID FETCH <set> (UID BODY.PEEK[])` of the selected folder: the bodies come one at a
    /// time from [`BodyFetch::next`], each read once into memory reserved from a budget.
    pub(crate) async fn fetch_bodies(&mut self, uids: &[u32]) -> Result<BodyFetch<'_>, ImapError> {
        let mut asked = uids.to_vec();
        asked.sort_unstable();
        asked.dedup();
        let tag = if asked.is_empty() {
            None
        } else {
            let line = format!("UID FETCH {} (UID BODY.PEEK[])", uid_set(&asked));
            Some(self.send("UID FETCH BODY[]", line.as_bytes()).await?)
        };
        Ok(BodyFetch {
            conn: self,
            finished: tag.is_none(),
            tag: tag.unwrap_or_default(),
            asked,
            returned: HashSet::new(),
            permit: None,
        })
    }

    /// APPENDs a batch to `mailbox`, pipelined when the server has LITERAL+ (one round trip
    /// for the batch), with synchronising literals (waiting for `+`) otherwise. Each item gets
    /// its own outcome, in order; a refusal of one does not stop or desynchronise the others.
    pub(crate) async fn append_batch(
        &mut self,
        mailbox: &(impl AsRef<[u8]> + ?Sized),
        items: &[AppendItem<'_>],
    ) -> Result<Vec<Appended>, ImapError> {
        let command = "APPEND";
        let mailbox = mailbox.as_ref();
        let append = |conn: &Self, item: &AppendItem<'_>| -> Result<Command<'static>, ImapError> {
            let mut cmd =
                conn.command_with_name(command, b"APPEND ", mailbox, append_args(item).as_bytes())?;
            cmd.text(b" ");
            Ok(cmd)
        };
        let mut out = Vec::with_capacity(items.len());
        if self.caps.literal_plus {
            let mut tags = Vec::with_capacity(items.len());
            for item in items {
                let mut cmd = append(self, item)?;
                cmd.literal(Cow::Borrowed(item.body));
                match self.send_command(command, &cmd).await? {
                    Ok(tag) => tags.push(tag),
                    // Nothing waits for a `+` with LITERAL+.
                    Err(_) => {
                        let e = ImapError::Protocol {
                            command: command.into(),
                            reason: "a completion before the command was sent".into(),
                        };
                        return Err(self.broken(e));
                    }
                }
            }
            self.flush_idle(command).await?;
            // Completions are matched by tag, in whatever order they come.
            let mut done: Vec<Option<Done>> = vec![None; tags.len()];
            while done.iter().any(Option::is_none) {
                let frame = self.read_frame(command).await?;
                let parsed = wire::classify(&frame);
                if let Classified::Done(d) = &parsed
                    && let Some(i) = tags.iter().position(|t| *t == d.tag)
                    && done.get(i).is_some_and(Option::is_none)
                {
                    self.note_throttled(d.code.as_ref(), &d.text);
                    if let Some(slot) = done.get_mut(i) {
                        *slot = Some(d.clone());
                    }
                    continue;
                }
                self.untagged(command, &frame, &parsed)?;
            }
            out.extend(done.into_iter().flatten().map(appended));
        } else {
            for item in items {
                let mut cmd = append(self, item)?;
                cmd.literal(Cow::Borrowed(item.body));
                // Each literal (the name's, if any, and the message) waits for the go-ahead,
                // or an early refusal.
                let done = match self.send_command(command, &cmd).await? {
                    Err(done) if done.status == DoneStatus::Ok => {
                        let e = ImapError::Protocol {
                            command: command.into(),
                            reason: "OK before the message was sent".into(),
                        };
                        return Err(self.broken(e));
                    }
                    Err(refused) => refused,
                    Ok(tag) => {
                        self.flush_idle(command).await?;
                        self.until_done(command, &tag, |_, _| false).await?
                    }
                };
                out.push(appended(done));
            }
        }
        Ok(out)
    }

    /// The storage quota of INBOX's quota root (RFC 2087): `(usage, limit)` in bytes, when the
    /// server has QUOTA and a STORAGE limit. An empty resource list means no quota.
    pub(crate) async fn storage_quota(&mut self) -> Result<Option<(u64, u64)>, ImapError> {
        if !self.caps.all.iter().any(|c| c == "QUOTA") {
            return Ok(None);
        }
        let mut found = None;
        let cmd = self.command_with_name("GETQUOTAROOT", b"GETQUOTAROOT ", b"INBOX", b"")?;
        let done = self
            .run_command("GETQUOTAROOT", &cmd, |_, parsed| match parsed {
                Classified::Untagged(Response::Quota(q)) => {
                    if found.is_none() {
                        found = q.resources.iter().find_map(|r| {
                            (r.name == imap_proto::rfc2087::QuotaResourceName::Storage).then(|| {
                                (r.usage.saturating_mul(1024), r.limit.saturating_mul(1024))
                            })
                        });
                    }
                    true
                }
                _ => false,
            })
            .await?;
        self.check("GETQUOTAROOT", done)?;
        Ok(found)
    }

    /// Message count and total size of a folder: STATUS SIZE where offered, else the sum of
    /// RFC822.SIZE over `UID FETCH 1:* (RFC822.SIZE)` (the folder is EXAMINEd for that).
    pub(crate) async fn folder_size(
        &mut self,
        name: &(impl AsRef<[u8]> + ?Sized),
    ) -> Result<(u32, u64), ImapError> {
        let name = name.as_ref();
        if let Some(found) = self.status_size(name).await? {
            return Ok(found);
        }
        let sel = self.select(name, true).await?;
        if sel.exists == 0 {
            return Ok((0, 0));
        }
        let (mut n, mut bytes) = (0u32, 0u64);
        let done = self
            .run(
                "UID FETCH",
                b"UID FETCH 1:* (UID RFC822.SIZE)",
                |_, parsed| {
                    let Classified::Untagged(Response::Fetch(_, attrs)) = parsed else {
                        return false;
                    };
                    let uid = attrs.iter().any(|a| matches!(a, AttributeValue::Uid(_)));
                    let size = attrs.iter().find_map(|a| match a {
                        AttributeValue::Rfc822Size(s) => Some(*s),
                        _ => None,
                    });
                    match (uid, size) {
                        (true, Some(s)) => {
                            n += 1;
                            bytes += u64::from(s);
                            true
                        }
                        _ => false,
                    }
                },
            )
            .await?;
        self.check("UID FETCH", done)?;
        Ok((n, bytes))
    }

    /// `UID STORE uid ±FLAGS.SILENT (…)` on the selected folder.
    pub(crate) async fn store_flags(
        &mut self,
        uid: u32,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ImapError> {
        for (sign, flags) in [('+', add), ('-', remove)] {
            let flags: Vec<&str> = flags
                .iter()
                .map(String::as_str)
                .filter(|f| is_atom(f) && !f.eq_ignore_ascii_case("\\Recent"))
                .collect();
            if flags.is_empty() {
                continue;
            }
            let line = format!("UID STORE {uid} {sign}FLAGS.SILENT ({})", flags.join(" "));
            let done = self.run("UID STORE", line.as_bytes(), |_, _| false).await?;
            self.check("UID STORE", done)?;
        }
        Ok(())
    }

    /// Removes exactly these messages of the selected folder (selected read-write):
    /// `UID STORE +FLAGS.SILENT (\Deleted)`, then `UID EXPUNGE` (RFC 4315), which leaves
    /// every other message alone, even one another client marked `\Deleted`. Refused
    /// without UIDPLUS: a plain EXPUNGE could remove mail that is not ours.
    pub(crate) async fn uid_expunge(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        if !self.caps.uidplus {
            return Err(ImapError::Protocol {
                command: "UID EXPUNGE".into(),
                reason: "the server has no UIDPLUS".into(),
            });
        }
        let set = uid_set(uids);
        let line = format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)");
        let done = self.run("UID STORE", line.as_bytes(), |_, _| false).await?;
        self.check("UID STORE", done)?;
        let line = format!("UID EXPUNGE {set}");
        let done = self
            .run("UID EXPUNGE", line.as_bytes(), |_, _| false)
            .await?;
        self.check("UID EXPUNGE", done)?;
        Ok(())
    }

    /// LOGOUT, ignoring errors (the connection is going away anyway).
    pub(crate) async fn logout(mut self) {
        if self.broken.is_some() {
            return;
        }
        let t = self.timeout.min(Duration::from_secs(5));
        let _ = tokio::time::timeout(t, self.run("LOGOUT", b"LOGOUT", |_, _| true)).await;
    }
}

/// `[CODE] text` (or the text alone).
fn code_and_text(code: Option<&ReplyCode>, text: &str) -> String {
    match code {
        Some(c) => format!("[{c}] {text}"),
        None => text.to_owned(),
    }
}

fn refusal_of(done: &Done) -> Refusal {
    Refusal {
        bad: done.status == DoneStatus::Bad,
        code: done.code.clone(),
        text: done.text.clone(),
    }
}

/// An APPEND completion as its outcome.
fn appended(done: Done) -> Appended {
    match done.status {
        DoneStatus::Ok => {
            let au = done.append_uid();
            Appended::Stored {
                uid_validity: au.map(|(v, _)| v),
                uid: au.map(|(_, u)| u),
            }
        }
        _ => Appended::Refused(refusal_of(&done)),
    }
}

/// The bodies of one `UID FETCH (UID BODY.PEEK[])`, one at a time. Dropping it before the end
/// leaves the connection mid-response, so the connection is then marked broken.
pub(crate) struct BodyFetch<'c> {
    conn: &'c mut Connection,
    tag: String,
    finished: bool,
    asked: Vec<u32>,
    returned: HashSet<u32>,
    /// Permits taken for the literals of the response being read.
    permit: Option<OwnedSemaphorePermit>,
}

/// One fetched body: a slice of the buffer the socket wrote into, and the budget it holds
/// until dropped.
#[derive(Debug)]
pub(crate) struct FetchedBody {
    /// The source UID.
    pub(crate) uid: u32,
    /// The message, exactly as the server sent it.
    pub(crate) body: Bytes,
    /// Its share of the memory budget.
    pub(crate) permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for BodyFetch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyFetch")
            .field("asked", &self.asked.len())
            .field("returned", &self.returned.len())
            .field("finished", &self.finished)
            .finish()
    }
}

const FETCH_BODY: &str = "UID FETCH BODY[]";

impl BodyFetch<'_> {
    /// The next body. Before reading a literal of n bytes it takes n permits (at least 1, at
    /// most the semaphore's total — the most permits this connection has seen available at
    /// once) from `budget`, so memory is reserved before the body is read. `None` after a
    /// tagged OK. `Some(Err(ImapError::No{..}))` for a tagged NO/BAD (after the bodies that did
    /// arrive), `Some(Err(..))` on a lost connection / inactivity timeout / unparseable line.
    pub(crate) async fn next(
        &mut self,
        budget: &Arc<Semaphore>,
    ) -> Option<Result<FetchedBody, ImapError>> {
        if self.finished {
            return None;
        }
        let result = self.next_inner(budget).await;
        if !matches!(result, Some(Ok(_))) {
            self.finished = true;
        }
        result
    }

    async fn next_inner(
        &mut self,
        budget: &Arc<Semaphore>,
    ) -> Option<Result<FetchedBody, ImapError>> {
        let conn = &mut *self.conn;
        loop {
            if let Err(e) = conn.usable(FETCH_BODY) {
                return Some(Err(e));
            }
            let step = match conn.reader.step(&mut conn.io, conn.timeout).await {
                Ok(s) => s,
                Err(e) => return Some(Err(conn.fail(FETCH_BODY, e))),
            };
            let frame = match step {
                Step::Literal(n) => {
                    conn.budget_seen = conn.budget_seen.max(budget.available_permits());
                    let most = conn.budget_seen.clamp(1, u32::MAX as usize) as u64;
                    let want = u32::try_from(n.clamp(1, most)).unwrap_or(u32::MAX);
                    match budget.clone().acquire_many_owned(want).await {
                        Ok(p) => match &mut self.permit {
                            Some(held) => held.merge(p),
                            None => self.permit = Some(p),
                        },
                        Err(_) => {
                            let e = ImapError::Protocol {
                                command: FETCH_BODY.into(),
                                reason: "the memory budget was closed".into(),
                            };
                            return Some(Err(conn.broken(e)));
                        }
                    }
                    continue;
                }
                Step::Frame(f) => f,
            };
            let permit = self.permit.take();
            let parsed = wire::classify(&frame);
            match &parsed {
                Classified::Done(done) if done.tag == self.tag => {
                    conn.note_throttled(done.code.as_ref(), &done.text);
                    return match conn.check(FETCH_BODY, done.clone()) {
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    };
                }
                Classified::Untagged(Response::Fetch(seq, attrs)) => {
                    let uid = attrs.iter().find_map(|a| match a {
                        AttributeValue::Uid(u) => Some(*u),
                        _ => None,
                    });
                    let data = attrs.iter().find_map(|a| match a {
                        AttributeValue::BodySection {
                            section: None,
                            index: None,
                            data: Some(d),
                        } => Some(d),
                        _ => None,
                    });
                    match (uid, data) {
                        (Some(uid), Some(data))
                            if self.asked.binary_search(&uid).is_ok()
                                && !self.returned.contains(&uid) =>
                        {
                            let body = match data {
                                Cow::Borrowed(b) => frame.slice_ref(b),
                                Cow::Owned(v) => Bytes::from(v.clone()),
                            };
                            let permit = match permit {
                                Some(p) => p,
                                None => match budget.clone().acquire_many_owned(1).await {
                                    Ok(p) => p,
                                    Err(_) => {
                                        let e = ImapError::Protocol {
                                            command: FETCH_BODY.into(),
                                            reason: "the memory budget was closed".into(),
                                        };
                                        return Some(Err(conn.broken(e)));
                                    }
                                },
                            };
                            self.returned.insert(uid);
                            return Some(Ok(FetchedBody { uid, body, permit }));
                        }
                        _ => conn.unsolicited.push(Unsolicited::Fetch(*seq)),
                    }
                }
                other => {
                    if let Err(e) = conn.untagged(FETCH_BODY, &frame, other) {
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    /// UIDs asked for that were not returned (so far).
    pub(crate) fn missing(&self) -> Vec<u32> {
        self.asked
            .iter()
            .copied()
            .filter(|u| !self.returned.contains(u))
            .collect()
    }
}

impl Drop for BodyFetch<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.conn.broken(ImapError::Protocol {
                command: FETCH_BODY.into(),
                reason: "a body fetch was abandoned before its end".into(),
            });
        }
    }
}

/// ` (flags) "date"` for APPEND.
fn append_args(item: &AppendItem<'_>) -> String {
    let mut s = String::new();
    let flags: Vec<&str> = item
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && is_atom(f))
        .collect();
    s.push_str(" (");
    s.push_str(&flags.join(" "));
    s.push(')');
    if let Some(d) = item.internal_date {
        s.push_str(&format!(" \"{}\"", d.format("%d-%b-%Y %H:%M:%S %z")));
    }
    s
}

/// Flags and keywords must be atoms (with a leading `\` for system flags).
fn is_atom(f: &str) -> bool {
    let body = f.strip_prefix('\\').unwrap_or(f);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

/// A compact UID set: `1:5,7,9:10`.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
