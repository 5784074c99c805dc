//! The duplicates section: copies of one message, found by imapmig-dedupe's
//! content fingerprints, and Message-IDs that do not identify one message.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Write;

use imapmig_dedupe::{Fingerprint, Fingerprinter, FolderId, Index, Lookup, MessageIdStatus, Scope};

use super::scan::{Mailbox, Message};

/// How many of the largest duplicate groups the report lists.
const LISTED_GROUPS: usize = 5;

/// Duplicates of every mailbox; each mailbox has its own index (the same
/// message in two users' mailboxes is not a duplicate).
#[derive(Debug, Default)]
pub(super) struct Duplicates {
    mailboxes: Vec<MailboxDuplicates>,
}

#[derive(Debug)]
struct MailboxDuplicates {
    index: Index,
    fingerprinter: Fingerprinter,
    folders: HashMap<String, FolderId>,
    messages: u64,
    duplicates: u64,
    /// Every message by content fingerprint: its Message-ID and its copies.
    groups: HashMap<Fingerprint, Group>,
    /// Content fingerprints seen under each usable Message-ID.
    by_message_id: BTreeMap<String, BTreeSet<Fingerprint>>,
    /// Messages whose Message-ID cannot stand for them, by reason.
    unusable_ids: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct Group {
    message_id: Option<String>,
    /// (folder, hash of the raw bytes) of each copy.
    copies: Vec<(String, u64)>,
}

impl Duplicates {
    /// Fingerprint one message and record it in its mailbox's index.
    pub(super) fn observe(&mut self, message: &Message<'_>) -> anyhow::Result<()> {
        while self.mailboxes.len() <= message.mailbox {
            let index = Index::new(Scope::ANY_FOLDER)?;
            self.mailboxes.push(MailboxDuplicates {
                fingerprinter: index.fingerprinter(),
                index,
                folders: HashMap::new(),
                messages: 0,
                duplicates: 0,
                groups: HashMap::new(),
                by_message_id: BTreeMap::new(),
                unusable_ids: BTreeMap::new(),
            });
        }
        let mailbox = &mut self.mailboxes[message.mailbox];
        let next = u32::try_from(mailbox.folders.len())?;
        let folder = match mailbox.folders.get(message.folder) {
            Some(id) => *id,
            None => {
                let id = FolderId::try_from(next)?;
                mailbox.folders.insert(message.folder.to_owned(), id);
                id
            }
        };
        let fingerprints = mailbox.fingerprinter.message(message.bytes);
        let Some(content) = fingerprints.content else {
            anyhow::bail!(
                "no content fingerprint for a whole message ({})",
                message.id
            );
        };
        mailbox.messages += 1;
        if let Lookup::Duplicate { .. } = mailbox.index.insert(content, folder)? {
            mailbox.duplicates += 1;
        }
        let message_id = match &fingerprints.message_id {
            MessageIdStatus::Usable(id) => {
                mailbox
                    .by_message_id
                    .entry(id.to_string())
                    .or_default()
                    .insert(content);
                Some(id.to_string())
            }
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
        let group = mailbox.groups.entry(content).or_default();
        group.message_id = group.message_id.take().or(message_id);
        group
            .copies
            .push((message.folder.to_owned(), hasher.finish()));
        Ok(())
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
        writeln!(out, "mailbox {label}")?;
        writeln!(
            out,
            "  messages: {} unique: {} duplicates: {} (same content in any folder; \
             transport headers such as Received are ignored)",
            self.messages,
            self.messages - self.duplicates,
            self.duplicates
        )?;
        let mut groups: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| g.copies.len() > 1)
            .collect();
        groups.sort_by(|a, b| {
            b.copies
                .len()
                .cmp(&a.copies.len())
                .then_with(|| a.message_id.cmp(&b.message_id))
                .then_with(|| a.copies.cmp(&b.copies))
        });
        let identical = groups.iter().filter(|g| g.identical()).count();
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
                group.copies.len(),
                group.message_id.as_deref().unwrap_or("(no Message-ID)"),
                group.folders().join(", ")
            )?;
        }
        for group in groups.iter().filter(|g| !g.identical()) {
            writeln!(
                out,
                "    re-delivered: {} in {}",
                group.message_id.as_deref().unwrap_or("(no Message-ID)"),
                group.folders().join(", ")
            )?;
        }
        for (id, contents) in &self.by_message_id {
            if contents.len() > 1 {
                writeln!(
                    out,
                    "  one Message-ID, {} different messages (kept apart, never merged): {id}",
                    contents.len()
                )?;
            }
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
}

impl Group {
    /// All copies have the same bytes.
    fn identical(&self) -> bool {
        self.copies.windows(2).all(|w| w[0].1 == w[1].1)
    }

    /// The distinct folders of the copies, in order of first appearance.
    fn folders(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for (folder, _) in &self.copies {
            if !seen.contains(&folder.as_str()) {
                seen.push(folder);
            }
        }
        seen
    }
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
