//! The folder map section: where every source folder goes on the target,
//! what is skipped and why, which folders collide, and where mail found only
//! in Gmail's All Mail goes, from imapmig-folders' [`Mapper`].

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use imapmig_folders::{
    ArchiveDetector, Decision, FolderPlan, GmailPolicy, Hierarchy, MailboxName, Mapper, Rules,
    TargetProfile, is_gmail_root,
};

use super::scan::{Mailbox, Message, Tree};
use imapmig_core::inventory::FolderSize;

/// The target layout asked for on the command line.
#[derive(Debug)]
pub(super) struct Target {
    /// The target's hierarchy.
    pub(super) hierarchy: Hierarchy,
    /// Rename rules, when given.
    pub(super) rules: Option<Rules>,
    /// What the target refuses or treats specially.
    pub(super) profile: TargetProfile,
}

impl Target {
    /// The target from `--target-sep`, `--target-prefix` and `--rules`.
    pub(super) fn new(
        sep: char,
        prefix: &str,
        rules: Option<&Path>,
        profile: TargetProfile,
    ) -> anyhow::Result<Self> {
        let hierarchy = Hierarchy::new(Some(sep), prefix)
            .with_context(|| format!("target separator {sep:?} with prefix {prefix:?}"))?;
        let rules = match rules {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the rules file {}", path.display()))?;
                Some(
                    Rules::parse(&text)
                        .with_context(|| format!("in the rules file {}", path.display()))?,
                )
            }
            None => None,
        };
        Ok(Target {
            hierarchy,
            rules,
            profile,
        })
    }
}

/// The folder plans of every mailbox and what the pass learns for them.
#[derive(Debug)]
pub(super) struct FolderMap {
    target: Hierarchy,
    profile: TargetProfile,
    mailboxes: Vec<MailboxMap>,
}

#[derive(Debug)]
struct MailboxMap {
    plan: FolderPlan,
    gmail: bool,
    /// Folder name on disk → source name as a server would show it.
    source_names: HashMap<String, String>,
    /// Which messages of All Mail are in no copied folder.
    archive: ArchiveDetector,
    /// Size of each message identity seen in an All Mail folder.
    all_mail_sizes: HashMap<String, u64>,
}

impl FolderMap {
    /// Plan every mailbox's folders for the target.
    pub(super) fn plan(trees: &[Tree], target: &Target) -> anyhow::Result<Self> {
        let mut mailboxes = Vec::with_capacity(trees.len());
        for tree in trees {
            let source = if tree.maildir_plus_plus {
                Hierarchy::new(Some('.'), "")?
            } else {
                Hierarchy::new(Some('/'), "")?
            };
            let mut source_names = HashMap::new();
            let mut names = Vec::with_capacity(tree.folders.len());
            for folder in &tree.folders {
                // On disk a name may be modified UTF-7 (Dovecot's default) or UTF-8.
                let name = MailboxName::from_wire(folder.name.as_bytes())
                    .with_context(|| format!("folder name {:?}", folder.name))?
                    .as_str()
                    .to_owned();
                source_names.insert(folder.name.clone(), name.clone());
                names.push(name);
            }
            let delimiter = source.delimiter();
            let gmail = names.iter().any(|n| {
                let first = delimiter.map_or(n.as_str(), |d| n.split(d).next().unwrap_or(n));
                is_gmail_root(first)
            });
            let mut mapper = Mapper::new(source, target.hierarchy.clone()).profile(target.profile);
            if let Some(rules) = &target.rules {
                mapper = mapper.rules(rules.clone());
            }
            if gmail {
                mapper = mapper.gmail(GmailPolicy::default());
            }
            let plan = mapper
                .plan_names(&names)
                .with_context(|| format!("mapping the folders of {}", tree.label))?;
            mailboxes.push(MailboxMap {
                archive: plan.archive_detector(),
                plan,
                gmail,
                source_names,
                all_mail_sizes: HashMap::new(),
            });
        }
        Ok(FolderMap {
            target: target.hierarchy.clone(),
            profile: target.profile,
            mailboxes,
        })
    }

    /// Record where a message with this identity (a content fingerprint) is.
    pub(super) fn observe(&mut self, message: &Message<'_>, identity: &str) {
        let Some(mailbox) = self.mailboxes.get_mut(message.mailbox) else {
            return;
        };
        let Some(source) = mailbox.source_names.get(message.folder) else {
            return;
        };
        mailbox.archive.record(source, identity);
        let in_all_mail = mailbox
            .plan
            .get(source)
            .is_some_and(|e| e.reason == imapmig_folders::Reason::AllMail);
        if in_all_mail {
            mailbox
                .all_mail_sizes
                .insert(identity.to_owned(), message.bytes.len() as u64);
        }
    }

    /// Folder pairs that would land on one target, over all mailboxes.
    pub(super) fn collisions(&self) -> usize {
        self.mailboxes
            .iter()
            .map(|m| m.plan.collisions().len())
            .sum()
    }

    /// Whether any mailbox has Gmail's folders.
    pub(super) fn any_gmail(&self) -> bool {
        self.mailboxes.iter().any(|m| m.gmail)
    }

    /// What a migration of mailbox `index` copies: every copied folder (by
    /// source name), plus `(archived-only)` for the mail found only in All Mail.
    pub(super) fn copied_folders(&self, index: usize, mailbox: &Mailbox) -> Vec<FolderSize> {
        let Some(map) = self.mailboxes.get(index) else {
            return Vec::new();
        };
        let mut copied: Vec<FolderSize> = mailbox
            .folders
            .iter()
            .filter_map(|folder| {
                let source = map.source_names.get(&folder.name)?;
                map.plan.target_of(source)?;
                Some(FolderSize {
                    name: source.clone(),
                    messages: folder.messages,
                    bytes: folder.bytes,
                })
            })
            .collect();
        let archived = map.archive.archived_only();
        if !archived.is_empty() {
            copied.push(FolderSize::from_message_sizes(
                "(archived-only)",
                archived
                    .iter()
                    .map(|identity| map.all_mail_sizes.get(*identity).copied().unwrap_or(0)),
            ));
        }
        copied
    }

    /// Messages and bytes a migration of mailbox `index` copies.
    pub(super) fn to_migrate(&self, index: usize, mailbox: &Mailbox) -> (u64, u64) {
        let copied = self.copied_folders(index, mailbox);
        (
            copied.iter().map(|f| f.messages).sum(),
            copied.iter().map(|f| f.bytes).sum(),
        )
    }

    /// Write the section.
    pub(super) fn write(&self, out: &mut impl Write, mailboxes: &[Mailbox]) -> std::io::Result<()> {
        writeln!(out, "== Folder map")?;
        writeln!(
            out,
            "target: {:?} between levels, prefix {:?}, {} profile (--target-sep, --target-prefix, --profile, --rules FILE)",
            self.target.delimiter().map_or(String::new(), String::from),
            self.target.prefix(),
            profile_name(self.profile)
        )?;
        for (mailbox, map) in mailboxes.iter().zip(&self.mailboxes) {
            map.write(out, mailbox)?;
        }
        writeln!(out)
    }
}

impl MailboxMap {
    fn write(&self, out: &mut impl Write, mailbox: &Mailbox) -> std::io::Result<()> {
        writeln!(out, "mailbox {}", mailbox.label)?;
        if self.gmail {
            writeln!(
                out,
                "  Gmail folders found: All Mail, Important and Starred are not copied as folders"
            )?;
        }
        let counts: HashMap<&str, u64> = mailbox
            .folders
            .iter()
            .filter_map(|f| {
                self.source_names
                    .get(&f.name)
                    .map(|s| (s.as_str(), f.messages))
            })
            .collect();
        let entries = self.plan.entries();
        let source_width = entries
            .iter()
            .map(|e| e.source.as_str().chars().count())
            .max()
            .unwrap_or(0);
        let target_width = entries
            .iter()
            .map(|e| e.target().map_or(6, |t| t.as_str().chars().count()))
            .max()
            .unwrap_or(0);
        for entry in entries {
            let source = entry.source.as_str();
            let target = match &entry.decision {
                Decision::Copy(t) => t.as_str().to_owned(),
                _ => "[SKIP]".to_owned(),
            };
            let mut why = entry.reason.to_string();
            for adjustment in &entry.adjustments {
                why.push_str("; ");
                why.push_str(&adjustment.to_string());
            }
            writeln!(
                out,
                "  {:<source_width$} -> {:<target_width$} {:>6} messages  ({why})",
                source,
                target,
                counts.get(source).copied().unwrap_or(0)
            )?;
        }
        if let Some(archive) = self.plan.archive_target() {
            let archived = self.archive.archived_only().len();
            writeln!(
                out,
                "  {archived} archived-only messages (in All Mail and in no copied folder) -> {archive}"
            )?;
        }
        let collisions = self.plan.collisions();
        if collisions.is_empty() {
            writeln!(out, "  collisions: none")?;
        } else {
            for c in collisions {
                writeln!(
                    out,
                    "  COLLISION: {} and {} -> {} (a --rules line such as `^{}$ -> NEW NAME` separates them)",
                    c.first,
                    c.second,
                    c.target,
                    regex_escape(c.first.as_str())
                )?;
            }
        }
        Ok(())
    }
}

fn profile_name(profile: TargetProfile) -> &'static str {
    match profile {
        TargetProfile::Exchange => "exchange",
        TargetProfile::Gmail => "gmail",
        _ => "generic",
    }
}

/// A folder name as a regex matching exactly it.
fn regex_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_names_match_only_themselves_as_rules() {
        let names = [
            "Sent Mail",
            "[Gmail]/Sent Mail",
            "Releases v1.2",
            "a.b",
            "Q&A (old) $1 ^x* {2}",
            "Écoles",
        ];
        for name in names {
            let rules = Rules::parse(&format!("^{}$ -> Renamed", regex_escape(name))).unwrap();
            assert!(rules.apply(name).is_some(), "{name}");
            for other in names.iter().filter(|o| **o != name) {
                assert!(rules.apply(other).is_none(), "{name} matched {other}");
            }
        }
    }
}
