//! The IMAP connection at the edge: URL, TLS, authentication, and the commands a migration sends.
//!
//! Built on async-imap 0.12 (tokio) with rustls (ring). Where imap-proto 0.17 cannot parse a
//! response (NAMESPACE, STATUS SIZE), the [`transport`] tap lifts it out of the stream first.
//! Every network wait is bounded by a timeout, so a stalled server becomes an error the caller
//! can retry, never a hang.

pub(crate) mod endpoint;
pub(crate) mod folder_pass;
pub(crate) mod secret;
pub(crate) mod session;
pub(crate) mod transport;

pub(crate) use endpoint::Endpoint;
pub(crate) use secret::{Credential, SecretSource};
pub(crate) use session::Connection;

use imapmig_core::throttle::{ReplyClass, classify};

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
    #[error("{command} refused: {text}")]
    No {
        /// The command.
        command: String,
        /// The server's text, response code included.
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
    /// The server did not answer in time.
    #[error("{what}: no answer within {secs} s")]
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
}

/// async-imap reports a NO as `code: Some(X), info: Some("text")`; this gives back what the
/// server said, `[X] text`, for people and for the reply classifier.
pub(crate) fn server_words(debug: &str) -> String {
    let Some(rest) = debug.strip_prefix("code: ") else {
        return debug.to_owned();
    };
    let (code, info) = rest.split_once(", info: ").unwrap_or((rest, "None"));
    let info = info
        .strip_prefix("Some(\"")
        .and_then(|i| i.strip_suffix("\")"))
        .map(|i| i.replace("\\\"", "\""))
        .unwrap_or_default();
    match code.strip_prefix("Some(").and_then(|c| c.strip_suffix(')')) {
        Some(c) => format!("[{}] {info}", c.to_ascii_uppercase()),
        None => info,
    }
}

impl ImapError {
    pub(crate) fn from_async(command: &str, e: async_imap::error::Error) -> Self {
        use async_imap::error::Error as E;
        match e {
            E::No(text) | E::Bad(text) => Self::No {
                command: command.to_owned(),
                text: server_words(&text),
            },
            E::Io(io) => Self::Io {
                command: command.to_owned(),
                reason: io.to_string(),
            },
            E::ConnectionLost => Self::Io {
                command: command.to_owned(),
                reason: "connection lost".into(),
            },
            other => Self::Protocol {
                command: command.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    /// What the failure means for the migration, by imapmig-core's reply classifier
    /// (throttling with its hint, connection caps, over quota, transient trouble, permanent).
    pub(crate) fn reply_class(&self) -> ReplyClass {
        match self {
            Self::No { text, .. } | Self::Login { reason: text, .. } => {
                classify(&format!("* NO {text}"))
            }
            Self::Bye { text } => classify(&format!("* BYE {text}")),
            Self::Connect { .. } | Self::Io { .. } | Self::Timeout { .. } => {
                ReplyClass::Unavailable
            }
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
    fn server_words_table() {
        let cases = [
            (
                "code: None, info: Some(\"[THROTTLED] Request is throttled.\")",
                "[THROTTLED] Request is throttled.",
            ),
            (
                "code: Some(TryCreate), info: Some(\"Mailbox doesn't exist\")",
                "[TRYCREATE] Mailbox doesn't exist",
            ),
            ("code: None, info: None", ""),
            ("plain text", "plain text"),
        ];
        for (debug, want) in cases {
            assert_eq!(server_words(debug), want);
        }
    }

    #[test]
    fn classes_table() {
        let no = |t: &str| ImapError::No {
            command: "APPEND".into(),
            text: t.into(),
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
    }
}
