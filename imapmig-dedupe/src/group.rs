//! Duplicate verdicts and groups for a set of messages, with the guard
//! against false merges.
//!
//! [`DuplicateFinder`] takes each message's [`MessageFingerprints`] in turn
//! and says whether it duplicates an earlier one ([`Verdict`]); its
//! [`Report`] lists the groups. It is the reporting layer for a mailbox or a
//! sample of one (thousands to a few hundred thousand messages, which it
//! keeps one small record each for); a migration over millions of messages
//! uses the compact [`Index`](crate::Index) instead.
//!
//! # The false-merge guard
//!
//! A wrong "duplicate" loses mail, so a message is a duplicate only when the
//! fingerprint the [`Policy`] requires is equal. Two messages with the same
//! usable Message-ID whose required fingerprints differ (a Sent copy and the
//! mailing-list copy of the same message, an edited re-send, a generator that
//! reuses ids) are a [`Verdict::Conflict`]: both are kept, and the report
//! says so. Only [`Policy::TRUST_MESSAGE_ID`] merges on the id alone, and
//! then the verdict's `matched` strategy shows how little else agreed.

use std::collections::HashMap;

use crate::fingerprint::{Fingerprint, MessageFingerprints, Strategy};
use crate::index::FolderScope;
use crate::message_id::MessageId;

/// What makes two messages one (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Policy {
    /// The fingerprint that must be equal. With [`Strategy::MessageId`], a
    /// message without a usable id is compared by content (by headers when
    /// only those were given). With [`Strategy::Content`], a message given
    /// without its content is never a duplicate.
    pub require: Strategy,
    /// Whether copies in different folders are duplicates.
    pub folders: FolderScope,
}

impl Policy {
    /// Equal content in any folder: the safe default.
    pub const CONTENT: Policy = Policy {
        require: Strategy::Content,
        folders: FolderScope::Any,
    };
    /// Equal header fingerprints in any folder: for header-only fetches.
    pub const HEADERS: Policy = Policy {
        require: Strategy::Headers,
        folders: FolderScope::Any,
    };
    /// Equal usable Message-ID in any folder: trusts every generator.
    pub const TRUST_MESSAGE_ID: Policy = Policy {
        require: Strategy::MessageId,
        folders: FolderScope::Any,
    };
}

impl Default for Policy {
    fn default() -> Self {
        Policy::CONTENT
    }
}

/// The verdict on one message, against the messages added before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Verdict {
    /// Not a duplicate of an earlier message.
    Unique,
    /// A duplicate: the message can be skipped.
    Duplicate {
        /// The number of the first copy (from 0, in the order added).
        original: usize,
        /// The strongest strategy whose fingerprints are equal for both (at
        /// least the policy's).
        matched: Strategy,
    },
    /// Not a duplicate, although it has the same usable Message-ID as an
    /// earlier message: the policy's fingerprint differs. Kept.
    Conflict {
        /// The first message with this Message-ID.
        other: usize,
        /// The strategy whose fingerprints differ.
        differs: Strategy,
    },
}

impl Verdict {
    /// Whether the message can be skipped as a copy of another.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Verdict::Duplicate { .. })
    }
}

/// One message of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Member {
    /// Its number, from 0, in the order added.
    pub message: usize,
    /// Its folder.
    pub folder: String,
}

/// Messages that are copies of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DuplicateGroup {
    /// The weakest strategy by which a member matched the first.
    pub matched: Strategy,
    /// The first copy, then its duplicates, in the order added.
    pub members: Vec<Member>,
}

/// Messages that share a usable Message-ID but differ (the guard fired).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Conflict {
    /// The shared Message-ID.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize_display"))]
    pub message_id: MessageId,
    /// The strategy whose fingerprints differ.
    pub differs: Strategy,
    /// The messages with this id, in the order added (each distinct one is kept).
    pub members: Vec<Member>,
}

#[cfg(feature = "serde")]
fn serialize_display<S: serde::Serializer>(
    id: &MessageId,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}

/// The outcome of a [`DuplicateFinder`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    /// Messages added.
    pub messages: usize,
    /// Messages that are not duplicates (`messages - duplicates`).
    pub unique: usize,
    /// Messages that are duplicates of an earlier one.
    pub duplicates: usize,
    /// Groups of two or more copies, ordered by their first message.
    pub groups: Vec<DuplicateGroup>,
    /// Message-IDs shared by messages that differ, ordered by first message.
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug)]
struct Entry {
    folder: usize,
    fingerprints: [Option<Fingerprint>; 3],
    message_id: Option<MessageId>,
    verdict: Verdict,
}

/// Finds duplicates among messages added one by one (see the [module docs](self)).
///
/// ```
/// use imapmig_dedupe::{DuplicateFinder, FingerprintKey, Fingerprinter, Policy, Verdict};
///
/// let f = Fingerprinter::new(&FingerprintKey::generate()?);
/// let mut finder = DuplicateFinder::new(Policy::default());
/// let sent = b"Message-ID: <x1y2@example.org>\nSubject: Hi\n\nHello\n";
/// let list_copy = b"Message-ID: <x1y2@example.org>\nSubject: [dev] Hi\nList-Id: dev\n\nHello\n";
///
/// assert_eq!(finder.add("Sent", &f.message(sent)), Verdict::Unique);
/// assert!(finder.add("INBOX", &f.message(sent)).is_duplicate());
/// assert!(matches!(finder.add("Lists/dev", &f.message(list_copy)), Verdict::Conflict { other: 0, .. }));
///
/// let report = finder.report();
/// assert_eq!((report.messages, report.unique, report.duplicates), (3, 2, 1));
/// assert_eq!(report.groups.len(), 1);
/// assert_eq!(report.conflicts.len(), 1);
/// # Ok::<(), imapmig_dedupe::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct DuplicateFinder {
    policy: Policy,
    folders: Vec<String>,
    folder_numbers: HashMap<String, usize>,
    entries: Vec<Entry>,
    /// (folder or 0, deciding fingerprint) → first message.
    by_key: HashMap<(usize, Fingerprint), usize>,
    /// (folder or 0, Message-ID fingerprint) → first message.
    by_id: HashMap<(usize, Fingerprint), usize>,
}

const STRATEGIES: [Strategy; 3] = [Strategy::MessageId, Strategy::Headers, Strategy::Content];

impl DuplicateFinder {
    /// An empty finder.
    pub fn new(policy: Policy) -> DuplicateFinder {
        DuplicateFinder {
            policy,
            ..DuplicateFinder::default()
        }
    }

    /// The policy this finder judges by.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Adds the next message (number [`DuplicateFinder::len`] before the
    /// call) and returns its verdict.
    pub fn add(&mut self, folder: &str, fingerprints: &MessageFingerprints) -> Verdict {
        let number = self.entries.len();
        let folder = match self.folder_numbers.get(folder) {
            Some(&n) => n,
            None => {
                self.folders.push(folder.to_owned());
                self.folder_numbers
                    .insert(folder.to_owned(), self.folders.len() - 1);
                self.folders.len() - 1
            }
        };
        let scope = match self.policy.folders {
            FolderScope::Same => folder,
            FolderScope::Any => usize::MAX,
        };
        let all = STRATEGIES.map(|s| fingerprints.get(s));
        let deciding = self.deciding(&all);
        let mut verdict = Verdict::Unique;
        if let Some((_, key)) = deciding {
            match self.by_key.get(&(scope, key)) {
                Some(&original) => {
                    let theirs = &self.entries[original].fingerprints;
                    let matched = STRATEGIES
                        .iter()
                        .zip(all.iter().zip(theirs))
                        .filter(|(_, (a, b))| a.is_some() && a == b)
                        .map(|(s, _)| *s)
                        .max()
                        .unwrap_or(self.policy.require);
                    verdict = Verdict::Duplicate { original, matched };
                }
                None => {
                    self.by_key.insert((scope, key), number);
                }
            }
        }
        // Without the deciding fingerprint nothing is known to differ.
        if let (Some(id_fp), Some((differs, _))) = (all[0], deciding) {
            match self.by_id.get(&(scope, id_fp)) {
                Some(&other) if verdict == Verdict::Unique => {
                    verdict = Verdict::Conflict { other, differs };
                }
                Some(_) => {}
                None => {
                    self.by_id.insert((scope, id_fp), number);
                }
            }
        }
        self.entries.push(Entry {
            folder,
            fingerprints: all,
            message_id: fingerprints.message_id.usable().cloned(),
            verdict,
        });
        verdict
    }

    /// The strategy and fingerprint that decide for a message.
    fn deciding(&self, all: &[Option<Fingerprint>; 3]) -> Option<(Strategy, Fingerprint)> {
        let pick = |s: Strategy| all[s as usize].map(|fp| (s, fp));
        match self.policy.require {
            Strategy::Content => pick(Strategy::Content),
            Strategy::Headers => pick(Strategy::Headers),
            Strategy::MessageId => pick(Strategy::MessageId)
                .or_else(|| pick(Strategy::Content))
                .or_else(|| pick(Strategy::Headers)),
        }
    }

    /// Messages added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no message was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The verdict given to message `message` (numbered from 0).
    pub fn verdict(&self, message: usize) -> Option<Verdict> {
        self.entries.get(message).map(|e| e.verdict)
    }

    /// Groups, conflicts and counts for everything added so far.
    pub fn report(&self) -> Report {
        let member = |message: usize| Member {
            message,
            folder: self.folders[self.entries[message].folder].clone(),
        };
        let mut groups: Vec<DuplicateGroup> = Vec::new();
        let mut group_of: HashMap<usize, usize> = HashMap::new();
        let mut conflicts: Vec<Conflict> = Vec::new();
        let mut conflict_of: HashMap<usize, usize> = HashMap::new();
        let mut duplicates = 0;
        for (number, entry) in self.entries.iter().enumerate() {
            match entry.verdict {
                Verdict::Unique => {}
                Verdict::Duplicate { original, matched } => {
                    duplicates += 1;
                    let group = *group_of.entry(original).or_insert_with(|| {
                        groups.push(DuplicateGroup {
                            matched,
                            members: vec![member(original)],
                        });
                        groups.len() - 1
                    });
                    groups[group].matched = groups[group].matched.min(matched);
                    groups[group].members.push(member(number));
                }
                Verdict::Conflict { other, differs } => {
                    let Some(message_id) = self.entries[other].message_id.clone() else {
                        continue;
                    };
                    let conflict = *conflict_of.entry(other).or_insert_with(|| {
                        conflicts.push(Conflict {
                            message_id,
                            differs,
                            members: vec![member(other)],
                        });
                        conflicts.len() - 1
                    });
                    conflicts[conflict].members.push(member(number));
                }
            }
        }
        groups.sort_by_key(|g| g.members.first().map(|m| m.message));
        Report {
            messages: self.entries.len(),
            unique: self.entries.len() - duplicates,
            duplicates,
            groups,
            conflicts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{FingerprintKey, Fingerprinter};

    fn f() -> Fingerprinter {
        Fingerprinter::new(&FingerprintKey::from_bytes([1; 32]))
    }

    const A: &[u8] = b"Message-ID: <a1b2c3d4@example.org>\nSubject: A\n\nbody a\n";
    const A_CRLF: &[u8] =
        b"Received: by mx\r\nMessage-ID: <a1b2c3d4@example.org>\r\nSubject: A\r\n\r\nbody a\r\n";
    const A_EDITED: &[u8] = b"Message-ID: <a1b2c3d4@example.org>\nSubject: A\n\nbody a, edited\n";
    const NO_ID_1: &[u8] = b"Subject: note\n\nfirst\n";
    const NO_ID_2: &[u8] = b"Subject: note\n\nsecond\n";

    #[test]
    fn verdicts_by_policy() {
        type Case = (
            Policy,
            &'static [(&'static str, &'static [u8])],
            Vec<Verdict>,
        );
        let dup = |original, matched| Verdict::Duplicate { original, matched };
        let conflict = |other, differs| Verdict::Conflict { other, differs };
        let same_folder = Policy {
            require: Strategy::Content,
            folders: FolderScope::Same,
        };
        let cases: Vec<Case> = vec![
            (
                Policy::CONTENT,
                &[("INBOX", A), ("Archive", A_CRLF), ("INBOX", A_EDITED)],
                vec![
                    Verdict::Unique,
                    dup(0, Strategy::Content),
                    conflict(0, Strategy::Content),
                ],
            ),
            (
                same_folder,
                &[("INBOX", A), ("Archive", A), ("INBOX", A)],
                vec![Verdict::Unique, Verdict::Unique, dup(0, Strategy::Content)],
            ),
            (
                Policy::CONTENT,
                &[("INBOX", NO_ID_1), ("INBOX", NO_ID_2), ("Other", NO_ID_1)],
                vec![Verdict::Unique, Verdict::Unique, dup(0, Strategy::Content)],
            ),
            (
                Policy::HEADERS,
                &[("INBOX", A), ("INBOX", A_EDITED)],
                vec![Verdict::Unique, dup(0, Strategy::Headers)],
            ),
            (
                Policy::TRUST_MESSAGE_ID,
                &[("INBOX", A), ("INBOX", A_EDITED), ("INBOX", A_CRLF)],
                vec![
                    Verdict::Unique,
                    dup(0, Strategy::Headers),
                    dup(0, Strategy::Content),
                ],
            ),
            (
                Policy::TRUST_MESSAGE_ID,
                &[("INBOX", NO_ID_1), ("INBOX", NO_ID_2), ("INBOX", NO_ID_1)],
                vec![Verdict::Unique, Verdict::Unique, dup(0, Strategy::Content)],
            ),
        ];
        for (i, (policy, messages, expected)) in cases.iter().enumerate() {
            let mut finder = DuplicateFinder::new(*policy);
            let got: Vec<Verdict> = messages
                .iter()
                .map(|(folder, bytes)| finder.add(folder, &f().message(bytes)))
                .collect();
            assert_eq!(&got, expected, "case {i}");
        }
    }

    #[test]
    fn content_policy_without_content_never_merges() {
        let mut finder = DuplicateFinder::new(Policy::CONTENT);
        let headers_only = f().header_block(A);
        assert_eq!(finder.add("INBOX", &headers_only), Verdict::Unique);
        assert_eq!(finder.add("INBOX", &headers_only), Verdict::Unique);
    }

    #[test]
    fn report_groups_and_conflicts() {
        let mut finder = DuplicateFinder::new(Policy::CONTENT);
        for (folder, bytes) in [
            ("INBOX", A),
            ("[Gmail]/Important", A),
            ("Work", A_CRLF),
            ("INBOX", A_EDITED),
            ("INBOX", NO_ID_1),
        ] {
            let _ = finder.add(folder, &f().message(bytes));
        }
        let report = finder.report();
        assert_eq!(
            (report.messages, report.unique, report.duplicates),
            (5, 3, 2)
        );
        let members: Vec<(usize, &str)> = report.groups[0]
            .members
            .iter()
            .map(|m| (m.message, m.folder.as_str()))
            .collect();
        assert_eq!(
            members,
            [(0, "INBOX"), (1, "[Gmail]/Important"), (2, "Work")]
        );
        assert_eq!(report.groups[0].matched, Strategy::Content);
        assert_eq!(report.conflicts.len(), 1);
        assert_eq!(
            report.conflicts[0].message_id.as_str(),
            "a1b2c3d4@example.org"
        );
        let conflicted: Vec<usize> = report.conflicts[0]
            .members
            .iter()
            .map(|m| m.message)
            .collect();
        assert_eq!(conflicted, [0, 3]);
        assert_eq!(finder.verdict(4), Some(Verdict::Unique));
        assert_eq!(finder.verdict(5), None);
    }
}
