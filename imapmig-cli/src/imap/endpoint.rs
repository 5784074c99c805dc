//! Where a server is and how to reach it: `imap://USER@HOST:PORT` and `imaps://USER@HOST:PORT`.
//!
//! The user part is percent-decoded (`alice%40example.com` is `alice@example.com`). The port
//! defaults to 143 for `imap://` and 993 for `imaps://`. Two query parameters are understood:
//! `starttls` (upgrade an `imap://` connection with STARTTLS; refused if the server does not
//! offer it) and `auth=login|plain|xoauth2|oauthbearer` (the mechanism; the default is LOGIN
//! with a password, or XOAUTH2 when only a bearer token is supplied). A password in the URL is
//! refused: secrets never travel in argv.

use std::fmt;

use super::ImapError;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// Plain TCP (test servers, or a tunnel the operator set up).
    Plain,
    /// TLS from the first byte (`imaps://`).
    Tls,
    /// Plain TCP upgraded with STARTTLS before login (`imap://…?starttls`).
    StartTls,
}

/// The SASL mechanism (or LOGIN) used to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// `LOGIN user password`.
    Login,
    /// `AUTHENTICATE PLAIN` (RFC 4616).
    Plain,
    /// `AUTHENTICATE XOAUTH2` (Google, Microsoft) with a bearer token.
    XOAuth2,
    /// `AUTHENTICATE OAUTHBEARER` (RFC 7628) with a bearer token.
    OAuthBearer,
}

impl Mechanism {
    /// Whether the mechanism takes a bearer token rather than a password.
    pub(crate) fn wants_token(self) -> bool {
        matches!(self, Self::XOAuth2 | Self::OAuthBearer)
    }
}

/// A parsed server address: everything needed to connect except the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Host name or IP literal (brackets removed).
    pub(crate) host: String,
    /// TCP port.
    pub(crate) port: u16,
    /// Login name, percent-decoded.
    pub(crate) user: String,
    /// Transport protection.
    pub(crate) security: Security,
    /// Mechanism chosen in the URL, if any.
    pub(crate) mechanism: Option<Mechanism>,
    /// CAs trusted besides the Mozilla roots (`--ca-file`); empty from a URL.
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.security == Security::Tls {
            "imaps"
        } else {
            "imap"
        };
        write!(f, "{scheme}://")?;
        // The user as the URL parser reads it back: the bytes it would take as a delimiter,
        // an escape or drop (`/ ? # : %`, controls, space) are percent-encoded; `@` stays.
        for c in self.user.chars() {
            if c.is_ascii_control() || matches!(c, ' ' | '/' | '?' | '#' | ':' | '%' | '\\') {
                write!(f, "%{:02X}", u32::from(c))?;
            } else {
                write!(f, "{c}")?;
            }
        }
        if self.host.contains(':') {
            write!(f, "@[{}]:{}", self.host, self.port)
        } else {
            write!(f, "@{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = ImapError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ImapError::Url {
            url: redact(s),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        let (mut security, default_port) = match url.scheme() {
            "imap" => (Security::Plain, 143),
            "imaps" => (Security::Tls, 993),
            other => return Err(bad(&format!("scheme {other:?} is not imap or imaps"))),
        };
        if url.password().is_some() {
            return Err(bad(
                "a password in the URL is refused; use the environment variable or a password file",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("no host")),
        };
        if url.username().is_empty() {
            return Err(bad("no user (expected imap://USER@HOST:PORT)"));
        }
        let user = percent_decode(url.username())
            .ok_or_else(|| bad("user is not valid UTF-8 after percent-decoding"))?;
        if url.path() != "" && url.path() != "/" {
            return Err(bad("a path is not allowed"));
        }
        let mut mechanism = None;
        for (key, value) in url.query_pairs() {
            match (&*key, &*value) {
                ("starttls", "" | "1" | "yes" | "true") => {
                    if security == Security::Tls {
                        return Err(bad("starttls makes no sense with imaps://"));
                    }
                    security = Security::StartTls;
                }
                ("auth", m) => {
                    mechanism = Some(match m.to_ascii_lowercase().as_str() {
                        "login" => Mechanism::Login,
                        "plain" => Mechanism::Plain,
                        "xoauth2" => Mechanism::XOAuth2,
                        "oauthbearer" => Mechanism::OAuthBearer,
                        _ => return Err(bad(&format!("unknown auth mechanism {m:?}"))),
                    })
                }
                (k, _) => return Err(bad(&format!("unknown parameter {k:?}"))),
            }
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            user,
            security,
            mechanism,
            extra_roots: Vec::new(),
        })
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The URL with any password replaced, for error messages.
fn redact(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(_) => s.to_owned(),
        Err(_) => {
            // Unparseable: show only the scheme and what follows the last `@`. The URL parser
            // drops tabs and line breaks anywhere (`imap:\n//u:p@`), so a `://` in the text is
            // no guide; a `user:pass@` always lies between the scheme's `:` and the last `@`.
            match (s.find(':'), s.rfind('@')) {
                (Some(a), Some(b)) if b > a => {
                    let slashes = if s[a..].starts_with("://") { "//" } else { "" };
                    format!("{}:{slashes}…@{}", &s[..a], &s[b + 1..])
                }
                _ => s.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (
        &'static str,
        &'static str,
        u16,
        &'static str,
        Security,
        Option<Mechanism>,
    );

    #[test]
    fn parses_table() {
        let cases: &[Case] = &[
            (
                "imap://test@127.0.0.1:1430",
                "127.0.0.1",
                1430,
                "test",
                Security::Plain,
                None,
            ),
            (
                "imaps://a%40b.example@mail.example",
                "mail.example",
                993,
                "a@b.example",
                Security::Tls,
                None,
            ),
            (
                "imap://u@h.example",
                "h.example",
                143,
                "u",
                Security::Plain,
                None,
            ),
            (
                "imap://u@h.example?starttls",
                "h.example",
                143,
                "u",
                Security::StartTls,
                None,
            ),
            (
                "imaps://u@[::1]:9993?auth=xoauth2",
                "::1",
                9993,
                "u",
                Security::Tls,
                Some(Mechanism::XOAuth2),
            ),
            (
                "imap://u%20v@h?auth=OAUTHBEARER",
                "h",
                143,
                "u v",
                Security::Plain,
                Some(Mechanism::OAuthBearer),
            ),
        ];
        for (url, host, port, user, sec, mech) in cases {
            let e: Endpoint = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (&*e.host, e.port, &*e.user, e.security, e.mechanism),
                (*host, *port, *user, *sec, *mech),
                "{url}"
            );
        }
    }

    #[test]
    fn refuses_table() {
        for url in [
            "http://u@h",
            "imap://h:143",
            "imap://u:secret@h",
            "imaps://u@h?starttls",
            "imap://u@h/INBOX",
            "imap://u@h?auth=kerberos",
            "imap://u@h?colour=blue",
            "imap://u%ff@h",
            "not a url",
        ] {
            let err = url.parse::<Endpoint>().expect_err(url).to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    /// Found by the `cli_imap_url` fuzz target: the URL parser drops the line break in
    /// `f:\n//u:pw@`, reads a password and fails (empty host), and the redaction, looking for a
    /// literal `://`, found none and echoed the password.
    #[test]
    fn unparseable_url_with_a_line_break_is_redacted() {
        for url in ["f:\n//\u{1f}2:pw2@", "imap:/\t/u:pw2@", "imap://u:pw2@[::1"] {
            let err = url.parse::<Endpoint>().expect_err(url).to_string();
            assert!(!err.contains("pw2"), "{err}");
            assert!(err.contains('…'), "{err}");
        }
    }

    /// Found by the `cli_imap_url` fuzz target: the display form of an IPv6 host or of a
    /// user holding `/`, `:` or `%` did not parse back to the same endpoint.
    #[test]
    fn display_parses_back_to_itself() {
        for (url, shown) in [
            ("imap://u@[::1]", "imap://u@[::1]:143"),
            ("imap://a%2Fb@h", "imap://a%2Fb@h:143"),
            ("imap://a%3Ab@h", "imap://a%3Ab@h:143"),
            ("imap://a%2541@h", "imap://a%2541@h:143"),
            ("imap://a%09b@h", "imap://a%09b@h:143"),
        ] {
            let e: Endpoint = url.parse().expect(url);
            assert_eq!(e.to_string(), shown);
            let again: Endpoint = shown.parse().expect(shown);
            assert_eq!((again.user, again.host), (e.user, e.host));
        }
    }

    #[test]
    fn display_has_no_secret_and_round_trips_shape() {
        let e: Endpoint = "imaps://a%40b@h:1".parse().unwrap();
        assert_eq!(e.to_string(), "imaps://a@b@h:1");
    }
}
