//! Gmail's label model: X-GM-LABELS values, the folder policy, and
//! placement of messages that carry several labels or none.
//!
//! Gmail shows each label as a folder and every message in `[Gmail]/All
//! Mail`; copying every folder duplicates mail, and skipping All Mail loses
//! the archived messages that have no label. The [`GmailPolicy`] says what
//! to do: All Mail, Important and Starred are not copied as folders, a
//! message with several labels is placed by [`MultiLabel`], and a message
//! with no folder label goes to the archive folder (`Archive` by default).
//!
//! ```
//! use imapmig_folders::{GmailLabel, parse_labels};
//!
//! let labels = parse_labels(br#"(\Inbox \Important "Work/Projects" &AMk-coles "a \"q\"")"#).unwrap();
//! assert_eq!(labels[0], GmailLabel::Inbox);
//! assert_eq!(labels[1], GmailLabel::Important);
//! assert_eq!(labels[2], GmailLabel::User("Work/Projects".into()));
//! assert_eq!(labels[3], GmailLabel::User("Écoles".into()));
//! assert_eq!(labels[4], GmailLabel::User("a \"q\"".into()));
//! ```

use std::collections::{HashMap, HashSet};

use crate::error::Error;
use crate::mutf7;

/// The most labels one X-GM-LABELS value may carry.
pub const MAX_LABELS: usize = 1000;

/// The longest X-GM-LABELS value accepted, in bytes.
pub const MAX_LABELS_LEN: usize = 64 * 1024;

/// One Gmail label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum GmailLabel {
    /// `\Inbox`.
    Inbox,
    /// `\Sent`.
    Sent,
    /// `\Important`.
    Important,
    /// `\Starred`.
    Starred,
    /// `\Draft`.
    Draft,
    /// `\Spam`.
    Spam,
    /// `\Trash`.
    Trash,
    /// Another system label, with its backslash (`\Chats`...).
    OtherSystem(String),
    /// A user label, decoded; nested labels use `/` (`Work/Projects`).
    User(String),
}

impl GmailLabel {
    /// Reads one label as sent (a `\System` flag, or an already unquoted
    /// user label in modified UTF-7; UTF-8 is accepted too).
    pub fn from_wire(raw: &[u8]) -> Self {
        if raw.first() == Some(&b'\\') {
            let word = String::from_utf8_lossy(raw);
            return match word.to_ascii_lowercase().as_str() {
                "\\inbox" => Self::Inbox,
                "\\sent" => Self::Sent,
                "\\important" => Self::Important,
                "\\starred" => Self::Starred,
                "\\draft" | "\\drafts" => Self::Draft,
                "\\spam" => Self::Spam,
                "\\trash" => Self::Trash,
                _ => Self::OtherSystem(word.into_owned()),
            };
        }
        match mutf7::decode(raw) {
            Ok(s) => Self::User(s),
            Err(_) => Self::User(String::from_utf8_lossy(raw).into_owned()),
        }
    }

    /// Whether this label puts a message in a folder of its own (not
    /// Important or Starred, which are views over All Mail).
    pub fn is_folder(&self) -> bool {
        !matches!(self, Self::Important | Self::Starred)
    }

    /// The label as an IMAP keyword (an atom): modified UTF-7, with
    /// characters that atoms forbid replaced by `_`.
    pub fn keyword(&self) -> String {
        let text = match self {
            Self::Inbox => "$Inbox".to_owned(),
            Self::Sent => "$Sent".to_owned(),
            Self::Important => "$Important".to_owned(),
            Self::Starred => "\\Flagged".to_owned(),
            Self::Draft => "\\Draft".to_owned(),
            Self::Spam => "$Junk".to_owned(),
            Self::Trash => "$Trash".to_owned(),
            Self::OtherSystem(s) => format!("${}", s.trim_start_matches('\\')),
            Self::User(s) => mutf7::encode(s),
        };
        if text.starts_with('\\') {
            return text;
        }
        text.chars()
            .map(|c| {
                if c.is_ascii_graphic()
                    && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
                {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Parses an X-GM-LABELS value: a parenthesised list of flags, atoms,
/// quoted strings (unescaped) and literals. `X-GM-LABELS ` in front is accepted.
pub fn parse_labels(value: &[u8]) -> Result<Vec<GmailLabel>, Error> {
    if value.len() > MAX_LABELS_LEN {
        return Err(Error::TooLarge {
            response: "X-GM-LABELS",
            len: value.len(),
            limit: MAX_LABELS_LEN,
        });
    }
    let err = |offset, reason| Error::Response {
        response: "X-GM-LABELS",
        offset,
        reason,
    };
    let mut i = 0;
    let prefix = b"X-GM-LABELS ";
    if value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix) {
        i = prefix.len();
    }
    if value.get(i) != Some(&b'(') {
        return Err(err(i, "expected '('"));
    }
    i += 1;
    let mut labels = Vec::new();
    loop {
        while value.get(i) == Some(&b' ') {
            i += 1;
        }
        match value.get(i) {
            None => return Err(err(i, "unterminated label list")),
            Some(b')') => break,
            Some(b'"') => {
                i += 1;
                let mut out = Vec::new();
                loop {
                    match value.get(i) {
                        None => return Err(err(i, "unterminated quoted label")),
                        Some(b'"') => break,
                        Some(b'\\') => match value.get(i + 1) {
                            Some(&c @ (b'"' | b'\\')) => {
                                out.push(c);
                                i += 1;
                            }
                            _ => return Err(err(i, "bad escape in quoted label")),
                        },
                        Some(&c) => out.push(c),
                    }
                    i += 1;
                }
                i += 1;
                labels.push(GmailLabel::from_wire(&out));
            }
            Some(b'{') => {
                let close = value[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or(err(i, "unterminated literal length"))?;
                let digits = &value[i + 1..i + close];
                let digits = digits.strip_suffix(b"+").unwrap_or(digits);
                let n: usize = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.len() <= 9)
                    .and_then(|d| d.parse().ok())
                    .ok_or(err(i, "bad literal length"))?;
                i += close + 1;
                if value[i..].starts_with(b"\r\n") {
                    i += 2;
                } else {
                    return Err(err(i, "expected CRLF after literal length"));
                }
                let body = value
                    .get(i..i + n)
                    .ok_or(err(i, "literal longer than the value"))?;
                labels.push(GmailLabel::from_wire(body));
                i += n;
            }
            Some(_) => {
                let start = i;
                while let Some(&b) = value.get(i) {
                    if b <= b' ' || matches!(b, b'(' | b')' | b'"' | b'{') {
                        break;
                    }
                    i += 1;
                }
                if i == start {
                    return Err(err(i, "unexpected character in label list"));
                }
                labels.push(GmailLabel::from_wire(&value[start..i]));
            }
        }
        if labels.len() > MAX_LABELS {
            return Err(err(i, "too many labels"));
        }
    }
    Ok(labels)
}

/// How a message with several folder labels is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum MultiLabel {
    /// One copy, in the folder of the first folder label (INBOX first when
    /// the message has it); every other label is kept as a keyword.
    #[default]
    FirstLabel,
    /// One copy in the folder of each label (what IMAP clients see on Gmail).
    CopyPerLabel,
}

/// What to do with Gmail's folders and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GmailPolicy {
    /// Placement of messages with several labels.
    pub multi_label: MultiLabel,
    /// Target path (`/` between levels) for messages that live only in All
    /// Mail; used when the target shows no `\Archive` folder.
    pub archive_folder: String,
    /// Put Gmail's system folders (`[Gmail]/Sent Mail`) at the top level of
    /// the target when no role folder exists there (`Sent Mail`), instead of
    /// under a `[Gmail]` folder.
    pub flatten_system_folders: bool,
}

impl Default for GmailPolicy {
    fn default() -> Self {
        Self {
            multi_label: MultiLabel::FirstLabel,
            archive_folder: "Archive".to_owned(),
            flatten_system_folders: true,
        }
    }
}

/// Finds the messages that live only in All Mail, for servers without
/// X-GM-EXT-1 (no X-GM-LABELS): record every (folder, identity) the source
/// shows, then ask which identities were seen in All Mail and in no folder
/// that the plan copies.
///
/// Identities are caller-chosen strings (a Message-ID, a content fingerprint).
/// Build one with [`FolderPlan::archive_detector`](crate::FolderPlan::archive_detector).
#[derive(Debug, Clone, Default)]
pub struct ArchiveDetector {
    all_mail: HashSet<String>,
    copied: HashSet<String>,
    seen: HashMap<String, (bool, bool)>,
}

impl ArchiveDetector {
    /// A detector for these All Mail folders and these copied folders (decoded source names).
    pub fn new(all_mail: Vec<String>, copied: Vec<String>) -> Self {
        Self {
            all_mail: all_mail.into_iter().collect(),
            copied: copied.into_iter().collect(),
            seen: HashMap::new(),
        }
    }

    /// Records that `identity` is in the source folder `folder` (decoded name).
    pub fn record(&mut self, folder: &str, identity: &str) {
        let in_all = self.all_mail.contains(folder);
        let in_copied = self.copied.contains(folder);
        if !in_all && !in_copied {
            return;
        }
        let e = self.seen.entry(identity.to_owned()).or_default();
        e.0 |= in_all;
        e.1 |= in_copied;
    }

    /// Whether `identity` was seen in All Mail and in no copied folder.
    pub fn is_archived_only(&self, identity: &str) -> bool {
        self.seen
            .get(identity)
            .is_some_and(|&(all, copied)| all && !copied)
    }

    /// Every identity seen in All Mail and in no copied folder, sorted.
    pub fn archived_only(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .seen
            .iter()
            .filter(|(_, (all, copied))| *all && !*copied)
            .map(|(k, _)| k.as_str())
            .collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_table() {
        let cases: &[(&[u8], &[GmailLabel])] = &[
            (b"()", &[]),
            (b"X-GM-LABELS (\\Sent)", &[GmailLabel::Sent]),
            (
                b"(\\Starred \\Draft \\Spam \\Trash \\Chats)",
                &[
                    GmailLabel::Starred,
                    GmailLabel::Draft,
                    GmailLabel::Spam,
                    GmailLabel::Trash,
                    GmailLabel::OtherSystem("\\Chats".into()),
                ],
            ),
            (b"({3}\r\na b)", &[GmailLabel::User("a b".into())]),
            (
                b"(\"&ZeVnLIqe-/x\")",
                &[GmailLabel::User("日本語/x".into())],
            ),
            (
                b"(foo  bar)",
                &[
                    GmailLabel::User("foo".into()),
                    GmailLabel::User("bar".into()),
                ],
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_labels(raw).unwrap(),
                *want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn label_errors() {
        let cases: &[(&[u8], usize)] = &[
            (b"", 0),
            (b"(a", 2),
            (b"(\"a", 3),
            (b"({9}\r\nab)", 6),
            (b"({x}\r\n)", 1),
            (b"(\"a\\x\")", 3),
        ];
        for (raw, offset) in cases {
            match parse_labels(raw) {
                Err(Error::Response { offset: o, .. }) => assert_eq!(o, *offset, "{raw:?}"),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn keywords() {
        assert_eq!(
            GmailLabel::User("Work Projects".into()).keyword(),
            "Work_Projects"
        );
        assert_eq!(GmailLabel::User("Écoles".into()).keyword(), "&AMk-coles");
        assert_eq!(GmailLabel::Starred.keyword(), "\\Flagged");
        assert_eq!(GmailLabel::Important.keyword(), "$Important");
    }

    #[test]
    fn archive_detector() {
        let mut d = ArchiveDetector::new(
            vec!["[Gmail]/All Mail".into()],
            vec!["INBOX".into(), "Work".into()],
        );
        d.record("[Gmail]/All Mail", "a");
        d.record("[Gmail]/All Mail", "b");
        d.record("[Gmail]/All Mail", "c");
        d.record("INBOX", "a");
        d.record("Work", "b");
        d.record("[Gmail]/Starred", "c");
        d.record("INBOX", "d");
        assert_eq!(d.archived_only(), ["c"]);
        assert!(d.is_archived_only("c"));
        assert!(!d.is_archived_only("d"));
    }
}
