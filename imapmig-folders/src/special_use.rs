//! Special-use roles (RFC 6154): from attributes first, then from names.
//!
//! Servers without SPECIAL-USE (and many with it) still have a Sent or a
//! Trash folder; this module recognises them by the names the major
//! providers use, in English and a dozen other languages, so that
//! `[Gmail]/Sent Mail` lands in Exchange's `Sent Items` without a rule.
//!
//! ```
//! use imapmig_folders::{Attribute, SpecialUse};
//!
//! assert_eq!(SpecialUse::from_attributes(&[Attribute::HasNoChildren, Attribute::Sent]), Some(SpecialUse::Sent));
//! assert_eq!(SpecialUse::from_name("[Google Mail]/Gesendet", Some('/')), Some(SpecialUse::Sent));
//! assert_eq!(SpecialUse::from_name("INBOX.Deleted Items", Some('.')), Some(SpecialUse::Trash));
//! assert_eq!(SpecialUse::from_name("Projects", Some('/')), None);
//! ```

use std::fmt;

use crate::response::Attribute;

/// The role of a special folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\All`: every message (Gmail's All Mail).
    All,
    /// `\Archive`.
    Archive,
    /// `\Drafts`.
    Drafts,
    /// `\Flagged`: flagged messages (Gmail's Starred), usually virtual.
    Flagged,
    /// `\Junk`: spam.
    Junk,
    /// `\Sent`.
    Sent,
    /// `\Trash`.
    Trash,
    /// `\Important` (RFC 8457; Gmail's Important), virtual on Gmail.
    Important,
}

impl SpecialUse {
    /// Every role, in a fixed order.
    pub const ALL: [SpecialUse; 8] = [
        Self::All,
        Self::Archive,
        Self::Drafts,
        Self::Flagged,
        Self::Junk,
        Self::Sent,
        Self::Trash,
        Self::Important,
    ];

    /// The role an attribute gives, if any.
    pub fn from_attribute(attribute: &Attribute) -> Option<Self> {
        Some(match attribute {
            Attribute::All => Self::All,
            Attribute::Archive => Self::Archive,
            Attribute::Drafts => Self::Drafts,
            Attribute::Flagged => Self::Flagged,
            Attribute::Junk => Self::Junk,
            Attribute::Sent => Self::Sent,
            Attribute::Trash => Self::Trash,
            Attribute::Important => Self::Important,
            _ => return None,
        })
    }

    /// The first role among `attributes`.
    pub fn from_attributes(attributes: &[Attribute]) -> Option<Self> {
        attributes.iter().find_map(Self::from_attribute)
    }

    /// The role a folder name suggests, by the names providers use.
    ///
    /// Matched case-insensitively against the last component of the name
    /// (after `delimiter`); a component under `[Gmail]` or `[Google Mail]`
    /// also matches Gmail's localised system folder names. Only top-level
    /// folders or direct children of INBOX (Courier/Cyrus `INBOX.Sent`) or of
    /// the Gmail system folder count: `Work/Sent` is a user's folder, not a role.
    pub fn from_name(name: &str, delimiter: Option<char>) -> Option<Self> {
        let parts: Vec<&str> = match delimiter {
            Some(d) => name.split(d).collect(),
            None => vec![name],
        };
        let (last, parent) = match parts.as_slice() {
            [last] => (*last, None),
            [parent, last] => (*last, Some(*parent)),
            _ => return None,
        };
        let gmail = parent.is_some_and(is_gmail_root);
        if let Some(p) = parent
            && !gmail
            && !p.eq_ignore_ascii_case("INBOX")
        {
            return None;
        }
        let key = last.trim().to_lowercase();
        if gmail && let Some(role) = lookup(GMAIL_NAMES, &key) {
            return Some(role);
        }
        lookup(NAMES, &key)
    }

    /// The RFC 6154 attribute for this role, as written on the wire.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::All => "\\All",
            Self::Archive => "\\Archive",
            Self::Drafts => "\\Drafts",
            Self::Flagged => "\\Flagged",
            Self::Junk => "\\Junk",
            Self::Sent => "\\Sent",
            Self::Trash => "\\Trash",
            Self::Important => "\\Important",
        }
    }
}

impl fmt::Display for SpecialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

/// Whether a top-level component is Gmail's system folder root (`[Gmail]`,
/// or `[Google Mail]` in Germany and the UK).
pub fn is_gmail_root(component: &str) -> bool {
    component.eq_ignore_ascii_case("[Gmail]") || component.eq_ignore_ascii_case("[Google Mail]")
}

fn lookup(table: &[(&str, SpecialUse)], key: &str) -> Option<SpecialUse> {
    table.iter().find(|(n, _)| *n == key).map(|&(_, r)| r)
}

/// Gmail's system folders under `[Gmail]`, in its interface languages.
const GMAIL_NAMES: &[(&str, SpecialUse)] = &[
    ("all mail", SpecialUse::All),
    ("alle nachrichten", SpecialUse::All),
    ("tous les messages", SpecialUse::All),
    ("todos", SpecialUse::All),
    ("tutti i messaggi", SpecialUse::All),
    ("alle berichten", SpecialUse::All),
    ("todos os e-mails", SpecialUse::All),
    ("wszystkie", SpecialUse::All),
    ("вся почта", SpecialUse::All),
    ("すべてのメール", SpecialUse::All),
    ("所有邮件", SpecialUse::All),
    ("sent mail", SpecialUse::Sent),
    ("starred", SpecialUse::Flagged),
    ("markiert", SpecialUse::Flagged),
    ("suivis", SpecialUse::Flagged),
    ("destacados", SpecialUse::Flagged),
    ("speciali", SpecialUse::Flagged),
    ("met ster", SpecialUse::Flagged),
    ("com estrela", SpecialUse::Flagged),
    ("oznaczone gwiazdką", SpecialUse::Flagged),
    ("помеченные", SpecialUse::Flagged),
    ("スター付き", SpecialUse::Flagged),
    ("已加星标", SpecialUse::Flagged),
    ("important", SpecialUse::Important),
    ("wichtig", SpecialUse::Important),
    ("importants", SpecialUse::Important),
    ("importantes", SpecialUse::Important),
    ("importanti", SpecialUse::Important),
    ("belangrijk", SpecialUse::Important),
    ("ważne", SpecialUse::Important),
    ("важные", SpecialUse::Important),
    ("重要", SpecialUse::Important),
    ("spam", SpecialUse::Junk),
    ("bin", SpecialUse::Trash),
];

/// Names of special folders across providers and languages (lowercase).
const NAMES: &[(&str, SpecialUse)] = &[
    // English, Exchange/Office 365, Yahoo, Outlook.com, iCloud, Courier/Cyrus.
    ("sent", SpecialUse::Sent),
    ("sent items", SpecialUse::Sent),
    ("sent mail", SpecialUse::Sent),
    ("sent messages", SpecialUse::Sent),
    ("trash", SpecialUse::Trash),
    ("deleted items", SpecialUse::Trash),
    ("deleted messages", SpecialUse::Trash),
    ("deleted", SpecialUse::Trash),
    ("bin", SpecialUse::Trash),
    ("drafts", SpecialUse::Drafts),
    ("draft", SpecialUse::Drafts),
    ("junk", SpecialUse::Junk),
    ("junk email", SpecialUse::Junk),
    ("junk e-mail", SpecialUse::Junk),
    ("junk mail", SpecialUse::Junk),
    ("spam", SpecialUse::Junk),
    ("bulk mail", SpecialUse::Junk),
    ("bulk", SpecialUse::Junk),
    ("archive", SpecialUse::Archive),
    ("archives", SpecialUse::Archive),
    ("all mail", SpecialUse::All),
    ("starred", SpecialUse::Flagged),
    ("flagged", SpecialUse::Flagged),
    // German.
    ("gesendet", SpecialUse::Sent),
    ("gesendete elemente", SpecialUse::Sent),
    ("gesendete objekte", SpecialUse::Sent),
    ("papierkorb", SpecialUse::Trash),
    ("gelöschte elemente", SpecialUse::Trash),
    ("gelöschte objekte", SpecialUse::Trash),
    ("entwürfe", SpecialUse::Drafts),
    ("junk-e-mail", SpecialUse::Junk),
    ("archiv", SpecialUse::Archive),
    // French.
    ("envoyés", SpecialUse::Sent),
    ("éléments envoyés", SpecialUse::Sent),
    ("messages envoyés", SpecialUse::Sent),
    ("corbeille", SpecialUse::Trash),
    ("éléments supprimés", SpecialUse::Trash),
    ("brouillons", SpecialUse::Drafts),
    ("courrier indésirable", SpecialUse::Junk),
    ("indésirables", SpecialUse::Junk),
    // Spanish.
    ("enviados", SpecialUse::Sent),
    ("elementos enviados", SpecialUse::Sent),
    ("papelera", SpecialUse::Trash),
    ("elementos eliminados", SpecialUse::Trash),
    ("borradores", SpecialUse::Drafts),
    ("correo no deseado", SpecialUse::Junk),
    ("archivo", SpecialUse::Archive),
    // Italian.
    ("inviati", SpecialUse::Sent),
    ("posta inviata", SpecialUse::Sent),
    ("posta eliminata", SpecialUse::Trash),
    ("cestino", SpecialUse::Trash),
    ("bozze", SpecialUse::Drafts),
    ("posta indesiderata", SpecialUse::Junk),
    ("archivio", SpecialUse::Archive),
    // Dutch.
    ("verzonden", SpecialUse::Sent),
    ("verzonden items", SpecialUse::Sent),
    ("prullenbak", SpecialUse::Trash),
    ("verwijderde items", SpecialUse::Trash),
    ("concepten", SpecialUse::Drafts),
    ("ongewenste e-mail", SpecialUse::Junk),
    ("archief", SpecialUse::Archive),
    // Portuguese.
    ("itens enviados", SpecialUse::Sent),
    ("e-mails enviados", SpecialUse::Sent),
    ("lixeira", SpecialUse::Trash),
    ("lixo", SpecialUse::Trash),
    ("itens excluídos", SpecialUse::Trash),
    ("itens eliminados", SpecialUse::Trash),
    ("rascunhos", SpecialUse::Drafts),
    ("lixo eletrónico", SpecialUse::Junk),
    ("lixo eletrônico", SpecialUse::Junk),
    // Polish.
    ("wysłane", SpecialUse::Sent),
    ("elementy wysłane", SpecialUse::Sent),
    ("kosz", SpecialUse::Trash),
    ("elementy usunięte", SpecialUse::Trash),
    ("wersje robocze", SpecialUse::Drafts),
    ("kopie robocze", SpecialUse::Drafts),
    ("wiadomości-śmieci", SpecialUse::Junk),
    // Russian.
    ("отправленные", SpecialUse::Sent),
    ("корзина", SpecialUse::Trash),
    ("удаленные", SpecialUse::Trash),
    ("удалённые", SpecialUse::Trash),
    ("черновики", SpecialUse::Drafts),
    ("спам", SpecialUse::Junk),
    ("нежелательная почта", SpecialUse::Junk),
    ("архив", SpecialUse::Archive),
    // Japanese.
    ("送信済み", SpecialUse::Sent),
    ("送信済みメール", SpecialUse::Sent),
    ("送信済みアイテム", SpecialUse::Sent),
    ("ゴミ箱", SpecialUse::Trash),
    ("削除済みアイテム", SpecialUse::Trash),
    ("下書き", SpecialUse::Drafts),
    ("迷惑メール", SpecialUse::Junk),
    // Chinese.
    ("已发送", SpecialUse::Sent),
    ("已发邮件", SpecialUse::Sent),
    ("已傳送", SpecialUse::Sent),
    ("已删除", SpecialUse::Trash),
    ("已删除邮件", SpecialUse::Trash),
    ("垃圾箱", SpecialUse::Trash),
    ("草稿", SpecialUse::Drafts),
    ("草稿箱", SpecialUse::Drafts),
    ("垃圾邮件", SpecialUse::Junk),
    // Swedish and Czech.
    ("skickat", SpecialUse::Sent),
    ("skickade objekt", SpecialUse::Sent),
    ("papperskorgen", SpecialUse::Trash),
    ("borttagna objekt", SpecialUse::Trash),
    ("utkast", SpecialUse::Drafts),
    ("odeslané", SpecialUse::Sent),
    ("koš", SpecialUse::Trash),
    ("koncepty", SpecialUse::Drafts),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases: &[(&str, Option<char>, Option<SpecialUse>)] = &[
            ("[Gmail]/Sent Mail", Some('/'), Some(SpecialUse::Sent)),
            ("[Gmail]/All Mail", Some('/'), Some(SpecialUse::All)),
            (
                "[Google Mail]/Alle Nachrichten",
                Some('/'),
                Some(SpecialUse::All),
            ),
            ("[Gmail]/Starred", Some('/'), Some(SpecialUse::Flagged)),
            ("[Gmail]/Important", Some('/'), Some(SpecialUse::Important)),
            ("[Gmail]/Spam", Some('/'), Some(SpecialUse::Junk)),
            ("[Gmail]/Bin", Some('/'), Some(SpecialUse::Trash)),
            ("[Gmail]/Corbeille", Some('/'), Some(SpecialUse::Trash)),
            ("Sent Items", Some('/'), Some(SpecialUse::Sent)),
            ("Deleted Items", Some('/'), Some(SpecialUse::Trash)),
            ("Junk Email", Some('/'), Some(SpecialUse::Junk)),
            ("INBOX.Sent", Some('.'), Some(SpecialUse::Sent)),
            ("inbox.trash", Some('.'), Some(SpecialUse::Trash)),
            ("Bulk Mail", Some('/'), Some(SpecialUse::Junk)),
            ("Gesendete Elemente", Some('/'), Some(SpecialUse::Sent)),
            ("Éléments supprimés", Some('/'), Some(SpecialUse::Trash)),
            ("Papelera", Some('/'), Some(SpecialUse::Trash)),
            ("Posta inviata", Some('/'), Some(SpecialUse::Sent)),
            ("Verzonden items", Some('/'), Some(SpecialUse::Sent)),
            ("Itens enviados", Some('/'), Some(SpecialUse::Sent)),
            ("Elementy wysłane", Some('/'), Some(SpecialUse::Sent)),
            ("Отправленные", Some('/'), Some(SpecialUse::Sent)),
            ("送信済みアイテム", Some('/'), Some(SpecialUse::Sent)),
            ("已发送", Some('/'), Some(SpecialUse::Sent)),
            ("Work/Sent", Some('/'), None),
            ("Projects", Some('/'), None),
            ("a/b/Trash", Some('/'), None),
            ("Sent", None, Some(SpecialUse::Sent)),
        ];
        for (name, delim, want) in cases {
            assert_eq!(SpecialUse::from_name(name, *delim), *want, "{name}");
        }
    }

    #[test]
    fn attributes_first_role_wins() {
        assert_eq!(
            SpecialUse::from_attributes(&[
                Attribute::NoInferiors,
                Attribute::Junk,
                Attribute::Trash
            ]),
            Some(SpecialUse::Junk)
        );
        assert_eq!(SpecialUse::from_attributes(&[Attribute::Marked]), None);
    }
}
