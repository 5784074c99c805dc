//! [`Database`]: one connection to the PostgreSQL database holding the
//! migration state, served by a thread of its own, and how its URL is shown
//! (never with the password).

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use postgres::{Client, NoTls};

use crate::Error;

/// How long connecting may take when the URL does not say
/// (`connect_timeout=SECONDS`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One job for the connection's thread.
type Job = Box<dyn FnOnce(&mut Client, &Session) + Send>;

/// What a job knows besides the client: the URL to name in errors.
#[derive(Debug)]
pub(crate) struct Session {
    url: Arc<str>,
}

impl Session {
    /// A mapper from the driver's error to [`Error::Database`] for `step`.
    pub(crate) fn failed(&self, step: &'static str) -> impl Fn(postgres::Error) -> Error + '_ {
        move |source| Error::Database {
            url: self.url.to_string(),
            step,
            source,
        }
    }
}

/// The handle of a connection's thread: jobs go in, each caller waits for
/// its own answer. Clones share the connection.
#[derive(Clone)]
pub(crate) struct Connection {
    jobs: mpsc::Sender<Job>,
    url: Arc<str>,
}

impl Connection {
    /// The URL, its password replaced.
    pub(crate) fn url(&self) -> &Arc<str> {
        &self.url
    }

    /// Runs `op` on the connection's thread and waits for its result.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Client, &Session) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client, session| {
            // The caller may be gone (it cannot be: it waits below).
            let _ = answer.send(op(client, session));
        });
        let gone = || Error::ConnectionGone {
            url: self.url.to_string(),
        };
        self.jobs.send(job).map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }
}

/// One connection to the database that holds the queue, the leases and
/// the folder states.
///
/// The `postgres` crate blocks on a runtime of its own, which panics when
/// it runs (or is dropped) on a thread that drives async tasks. So the
/// connection lives on a thread of its own, and every call here sends its
/// statements there and waits for the answer: the API blocks, like a file
/// system call, and may be used from any thread, async tasks included.
/// The [`PgStore`](crate::PgStore)s it hands out share the connection,
/// one call at a time; open one `Database` per worker that should run
/// statements in parallel. The thread ends, closing the connection, when
/// the `Database` and its stores are dropped.
pub struct Database {
    pub(crate) connection: Connection,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.connection.url)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects (without TLS) to a `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS]`
    /// URL, or a `key=value` connection string, as libpq takes them.
    /// Without a password in the URL, `PGPASSWORD` from the environment
    /// is used when set (as libpq does). Without `connect_timeout` in the URL, connecting gives up after
    /// [`DEFAULT_CONNECT_TIMEOUT`]. The session's `application_name` is
    /// `imapmig`.
    ///
    /// Connecting does not create the tables: call [`Database::migrate`]
    /// (idempotent) before the first use.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], or [`Error::Connect`] when the server cannot be
    /// reached or refuses the login; [`Error::Thread`] when no thread can
    /// be started for the connection.
    pub fn connect(url: &str) -> Result<Database, Error> {
        let shown: Arc<str> = redact_url(url).into();
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| Error::InvalidUrl {
                    url: shown.to_string(),
                    reason: e.to_string(),
                })?;
        // As libpq does: the password from the environment when the URL has none, so that
        // it need not be on a command line.
        if config.get_password().is_none()
            && let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty())
        {
            config.password(password.as_encoded_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("imapmig");
        }
        let (jobs, queued) = mpsc::channel::<Job>();
        let (connected, outcome) = mpsc::sync_channel::<Result<(), Error>>(1);
        let session = Session {
            url: Arc::clone(&shown),
        };
        thread::Builder::new()
            .name("imapmig-pg".to_owned())
            .spawn(move || {
                let mut client = match config.connect(NoTls) {
                    Ok(client) => client,
                    Err(source) => {
                        let _ = connected.send(Err(Error::Connect {
                            url: session.url.to_string(),
                            source,
                        }));
                        return;
                    }
                };
                let _ = connected.send(Ok(()));
                // Until every handle is dropped; the client closes here,
                // on a thread without an async runtime.
                while let Ok(job) = queued.recv() {
                    job(&mut client, &session);
                }
            })
            .map_err(|source| Error::Thread { source })?;
        outcome.recv().map_err(|_| Error::ConnectionGone {
            url: shown.to_string(),
        })??;
        Ok(Database {
            connection: Connection { jobs, url: shown },
        })
    }

    /// The URL connected to, its password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.connection.url
    }

    /// The connection, to run statements on.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }
}

/// A connection URL or `key=value` string with its password replaced by
/// `***`, fit for logs and errors.
///
/// ```
/// use imapmig_pg::redact_url;
/// assert_eq!(
///     redact_url("postgres://migrator:s3cret@db.example:5432/imapmig"),
///     "postgres://migrator:***@db.example:5432/imapmig"
/// );
/// assert_eq!(
///     redact_url("postgresql://db/imapmig?user=m&password=s3cret&sslmode=require"),
///     "postgresql://db/imapmig?user=m&password=***&sslmode=require"
/// );
/// assert_eq!(redact_url("host=db password='a b' user=m"), "host=db password=*** user=m");
/// ```
pub fn redact_url(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        redact_uri(url)
    } else {
        redact_key_values(url)
    }
}

fn redact_uri(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = url.split_at(scheme_end);
    // The authority ends at the first '/' or '?' after its last '@' (an
    // unescaped '/' in a password must not cut it short).
    let query_start = rest.find('?').unwrap_or(rest.len());
    let after_at = rest[..query_start].rfind('@').unwrap_or(0);
    let authority_end = rest[after_at..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| after_at + i);
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// `key=value` pairs separated by spaces; a value may be single-quoted with
/// backslash escapes.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut key = String::new();
    let mut key_ended = false;
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '=' {
            if c.is_whitespace() {
                key_ended = true;
            } else {
                if key_ended {
                    key.clear();
                    key_ended = false;
                }
                key.push(c);
            }
            continue;
        }
        let is_password = key.eq_ignore_ascii_case("password");
        key.clear();
        key_ended = false;
        // Skip spaces after '=' as libpq does.
        while chars.peek().is_some_and(|(_, c)| *c == ' ') {
            chars.next();
            out.push(' ');
        }
        let quoted = chars.peek().is_some_and(|(_, c)| *c == '\'');
        let mut value = String::new();
        if quoted {
            chars.next();
            value.push('\'');
            while let Some((_, c)) = chars.next() {
                value.push(c);
                if c == '\\' {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                } else if c == '\'' {
                    break;
                }
            }
        } else {
            while let Some((_, c)) = chars.peek().copied() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push_str(if is_password { "***" } else { &value });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_survive() {
        for (url, want) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://h/db", "postgres://h/db"),
            ("POSTGRES://u:p%40ss@h", "POSTGRES://u:***@h"),
            ("postgres://u:a@b@h/db", "postgres://u:***@h/db"),
            ("postgres://u:a/b@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u:pw@h?password=x",
                "postgres://u:***@h?password=***",
            ),
            (
                "postgres:///db?host=/run&PASSWORD=x",
                "postgres:///db?host=/run&PASSWORD=***",
            ),
            ("user=u password=pw host=h", "user=u password=*** host=h"),
            ("password = pw host=h", "password = *** host=h"),
            ("password='p w\\' x' host=h", "password=*** host=h"),
            ("host=h dbname=password", "host=h dbname=password"),
            ("", ""),
        ] {
            let got = redact_url(url);
            assert_eq!(got, want, "{url}");
        }
    }
}
