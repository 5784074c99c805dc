//! [`Database`]: one connection to the PostgreSQL database holding the
//! migration state, and how its URL is shown (never with the password).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, NoTls};

use crate::Error;

/// How long connecting may take when the URL does not say
/// (`connect_timeout=SECONDS`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to the database that holds the queue, the leases and
/// the folder states. Cheap to share between the [`PgStore`](crate::PgStore)s
/// it hands out (they use the same connection, one statement at a time);
/// open one `Database` per worker thread that should work in parallel.
///
/// The API is blocking (the `postgres` crate runs its own small runtime):
/// call it from a plain thread, or from async code through
/// `tokio::task::spawn_blocking`, never directly on an async task.
pub struct Database {
    client: Arc<Mutex<Client>>,
    url: Arc<str>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects (without TLS) to a `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?OPTIONS]`
    /// URL, or a `key=value` connection string, as libpq takes them.
    /// Without `connect_timeout` in the URL, connecting gives up after
    /// [`DEFAULT_CONNECT_TIMEOUT`]. The session's `application_name` is
    /// `imapmig`.
    ///
    /// Connecting does not create the tables: call [`Database::migrate`]
    /// (idempotent) before the first use.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], or [`Error::Connect`] when the server cannot be
    /// reached or refuses the login.
    pub fn connect(url: &str) -> Result<Database, Error> {
        let shown = redact_url(url);
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| Error::InvalidUrl {
                    url: shown.clone(),
                    reason: e.to_string(),
                })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("imapmig");
        }
        let client = config.connect(NoTls).map_err(|source| Error::Connect {
            url: shown.clone(),
            source,
        })?;
        Ok(Database {
            client: Arc::new(Mutex::new(client)),
            url: shown.into(),
        })
    }

    /// The URL connected to, its password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection, for one operation. A panic while it was held cannot
    /// leave a transaction open: a dropped `Transaction` rolls back.
    pub(crate) fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn shared_client(&self) -> Arc<Mutex<Client>> {
        Arc::clone(&self.client)
    }

    pub(crate) fn shared_url(&self) -> Arc<str> {
        Arc::clone(&self.url)
    }

    /// A mapper from the driver's error to [`Error::Database`] for `step`.
    pub(crate) fn failed(&self, step: &'static str) -> impl Fn(postgres::Error) -> Error + '_ {
        move |source| Error::Database {
            url: self.url.to_string(),
            step,
            source,
        }
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
