//! The sync state of one folder pair: what was copied where, what was
//! skipped and why, and which copies were started but not confirmed.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{Fingerprint, ModSeq, Uid, UidValidity};
use crate::observation::{FolderStatus, Observation};
use crate::plan::{Plan, Policy, Stage, StageCutoffs, plan_pass};
use crate::tolerance::SkipReason;

/// What was last seen of one side of a folder pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SideMark {
    /// UIDVALIDITY under which the recorded UIDs of this side are valid.
    pub uid_validity: UidValidity,
    /// UIDNEXT at the last pass, when the server sent it.
    pub uid_next: Option<Uid>,
    /// HIGHESTMODSEQ at the last pass (CONDSTORE), when the server has it.
    pub highest_modseq: Option<ModSeq>,
}

impl From<&FolderStatus> for SideMark {
    fn from(status: &FolderStatus) -> Self {
        SideMark {
            uid_validity: status.uid_validity,
            uid_next: status.uid_next,
            highest_modseq: status.highest_modseq,
        }
    }
}

/// A source message known to be on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CopiedMessage {
    /// Its UID on the target, when known (APPENDUID, or found later by
    /// fingerprint). `None` means "copied, target UID not known yet".
    pub target: Option<Uid>,
    /// Its fingerprint, when known.
    pub fingerprint: Option<Fingerprint>,
    /// RFC822.SIZE on the source.
    pub size: u64,
}

/// A source message that was deliberately not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SkippedMessage {
    /// Its fingerprint, when known (lets the skip survive a UIDVALIDITY
    /// change on the source).
    pub fingerprint: Option<Fingerprint>,
    /// RFC822.SIZE on the source.
    pub size: u64,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// Free text for the operator (the server's reply, a defect list).
    pub detail: String,
}

/// A copy that was started (APPEND about to be sent) and not yet
/// confirmed. See [`FolderState::record_intent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Intent {
    /// Fingerprint of the message being appended; without one, an open
    /// intent can only be resolved by the policy for unidentified mail.
    pub fingerprint: Option<Fingerprint>,
    /// RFC822.SIZE on the source.
    pub size: u64,
}

/// The sync state of one folder pair (source folder → target folder).
///
/// The state is what makes a pass resumable and repeatable: it records the
/// UIDVALIDITY of both sides, the map source UID → target UID with each
/// message's fingerprint and size, what was skipped and why, and open
/// intents (copies started but not confirmed).
///
/// # The copy protocol
///
/// 1. [`FolderState::begin_pass`] with fresh observations returns a
///    [`Plan`] and updates the state (validity, reconciled pairs,
///    resolved intents). Save the state.
/// 2. For each message in [`Plan::copy`]: [`FolderState::record_intent`],
///    **save the state**, APPEND, then [`FolderState::record_copied`] (with
///    the APPENDUID when the server has UIDPLUS) or
///    [`FolderState::forget_intent`] when the server answered NO, or
///    [`FolderState::record_skipped`]. Save again. Intents may be batched:
///    record several, save once, append them all.
///
/// A crash anywhere leaves either an open intent (resolved on the next
/// pass by looking for its fingerprint on the target) or a recorded copy:
/// never a duplicate, never a lost record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FolderState {
    pub(crate) source: Option<SideMark>,
    pub(crate) target: Option<SideMark>,
    pub(crate) copied: BTreeMap<Uid, CopiedMessage>,
    pub(crate) skipped: BTreeMap<Uid, SkippedMessage>,
    pub(crate) intents: BTreeMap<Uid, Intent>,
    pub(crate) unidentified: BTreeSet<Uid>,
    /// Cutoffs of the staged passes completed (state format version 2).
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) cutoffs: StageCutoffs,
}

impl FolderState {
    /// An empty state: nothing copied yet.
    pub fn new() -> Self {
        FolderState::default()
    }

    /// The source side as of the last pass.
    pub fn source_mark(&self) -> Option<&SideMark> {
        self.source.as_ref()
    }

    /// Records the source's HIGHESTMODSEQ (CONDSTORE, RFC 7162) once a
    /// pass's flag changes are on the target, so that the next pass may ask
    /// only for flags changed since then (`CHANGEDSINCE`). A pass plans with
    /// the mark it started from; recording the new value before the flag
    /// updates are applied would lose the changes of an interrupted pass.
    ///
    /// Does nothing before the first pass (there is no mark yet). Returns
    /// whether the mark changed.
    pub fn record_source_modseq(&mut self, modseq: Option<ModSeq>) -> bool {
        match self.source.as_mut() {
            Some(mark) if mark.highest_modseq != modseq => {
                mark.highest_modseq = modseq;
                true
            }
            _ => false,
        }
    }

    /// The cutoffs of the staged passes completed on this pair (see
    /// [`StageCutoffs::gap`] for the rule a new stage is checked by).
    pub fn stage_cutoffs(&self) -> StageCutoffs {
        self.cutoffs
    }

    /// Records that a pass of `stage` completed: everything it asked for is
    /// on the target or skipped. Save the state afterwards.
    pub fn record_stage(&mut self, stage: &Stage) {
        self.cutoffs.record(stage);
    }

    /// The target side as of the last pass.
    pub fn target_mark(&self) -> Option<&SideMark> {
        self.target.as_ref()
    }

    /// Copied messages by source UID, ascending.
    pub fn copied(&self) -> impl Iterator<Item = (Uid, &CopiedMessage)> + '_ {
        self.copied.iter().map(|(uid, c)| (*uid, c))
    }

    /// The record for one source UID, if it was copied.
    pub fn copied_message(&self, source: Uid) -> Option<&CopiedMessage> {
        self.copied.get(&source)
    }

    /// Number of copied messages.
    pub fn copied_count(&self) -> usize {
        self.copied.len()
    }

    /// Skipped messages by source UID, ascending.
    pub fn skipped(&self) -> impl Iterator<Item = (Uid, &SkippedMessage)> + '_ {
        self.skipped.iter().map(|(uid, s)| (*uid, s))
    }

    /// Open intents by source UID, ascending.
    pub fn open_intents(&self) -> impl Iterator<Item = (Uid, &Intent)> + '_ {
        self.intents.iter().map(|(uid, i)| (*uid, i))
    }

    /// Source UIDs whose identity could not be established after a
    /// UIDVALIDITY change (kept until a fingerprint settles them).
    pub fn unidentified(&self) -> impl Iterator<Item = Uid> + '_ {
        self.unidentified.iter().copied()
    }

    /// Records that an APPEND of `source` is about to be sent. Save the
    /// state before sending it.
    pub fn record_intent(&mut self, source: Uid, fingerprint: Option<Fingerprint>, size: u64) {
        self.intents.insert(source, Intent { fingerprint, size });
    }

    /// Records a completed copy and closes its intent. `target` is the
    /// APPENDUID's UID when the server has UIDPLUS (RFC 4315), else `None`
    /// (the next pass learns it by fingerprint).
    pub fn record_copied(
        &mut self,
        source: Uid,
        target: Option<Uid>,
        fingerprint: Option<Fingerprint>,
        size: u64,
    ) {
        self.intents.remove(&source);
        self.unidentified.remove(&source);
        self.skipped.remove(&source);
        self.copied.insert(
            source,
            CopiedMessage {
                target,
                fingerprint,
                size,
            },
        );
    }

    /// Closes an intent whose APPEND certainly did not store the message
    /// (a tagged NO or BAD to the APPEND). After a lost connection the
    /// outcome is unknown: leave the intent open instead.
    pub fn forget_intent(&mut self, source: Uid) {
        self.intents.remove(&source);
    }

    /// Records that `source` is not copied, with a reason, and closes its
    /// intent. Write the same skip to the CSV log
    /// ([`crate::tolerance::SkipLog`]).
    pub fn record_skipped(
        &mut self,
        source: Uid,
        fingerprint: Option<Fingerprint>,
        size: u64,
        reason: SkipReason,
        detail: impl Into<String>,
    ) {
        self.intents.remove(&source);
        self.unidentified.remove(&source);
        self.skipped.insert(
            source,
            SkippedMessage {
                fingerprint,
                size,
                reason,
                detail: detail.into(),
            },
        );
    }

    /// Plans a pass and applies its bookkeeping to the state: new
    /// UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, pairs found by UID or
    /// fingerprint, resolved intents, vanished messages forgotten.
    ///
    /// When a UIDVALIDITY change could not be confirmed
    /// ([`crate::plan::ResetVerdict::Unconfirmed`]) the state is left
    /// untouched and the plan copies nothing. Use [`plan_pass`] for a dry
    /// run that changes nothing.
    pub fn begin_pass(
        &mut self,
        source: &Observation,
        target: &Observation,
        stage: &Stage,
        policy: &Policy,
    ) -> Plan {
        let plan = plan_pass(self, source, target, stage, policy);
        self.apply(&plan, source);
        plan
    }

    fn apply(&mut self, plan: &Plan, source: &Observation) {
        if !plan.is_applicable() {
            return;
        }
        let source_reset = plan.reset.as_ref().is_some_and(|r| r.source_changed);
        let old_copied = std::mem::take(&mut self.copied);
        let mut copied = BTreeMap::new();
        for pair in &plan.present {
            let Some(message) = source.message(pair.source) else {
                continue;
            };
            let old = if source_reset {
                None
            } else {
                old_copied.get(&pair.source)
            };
            let fingerprint = message
                .fingerprint
                .or_else(|| old.and_then(|o| o.fingerprint));
            copied.insert(
                pair.source,
                CopiedMessage {
                    target: pair.target,
                    fingerprint,
                    size: message.size,
                },
            );
        }
        if !source_reset {
            for uid in &plan.missing_on_target {
                if plan.copy.binary_search_by_key(uid, |m| m.uid).is_err()
                    && let Some(old) = old_copied.get(uid)
                {
                    copied.insert(*uid, *old);
                }
            }
        }
        self.copied = copied;

        let old_skipped = std::mem::take(&mut self.skipped);
        for (new_uid, old_uid) in &plan.carried_skips {
            if let Some(s) = old_skipped.get(old_uid) {
                self.skipped.insert(*new_uid, s.clone());
            }
        }

        let old_intents = std::mem::take(&mut self.intents);
        self.unidentified = plan.unidentified.iter().copied().collect();
        if !source_reset {
            for uid in &plan.unidentified {
                if let Some(intent) = old_intents.get(uid) {
                    self.intents.insert(*uid, *intent);
                }
            }
        }
        self.source = Some(SideMark::from(&plan.source_status));
        self.target = Some(SideMark::from(&plan.target_status));
    }
}
