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
    /// TCP connect failed or the server went away before login.
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

impl ImapError {
    pub(crate) fn from_async(command: &str, e: async_imap::error::Error) -> Self {
        use async_imap::error::Error as E;
        match e {
            E::No(text) | E::Bad(text) => Self::No {
                command: command.to_owned(),
                text,
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

    /// Whether reconnecting and retrying later may help (throttling, BYE, timeouts, dropped
    /// connections), as opposed to a refusal that will not change.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Bye { .. } | Self::Io { .. } | Self::Timeout { .. } => {
                true
            }
            Self::No { text, .. } | Self::Login { reason: text, .. } => {
                let up = text.to_ascii_uppercase();
                [
                    "THROTTLED",
                    "[LIMIT]",
                    "UNAVAILABLE",
                    "INUSE",
                    "SERVERBUG",
                    "TRY AGAIN",
                    "TOO MANY",
                    "MAXIMUM NUMBER OF CONNECTIONS",
                ]
                .iter()
                .any(|w| up.contains(w))
            }
            _ => false,
        }
    }

    /// The server's own words, when there are any (for throttling classification).
    pub(crate) fn server_text(&self) -> Option<&str> {
        match self {
            Self::No { text, .. } | Self::Bye { text } | Self::Login { reason: text, .. } => {
                Some(text)
            }
            _ => None,
        }
    }
}
