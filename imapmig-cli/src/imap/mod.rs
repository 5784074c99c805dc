//! The IMAP connection at the edge: URL, TLS, authentication, and the commands a migration sends.
//!
//! Our own session ([`session`]) over [`transport`] (plain TCP or rustls): [`wire`] cuts the
//! byte stream into whole responses with `bytes` buffers and bounds them, imap-proto 0.17 parses
//! them, and our own small parsers take what it cannot (NAMESPACE, STATUS SIZE, an empty QUOTA).
//! Every tagged status is checked; every wait is an inactivity timeout (no byte for that long),
//! so a stalled server becomes an error the caller can retry while a large, slow transfer does
//! not.

pub(crate) mod endpoint;
pub(crate) mod pace;
pub(crate) mod pair;
pub(crate) mod secret;
pub(crate) mod session;
pub(crate) mod transport;
pub(crate) mod wire;

pub(crate) use endpoint::Endpoint;
pub(crate) use secret::{Credential, SecretSource};
pub(crate) use session::Connection;

use std::borrow::Cow;

use imapmig_core::throttle::{ReplyClass, classify};
use imapmig_folders::{MailboxName, NameEncoding};

/// A folder's name for people, logs and the skip log: the decoded name, or for a raw 8-bit
/// name in an unknown charset its bytes with the 8-bit ones (and `\`) escaped (`Caf\xe9`),
/// so no byte is lost to a replacement character.
pub(crate) fn display_name(name: &MailboxName) -> String {
    match name.encoding() {
        NameEncoding::EightBit => name.wire().escape_ascii().to_string(),
        _ => name.as_str().to_owned(),
    }
}

/// A folder's wire name as the text the state is keyed by, without losing a byte: a UTF-8
/// (or ASCII, modified UTF-7) name is itself, as it always was; any other is NUL (which no
/// mailbox name holds) followed by its bytes escaped, so it can never equal another name's key.
pub(crate) fn state_name(wire: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(wire) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(format!("\0{}", wire.escape_ascii())),
    }
}

/// What went wrong talking to a server. Secrets never appear in these messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ImapError {
    /// The URL could not be used.
    #[error("invalid server URL {url}: {reason}")]
    Url {
        /// The URL, with any password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// No usable password or token.
    #[error("credentials: {reason}")]
    Secret {
        /// Why.
        reason: String,
    },
    /// The TCP connection could not be made (refused, no route, no such host).
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The server went away before login (closed before or after its greeting).
    #[error("cannot reach {addr}: {reason}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake (or STARTTLS) failed.
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The server refused the login.
    #[error("login refused for {user}: {reason}")]
    Login {
        /// The user name.
        user: String,
        /// The server's text.
        reason: String,
    },
    /// A command got NO or BAD.
    #[error("{command} refused: {}", Refusal::words(*bad, code.as_ref(), text))]
    No {
        /// The command's name (no arguments, so no mail content).
        command: String,
        /// BAD rather than NO.
        bad: bool,
        /// The response code, typed.
        code: Option<ReplyCode>,
        /// The server's text after the code.
        text: String,
    },
    /// The server said BYE.
    #[error("server closed the connection: {text}")]
    Bye {
        /// The server's text.
        text: String,
    },
    /// Reading or writing failed mid-command.
    #[error("{command}: connection failed: {reason}")]
    Io {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// No byte arrived from the server for this long.
    #[error("{what}: nothing received for {secs} s")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        secs: u64,
    },
    /// The server said something we cannot use.
    #[error("{command}: protocol error: {reason}")]
    Protocol {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// A response we cannot parse. Only its length and first bytes (escaped) are kept; the
    /// connection is given up.
    #[error("{command}: unparseable response of {len} bytes starting \"{head}\"")]
    Unparseable {
        /// The command.
        command: String,
        /// The response's length.
        len: usize,
        /// At most its first 16 bytes, escaped.
        head: String,
    },
    /// A response line or literal over our bound; the connection is given up.
    #[error("{command}: {what} of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// The command.
        command: String,
        /// `line` or `literal`.
        what: &'static str,
        /// Its size (so far, for a line).
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// An earlier failure left the connection unusable; reconnect.
    #[error("{command}: the connection failed earlier ({reason})")]
    Broken {
        /// The command.
        command: String,
        /// The earlier failure.
        reason: String,
    },
}

/// A response code (RFC 3501 §7.1, RFC 5530, Gmail and Office 365 extensions), typed where a
/// migration acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ReplyCode {
    /// `ALERT`: text for a person.
    Alert,
    /// `OVERQUOTA`.
    OverQuota,
    /// `THROTTLED`.
    Throttled,
    /// `TRYCREATE`: the mailbox does not exist.
    TryCreate,
    /// `LIMIT`.
    Limit,
    /// `UNAVAILABLE`.
    Unavailable,
    /// `PARSE`: the message could not be parsed.
    Parse,
    /// `AUTHENTICATIONFAILED`.
    AuthenticationFailed,
    /// Any other atom, upper-cased.
    Other(String),
}

impl ReplyCode {
    /// The code for an atom (any case).
    pub(crate) fn from_atom(atom: &str) -> Self {
        let up = atom.to_ascii_uppercase();
        match up.as_str() {
            "ALERT" => Self::Alert,
            "OVERQUOTA" => Self::OverQuota,
            "THROTTLED" => Self::Throttled,
            "TRYCREATE" => Self::TryCreate,
            "LIMIT" => Self::Limit,
            "UNAVAILABLE" => Self::Unavailable,
            "PARSE" => Self::Parse,
            "AUTHENTICATIONFAILED" => Self::AuthenticationFailed,
            _ => Self::Other(up),
        }
    }

    /// The atom.
    pub(crate) fn atom(&self) -> &str {
        match self {
            Self::Alert => "ALERT",
            Self::OverQuota => "OVERQUOTA",
            Self::Throttled => "THROTTLED",
            Self::TryCreate => "TRYCREATE",
            Self::Limit => "LIMIT",
            Self::Unavailable => "UNAVAILABLE",
            Self::Parse => "PARSE",
            Self::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Self::Other(a) => a,
        }
    }
}

impl std::fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.atom())
    }
}

/// A tagged NO or BAD, in typed parts. `Display` gives the reply as the server said it
/// (`NO [OVERQUOTA] Quota exceeded`), which is what [`classify`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// BAD rather than NO.
    pub(crate) bad: bool,
    /// The response code.
    pub(crate) code: Option<ReplyCode>,
    /// The text after the code.
    pub(crate) text: String,
}

impl Refusal {
    /// `NO [CODE] text`.
    fn words(bad: bool, code: Option<&ReplyCode>, text: &str) -> String {
        let status = if bad { "BAD" } else { "NO" };
        match code {
            Some(c) => format!("{status} [{c}] {text}"),
            None => format!("{status} {text}"),
        }
    }

    /// `[CODE] text`, without the status word.
    #[cfg(test)]
    pub(crate) fn code_and_text(&self) -> String {
        match &self.code {
            Some(c) => format!("[{c}] {}", self.text),
            None => self.text.clone(),
        }
    }

    /// What the refusal means for the migration.
    #[cfg(test)]
    pub(crate) fn reply_class(&self) -> ReplyClass {
        classify(&self.to_string())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&Self::words(self.bad, self.code.as_ref(), &self.text))
    }
}

impl ImapError {
    /// What the failure means for the migration, by imapmig-core's reply classifier
    /// (throttling with its hint, connection caps, over quota, transient trouble, permanent).
    pub(crate) fn reply_class(&self) -> ReplyClass {
        match self {
            Self::No {
                bad, code, text, ..
            } => classify(&Refusal::words(*bad, code.as_ref(), text)),
            Self::Login { reason, .. } => classify(&format!("NO {reason}")),
            Self::Bye { text } => classify(&format!("BYE {text}")),
            Self::Connect { .. }
            | Self::Io { .. }
            | Self::Timeout { .. }
            | Self::Unparseable { .. }
            | Self::Broken { .. } => ReplyClass::Unavailable,
            _ => ReplyClass::Permanent,
        }
    }

    /// Whether reconnecting and retrying later may help (throttling, connection caps, BYE,
    /// timeouts, dropped connections), as opposed to a refusal that will not change.
    pub(crate) fn is_transient(&self) -> bool {
        self.reply_class().is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_table() {
        let no = |t: &str| {
            let (code, text) = match t.strip_prefix('[').and_then(|r| r.split_once("] ")) {
                Some((c, rest)) => (Some(ReplyCode::from_atom(c)), rest),
                None => (None, t),
            };
            ImapError::No {
                command: "APPEND".into(),
                bad: false,
                code,
                text: text.into(),
            }
        };
        let hint = std::time::Duration::from_millis(1000);
        let cases = [
            (
                no("[THROTTLED] Request is throttled. Suggested Backoff Time: 1000 milliseconds"),
                ReplyClass::Throttled {
                    retry_after: Some(hint),
                },
            ),
            (
                no("[OVERQUOTA] Quota exceeded (mailbox for user is full)"),
                ReplyClass::OverQuota,
            ),
            (
                no("[UNAVAILABLE] Server temporarily unavailable."),
                ReplyClass::Unavailable,
            ),
            (no("Can't save a zero byte message"), ReplyClass::Permanent),
            (
                ImapError::Bye {
                    text: "Disconnected for inactivity.".into(),
                },
                ReplyClass::Unavailable,
            ),
            (
                ImapError::Timeout {
                    what: "x".into(),
                    secs: 1,
                },
                ReplyClass::Unavailable,
            ),
            (
                ImapError::Tls {
                    addr: "h".into(),
                    reason: "r".into(),
                },
                ReplyClass::Permanent,
            ),
        ];
        for (e, class) in cases {
            assert_eq!(e.reply_class(), class, "{e}");
        }
        assert!(no("[LIMIT] Too many connections").is_transient());
        assert!(!no("Can't save a zero byte message").is_transient());
        let unparseable = ImapError::Unparseable {
            command: "UID FETCH".into(),
            len: 95,
            head: "* )(garbage \\\"unt".into(),
        };
        assert!(unparseable.is_transient());
        assert!(
            ImapError::Broken {
                command: "SELECT".into(),
                reason: unparseable.to_string(),
            }
            .is_transient()
        );
        let too_large = ImapError::TooLarge {
            command: "UID FETCH".into(),
            what: "literal",
            size: 3 << 30,
            limit: 2 << 30,
        };
        assert!(!too_large.is_transient());
    }

    #[test]
    fn eight_bit_names_keep_every_byte_in_keys_and_logs() {
        let latin1 = MailboxName::from_wire(b"Caf\xe9".to_vec()).unwrap();
        let other = MailboxName::from_wire(b"Caf\xe8".to_vec()).unwrap();
        // Both decode to the same replacement character, but keep apart here.
        assert_eq!(latin1.as_str(), other.as_str());
        assert_eq!(display_name(&latin1), "Caf\\xe9");
        assert_ne!(display_name(&latin1), display_name(&other));
        assert_ne!(state_name(latin1.wire()), state_name(other.wire()));
        // A UTF-8 name spelled like the escape is still another folder.
        assert_ne!(state_name(latin1.wire()), state_name(b"Caf\\xe9"));
        // Names that are text keep the key they always had, and their decoded display.
        assert_eq!(state_name(b"INBOX/&AMk-t&AOk-"), "INBOX/&AMk-t&AOk-");
        assert_eq!(state_name("Grüße".as_bytes()), "Grüße");
        let mutf7 = MailboxName::from_wire(b"&AMk-t&AOk-".to_vec()).unwrap();
        assert_eq!(display_name(&mutf7), "Été");
    }

    #[test]
    fn refusals_read_as_the_server_said_them() {
        let r = Refusal {
            bad: false,
            code: Some(ReplyCode::from_atom("overquota")),
            text: "Quota exceeded".into(),
        };
        assert_eq!(r.to_string(), "NO [OVERQUOTA] Quota exceeded");
        assert_eq!(r.code_and_text(), "[OVERQUOTA] Quota exceeded");
        assert_eq!(r.reply_class(), ReplyClass::OverQuota);
        let bad = Refusal {
            bad: true,
            code: None,
            text: "Error in IMAP command".into(),
        };
        assert_eq!(bad.to_string(), "BAD Error in IMAP command");
        assert_eq!(bad.reply_class(), ReplyClass::Permanent);
        assert_eq!(
            ReplyCode::from_atom("X-GM-SOMETHING"),
            ReplyCode::Other("X-GM-SOMETHING".into())
        );
        let e = ImapError::No {
            command: "APPEND".into(),
            bad: false,
            code: Some(ReplyCode::TryCreate),
            text: "Mailbox doesn't exist".into(),
        };
        assert_eq!(
            e.to_string(),
            "APPEND refused: NO [TRYCREATE] Mailbox doesn't exist"
        );
        assert_eq!(e.reply_class(), ReplyClass::TryCreate);
    }
}
