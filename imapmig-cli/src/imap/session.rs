//! One logged-in IMAP connection (async-imap 0.12 over [`Transport`]) and the commands a
//! migration sends: LIST, NAMESPACE, SELECT/EXAMINE, STATUS, UID FETCH of metadata and of
//! bodies, pipelined APPEND with APPENDUID, CREATE.

use std::time::Duration;

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{self, Outcome, Response, ResponseCode, Status};
use async_imap::types::Flag;
use chrono::{DateTime, FixedOffset};
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::ImapError;
use super::endpoint::{Endpoint, Mechanism, Security};
use super::secret::Credential;
use super::transport::Transport;

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

/// One message to APPEND.
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
    /// Refused with NO (or BAD): the server's text, code included.
    Refused(String),
}

/// A logged-in connection.
#[derive(Debug)]
pub(crate) struct Connection {
    session: async_imap::Session<Transport>,
    caps: Capabilities,
    timeout: Duration,
    selected: Option<String>,
}

/// XOAUTH2 / OAUTHBEARER / PLAIN client responses.
struct Sasl {
    first: Vec<u8>,
    after: Vec<u8>,
    calls: u32,
}

impl async_imap::Authenticator for Sasl {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        self.calls += 1;
        if self.calls == 1 {
            std::mem::take(&mut self.first)
        } else {
            // A second challenge is an error report (RFC 7628 §3.2.3): answer so the server
            // can finish with NO.
            self.after.clone()
        }
    }
}

/// Runs `fut` within `t`, turning a stall into [`ImapError::Timeout`].
async fn within<T>(
    t: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, ImapError>>,
) -> Result<T, ImapError> {
    tokio::time::timeout(t, fut).await.unwrap_or_else(|_| {
        Err(ImapError::Timeout {
            what: what.to_owned(),
            secs: t.as_secs(),
        })
    })
}

/// Quotes a mailbox name or other string as an IMAP quoted string.
pub(crate) fn quote(s: &str) -> Result<String, ImapError> {
    if s.contains(['\r', '\n', '\0']) {
        return Err(ImapError::Protocol {
            command: "quote".into(),
            reason: format!("{s:?} cannot be sent as a quoted string"),
        });
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn flag_text(f: &Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Custom(c) => c.to_string(),
        _ => return None,
    })
}

fn err_text(outcome: &Outcome<'_>) -> String {
    let info = outcome.information.as_deref();
    let code = match &outcome.code {
        None => String::new(),
        Some(c) => format!("[{c:?}] "),
    };
    format!("{code}{}", info.unwrap_or(""))
}

impl Connection {
    /// Connects, secures (TLS or STARTTLS), and logs in.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        credential: &Credential,
        timeout: Duration,
    ) -> Result<Self, ImapError> {
        within(
            timeout,
            "connect and login",
            Self::open_inner(endpoint, credential, timeout),
        )
        .await
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
        let tls_err = |e: std::io::Error| ImapError::Tls {
            addr: addr.clone(),
            reason: e.to_string(),
        };
        let transport = match endpoint.security {
            Security::Plain => Transport::plain(tcp),
            Security::Tls => Transport::tls(tcp, &endpoint.host, &endpoint.extra_roots)
                .await
                .map_err(tls_err)?,
            Security::StartTls => {
                let mut client = async_imap::Client::new(Transport::plain(tcp));
                Self::greeting(&mut client, &addr).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| ImapError::Tls {
                        addr: addr.clone(),
                        reason: format!("STARTTLS refused: {e}"),
                    })?;
                let tcp = client
                    .into_inner()
                    .into_tcp()
                    .ok_or_else(|| tls_err(std::io::Error::other("not plain")))?;
                Transport::tls(tcp, &endpoint.host, &endpoint.extra_roots)
                    .await
                    .map_err(tls_err)?
            }
        };
        let mut client = async_imap::Client::new(transport);
        if endpoint.security != Security::StartTls {
            Self::greeting(&mut client, &addr).await?;
        }
        let mechanism = endpoint.mechanism.unwrap_or(match credential {
            Credential::Password(_) => Mechanism::Login,
            Credential::Token(_) => Mechanism::XOAuth2,
        });
        let user = endpoint.user.as_str();
        let refused = |e: async_imap::error::Error| match e {
            async_imap::error::Error::No(t) | async_imap::error::Error::Bad(t) => {
                ImapError::Login {
                    user: user.to_owned(),
                    reason: super::server_words(&t),
                }
            }
            other => ImapError::Connect {
                addr: addr.clone(),
                reason: format!("connection failed during login: {other}"),
            },
        };
        let session = match (mechanism, credential) {
            (Mechanism::Login, Credential::Password(p)) => client
                .login(user, p.expose())
                .await
                .map_err(|(e, _)| refused(e))?,
            (Mechanism::Plain, Credential::Password(p)) => {
                let first = format!("\0{user}\0{}", p.expose()).into_bytes();
                client
                    .authenticate(
                        "PLAIN",
                        Sasl {
                            first,
                            after: Vec::new(),
                            calls: 0,
                        },
                    )
                    .await
                    .map_err(|(e, _)| refused(e))?
            }
            (Mechanism::XOAuth2, Credential::Token(t)) => {
                let first =
                    format!("user={user}\x01auth=Bearer {}\x01\x01", t.expose()).into_bytes();
                client
                    .authenticate(
                        "XOAUTH2",
                        Sasl {
                            first,
                            after: Vec::new(),
                            calls: 0,
                        },
                    )
                    .await
                    .map_err(|(e, _)| refused(e))?
            }
            (Mechanism::OAuthBearer, Credential::Token(t)) => {
                let first = format!(
                    "n,a={user},\x01host={}\x01port={}\x01auth=Bearer {}\x01\x01",
                    endpoint.host,
                    endpoint.port,
                    t.expose()
                )
                .into_bytes();
                client
                    .authenticate(
                        "OAUTHBEARER",
                        Sasl {
                            first,
                            after: b"\x01".to_vec(),
                            calls: 0,
                        },
                    )
                    .await
                    .map_err(|(e, _)| refused(e))?
            }
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
        let mut conn = Self {
            session,
            caps: Capabilities::default(),
            timeout,
            selected: None,
        };
        let caps = conn
            .session
            .capabilities()
            .await
            .map_err(|e| conn.proto("CAPABILITY", e))?;
        let words = caps
            .iter()
            .map(|c| match c {
                async_imap::types::Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                async_imap::types::Capability::Auth(a) => {
                    format!("AUTH={}", a.to_ascii_uppercase())
                }
                async_imap::types::Capability::Atom(a) => a.to_ascii_uppercase(),
            })
            .collect();
        conn.caps = Capabilities::from_words(words);
        Ok(conn)
    }

    async fn greeting(
        client: &mut async_imap::Client<Transport>,
        addr: &str,
    ) -> Result<(), ImapError> {
        let greeting = client
            .read_response()
            .await
            .map_err(|e| ImapError::Connect {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| ImapError::Connect {
                addr: addr.to_owned(),
                reason: "closed before greeting".into(),
            })?;
        match greeting.parsed() {
            Response::Data {
                status: Status::Ok | Status::PreAuth,
                ..
            } => Ok(()),
            Response::Data {
                status: Status::Bye,
                outcome,
            } => Err(ImapError::Bye {
                text: err_text(outcome),
            }),
            other => Err(ImapError::Connect {
                addr: addr.to_owned(),
                reason: format!("unexpected greeting {other:?}"),
            }),
        }
    }

    /// The server's capabilities.
    pub(crate) fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn proto(&self, command: &str, e: async_imap::error::Error) -> ImapError {
        ImapError::from_async(command, e)
    }

    /// The raw `* NAMESPACE` response, if the server has NAMESPACE.
    pub(crate) async fn namespace(&mut self) -> Result<Option<Vec<u8>>, ImapError> {
        if !self.caps.namespace {
            return Ok(None);
        }
        let t = self.timeout;
        within(t, "NAMESPACE", async {
            self.session
                .run_command_and_check_ok("NAMESPACE")
                .await
                .map_err(|e| ImapError::from_async("NAMESPACE", e))?;
            Ok(self
                .session
                .get_mut()
                .take_tapped()
                .into_iter()
                .find(|r| r.to_ascii_uppercase().starts_with(b"* NAMESPACE ")))
        })
        .await
    }

    /// The raw answers to `LIST "" ""`, `LIST "" "*"` and NAMESPACE (when offered), exactly as
    /// the server sent them, for [`imapmig_folders::Listing::parse`].
    pub(crate) async fn listing_raw(&mut self) -> Result<Vec<u8>, ImapError> {
        let t = self.timeout;
        let mut raw = Vec::new();
        within(t, "LIST", async {
            self.session.get_mut().tap_also(Some(b"* LIST "));
            let r1 = self
                .session
                .run_command_and_check_ok("LIST \"\" \"\"")
                .await;
            let r2 = match r1 {
                Ok(()) => {
                    self.session
                        .run_command_and_check_ok("LIST \"\" \"*\"")
                        .await
                }
                Err(e) => Err(e),
            };
            self.session.get_mut().tap_also(None);
            r2.map_err(|e| ImapError::from_async("LIST", e))?;
            for r in self.session.get_mut().take_tapped() {
                raw.extend_from_slice(&r);
            }
            Ok(())
        })
        .await?;
        if let Some(ns) = self.namespace().await? {
            raw.extend_from_slice(&ns);
        }
        Ok(raw)
    }

    /// CREATE; "already exists" counts as success.
    pub(crate) async fn create(&mut self, name: &str) -> Result<(), ImapError> {
        let t = self.timeout;
        let cmd = format!("CREATE {}", quote(name)?);
        within(t, "CREATE", async {
            match self.session.run_command_and_check_ok(&cmd).await {
                Ok(()) => Ok(()),
                Err(async_imap::error::Error::No(text))
                    if text.to_ascii_lowercase().contains("exists") =>
                {
                    Ok(())
                }
                Err(e) => Err(ImapError::from_async(&format!("CREATE {name}"), e)),
            }
        })
        .await
    }

    /// SELECT (read-write) or EXAMINE (read-only) a folder.
    pub(crate) async fn select(
        &mut self,
        name: &str,
        read_only: bool,
    ) -> Result<Selected, ImapError> {
        let t = self.timeout;
        let condstore = self.caps.condstore;
        let cmd = format!(
            "{} {}{}",
            if read_only { "EXAMINE" } else { "SELECT" },
            quote(name)?,
            if condstore { " (CONDSTORE)" } else { "" }
        );
        let mb = within(t, "SELECT", async {
            let id = self
                .session
                .run_command(&cmd)
                .await
                .map_err(|e| ImapError::from_async(&cmd, e))?;
            let mut sel = Selected {
                exists: 0,
                uid_validity: 0,
                uid_next: None,
                highest_modseq: None,
            };
            self.read_until(&cmd, |r| {
                match r {
                    Response::MailboxData(imap_proto::MailboxDatum::Exists(n)) => sel.exists = *n,
                    Response::Data {
                        outcome:
                            Outcome {
                                code: Some(code), ..
                            },
                        ..
                    } => match code {
                        ResponseCode::UidValidity(v) => sel.uid_validity = *v,
                        ResponseCode::UidNext(v) => sel.uid_next = Some(*v),
                        ResponseCode::HighestModSeq(v) => sel.highest_modseq = Some(*v),
                        _ => {}
                    },
                    Response::Done {
                        tag,
                        status,
                        outcome,
                    } if *tag == id => {
                        if *status != Status::Ok {
                            return Some(Err(ImapError::No {
                                command: cmd.clone(),
                                text: err_text(outcome),
                            }));
                        }
                        return Some(Ok(()));
                    }
                    _ => {}
                }
                None
            })
            .await?;
            Ok(sel)
        })
        .await?;
        self.selected = Some(name.to_owned());
        Ok(mb)
    }

    /// Reads responses, handing each to `f` until it returns a result. An untagged BYE ends
    /// the wait with [`ImapError::Bye`].
    async fn read_until<R>(
        &mut self,
        command: &str,
        mut f: impl FnMut(&Response<'_>) -> Option<Result<R, ImapError>>,
    ) -> Result<R, ImapError> {
        loop {
            let r = self
                .session
                .read_response()
                .await
                .map_err(|e| ImapError::Io {
                    command: command.to_owned(),
                    reason: e.to_string(),
                })?
                .ok_or_else(|| ImapError::Io {
                    command: command.to_owned(),
                    reason: "connection closed".into(),
                })?;
            if let Response::Data {
                status: Status::Bye,
                outcome,
            } = r.parsed()
            {
                return Err(ImapError::Bye {
                    text: err_text(outcome),
                });
            }
            if let Some(result) = f(r.parsed()) {
                return result;
            }
        }
    }

    /// `STATUS name (MESSAGES SIZE)` where STATUS=SIZE is offered: (messages, bytes).
    pub(crate) async fn status_size(
        &mut self,
        name: &str,
    ) -> Result<Option<(u32, u64)>, ImapError> {
        if !self.caps.status_size {
            return Ok(None);
        }
        let t = self.timeout;
        let cmd = format!("STATUS {} (MESSAGES SIZE)", quote(name)?);
        within(t, "STATUS", async {
            self.session
                .run_command_and_check_ok(&cmd)
                .await
                .map_err(|e| ImapError::from_async(&cmd, e))?;
            Ok(self.session.get_mut().take_tapped().iter().find_map(|r| {
                // imapmig-core parses what imap-proto cannot (RFC 8438 SIZE).
                let status = imapmig_core::inventory::parse_status(r).ok()?;
                Some((status.items.messages?, status.items.size?))
            }))
        })
        .await
    }

    /// Metadata of the messages in `uid_set` (e.g. `1:*`) of the selected folder, with the
    /// header fields named in `fields`.
    pub(crate) async fn fetch_meta(
        &mut self,
        uid_set: &str,
        fields: &[&str],
    ) -> Result<Vec<MessageMeta>, ImapError> {
        let query = if fields.is_empty() {
            "(UID FLAGS INTERNALDATE RFC822.SIZE)".to_owned()
        } else {
            format!(
                "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({})])",
                fields.join(" ")
            )
        };
        let t = self.timeout;
        within(t, "UID FETCH (metadata)", async {
            let mut stream = self
                .session
                .uid_fetch(uid_set, &query)
                .await
                .map_err(|e| ImapError::from_async("UID FETCH", e))?;
            let mut out = Vec::new();
            while let Some(f) = stream.next().await {
                let f = f.map_err(|e| ImapError::from_async("UID FETCH", e))?;
                let Some(uid) = f.uid else { continue };
                out.push(MessageMeta {
                    uid,
                    flags: f.flags().filter_map(|fl| flag_text(&fl)).collect(),
                    internal_date: f.internal_date(),
                    size: f.size.unwrap_or(0),
                    header: f.header().map(<[u8]>::to_vec).unwrap_or_default(),
                });
            }
            Ok(out)
        })
        .await
    }

    /// UIDs of the selected folder whose metadata changed after `modseq`
    /// (`UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE modseq)`, RFC 7162 §3.1.4), with their
    /// current flags. Only for a server with CONDSTORE, on a folder selected with it.
    pub(crate) async fn fetch_changed_flags(
        &mut self,
        modseq: u64,
    ) -> Result<Vec<(u32, Vec<String>)>, ImapError> {
        let t = self.timeout;
        within(t, "UID FETCH (CHANGEDSINCE)", async {
            let query = format!("(UID FLAGS) (CHANGEDSINCE {modseq})");
            let mut stream = self
                .session
                .uid_fetch("1:*", &query)
                .await
                .map_err(|e| ImapError::from_async("UID FETCH CHANGEDSINCE", e))?;
            let mut out = Vec::new();
            while let Some(f) = stream.next().await {
                let f = f.map_err(|e| ImapError::from_async("UID FETCH CHANGEDSINCE", e))?;
                if let Some(uid) = f.uid {
                    out.push((uid, f.flags().filter_map(|fl| flag_text(&fl)).collect()));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Streams `BODY.PEEK[]` of the given UIDs of the selected folder, one message at a time:
    /// only the message being handed over is in memory.
    pub(crate) async fn fetch_bodies<'s>(
        &'s mut self,
        uids: &[u32],
    ) -> Result<impl Stream<Item = Result<(u32, Vec<u8>), ImapError>> + 's, ImapError> {
        let set = uid_set(uids);
        let stream = self
            .session
            .uid_fetch(set, "(UID BODY.PEEK[])")
            .await
            .map_err(|e| ImapError::from_async("UID FETCH", e))?;
        Ok(stream.filter_map(|f| async move {
            match f {
                Err(e) => Some(Err(ImapError::from_async("UID FETCH BODY", e))),
                Ok(f) => match (f.uid, f.body()) {
                    (Some(uid), Some(b)) => Some(Ok((uid, b.to_vec()))),
                    _ => None,
                },
            }
        }))
    }

    /// The per-operation timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// APPENDs a batch to `mailbox`, pipelined when the server has LITERAL+ (one round trip
    /// for the batch), one by one otherwise. Each item gets its own outcome; a refusal of one
    /// does not stop the others.
    pub(crate) async fn append_batch(
        &mut self,
        mailbox: &str,
        items: &[AppendItem<'_>],
    ) -> Result<Vec<Appended>, ImapError> {
        let t = self.timeout
            + Duration::from_millis(items.iter().map(|i| i.body.len() as u64 / 1000).sum());
        let mbox = quote(mailbox)?;
        within(t, "APPEND", async {
            let mut out = Vec::with_capacity(items.len());
            if self.caps.literal_plus {
                let mut tags = Vec::with_capacity(items.len());
                for item in items {
                    let cmd = format!(
                        "APPEND {mbox}{} {{{}+}}",
                        append_args(item),
                        item.body.len()
                    );
                    tags.push(
                        self.session
                            .run_command(&cmd)
                            .await
                            .map_err(|e| ImapError::from_async("APPEND", e))?,
                    );
                    let w = self.session.get_mut();
                    w.write_all(item.body).await.map_err(|e| ImapError::Io {
                        command: "APPEND".into(),
                        reason: e.to_string(),
                    })?;
                    w.write_all(b"\r\n").await.map_err(|e| ImapError::Io {
                        command: "APPEND".into(),
                        reason: e.to_string(),
                    })?;
                }
                self.session
                    .get_mut()
                    .flush()
                    .await
                    .map_err(|e| ImapError::Io {
                        command: "APPEND".into(),
                        reason: e.to_string(),
                    })?;
                for tag in tags {
                    out.push(self.read_done(&tag, "APPEND").await?);
                }
            } else {
                for item in items {
                    let cmd = format!("APPEND {mbox}{} {{{}}}", append_args(item), item.body.len());
                    let tag = self
                        .session
                        .run_command(&cmd)
                        .await
                        .map_err(|e| ImapError::from_async("APPEND", e))?;
                    let early = self
                        .read_until("APPEND", |r| match r {
                            Response::Continue { .. } => Some(Ok(None)),
                            Response::Done {
                                tag: t2,
                                status,
                                outcome,
                            } if *t2 == tag => Some(if *status == Status::Ok {
                                Err(ImapError::Protocol {
                                    command: "APPEND".into(),
                                    reason: "OK without the literal".into(),
                                })
                            } else {
                                Ok(Some(Appended::Refused(err_text(outcome))))
                            }),
                            _ => None,
                        })
                        .await?;
                    match early {
                        Some(refused) => out.push(refused),
                        None => {
                            let w = self.session.get_mut();
                            let io = |e: std::io::Error| ImapError::Io {
                                command: "APPEND".into(),
                                reason: e.to_string(),
                            };
                            w.write_all(item.body).await.map_err(io)?;
                            w.write_all(b"\r\n").await.map_err(io)?;
                            w.flush().await.map_err(io)?;
                            out.push(self.read_done(&tag, "APPEND").await?);
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn read_done(
        &mut self,
        tag: &imap_proto::RequestId,
        command: &str,
    ) -> Result<Appended, ImapError> {
        self.read_until(command, |r| {
            let Response::Done {
                tag: t,
                status,
                outcome,
            } = r
            else {
                return None;
            };
            if t != tag {
                return None;
            }
            Some(Ok(match status {
                Status::Ok => match &outcome.code {
                    Some(ResponseCode::AppendUid(v, set)) => Appended::Stored {
                        uid_validity: Some(*v),
                        uid: set.first().map(|m| match m {
                            UidSetMember::Uid(u) => *u,
                            UidSetMember::UidRange(r) => *r.start(),
                        }),
                    },
                    _ => Appended::Stored {
                        uid_validity: None,
                        uid: None,
                    },
                },
                _ => Appended::Refused(err_text(outcome)),
            }))
        })
        .await
    }

    /// The storage quota of INBOX's quota root (RFC 2087): `(usage, limit)` in bytes, when the
    /// server has QUOTA and a STORAGE limit.
    pub(crate) async fn storage_quota(&mut self) -> Result<Option<(u64, u64)>, ImapError> {
        if !self.caps.all.iter().any(|c| c == "QUOTA") {
            return Ok(None);
        }
        let t = self.timeout;
        within(t, "GETQUOTAROOT", async {
            let (_, quotas) = self
                .session
                .get_quota_root("INBOX")
                .await
                .map_err(|e| ImapError::from_async("GETQUOTAROOT", e))?;
            Ok(quotas
                .iter()
                .flat_map(|q| q.resources.iter())
                .find_map(|r| {
                    (r.name == async_imap::types::QuotaResourceName::Storage)
                        .then(|| (r.usage.saturating_mul(1024), r.limit.saturating_mul(1024)))
                }))
        })
        .await
    }

    /// Message count and total size of a folder: STATUS SIZE where offered, else the sum of
    /// RFC822.SIZE over `UID FETCH 1:* (RFC822.SIZE)` (the folder is EXAMINEd for that).
    pub(crate) async fn folder_size(&mut self, name: &str) -> Result<(u32, u64), ImapError> {
        if let Some(found) = self.status_size(name).await? {
            return Ok(found);
        }
        let sel = self.select(name, true).await?;
        if sel.exists == 0 {
            return Ok((0, 0));
        }
        let t = self.timeout;
        within(t, "UID FETCH (RFC822.SIZE)", async {
            let mut stream = self
                .session
                .uid_fetch("1:*", "(UID RFC822.SIZE)")
                .await
                .map_err(|e| ImapError::from_async("UID FETCH", e))?;
            let (mut n, mut bytes) = (0u32, 0u64);
            while let Some(f) = stream.next().await {
                let f = f.map_err(|e| ImapError::from_async("UID FETCH", e))?;
                if f.uid.is_some() {
                    n += 1;
                    bytes += u64::from(f.size.unwrap_or(0));
                }
            }
            Ok((n, bytes))
        })
        .await
    }

    /// `UID STORE uid ±FLAGS.SILENT (…)` on the selected folder.
    pub(crate) async fn store_flags(
        &mut self,
        uid: u32,
        add: &[String],
        remove: &[String],
    ) -> Result<(), ImapError> {
        let t = self.timeout;
        within(t, "UID STORE", async {
            for (sign, flags) in [('+', add), ('-', remove)] {
                let flags: Vec<&str> = flags
                    .iter()
                    .map(String::as_str)
                    .filter(|f| is_atom(f) && !f.eq_ignore_ascii_case("\\Recent"))
                    .collect();
                if flags.is_empty() {
                    continue;
                }
                let cmd = format!("UID STORE {uid} {sign}FLAGS.SILENT ({})", flags.join(" "));
                self.session
                    .run_command_and_check_ok(&cmd)
                    .await
                    .map_err(|e| ImapError::from_async(&cmd, e))?;
            }
            Ok(())
        })
        .await
    }

    /// LOGOUT, ignoring errors (the connection is going away anyway).
    pub(crate) async fn logout(mut self) {
        let t = self.timeout.min(Duration::from_secs(5));
        let _ = tokio::time::timeout(t, self.session.logout()).await;
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
mod tests {
    use super::*;

    #[test]
    fn uid_set_table() {
        let cases: &[(&[u32], &str)] = &[
            (&[], ""),
            (&[1], "1"),
            (&[3, 1, 2], "1:3"),
            (&[1, 2, 4, 6, 7, 7], "1:2,4,6:7"),
        ];
        for (uids, want) in cases {
            assert_eq!(uid_set(uids), *want);
        }
    }

    #[test]
    fn quote_table() {
        assert_eq!(quote("INBOX").unwrap(), "\"INBOX\"");
        assert_eq!(quote("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(quote("a\r\nb").is_err());
    }

    #[test]
    fn append_args_keep_flags_and_date() {
        let flags = vec![
            "\\Seen".to_owned(),
            "\\Recent".to_owned(),
            "$Label1".to_owned(),
            "bad(flag".to_owned(),
        ];
        let date = DateTime::parse_from_rfc3339("2024-02-03T04:05:06+01:00").unwrap();
        let item = AppendItem {
            flags: &flags,
            internal_date: Some(date),
            body: b"x",
        };
        assert_eq!(
            append_args(&item),
            " (\\Seen $Label1) \"03-Feb-2024 04:05:06 +0100\""
        );
    }

    #[test]
    fn capabilities_from_words() {
        let c = Capabilities::from_words(vec![
            "IMAP4REV1".into(),
            "UIDPLUS".into(),
            "LITERAL+".into(),
            "STATUS=SIZE".into(),
            "QRESYNC".into(),
        ]);
        assert!(c.uidplus && c.literal_plus && c.status_size && c.qresync && c.condstore);
        assert!(!c.namespace && !c.gmail && !c.special_use && !c.moves);
    }
}
