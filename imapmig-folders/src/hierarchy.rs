//! Hierarchy delimiters and personal namespace prefixes, and translation
//! of a folder name from one server's hierarchy to another's.
//!
//! A name is split into a [path](Hierarchy::path) of components relative to
//! the personal namespace (`INBOX.Work.Projects` on a dot/`INBOX.` server
//! is `["Work", "Projects"]`), then [joined](Hierarchy::join) for the other
//! server (`Work/Projects` on a slash server). INBOX stays INBOX, in any case.
//!
//! ```
//! use imapmig_folders::{DelimiterEscape, Hierarchy};
//!
//! let dot = Hierarchy::new(Some('.'), "INBOX.").unwrap();
//! let slash = Hierarchy::new(Some('/'), "").unwrap();
//! let esc = DelimiterEscape::default();
//! assert_eq!(slash.join(&dot.path("INBOX.Work.Projects"), esc), "Work/Projects");
//! assert_eq!(dot.join(&slash.path("Work/Projects"), esc), "INBOX.Work.Projects");
//! assert_eq!(dot.join(&slash.path("inbox"), esc), "INBOX");
//! // A component holding the target's delimiter is escaped.
//! assert_eq!(dot.join(&slash.path("Releases v1.2"), esc), "INBOX.Releases v1_2");
//! ```

use std::collections::HashMap;

use crate::error::Error;
use crate::response::Listing;

/// How a path component that contains the target's delimiter is rewritten.
///
/// Without this, `a.b` (one folder on a `/` server) would become two
/// levels `a` → `b` on a `.` server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum DelimiterEscape {
    /// Replace the delimiter with this character (`_` by default, as
    /// imapsync does). Lossy: `a.b` comes back as `a_b`.
    Replace(char),
    /// Replace it with a look-alike Unicode character (`.` → U+2024 `․`,
    /// `/` → U+2215 `∕`, `\` → U+29F5 `⧵`, anything else → `_`), and turn
    /// look-alikes back into their ASCII character when that is not the
    /// target's delimiter. Lossless over a round trip between servers.
    Lookalike,
}

impl Default for DelimiterEscape {
    fn default() -> Self {
        Self::Replace('_')
    }
}

const LOOKALIKES: [(char, char); 3] = [('.', '\u{2024}'), ('/', '\u{2215}'), ('\\', '\u{29f5}')];

impl DelimiterEscape {
    /// Rewrites one component for a target whose delimiter is `delimiter`.
    pub fn escape_component(self, component: &str, delimiter: Option<char>) -> String {
        match self {
            Self::Replace(with) => match delimiter {
                Some(d) if with != d => component.replace(d, &with.to_string()),
                Some(d) => component.replace(d, "_"),
                None => component.to_owned(),
            },
            Self::Lookalike => component
                .chars()
                .map(|c| {
                    if Some(c) == delimiter {
                        return LOOKALIKES
                            .iter()
                            .find(|(a, _)| *a == c)
                            .map_or('_', |&(_, l)| l);
                    }
                    match LOOKALIKES.iter().find(|(_, l)| *l == c) {
                        Some(&(ascii, _)) if Some(ascii) != delimiter => ascii,
                        _ => c,
                    }
                })
                .collect(),
        }
    }
}

/// A server's personal namespace: its hierarchy delimiter and prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Hierarchy {
    delimiter: Option<char>,
    prefix: String,
}

impl Hierarchy {
    /// A hierarchy with `delimiter` (`None` for a flat server) and the
    /// personal namespace `prefix` (decoded, e.g. `INBOX.` or empty).
    ///
    /// The delimiter must be one printable ASCII character other than a letter or digit.
    pub fn new(delimiter: Option<char>, prefix: &str) -> Result<Self, Error> {
        if let Some(d) = delimiter
            && (!d.is_ascii_graphic() || d.is_ascii_alphanumeric())
        {
            return Err(Error::Delimiter(d.to_string()));
        }
        Ok(Self {
            delimiter,
            prefix: prefix.to_owned(),
        })
    }

    /// Parses a delimiter given as text (`"/"`, `"."`, or `"NIL"`/empty for none).
    pub fn parse_delimiter(text: &str) -> Result<Option<char>, Error> {
        if text.is_empty() || text.eq_ignore_ascii_case("nil") {
            return Ok(None);
        }
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_graphic() && !c.is_ascii_alphanumeric() => Ok(Some(c)),
            _ => Err(Error::Delimiter(text.to_owned())),
        }
    }

    /// Detects a server's hierarchy from what it said.
    ///
    /// The delimiter comes from the first personal NAMESPACE, else from the
    /// `LIST "" ""` answer, else from the delimiter most LIST lines show.
    /// The prefix comes from NAMESPACE; without it, `INBOX<delim>` is
    /// assumed when every mailbox but INBOX lies under it (a Courier/Cyrus
    /// layout), else the empty prefix. `None` when nothing shows a delimiter
    /// or namespace (no NAMESPACE, no root, no entries).
    pub fn detect(listing: &Listing) -> Option<Self> {
        if let Some(ns) = listing.namespaces().and_then(|n| n.personal().first()) {
            return Some(Self {
                delimiter: ns.delimiter(),
                prefix: ns.prefix().as_str().to_owned(),
            });
        }
        let delimiter = match listing.root() {
            Some(root) => root.delimiter(),
            None => {
                if listing.entries().is_empty() {
                    return None;
                }
                let mut counts: HashMap<Option<char>, usize> = HashMap::new();
                for e in listing.entries() {
                    *counts.entry(e.delimiter()).or_default() += 1;
                }
                counts
                    .into_iter()
                    .max_by_key(|&(d, n)| (n, d))
                    .and_then(|(d, _)| d)
            }
        };
        let mut prefix = String::new();
        if let Some(d) = delimiter {
            let inbox_prefix = format!("INBOX{d}");
            let mut others = listing
                .entries()
                .iter()
                .filter(|e| !e.name().is_inbox())
                .peekable();
            if others.peek().is_some()
                && others.all(|e| starts_with_ignore_case(e.name().as_str(), &inbox_prefix))
            {
                prefix = inbox_prefix;
            }
        }
        Some(Self { delimiter, prefix })
    }

    /// The delimiter, `None` for a flat server.
    pub fn delimiter(&self) -> Option<char> {
        self.delimiter
    }

    /// The personal namespace prefix (decoded).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Splits a decoded name into components relative to the personal namespace.
    ///
    /// INBOX (any case) is `["INBOX"]`; a name outside the prefix keeps all
    /// its components.
    pub fn path(&self, name: &str) -> Vec<String> {
        if name.eq_ignore_ascii_case("INBOX") {
            return vec!["INBOX".to_owned()];
        }
        let rest = if !self.prefix.is_empty() && starts_with_ignore_case(name, &self.prefix) {
            &name[self.prefix.len()..]
        } else {
            name
        };
        let mut parts: Vec<String> = match self.delimiter {
            Some(d) => rest.split(d).map(str::to_owned).collect(),
            None => vec![rest.to_owned()],
        };
        if let Some(first) = parts.first_mut()
            && first.eq_ignore_ascii_case("INBOX")
        {
            "INBOX".clone_into(first);
        }
        parts
    }

    /// Joins path components into a name on this server, escaping
    /// components that contain the delimiter.
    ///
    /// The prefix is added unless the path is INBOX or starts with INBOX
    /// and the prefix is `INBOX<delim>` (a child of INBOX stays one). On a
    /// flat server components are joined with `/` as an ordinary character.
    pub fn join(&self, path: &[String], escape: DelimiterEscape) -> String {
        if path.len() == 1 && path[0].eq_ignore_ascii_case("INBOX") {
            return "INBOX".to_owned();
        }
        let sep = self.delimiter.unwrap_or('/');
        let mut out = String::new();
        let under_inbox = path
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case("INBOX"))
            && self.delimiter.is_some_and(|d| {
                self.prefix.len() == 6
                    && starts_with_ignore_case(&self.prefix, &format!("INBOX{d}"))
            });
        if !under_inbox {
            out.push_str(&self.prefix);
        }
        for (i, c) in path.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            out.push_str(&escape.escape_component(c, self.delimiter));
        }
        out
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(d: Option<char>, p: &str) -> Hierarchy {
        Hierarchy::new(d, p).unwrap()
    }

    #[test]
    fn translate_table() {
        let dot = h(Some('.'), "INBOX.");
        let slash = h(Some('/'), "");
        let flat = h(None, "");
        let esc = DelimiterEscape::default();
        let cases: &[(&Hierarchy, &Hierarchy, &str, &str)] = &[
            (&dot, &slash, "INBOX.Work.Projects", "Work/Projects"),
            (&dot, &slash, "INBOX", "INBOX"),
            (&dot, &slash, "inbox", "INBOX"),
            (&dot, &slash, "INBOX.a/b", "a_b"),
            (&slash, &dot, "Work/Projects", "INBOX.Work.Projects"),
            (&slash, &dot, "a.b/c", "INBOX.a_b.c"),
            (&slash, &dot, "INBOX/Sub", "INBOX.Sub"),
            (&slash, &dot, "Inbox/Sub", "INBOX.Sub"),
            (&slash, &slash, "x/y", "x/y"),
            (&slash, &flat, "x/y", "x/y"),
            (&flat, &dot, "a.b", "INBOX.a_b"),
            (&dot, &slash, "Other.x", "Other/x"),
        ];
        for (from, to, name, want) in cases {
            assert_eq!(to.join(&from.path(name), esc), *want, "{name}");
        }
    }

    #[test]
    fn lookalike_round_trip() {
        let dot = h(Some('.'), "INBOX.");
        let slash = h(Some('/'), "");
        let esc = DelimiterEscape::Lookalike;
        let there = dot.join(&slash.path("Releases v1.2/a"), esc);
        assert_eq!(there, "INBOX.Releases v1\u{2024}2.a");
        assert_eq!(slash.join(&dot.path(&there), esc), "Releases v1.2/a");
        let there = slash.join(&dot.path("INBOX.x/y"), esc);
        assert_eq!(there, "x\u{2215}y");
        assert_eq!(dot.join(&slash.path(&there), esc), "INBOX.x/y");
    }

    #[test]
    fn replace_with_delimiter_falls_back() {
        assert_eq!(
            DelimiterEscape::Replace('.').escape_component("a.b", Some('.')),
            "a_b"
        );
        assert_eq!(
            DelimiterEscape::Replace('-').escape_component("a.b", Some('.')),
            "a-b"
        );
    }

    #[test]
    fn delimiter_validation() {
        assert!(Hierarchy::new(Some('a'), "").is_err());
        assert!(Hierarchy::new(Some(' '), "").is_err());
        assert_eq!(Hierarchy::parse_delimiter("/").unwrap(), Some('/'));
        assert_eq!(Hierarchy::parse_delimiter("NIL").unwrap(), None);
        assert!(Hierarchy::parse_delimiter("//").is_err());
    }

    #[test]
    fn detect_table() {
        let cases: &[(&[u8], Option<char>, &str)] = &[
            (b"* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n* LIST () \"/\" x\r\n", Some('.'), "INBOX."),
            (b"* LIST (\\Noselect) \"/\" \"\"\r\n* LIST () \".\" x\r\n", Some('/'), ""),
            (b"* LIST () \".\" INBOX\r\n* LIST () \".\" INBOX.a\r\n* LIST () \".\" INBOX.b.c\r\n", Some('.'), "INBOX."),
            (b"* LIST () \".\" INBOX\r\n* LIST () \".\" INBOX.a\r\n* LIST () \".\" b\r\n", Some('.'), ""),
            (b"* LIST () NIL INBOX\r\n* LIST () NIL a\r\n", None, ""),
        ];
        for (raw, d, p) in cases {
            let got = Hierarchy::detect(&Listing::parse(raw).unwrap()).unwrap();
            assert_eq!(
                (got.delimiter(), got.prefix()),
                (*d, *p),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert_eq!(Hierarchy::detect(&Listing::new()), None);
    }
}
