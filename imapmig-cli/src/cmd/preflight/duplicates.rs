//! The duplicates section: copies of one message and Message-IDs shared by
//! different messages, from imapmig-dedupe's [`DuplicateFinder`] with its
//! default policy (equal content fingerprints in any folder; transport
//! headers such as `Received` do not count).

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;

use imapmig_dedupe::{
    DuplicateFinder, DuplicateGroup, FingerprintKey, Fingerprinter, MessageIdStatus, Policy,
};

use super::scan::{Mailbox, Message};

/// How many of the largest duplicate groups the report lists.
const LISTED_GROUPS: usize = 5;

/// Duplicates of every mailbox; each mailbox has its own finder (the same
/// message in two users' mailboxes is not a duplicate).
#[derive(Debug, Default)]
pub(super) struct Duplicates {
    mailboxes: Vec<MailboxDuplicates>,
}

/// What the other sections learn about a message from its fingerprints.
#[derive(Debug)]
pub(super) struct Identity {
    /// A copy of a message met before (same content, any folder).
    pub(super) duplicate: bool,
    /// The Message-ID, when it is usable, as `<...>`.
    pub(super) message_id: Option<String>,
    /// The content fingerprint in hex (equal for copies of one message).
    pub(super) content: Option<String>,
}

#[derive(Debug)]
struct MailboxDuplicates {
    fingerprinter: Fingerprinter,
    finder: DuplicateFinder,
    /// Per message, in the order added: its Message-ID as shown and a hash of its bytes.
    messages: Vec<(Option<String>, u64)>,
    /// Messages whose Message-ID cannot stand for them, by reason.
    unusable_ids: BTreeMap<&'static str, u64>,
}

impl Duplicates {
    /// Fingerprint one message and give it to its mailbox's finder.
    pub(super) fn observe(&mut self, message: &Message<'_>) -> anyhow::Result<Identity> {
        while self.mailboxes.len() <= message.mailbox {
            self.mailboxes.push(MailboxDuplicates {
                fingerprinter: Fingerprinter::new(&FingerprintKey::generate()?),
                finder: DuplicateFinder::new(Policy::CONTENT),
                messages: Vec::new(),
                unusable_ids: BTreeMap::new(),
            });
        }
        let mailbox = &mut self.mailboxes[message.mailbox];
        let fingerprints = mailbox.fingerprinter.message(message.bytes);
        let verdict = mailbox.finder.add(message.folder, &fingerprints);
        let shown = match &fingerprints.message_id {
            MessageIdStatus::Usable(id) => Some(id.to_string()),
            other => {
                *mailbox
                    .unusable_ids
                    .entry(unusable_reason(other))
                    .or_default() += 1;
                None
            }
        };
        let mut hasher = DefaultHasher::new();
        message.bytes.hash(&mut hasher);
        mailbox.messages.push((shown.clone(), hasher.finish()));
        Ok(Identity {
            duplicate: verdict.is_duplicate(),
            message_id: shown,
            content: fingerprints.content.map(|f| f.to_string()),
        })
    }

    /// Write the section.
    pub(super) fn write(&self, out: &mut impl Write, mailboxes: &[Mailbox]) -> std::io::Result<()> {
        writeln!(out, "== Duplicates")?;
        for (mailbox, found) in mailboxes.iter().zip(&self.mailboxes) {
            found.write(out, &mailbox.label)?;
        }
        writeln!(out)
    }
}

impl MailboxDuplicates {
    fn write(&self, out: &mut impl Write, label: &str) -> std::io::Result<()> {
        let report = self.finder.report();
        writeln!(out, "mailbox {label}")?;
        writeln!(
            out,
            "  messages: {} unique: {} duplicates: {} (same content in any folder; \
             transport headers such as Received are ignored)",
            report.messages, report.unique, report.duplicates
        )?;
        let mut groups: Vec<&DuplicateGroup> = report.groups.iter().collect();
        // Largest first; among equals, in the order met.
        groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
        let identical = groups.iter().filter(|g| self.identical(g)).count();
        writeln!(
            out,
            "  {} groups of copies: {} of identical bytes (one message filed in several \
             folders, as Gmail labels are), {} differing only in transport headers (re-delivered)",
            groups.len(),
            identical,
            groups.len() - identical
        )?;
        for group in groups.iter().take(LISTED_GROUPS) {
            writeln!(
                out,
                "    {} copies of {}: {}",
                group.members.len(),
                self.shown_id(group.members.first().map(|m| m.message)),
                folders(group).join(", ")
            )?;
        }
        for group in groups.iter().filter(|g| !self.identical(g)) {
            writeln!(
                out,
                "    re-delivered: {} in {}",
                self.shown_id(group.members.first().map(|m| m.message)),
                folders(group).join(", ")
            )?;
        }
        for conflict in &report.conflicts {
            writeln!(
                out,
                "  one Message-ID, {} different messages (kept apart, never merged): {}",
                conflict.members.len(),
                conflict.message_id
            )?;
        }
        if !self.unusable_ids.is_empty() {
            let reasons: Vec<String> = self
                .unusable_ids
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            writeln!(
                out,
                "  messages whose Message-ID cannot identify them (matched by content instead): {}",
                reasons.join(", ")
            )?;
        }
        Ok(())
    }

    /// All copies of the group have the same bytes.
    fn identical(&self, group: &DuplicateGroup) -> bool {
        let hash = |m: usize| self.messages.get(m).map(|(_, h)| *h);
        group
            .members
            .windows(2)
            .all(|w| hash(w[0].message) == hash(w[1].message))
    }

    fn shown_id(&self, message: Option<usize>) -> &str {
        message
            .and_then(|m| self.messages.get(m))
            .and_then(|(id, _)| id.as_deref())
            .unwrap_or("(no Message-ID)")
    }
}

/// The distinct folders of a group's members, in order of first appearance.
fn folders(group: &DuplicateGroup) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for member in &group.members {
        if !seen.contains(&member.folder.as_str()) {
            seen.push(&member.folder);
        }
    }
    seen
}

fn unusable_reason(status: &MessageIdStatus) -> &'static str {
    match status {
        MessageIdStatus::Absent => "without Message-ID",
        MessageIdStatus::Empty => "with an empty Message-ID",
        MessageIdStatus::Ambiguous(_) => "with several Message-IDs",
        MessageIdStatus::Malformed { .. } => "with a malformed Message-ID",
        _ => "with a weak Message-ID",
    }
}
