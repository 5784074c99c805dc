//! Secrets (passwords, bearer tokens): read from the environment or a file, never from argv,
//! never printed, kept in `secrecy`'s [`SecretString`] and wiped (`zeroize`) when dropped.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroize as _;

use super::ImapError;

/// A password or token, held in a [`SecretString`] (wiped when dropped). `Debug` and
/// `Display` print `[redacted]`.
#[derive(Clone)]
pub(crate) struct Secret(SecretString);

impl Secret {
    /// Takes a secret string; its buffer is wiped once copied into the secret's own.
    pub(crate) fn new(mut s: String) -> Self {
        let secret = SecretString::from(s.as_str());
        s.zeroize();
        Self(secret)
    }

    /// The secret itself, for the one place that sends it to the server (into a
    /// `zeroize::Zeroizing` buffer).
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What proves who we are to one server. `Debug` names the kind only.
#[derive(Clone)]
pub(crate) enum Credential {
    /// A password, for LOGIN or AUTHENTICATE PLAIN.
    Password(Secret),
    /// An OAuth 2.0 bearer token, for XOAUTH2 or OAUTHBEARER.
    Token(Secret),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password([redacted])"),
            Self::Token(_) => f.write_str("Token([redacted])"),
        }
    }
}

/// Where to look for one side's secret.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecretSource {
    /// Name of the password variable, e.g. `IMAPMIG_SOURCE_PASSWORD`.
    pub(crate) password_env: std::borrow::Cow<'static, str>,
    /// Name of the token variable, e.g. `IMAPMIG_SOURCE_TOKEN`.
    pub(crate) token_env: std::borrow::Cow<'static, str>,
    /// `--*-password-file`.
    pub(crate) password_file: Option<PathBuf>,
    /// `--*-token-file`.
    pub(crate) token_file: Option<PathBuf>,
}

impl SecretSource {
    /// The source side: `IMAPMIG_SOURCE_PASSWORD` / `IMAPMIG_SOURCE_TOKEN`.
    pub(crate) fn source(password_file: Option<PathBuf>, token_file: Option<PathBuf>) -> Self {
        Self {
            password_env: "IMAPMIG_SOURCE_PASSWORD".into(),
            token_env: "IMAPMIG_SOURCE_TOKEN".into(),
            password_file,
            token_file,
        }
    }

    /// The target side: `IMAPMIG_TARGET_PASSWORD` / `IMAPMIG_TARGET_TOKEN`.
    pub(crate) fn target(password_file: Option<PathBuf>, token_file: Option<PathBuf>) -> Self {
        Self {
            password_env: "IMAPMIG_TARGET_PASSWORD".into(),
            token_env: "IMAPMIG_TARGET_TOKEN".into(),
            password_file,
            token_file,
        }
    }

    /// A secret named in a batch CSV: `env:VAR` (the password, or the token for XOAUTH2 and
    /// OAUTHBEARER, in the variable VAR) or `file:PATH` (in that file). `None` for any other
    /// form: the CSV never holds the secret itself.
    pub(crate) fn from_spec(spec: &str) -> Option<Self> {
        if let Some(var) = spec.strip_prefix("env:").filter(|v| !v.is_empty()) {
            return Some(Self {
                password_env: var.to_owned().into(),
                token_env: var.to_owned().into(),
                password_file: None,
                token_file: None,
            });
        }
        let path = spec.strip_prefix("file:").filter(|p| !p.is_empty())?;
        Some(Self {
            password_env: String::new().into(),
            token_env: String::new().into(),
            password_file: Some(PathBuf::from(path)),
            token_file: Some(PathBuf::from(path)),
        })
    }

    /// Finds the credential: a file given on the command line wins over the environment; a
    /// token is used when the mechanism wants one (or when no password is available).
    pub(crate) fn load(&self, wants_token: Option<bool>) -> Result<Credential, ImapError> {
        let token = || -> Result<Option<Secret>, ImapError> {
            match &self.token_file {
                Some(p) => read_secret_file(p).map(Some),
                None => Ok(env_secret(&self.token_env)),
            }
        };
        let password = || -> Result<Option<Secret>, ImapError> {
            match &self.password_file {
                Some(p) => read_secret_file(p).map(Some),
                None => Ok(env_secret(&self.password_env)),
            }
        };
        let missing = |what: &str| ImapError::Secret {
            reason: format!(
                "no {what}: set {} or pass a file option",
                if what == "token" {
                    &self.token_env
                } else {
                    &self.password_env
                }
            ),
        };
        match wants_token {
            Some(true) => token()?
                .map(Credential::Token)
                .ok_or_else(|| missing("token")),
            Some(false) => password()?
                .map(Credential::Password)
                .ok_or_else(|| missing("password")),
            None => match password()? {
                Some(p) => Ok(Credential::Password(p)),
                None => token()?
                    .map(Credential::Token)
                    .ok_or_else(|| missing("password")),
            },
        }
    }
}

fn env_secret(name: &str) -> Option<Secret> {
    let value = std::env::var(name).ok()?;
    (!value.is_empty()).then(|| Secret::new(value))
}

/// Reads a secret file, dropping one trailing line ending.
fn read_secret_file(path: &Path) -> Result<Secret, ImapError> {
    let mut s = std::fs::read_to_string(path).map_err(|e| ImapError::Secret {
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    if s.is_empty() {
        return Err(ImapError::Secret {
            reason: format!("{} is empty", path.display()),
        });
    }
    Ok(Secret::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_never_printed() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(
            format!("{s} {s:?} {s:#?}"),
            "[redacted] [redacted] [redacted]"
        );
        for c in [
            Credential::Token(s.clone()),
            Credential::Password(s.clone()),
        ] {
            let shown = format!("{c:?} {c:#?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        let src = SecretSource::source(None, None);
        assert!(!format!("{src:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_wins_and_trailing_newline_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("p w", "p w"),
            ("pw\n\n", "pw\n"),
        ];
        for (content, want) in cases {
            let p = dir.path().join("pw");
            std::fs::write(&p, content).unwrap();
            let src = SecretSource {
                password_env: "IMAPMIG_TEST_UNSET_PW".into(),
                token_env: "IMAPMIG_TEST_UNSET_TOKEN".into(),
                password_file: Some(p),
                token_file: None,
            };
            match src.load(Some(false)).unwrap() {
                Credential::Password(s) => assert_eq!(s.expose(), want),
                Credential::Token(_) => panic!("wanted a password"),
            }
            assert!(src.load(Some(true)).is_err());
        }
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let src = SecretSource {
            password_file: Some(empty),
            ..SecretSource::default()
        };
        assert!(src.load(None).is_err());
    }
}
