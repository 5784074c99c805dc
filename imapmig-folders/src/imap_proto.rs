//! Adapters from imap-proto 0.17's parsed values (feature `imap-proto`).
//!
//! imap-proto leaves quoted strings escaped (`a\"b`) and cannot carry 8-bit
//! names, so these adapters unescape `\\` and `\"` and work on the UTF-8 it
//! kept. Prefer [`Listing::parse`](crate::Listing::parse) on raw bytes
//! where you have them: it also reads NAMESPACE and keeps 8-bit names.
//!
//! ```
//! use imap_proto::{MailboxListData, NameAttribute};
//! use imapmig_folders::{Attribute, ListEntry};
//!
//! let data = MailboxListData {
//!     name_attributes: vec![NameAttribute::Sent],
//!     delimiter: Some("/".into()),
//!     name: r#"Sent \"old\""#.into(),
//! };
//! let entry = ListEntry::from_imap_proto(&data).unwrap();
//! assert_eq!(entry.name().as_str(), "Sent \"old\"");
//! assert_eq!(entry.attributes(), &[Attribute::Sent]);
//! ```

use imap_proto::{MailboxListData, NameAttribute};

use crate::error::Error;
use crate::gmail::GmailLabel;
use crate::name::MailboxName;
use crate::response::{Attribute, ListEntry, ListKind};

/// Undoes the quoted-string escapes imap-proto leaves in place.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('\\' | '"')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Attribute {
    /// The attribute for an imap-proto `NameAttribute`.
    pub fn from_imap_proto(attribute: &NameAttribute<'_>) -> Self {
        match attribute {
            NameAttribute::NoInferiors => Self::NoInferiors,
            NameAttribute::NoSelect => Self::NoSelect,
            NameAttribute::Marked => Self::Marked,
            NameAttribute::Unmarked => Self::Unmarked,
            NameAttribute::All => Self::All,
            NameAttribute::Archive => Self::Archive,
            NameAttribute::Drafts => Self::Drafts,
            NameAttribute::Flagged => Self::Flagged,
            NameAttribute::Junk => Self::Junk,
            NameAttribute::Sent => Self::Sent,
            NameAttribute::Trash => Self::Trash,
            NameAttribute::Extension(s) => Self::from_flag(s),
            _ => Self::Other(format!("{attribute:?}")),
        }
    }
}

impl ListEntry {
    /// A LIST entry from imap-proto's `MailboxListData`.
    pub fn from_imap_proto(data: &MailboxListData<'_>) -> Result<Self, Error> {
        Self::from_imap_proto_parts(&data.name_attributes, data.delimiter.as_deref(), &data.name)
    }

    /// A LIST entry from the parts async-imap's `Name` exposes
    /// (`attributes()`, `delimiter()`, `name()`).
    pub fn from_imap_proto_parts(
        attributes: &[NameAttribute<'_>],
        delimiter: Option<&str>,
        name: &str,
    ) -> Result<Self, Error> {
        let delimiter = match delimiter.map(unescape) {
            None => None,
            Some(d) => {
                let mut chars = d.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii() => Some(c),
                    _ => return Err(Error::Delimiter(d)),
                }
            }
        };
        let name = MailboxName::from_wire(unescape(name).into_bytes())?;
        Ok(Self::new(
            ListKind::List,
            attributes.iter().map(Attribute::from_imap_proto).collect(),
            delimiter,
            name,
        ))
    }
}

impl GmailLabel {
    /// A label from imap-proto's X-GM-LABELS strings (escaped quoted strings).
    pub fn from_imap_proto(label: &str) -> Self {
        Self::from_wire(unescape(label).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_table() {
        let cases = [
            (r#"a\"b"#, "a\"b"),
            (r"a\\b", "a\\b"),
            (r"a\b", "a\\b"),
            ("a\\", "a\\"),
            ("plain", "plain"),
        ];
        for (input, want) in cases {
            assert_eq!(unescape(input), want);
        }
    }

    #[test]
    fn parts_and_labels() {
        let e = ListEntry::from_imap_proto_parts(
            &[
                NameAttribute::NoSelect,
                NameAttribute::Extension("\\HasChildren".into()),
            ],
            Some("."),
            "INBOX.&AMk-coles",
        )
        .unwrap();
        assert_eq!(e.name().as_str(), "INBOX.Écoles");
        assert_eq!(
            e.attributes(),
            &[Attribute::NoSelect, Attribute::HasChildren]
        );
        assert!(ListEntry::from_imap_proto_parts(&[], Some(".."), "x").is_err());
        assert_eq!(
            GmailLabel::from_imap_proto(r"\\Important"),
            GmailLabel::Important
        );
        assert_eq!(GmailLabel::from_imap_proto("\\Inbox"), GmailLabel::Inbox);
        assert_eq!(
            GmailLabel::from_imap_proto(r#"a \"b\""#),
            GmailLabel::User("a \"b\"".into())
        );
    }
}
