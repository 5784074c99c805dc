//! Target profiles: what a target server refuses or treats specially, and
//! the documented rule that turns an invalid name into a valid one.
//!
//! | profile | case | rules applied to each path component |
//! |---|---|---|
//! | all | | empty → `_`; control characters and DEL → `_`; longer than 255 characters → cut to 255 |
//! | [`Exchange`](TargetProfile::Exchange) | insensitive | leading and trailing blanks removed, trailing dots removed; a top-level name reserved by Exchange (`Calendar`, `Contacts`, `Tasks`, `Notes`, `Journal`, `Sync Issues`, `Conversation History`, `RSS Feeds`, ...) gets ` (mail)` appended |
//! | [`Gmail`](TargetProfile::Gmail) | insensitive | leading and trailing blanks removed; `^` → `_`; a top-level `[Gmail]`/`[Google Mail]` or a system label name (`Sent`, `Spam`, `Starred`, ...) gets ` (mail)` appended |
//! | [`Generic`](TargetProfile::Generic) | sensitive | only the rules for all |
//!
//! INBOX is never changed. Every change is reported as an [`Adjustment`].
//!
//! ```
//! use imapmig_folders::{Adjustment, TargetProfile};
//!
//! let (fixed, why) = TargetProfile::Exchange.fix_path(&["Calendar".into(), "2024 ".into()]);
//! assert_eq!(fixed, ["Calendar (mail)", "2024"]);
//! assert_eq!(why.len(), 2);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::special_use::SpecialUse;

/// The longest path component the profiles allow, in characters.
pub const MAX_COMPONENT_CHARS: usize = 255;

/// What kind of server the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum TargetProfile {
    /// Any IMAP server (Dovecot, Cyrus, Courier...).
    #[default]
    Generic,
    /// Microsoft Exchange / Office 365.
    Exchange,
    /// Gmail / Google Workspace.
    Gmail,
}

/// One change a profile made to a target path component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Adjustment {
    /// A component contained the target's delimiter and was escaped.
    Escaped {
        /// The component before.
        from: String,
        /// After.
        to: String,
    },
    /// An empty component was replaced.
    Empty,
    /// Control characters were replaced.
    ControlCharacters,
    /// A component was cut to [`MAX_COMPONENT_CHARS`].
    Truncated,
    /// Leading or trailing blanks or dots were removed.
    Trimmed,
    /// Characters the target refuses were replaced.
    ForbiddenCharacter(char),
    /// A name the target reserves was suffixed.
    Reserved(String),
}

impl fmt::Display for Adjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Escaped { from, to } => write!(f, "delimiter escaped ({from:?} -> {to:?})"),
            Self::Empty => f.write_str("empty component replaced"),
            Self::ControlCharacters => f.write_str("control characters replaced"),
            Self::Truncated => write!(f, "component cut to {MAX_COMPONENT_CHARS} characters"),
            Self::Trimmed => f.write_str("blanks trimmed"),
            Self::ForbiddenCharacter(c) => write!(f, "forbidden character {c:?} replaced"),
            Self::Reserved(name) => write!(f, "reserved name {name:?} suffixed"),
        }
    }
}

const EXCHANGE_RESERVED: &[&str] = &[
    "calendar",
    "contacts",
    "tasks",
    "notes",
    "journal",
    "sync issues",
    "conversation history",
    "rss feeds",
    "conversation action settings",
    "quick step settings",
    "outbox",
    "suggested contacts",
];

const GMAIL_RESERVED: &[&str] = &[
    "[gmail]",
    "[google mail]",
    "sent",
    "spam",
    "trash",
    "drafts",
    "starred",
    "important",
    "chats",
    "all mail",
    "sent mail",
    "scheduled",
    "snoozed",
];

const RESERVED_SUFFIX: &str = " (mail)";

impl TargetProfile {
    /// Whether folder names on the target are compared without regard to case.
    pub fn case_insensitive(self) -> bool {
        matches!(self, Self::Exchange | Self::Gmail)
    }

    /// The folder a role goes to on this target when its LIST does not show one.
    pub fn role_folder(self, role: SpecialUse) -> Option<&'static str> {
        match (self, role) {
            (Self::Exchange, SpecialUse::Sent) => Some("Sent Items"),
            (Self::Exchange, SpecialUse::Trash) => Some("Deleted Items"),
            (Self::Exchange, SpecialUse::Junk) => Some("Junk Email"),
            (Self::Exchange, SpecialUse::Drafts) => Some("Drafts"),
            (Self::Exchange, SpecialUse::Archive) => Some("Archive"),
            (Self::Gmail, SpecialUse::Sent) => Some("[Gmail]/Sent Mail"),
            (Self::Gmail, SpecialUse::Trash) => Some("[Gmail]/Trash"),
            (Self::Gmail, SpecialUse::Junk) => Some("[Gmail]/Spam"),
            (Self::Gmail, SpecialUse::Drafts) => Some("[Gmail]/Drafts"),
            _ => None,
        }
    }

    /// Applies the profile's rules to a target path (components relative
    /// to the personal namespace), returning the valid path and what changed.
    pub fn fix_path(self, path: &[String]) -> (Vec<String>, Vec<Adjustment>) {
        let mut adjustments = Vec::new();
        if path.len() == 1 && path[0].eq_ignore_ascii_case("INBOX") {
            return (vec!["INBOX".to_owned()], adjustments);
        }
        let fixed = path
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 && c.eq_ignore_ascii_case("INBOX") {
                    return "INBOX".to_owned();
                }
                self.fix_component(c, i == 0, &mut adjustments)
            })
            .collect();
        (fixed, adjustments)
    }

    fn fix_component(self, component: &str, top: bool, adj: &mut Vec<Adjustment>) -> String {
        let mut c: String = component.to_owned();
        if c.chars().any(char::is_control) {
            c = c
                .chars()
                .map(|ch| if ch.is_control() { '_' } else { ch })
                .collect();
            adj.push(Adjustment::ControlCharacters);
        }
        match self {
            Self::Generic => {}
            Self::Exchange => {
                let t = c.trim().trim_end_matches('.').trim_end();
                if t.len() != c.len() {
                    c = t.to_owned();
                    adj.push(Adjustment::Trimmed);
                }
            }
            Self::Gmail => {
                let t = c.trim();
                if t.len() != c.len() {
                    c = t.to_owned();
                    adj.push(Adjustment::Trimmed);
                }
                if c.contains('^') {
                    c = c.replace('^', "_");
                    adj.push(Adjustment::ForbiddenCharacter('^'));
                }
            }
        }
        if c.is_empty() {
            c = "_".to_owned();
            adj.push(Adjustment::Empty);
        }
        if c.chars().count() > MAX_COMPONENT_CHARS {
            c = c.chars().take(MAX_COMPONENT_CHARS).collect();
            adj.push(Adjustment::Truncated);
        }
        let reserved = match self {
            Self::Generic => &[][..],
            Self::Exchange => EXCHANGE_RESERVED,
            Self::Gmail => GMAIL_RESERVED,
        };
        if top && reserved.contains(&c.to_lowercase().as_str()) {
            adj.push(Adjustment::Reserved(c.clone()));
            c.push_str(RESERVED_SUFFIX);
        }
        c
    }
}

impl FromStr for TargetProfile {
    type Err = String;

    /// `generic`, `exchange` (or `office365`, `o365`), `gmail`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "generic" | "imap" | "dovecot" => Ok(Self::Generic),
            "exchange" | "office365" | "o365" => Ok(Self::Exchange),
            "gmail" | "google" => Ok(Self::Gmail),
            _ => Err(format!(
                "unknown target profile {s:?} (generic, exchange, gmail)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_table() {
        let long = "x".repeat(300);
        let cases: &[(TargetProfile, &[&str], &[&str], usize)] = &[
            (TargetProfile::Generic, &["a", "", "b"], &["a", "_", "b"], 1),
            (TargetProfile::Generic, &["a\tb"], &["a_b"], 1),
            (TargetProfile::Generic, &["Calendar"], &["Calendar"], 0),
            (TargetProfile::Generic, &[long.as_str()], &[&long[..255]], 1),
            (
                TargetProfile::Exchange,
                &["Calendar"],
                &["Calendar (mail)"],
                1,
            ),
            (
                TargetProfile::Exchange,
                &["Work", "Calendar"],
                &["Work", "Calendar"],
                0,
            ),
            (TargetProfile::Exchange, &["a. "], &["a"], 1),
            (TargetProfile::Exchange, &["  "], &["_"], 2),
            (TargetProfile::Gmail, &[" a^b "], &["a_b"], 2),
            (
                TargetProfile::Gmail,
                &["[Gmail]", "x"],
                &["[Gmail] (mail)", "x"],
                1,
            ),
            (TargetProfile::Gmail, &["INBOX"], &["INBOX"], 0),
            (TargetProfile::Gmail, &["inbox", "x"], &["INBOX", "x"], 0),
        ];
        for (profile, input, want, n) in cases {
            let input: Vec<String> = input.iter().map(|s| s.to_string()).collect();
            let (got, adj) = profile.fix_path(&input);
            assert_eq!(got, *want, "{profile:?} {input:?}");
            assert_eq!(adj.len(), *n, "{profile:?} {input:?}: {adj:?}");
        }
    }

    #[test]
    fn parse_profiles() {
        assert_eq!(
            "Office365".parse::<TargetProfile>().unwrap(),
            TargetProfile::Exchange
        );
        assert!("lotus".parse::<TargetProfile>().is_err());
    }
}
