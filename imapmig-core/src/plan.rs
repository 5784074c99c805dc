//! Planning a pass: from the state and fresh observations of both folders,
//! the exact actions to take.
//!
//! Planning is pure and deterministic: the same state and observations
//! always give the same plan, with every list sorted by source UID.

use std::collections::HashMap;
use std::fmt;

use crate::ids::{Fingerprint, Flag, Uid};
use crate::observation::{FolderStatus, Observation, ObservedMessage};
use crate::state::FolderState;

/// Which messages a pass copies, by INTERNALDATE (Unix seconds).
///
/// Stages cover everything between them: `PreStage { before: c }` and
/// `Delta { since: c }` together copy every message whatever its date, and
/// a message whose INTERNALDATE is unknown is treated as recent (copied by
/// `Delta` and `Final`, deferred by `PreStage`). `Final` copies everything
/// still missing. The Date header is never used: it may be missing or
/// bogus, INTERNALDATE is set by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Stage {
    /// Historic sync before cutover: only mail older than `before`.
    PreStage {
        /// Cutoff in Unix seconds (exclusive).
        before: i64,
    },
    /// Delta after cutover: mail from `since` on, and mail of unknown date.
    Delta {
        /// Cutoff in Unix seconds (inclusive).
        since: i64,
    },
    /// The final pass: everything still missing.
    Final,
}

impl Stage {
    /// Whether a message with this INTERNALDATE is copied in this stage.
    pub fn includes(&self, internal_date: Option<i64>) -> bool {
        match *self {
            Stage::PreStage { before } => internal_date.is_some_and(|d| d < before),
            Stage::Delta { since } => internal_date.is_none_or(|d| d >= since),
            Stage::Final => true,
        }
    }
}

/// The stage cutoffs of the passes a folder pair has completed, saved in
/// its [`FolderState`] so that a later stage cannot leave a gap.
///
/// Pre-stages cover every date before the latest `before`; deltas cover
/// every date from the earliest `since` on, and mail of unknown date.
/// Together they cover everything as long as `since <= before`, which
/// [`StageCutoffs::gap`] keeps: a delta whose `since` is later than a
/// completed pre-stage's `before` is refused, and so is a pre-stage whose
/// `before` is earlier than a completed delta's `since`. [`Stage::Final`]
/// is never refused: it copies everything still missing.
///
/// ```
/// use imapmig_core::{Stage, StageCutoffs};
///
/// let mut cutoffs = StageCutoffs::default();
/// cutoffs.record(&Stage::PreStage { before: 1_000 });
/// // A delta from the pre-stage's cutoff on (or earlier) leaves no gap.
/// assert_eq!(cutoffs.gap(&Stage::Delta { since: 1_000 }), None);
/// // One from later on would never copy mail dated 1000..2000.
/// let gap = cutoffs.gap(&Stage::Delta { since: 2_000 }).unwrap();
/// assert_eq!((gap.before, gap.since), (1_000, 2_000));
/// assert_eq!(cutoffs.gap(&Stage::Final), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StageCutoffs {
    /// The latest cutoff of a completed pre-stage (Unix seconds, exclusive).
    pub before: Option<i64>,
    /// The earliest cutoff of a completed delta (Unix seconds, inclusive).
    pub since: Option<i64>,
}

/// A stage refused by [`StageCutoffs::gap`]: mail dated from `before`
/// (inclusive) up to `since` (exclusive) would be copied by no staged pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageGap {
    /// The pre-stage cutoff (saved, or asked for).
    pub before: i64,
    /// The delta cutoff (saved, or asked for).
    pub since: i64,
}

impl fmt::Display for StageGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a pre-stage before {} and a delta since {} leave mail dated in between uncopied",
            self.before, self.since
        )
    }
}

impl StageCutoffs {
    /// The gap `stage` would leave after the completed passes, or `None`
    /// when it may run.
    pub fn gap(&self, stage: &Stage) -> Option<StageGap> {
        match *stage {
            Stage::Delta { since } => self
                .before
                .filter(|before| since > *before)
                .map(|before| StageGap { before, since }),
            Stage::PreStage { before } => self
                .since
                .filter(|since| before < *since)
                .map(|since| StageGap { before, since }),
            Stage::Final => None,
        }
    }

    /// Records a completed pass of `stage`.
    pub fn record(&mut self, stage: &Stage) {
        match *stage {
            Stage::PreStage { before } => {
                self.before = Some(self.before.map_or(before, |b| b.max(before)));
            }
            Stage::Delta { since } => {
                self.since = Some(self.since.map_or(since, |s| s.min(since)));
            }
            Stage::Final => {}
        }
    }

    /// Whether the recorded staged passes together covered a message with
    /// this INTERNALDATE (by the rule of [`Stage::includes`]).
    pub fn covers(&self, internal_date: Option<i64>) -> bool {
        self.before
            .is_some_and(|before| Stage::PreStage { before }.includes(internal_date))
            || self
                .since
                .is_some_and(|since| Stage::Delta { since }.includes(internal_date))
    }
}

/// What to do with a message whose identity cannot be established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum UnidentifiedPolicy {
    /// Report it in [`Plan::unidentified`] and copy nothing (default):
    /// no blind recopy.
    #[default]
    Hold,
    /// Copy it, accepting a possible duplicate on the target.
    Copy,
}

/// The operator's choices for a pass.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Policy {
    /// Messages without a usable identity: hold (default) or copy.
    pub unidentified: UnidentifiedPolicy,
    /// After a UIDVALIDITY change, the fraction of the previously recorded
    /// pairs that must be found again by fingerprint before the plan
    /// copies anything (default 0.5). Like mbsync's recovery, this stops a
    /// pass from recopying a folder whose identities all changed (for
    /// example when the fingerprints were computed differently); unlike
    /// mbsync, the pairs that are confirmed are kept, not just counted.
    /// `0.0` accepts any reconciliation.
    pub min_reset_confirmation: f64,
    /// Copy again a message recorded as copied that is gone from the
    /// target (default true: the target must end with every message).
    pub recopy_missing_on_target: bool,
    /// Retry messages recorded as skipped (default false).
    pub retry_skipped: bool,
    /// Match a new source message against target messages nobody claimed,
    /// by fingerprint, instead of copying it (default true). This adopts
    /// mail a previous tool already copied.
    pub adopt_existing: bool,
    /// Plan flag changes for present messages (default true).
    pub sync_flags: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            unidentified: UnidentifiedPolicy::Hold,
            min_reset_confirmation: 0.5,
            recopy_missing_on_target: true,
            retry_skipped: false,
            adopt_existing: true,
            sync_flags: true,
        }
    }
}

/// How a source message was found on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Match {
    /// By the recorded UID pair (both UIDVALIDITY values unchanged).
    Uid,
    /// By fingerprint: after a UIDVALIDITY change, an open intent, an
    /// earlier copy without APPENDUID, or adopted from the target.
    Fingerprint,
    /// Recorded as copied but not verifiable this pass (the target has
    /// messages without fingerprints, or the record has none); trusted.
    Recorded,
}

/// A source message that is already on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pair {
    /// Source UID.
    pub source: Uid,
    /// Target UID, when known.
    pub target: Option<Uid>,
    /// How it was found.
    pub matched: Match,
}

/// Flags to change on a target message so that it matches its source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FlagChange {
    /// Source UID.
    pub source: Uid,
    /// Target UID to STORE on.
    pub target: Uid,
    /// `+FLAGS`.
    pub add: Vec<Flag>,
    /// `-FLAGS`.
    pub remove: Vec<Flag>,
}

/// A recorded copy whose source message is gone (expunged on the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Vanished {
    /// The source UID that no longer exists.
    pub source: Uid,
    /// Its copy on the target, when known (the plan never deletes it).
    pub target: Option<Uid>,
}

/// Whether a reconciliation after a UIDVALIDITY change is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ResetVerdict {
    /// Enough old pairs were found again: the plan copies what is missing.
    Confirmed,
    /// Too few were: the plan copies nothing (see [`Plan::held`]) and
    /// [`FolderState::begin_pass`] leaves the state unchanged.
    Unconfirmed,
}

/// What a UIDVALIDITY change did to this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ResetReport {
    /// The source's UIDVALIDITY changed.
    pub source_changed: bool,
    /// The target's UIDVALIDITY changed.
    pub target_changed: bool,
    /// Pairs recorded before the change.
    pub old_pairs: u32,
    /// How many of them were found again by fingerprint.
    pub confirmed: u32,
    /// The verdict under [`Policy::min_reset_confirmation`].
    pub verdict: ResetVerdict,
}

/// The actions of one pass over a folder pair. Every list is sorted by
/// source UID; every observed source message is in exactly one of `copy`,
/// `present`, `unidentified`, `deferred`, `skipped` and `held`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Plan {
    /// The source folder's status this pass.
    pub source_status: FolderStatus,
    /// The target folder's status this pass.
    pub target_status: FolderStatus,
    /// Source messages to APPEND (with flags and INTERNALDATE).
    pub copy: Vec<ObservedMessage>,
    /// Source messages already on the target.
    pub present: Vec<Pair>,
    /// Flag changes for present messages.
    pub flag_changes: Vec<FlagChange>,
    /// Recorded copies whose source message is gone.
    pub vanished: Vec<Vanished>,
    /// Recorded copies that are gone from the target (also in `copy` when
    /// [`Policy::recopy_missing_on_target`] and the stage allow).
    pub missing_on_target: Vec<Uid>,
    /// Messages whose identity cannot be established (no fingerprint where
    /// one is needed); held under [`UnidentifiedPolicy::Hold`].
    pub unidentified: Vec<Uid>,
    /// Missing messages left for a later stage.
    pub deferred: Vec<Uid>,
    /// Messages recorded as skipped and not retried.
    pub skipped: Vec<Uid>,
    /// Messages that would be copied but are held because a UIDVALIDITY
    /// change was not confirmed.
    pub held: Vec<Uid>,
    /// Present when a UIDVALIDITY changed on either side.
    pub reset: Option<ResetReport>,
    /// Target messages that no source message claimed (mail that was
    /// there before, or duplicates).
    pub target_unmatched: u32,
    /// (new source UID, old source UID) of skips carried over.
    pub(crate) carried_skips: Vec<(Uid, Uid)>,
}

impl Plan {
    /// False when a UIDVALIDITY change was not confirmed: nothing should be
    /// executed and the state is not advanced.
    pub fn is_applicable(&self) -> bool {
        self.reset
            .as_ref()
            .is_none_or(|r| r.verdict == ResetVerdict::Confirmed)
    }

    /// Counts and bytes of the plan.
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            copy: self.copy.len(),
            copy_bytes: self.copy.iter().map(|m| m.size).sum(),
            present: self.present.len(),
            reconciled: self
                .present
                .iter()
                .filter(|p| p.matched == Match::Fingerprint)
                .count(),
            flag_changes: self.flag_changes.len(),
            vanished: self.vanished.len(),
            missing_on_target: self.missing_on_target.len(),
            unidentified: self.unidentified.len(),
            deferred: self.deferred.len(),
            skipped: self.skipped.len(),
            held: self.held.len(),
        }
    }
}

/// Counts of a [`Plan`], for reports and progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanSummary {
    /// Messages to copy.
    pub copy: usize,
    /// Bytes to copy.
    pub copy_bytes: u64,
    /// Messages already present.
    pub present: usize,
    /// Of those, found by fingerprint this pass.
    pub reconciled: usize,
    /// Flag changes.
    pub flag_changes: usize,
    /// Recorded copies gone from the source.
    pub vanished: usize,
    /// Recorded copies gone from the target.
    pub missing_on_target: usize,
    /// Messages without a usable identity.
    pub unidentified: usize,
    /// Messages left for a later stage.
    pub deferred: usize,
    /// Messages skipped earlier.
    pub skipped: usize,
    /// Messages held by an unconfirmed UIDVALIDITY change.
    pub held: usize,
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "copy: {} ({} bytes) present: {} (reconciled {}) flags: {} vanished: {} \
             missing-on-target: {} unidentified: {} deferred: {} skipped: {} held: {}",
            self.copy,
            self.copy_bytes,
            self.present,
            self.reconciled,
            self.flag_changes,
            self.vanished,
            self.missing_on_target,
            self.unidentified,
            self.deferred,
            self.skipped,
            self.held
        )
    }
}

/// Fingerprint lookup that hands out each entry once, lowest id first.
///
/// A sorted vector (20 bytes an entry) rather than a hash map of vectors:
/// a million entries need 24 MB and no per-entry allocation. `cursor`
/// remembers, per run of equal fingerprints, how far claims got, so a run
/// of many equal fingerprints is scanned once in total.
struct Pool {
    entries: Vec<(Fingerprint, u32)>,
    cursor: Vec<u32>,
}

impl Pool {
    fn new(mut entries: Vec<(Fingerprint, u32)>) -> Self {
        entries.sort_unstable();
        Pool {
            entries,
            cursor: Vec::new(),
        }
    }

    /// Forgets how far claims got (after claims were released).
    fn rewind(&mut self) {
        self.cursor.clear();
    }

    /// Claims the first entry with `fp` whose id is not `taken`, for
    /// queries in ascending fingerprint order: `from` is where the last
    /// query left off (start at 0), so a whole pass is one merge, O(n + m)
    /// with sequential memory access, instead of a binary search each.
    fn claim_sorted(&self, fp: Fingerprint, taken: &mut [bool], from: &mut usize) -> Option<usize> {
        while self.entries.get(*from).is_some_and(|e| e.0 < fp) {
            *from += 1;
        }
        while let Some(&(f, id)) = self.entries.get(*from) {
            if f != fp {
                break;
            }
            *from += 1;
            if let Some(slot) = taken.get_mut(id as usize)
                && !*slot
            {
                *slot = true;
                return Some(id as usize);
            }
        }
        None
    }

    /// Claims the first entry with `fp` whose id is at least `min_id` and
    /// not `taken` (a linear scan of the run: for open intents only).
    fn claim_from(&self, fp: Fingerprint, taken: &mut [bool], min_id: usize) -> Option<usize> {
        let start = self.entries.partition_point(|e| e.0 < fp);
        for &(f, id) in self.entries.get(start..).unwrap_or_default() {
            if f != fp {
                break;
            }
            let id = id as usize;
            if id >= min_id
                && let Some(slot) = taken.get_mut(id)
                && !*slot
            {
                *slot = true;
                return Some(id);
            }
        }
        None
    }

    /// Claims the first entry with `fp` whose id is not `taken` (any order).
    fn claim(&mut self, fp: Fingerprint, taken: &mut [bool]) -> Option<usize> {
        if self.cursor.len() != self.entries.len() {
            self.cursor = vec![0; self.entries.len()];
        }
        let start = self.entries.partition_point(|e| e.0 < fp);
        let mut pos = start + self.cursor.get(start).copied().unwrap_or(0) as usize;
        while let Some(&(f, id)) = self.entries.get(pos) {
            if f != fp {
                break;
            }
            let id = id as usize;
            pos += 1;
            if let Some(slot) = taken.get_mut(id)
                && !*slot
            {
                *slot = true;
                self.cursor[start] = (pos - start) as u32;
                return Some(id);
            }
        }
        if let Some(c) = self.cursor.get_mut(start) {
            *c = (pos - start) as u32;
        }
        None
    }
}

/// Working lists while a plan is built.
struct Draft<'a> {
    policy: &'a Policy,
    candidates: Vec<&'a ObservedMessage>,
    present: Vec<Pair>,
    missing_on_target: Vec<Uid>,
    unidentified: Vec<Uid>,
    skipped: Vec<Uid>,
    carried_skips: Vec<(Uid, Uid)>,
    confirmed: u32,
}

impl<'a> Draft<'a> {
    fn pair(&mut self, source: Uid, target: Option<Uid>, matched: Match) {
        self.present.push(Pair {
            source,
            target,
            matched,
        });
    }

    fn unidentified(&mut self, m: &'a ObservedMessage) {
        match self.policy.unidentified {
            UnidentifiedPolicy::Hold => self.unidentified.push(m.uid),
            UnidentifiedPolicy::Copy => self.candidates.push(m),
        }
    }

    fn missing(&mut self, m: &'a ObservedMessage) {
        self.missing_on_target.push(m.uid);
        if self.policy.recopy_missing_on_target {
            self.candidates.push(m);
        }
    }

    fn skip(&mut self, new: Uid, old: Uid) {
        self.skipped.push(new);
        self.carried_skips.push((new, old));
    }
}

/// Plans one pass over a folder pair without changing anything.
///
/// * Nothing is copied twice: a message is copied only when neither its
///   recorded UID pair, nor its fingerprint among the target's unclaimed
///   messages, shows it is there.
/// * Nothing is missed: every source message lands in exactly one list of
///   the [`Plan`].
/// * A changed UIDVALIDITY on either side invalidates UIDs, not identity:
///   pairs are found again by fingerprint (from the observation, or from
///   the state for the side whose UIDs are still valid), and messages that
///   cannot be identified are reported, never blindly recopied.
///
/// Cost: O(n log n) time, about 50 bytes of working memory per message.
pub fn plan_pass(
    state: &FolderState,
    source: &Observation,
    target: &Observation,
    stage: &Stage,
    policy: &Policy,
) -> Plan {
    let source_reset = state
        .source
        .is_some_and(|m| m.uid_validity != source.status().uid_validity);
    let target_reset = state
        .target
        .is_some_and(|m| m.uid_validity != target.status().uid_validity);
    let smsgs = source.messages();
    let tmsgs = target.messages();
    let mut claimed = vec![false; tmsgs.len()];

    // The target's fingerprints: observed, or recorded while its UIDs stay valid.
    let recorded: HashMap<Uid, Fingerprint> =
        if !target_reset && tmsgs.iter().any(|m| m.fingerprint.is_none()) {
            state
                .copied
                .values()
                .filter_map(|c| Some((c.target?, c.fingerprint?)))
                .collect()
        } else {
            HashMap::new()
        };
    let target_fp = |m: &ObservedMessage| m.fingerprint.or_else(|| recorded.get(&m.uid).copied());
    // Fingerprints of the target messages no UID pair claimed.
    let unclaimed_pool = |claimed: &[bool]| {
        Pool::new(
            tmsgs
                .iter()
                .zip(claimed)
                .enumerate()
                .filter(|(_, (_, c))| !**c)
                .filter_map(|(i, (m, _))| target_fp(m).map(|f| (f, i as u32)))
                .collect(),
        )
    };

    let mut d = Draft {
        policy,
        candidates: Vec::new(),
        present: Vec::with_capacity(smsgs.len()),
        missing_on_target: Vec::new(),
        unidentified: Vec::new(),
        skipped: Vec::new(),
        carried_skips: Vec::new(),
        confirmed: 0,
    };
    let mut vanished = Vec::new();
    // An open intent's APPEND, if it happened, got a UID at or above the
    // target's UIDNEXT of the pass that recorded it: an identical message
    // below was there before and is not its copy.
    let appended_from = state
        .target
        .and_then(|mark| mark.uid_next)
        .filter(|_| !target_reset)
        .map_or(0, |next| tmsgs.partition_point(|m| m.uid < next));

    if !source_reset {
        // Phase A: pairs by UID; sort the rest.
        // Resolved by fingerprint in order of certainty: our own records of
        // copies first, then open intents, then earlier unidentified
        // messages, so a less certain claim never takes a copy that a
        // record accounts for.
        let mut records = Vec::new();
        let mut uncertain = Vec::new();
        let mut new = Vec::new();
        // Recorded pairs whose target UID is still valid: (target UID,
        // source index), resolved against the target in one merge.
        let mut by_uid: Vec<(Uid, u32)> = Vec::new();
        // `state.copied` and the source are both sorted by source UID:
        // walk them together.
        let mut records_iter = state.copied.iter().peekable();
        for (si, m) in smsgs.iter().enumerate() {
            while let Some((uid, entry)) = records_iter.next_if(|(uid, _)| **uid < m.uid) {
                vanished.push(Vanished {
                    source: *uid,
                    target: entry.target,
                });
            }
            if let Some((_, entry)) = records_iter.next_if(|(uid, _)| **uid == m.uid) {
                match (target_reset, entry.target) {
                    (false, Some(t)) => by_uid.push((t, si as u32)),
                    _ => records.push(m),
                }
            } else if state.skipped.contains_key(&m.uid) && !policy.retry_skipped {
                d.skip(m.uid, m.uid);
            } else if state.intents.contains_key(&m.uid) || state.unidentified.contains(&m.uid) {
                uncertain.push(m);
            } else {
                new.push(m);
            }
        }
        for (uid, entry) in records_iter {
            vanished.push(Vanished {
                source: *uid,
                target: entry.target,
            });
        }
        by_uid.sort_unstable();
        let mut resolved: Vec<(u32, Option<u32>)> = Vec::with_capacity(by_uid.len());
        let mut ti = 0;
        for (t, si) in by_uid {
            while tmsgs.get(ti).is_some_and(|m| m.uid < t) {
                ti += 1;
            }
            let found = tmsgs.get(ti).is_some_and(|m| m.uid == t);
            resolved.push((si, found.then_some(ti as u32)));
        }
        // In source order, so that of two records naming one target UID
        // the first keeps it.
        resolved.sort_unstable();
        for (si, ti) in resolved {
            let m = &smsgs[si as usize];
            match ti.map(|ti| ti as usize) {
                Some(ti) if !claimed[ti] => {
                    claimed[ti] = true;
                    d.pair(m.uid, Some(tmsgs[ti].uid), Match::Uid);
                }
                Some(_) => records.push(m),
                None => d.missing(m),
            }
        }
        records.sort_unstable_by_key(|m| m.uid);
        let mut pool = unclaimed_pool(&claimed);
        let blind = tmsgs
            .iter()
            .zip(&claimed)
            .any(|(m, c)| !c && target_fp(m).is_none());
        // Phase B: records without a valid target UID, open intents,
        // earlier unidentified messages: by fingerprint.
        uncertain.sort_by_key(|m| !state.intents.contains_key(&m.uid));
        for m in records.into_iter().chain(uncertain) {
            let entry = state.copied.get(&m.uid);
            let intent = state.intents.get(&m.uid);
            let fp = m
                .fingerprint
                .or_else(|| entry.and_then(|e| e.fingerprint))
                .or_else(|| intent.and_then(|i| i.fingerprint));
            // A copy recorded without its target UID (no APPENDUID) was
            // most likely made in the last pass: look above UIDNEXT first,
            // so it does not take mail that was there before from the
            // intents that come after it.
            let claim =
                |f: Fingerprint, pool: &mut Pool, claimed: &mut [bool]| match (entry, intent) {
                    (None, Some(_)) => pool.claim_from(f, claimed, appended_from),
                    (Some(e), _) if e.target.is_none() => pool
                        .claim_from(f, claimed, appended_from)
                        .or_else(|| pool.claim(f, claimed)),
                    _ => pool.claim(f, claimed),
                };
            if let Some(ti) = fp.and_then(|f| claim(f, &mut pool, &mut claimed)) {
                d.pair(m.uid, Some(tmsgs[ti].uid), Match::Fingerprint);
                if entry.is_some() {
                    d.confirmed += 1;
                }
            } else if entry.is_some() {
                if blind || fp.is_none() {
                    d.pair(m.uid, None, Match::Recorded);
                } else {
                    d.missing(m);
                }
            } else if blind || fp.is_none() {
                d.unidentified(m);
            } else {
                d.candidates.push(m);
            }
        }
        // Phase C: new messages, adopted when the target already has them.
        for m in new {
            let adopted = if policy.adopt_existing {
                m.fingerprint.and_then(|f| pool.claim(f, &mut claimed))
            } else {
                None
            };
            match adopted {
                Some(ti) => d.pair(m.uid, Some(tmsgs[ti].uid), Match::Fingerprint),
                None => d.candidates.push(m),
            }
        }
    } else {
        let mut pool = unclaimed_pool(&claimed);
        reconcile_source_reset(
            state,
            smsgs,
            tmsgs,
            target_reset,
            appended_from,
            &mut pool,
            &mut claimed,
            &target_fp,
            &mut d,
        );
    }

    let reset = (source_reset || target_reset).then(|| {
        let old_pairs = state.copied.len() as u32;
        let needed = (policy.min_reset_confirmation.clamp(0.0, 1.0) * f64::from(old_pairs)).ceil();
        let verdict = if old_pairs == 0 || f64::from(d.confirmed) >= needed {
            ResetVerdict::Confirmed
        } else {
            ResetVerdict::Unconfirmed
        };
        ResetReport {
            source_changed: source_reset,
            target_changed: target_reset,
            old_pairs,
            confirmed: d.confirmed.min(old_pairs),
            verdict,
        }
    });
    let confirmed = reset
        .as_ref()
        .is_none_or(|r| r.verdict == ResetVerdict::Confirmed);

    let mut copy = Vec::new();
    let mut deferred = Vec::new();
    let mut held = Vec::new();
    for m in d.candidates {
        if !stage.includes(m.internal_date) {
            deferred.push(m.uid);
        } else if confirmed {
            copy.push(m.clone());
        } else {
            held.push(m.uid);
        }
    }
    copy.sort_unstable_by_key(|m| m.uid);
    deferred.sort_unstable();
    held.sort_unstable();
    let mut present = d.present;
    present.sort_unstable_by_key(|p| p.source);
    let mut missing_on_target = d.missing_on_target;
    missing_on_target.sort_unstable();
    let mut unidentified = d.unidentified;
    unidentified.sort_unstable();
    let mut skipped = d.skipped;
    skipped.sort_unstable();
    let mut carried_skips = d.carried_skips;
    carried_skips.sort_unstable();

    let flag_changes = if policy.sync_flags {
        flag_changes(&present, source, target)
    } else {
        Vec::new()
    };
    let target_unmatched = claimed.iter().filter(|c| !**c).count() as u32;
    Plan {
        source_status: source.status().clone(),
        target_status: target.status().clone(),
        copy,
        present,
        flag_changes,
        vanished,
        missing_on_target,
        unidentified,
        deferred,
        skipped,
        held,
        reset,
        target_unmatched,
        carried_skips,
    }
}

/// The source's UIDVALIDITY changed: every source message is matched by
/// fingerprint alone.
#[allow(clippy::too_many_arguments, reason = "one private step of plan_pass")]
fn reconcile_source_reset<'a>(
    state: &FolderState,
    smsgs: &'a [ObservedMessage],
    tmsgs: &[ObservedMessage],
    target_reset: bool,
    appended_from: usize,
    pool: &mut Pool,
    claimed: &mut [bool],
    target_fp: &dyn Fn(&ObservedMessage) -> Option<Fingerprint>,
    d: &mut Draft<'a>,
) {
    let blind = tmsgs.iter().any(|m| target_fp(m).is_none());
    // Records copied without a known target UID stand for a target
    // message we cannot point at (only while target UIDs are valid). One
    // whose fingerprint is on the target is that message, already in the
    // pool: drop it. One not found stays only while the target has
    // messages without fingerprints (it may be one of them).
    let mut realized = Vec::new();
    let phantoms: Vec<Fingerprint> = if target_reset {
        Vec::new()
    } else {
        state
            .copied
            .values()
            .filter(|c| c.target.is_none())
            .filter_map(|c| c.fingerprint)
            // Most likely a copy of the last pass: above its UIDNEXT first.
            .filter(|f| {
                match pool
                    .claim_from(*f, claimed, appended_from)
                    .or_else(|| pool.claim(*f, claimed))
                {
                    Some(ti) => {
                        realized.push(ti);
                        false
                    }
                    None => blind,
                }
            })
            .collect()
    };
    for ti in &realized {
        claimed[*ti] = false;
    }
    pool.rewind();
    let mut phantom_taken = vec![false; phantoms.len()];
    let phantom_pool = Pool::new(
        phantoms
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i as u32))
            .collect(),
    );
    // Which target messages were paired before (confirmation count): one
    // merge of the recorded target UIDs with the target's sorted UIDs.
    let mut was_paired = vec![false; if target_reset { 0 } else { tmsgs.len() }];
    if !target_reset {
        let mut old_targets: Vec<Uid> = state.copied.values().filter_map(|c| c.target).collect();
        old_targets.sort_unstable();
        let mut ti = 0;
        for t in old_targets {
            while tmsgs.get(ti).is_some_and(|m| m.uid < t) {
                ti += 1;
            }
            if tmsgs.get(ti).is_some_and(|m| m.uid == t) {
                was_paired[ti] = true;
            }
        }
        // A copy recorded without its target UID (no UIDPLUS) and found on
        // the target by fingerprint was paired too: it confirms the reset.
        for ti in realized {
            if let Some(slot) = was_paired.get_mut(ti) {
                *slot = true;
            }
        }
    }
    let old_fps: Vec<Fingerprint> = if target_reset {
        state
            .copied
            .values()
            .filter_map(|c| c.fingerprint)
            .collect()
    } else {
        Vec::new()
    };
    let mut old_taken = vec![false; old_fps.len()];
    let old_pool = Pool::new(
        old_fps
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i as u32))
            .collect(),
    );
    drop(old_fps);
    let old_skips: Vec<(Uid, Fingerprint)> = state
        .skipped
        .iter()
        .filter_map(|(uid, s)| Some((*uid, s.fingerprint?)))
        .collect();
    let mut skip_taken = vec![false; old_skips.len()];
    let skip_pool = Pool::new(
        old_skips
            .iter()
            .enumerate()
            .map(|(i, (_, f))| (*f, i as u32))
            .collect(),
    );
    let possibly_copied = !state.copied.is_empty()
        || !state.intents.is_empty()
        || !state.unidentified.is_empty()
        || !tmsgs.is_empty();

    // Source messages in fingerprint order (ties by UID, so equal
    // fingerprints claim in UID order): every pool is then walked once.
    let mut order: Vec<(Fingerprint, u32)> = Vec::with_capacity(smsgs.len());
    for (i, m) in smsgs.iter().enumerate() {
        match m.fingerprint {
            Some(fp) => order.push((fp, i as u32)),
            None if possibly_copied => d.unidentified(m),
            None => d.candidates.push(m),
        }
    }
    order.sort_unstable();
    // Without adoption, only copies this migrator made may be claimed: the
    // recorded pairs and whatever came after the last pass's UIDNEXT (open
    // intents, copies without APPENDUID). Mail that was there before is
    // hidden from the pool for the walk (only while target UIDs are valid).
    let mut hidden = Vec::new();
    if !d.policy.adopt_existing
        && !target_reset
        && let Some(next) = state.target.and_then(|mark| mark.uid_next)
    {
        for (ti, m) in tmsgs.iter().enumerate() {
            if m.uid < next && !was_paired[ti] && !claimed[ti] {
                claimed[ti] = true;
                hidden.push(ti);
            }
        }
    }
    let (mut at_target, mut at_old, mut at_phantom, mut at_skip) = (0, 0, 0, 0);
    for (fp, i) in order {
        let m = &smsgs[i as usize];
        if let Some(ti) = pool.claim_sorted(fp, claimed, &mut at_target) {
            d.pair(m.uid, Some(tmsgs[ti].uid), Match::Fingerprint);
            let confirmed = if target_reset {
                old_pool
                    .claim_sorted(fp, &mut old_taken, &mut at_old)
                    .is_some()
            } else {
                was_paired[ti]
            };
            if confirmed {
                d.confirmed += 1;
            }
        } else if phantom_pool
            .claim_sorted(fp, &mut phantom_taken, &mut at_phantom)
            .is_some()
        {
            d.pair(m.uid, None, Match::Recorded);
            d.confirmed += 1;
        } else if let Some(k) = (!d.policy.retry_skipped)
            .then(|| skip_pool.claim_sorted(fp, &mut skip_taken, &mut at_skip))
            .flatten()
        {
            d.skip(m.uid, old_skips[k].0);
        } else if blind {
            d.unidentified(m);
        } else {
            d.candidates.push(m);
        }
    }
    for ti in hidden {
        claimed[ti] = false;
    }
}

/// Flag differences for pairs whose target UID is known and whose flags
/// both sides reported. `\Recent` is ignored (a client cannot set it).
fn flag_changes(present: &[Pair], source: &Observation, target: &Observation) -> Vec<FlagChange> {
    let mut changes = Vec::new();
    // `present` and the source's messages are both sorted by source UID:
    // walk them together rather than search for each pair.
    let smsgs = source.messages();
    let mut si = 0;
    for pair in present {
        while smsgs.get(si).is_some_and(|m| m.uid < pair.source) {
            si += 1;
        }
        let Some(sm) = smsgs.get(si).filter(|m| m.uid == pair.source) else {
            continue;
        };
        let (Some(t), Some(sf)) = (pair.target, &sm.flags) else {
            continue;
        };
        let Some(tf) = target.message(t).and_then(|tm| tm.flags.as_ref()) else {
            continue;
        };
        let add: Vec<Flag> = sf
            .iter()
            .filter(|f| f.is_storable() && !tf.iter().any(|g| g.same_as(f)))
            .cloned()
            .collect();
        let remove: Vec<Flag> = tf
            .iter()
            .filter(|f| f.is_storable() && !sf.iter().any(|g| g.same_as(f)))
            .cloned()
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            changes.push(FlagChange {
                source: pair.source,
                target: t,
                add,
                remove,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UidValidity;
    use crate::tolerance::SkipReason;

    fn uid(n: u32) -> Uid {
        Uid::try_from(n).unwrap()
    }

    /// (uid, fingerprint or 0 for none, internal date or -1 for none)
    fn obs(validity: u32, msgs: &[(u32, u128, i64)]) -> Observation {
        let messages = msgs
            .iter()
            .map(|&(u, fp, date)| {
                let mut m = ObservedMessage::new(uid(u), 100 + u64::from(u));
                if fp != 0 {
                    m = m.with_fingerprint(fp);
                }
                if date >= 0 {
                    m = m.with_internal_date(date);
                }
                m
            })
            .collect();
        Observation::new(
            FolderStatus::new(UidValidity::try_from(validity).unwrap(), msgs.len() as u32),
            messages,
        )
    }

    fn uids(list: &[u32]) -> Vec<Uid> {
        list.iter().map(|n| uid(*n)).collect()
    }

    fn copy_uids(plan: &Plan) -> Vec<Uid> {
        plan.copy.iter().map(|m| m.uid).collect()
    }

    /// Runs a pass and "executes" it: target UIDs are 1000 + source UID.
    fn execute(state: &mut FolderState, source: &Observation, target: &Observation) -> Plan {
        let plan = state.begin_pass(source, target, &Stage::Final, &Policy::default());
        for m in &plan.copy {
            state.record_intent(m.uid, m.fingerprint, m.size);
            state.record_copied(m.uid, Some(uid(1000 + m.uid.get())), m.fingerprint, m.size);
        }
        plan
    }

    #[test]
    fn first_and_second_pass() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0), (3, 0, 0)]);
        let plan = execute(&mut state, &source, &obs(5, &[]));
        assert_eq!(copy_uids(&plan), uids(&[1, 2, 3]));
        let target = obs(5, &[(1001, 11, 0), (1002, 12, 0), (1003, 0, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert!(plan.copy.is_empty());
        assert_eq!(plan.present.len(), 3);
        assert!(plan.present.iter().all(|p| p.matched == Match::Uid));
        assert_eq!(plan.reset, None);
        assert_eq!(plan.target_unmatched, 0);
    }

    #[test]
    fn source_reset_reconciles_by_fingerprint() {
        let mut state = FolderState::new();
        execute(
            &mut state,
            &obs(1, &[(1, 11, 0), (2, 12, 0), (3, 13, 0)]),
            &obs(5, &[]),
        );
        // Target observed without fingerprints: its UIDs are still valid,
        // so the recorded fingerprints stand in.
        let target = obs(5, &[(1001, 0, 0), (1002, 0, 0), (1003, 0, 0)]);
        let source = obs(2, &[(7, 13, 0), (8, 11, 0), (9, 14, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert_eq!(copy_uids(&plan), uids(&[9]));
        let report = plan.reset.unwrap();
        assert!(report.source_changed && !report.target_changed);
        assert_eq!((report.old_pairs, report.confirmed), (3, 2));
        assert_eq!(report.verdict, ResetVerdict::Confirmed);
        assert_eq!(
            plan.present,
            vec![
                Pair {
                    source: uid(7),
                    target: Some(uid(1003)),
                    matched: Match::Fingerprint
                },
                Pair {
                    source: uid(8),
                    target: Some(uid(1001)),
                    matched: Match::Fingerprint
                },
            ]
        );
        assert_eq!(
            state.copied_message(uid(7)).unwrap().target,
            Some(uid(1003))
        );
        assert_eq!(state.source_mark().unwrap().uid_validity.get(), 2);
    }

    #[test]
    fn target_reset_reconciles_by_fingerprint() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0), (3, 0, 0)]);
        execute(&mut state, &source, &obs(5, &[]));
        // The target was rebuilt: new UIDVALIDITY, message 2 lost.
        let target = obs(6, &[(1, 11, 0), (2, 99, 0), (3, 0, 0)]);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &Policy::default());
        assert_eq!(
            plan.present[0],
            Pair {
                source: uid(1),
                target: Some(uid(1)),
                matched: Match::Fingerprint
            }
        );
        // Messages 2 and 3 are not found by fingerprint, but the target has
        // a message it cannot identify (3, no fingerprint): the records are
        // trusted, nothing is recopied.
        let recorded: Vec<_> = plan.present[1..]
            .iter()
            .map(|p| (p.source, p.target, p.matched))
            .collect();
        assert_eq!(
            recorded,
            vec![
                (uid(2), None, Match::Recorded),
                (uid(3), None, Match::Recorded)
            ]
        );
        assert!(plan.copy.is_empty());
        let report = plan.reset.unwrap();
        assert!(report.target_changed);
        assert_eq!(report.confirmed, 1);
        assert_eq!(report.verdict, ResetVerdict::Unconfirmed, "1 of 3 < 50 %");
        assert_eq!(
            state.target_mark().unwrap().uid_validity.get(),
            5,
            "state untouched"
        );
    }

    #[test]
    fn target_reset_recopies_what_is_really_gone() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0), (3, 13, 0)]);
        execute(&mut state, &source, &obs(5, &[]));
        let target = obs(6, &[(40, 11, 0), (41, 13, 0), (42, 77, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert_eq!(copy_uids(&plan), uids(&[2]));
        assert_eq!(plan.missing_on_target, uids(&[2]));
        assert_eq!(plan.target_unmatched, 1);
        assert_eq!(plan.reset.unwrap().verdict, ResetVerdict::Confirmed);
        assert_eq!(state.copied_message(uid(3)).unwrap().target, Some(uid(41)));
    }

    #[test]
    fn open_intents_are_resolved_by_fingerprint() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0), (3, 0, 0)]);
        state.begin_pass(&source, &obs(5, &[]), &Stage::Final, &Policy::default());
        state.record_intent(uid(1), Some(Fingerprint::from(11u128)), 101);
        state.record_intent(uid(2), Some(Fingerprint::from(12u128)), 102);
        state.record_intent(uid(3), None, 103);
        // Crash: message 1 reached the target, 2 did not, 3 is unknowable.
        let target = obs(5, &[(1, 11, 0), (9, 55, 0)]);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &Policy::default());
        assert_eq!(
            plan.present,
            vec![Pair {
                source: uid(1),
                target: Some(uid(1)),
                matched: Match::Fingerprint
            }]
        );
        assert_eq!(copy_uids(&plan), uids(&[2]));
        assert_eq!(plan.unidentified, uids(&[3]));
        assert_eq!(
            state.open_intents().map(|(u, _)| u).collect::<Vec<_>>(),
            uids(&[3])
        );
        // The operator decides to copy what cannot be identified.
        let policy = Policy {
            unidentified: UnidentifiedPolicy::Copy,
            ..Policy::default()
        };
        let plan = plan_pass(&state, &source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[2, 3]));
    }

    #[test]
    fn an_intent_never_claims_mail_that_was_there_before() {
        // The target already has an identical message (UID 1, below the
        // UIDNEXT of the pass): without adoption the message is copied,
        // and an intent whose APPEND never happened must not claim it.
        let policy = Policy {
            adopt_existing: false,
            ..Policy::default()
        };
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0)]);
        let next = |o: Observation, n: u32| {
            let mut status = o.status().clone();
            status.uid_next = Some(uid(n));
            Observation::new(status, o.messages().to_vec())
        };
        let target = next(obs(5, &[(1, 11, 0)]), 2);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[1]));
        state.record_intent(uid(1), Some(Fingerprint::from(11u128)), 101);
        // Crash before the APPEND: the intent must stay a copy to make.
        let plan = state.begin_pass(&source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[1]));
        assert!(plan.present.is_empty());
        // The APPEND happened (UID 2): that copy resolves the intent.
        state.record_intent(uid(1), Some(Fingerprint::from(11u128)), 101);
        let target = next(obs(5, &[(1, 11, 0), (2, 11, 0)]), 3);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &policy);
        assert!(plan.copy.is_empty());
        assert_eq!(plan.present[0].target, Some(uid(2)));

        // Two identical source messages, one copied without APPENDUID, the
        // other's APPEND never sent: the record takes its own copy (above
        // UIDNEXT), not the message that was there before, and the intent
        // finds nothing: it is copied.
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 11, 0)]);
        let target = next(obs(5, &[(1, 11, 0)]), 2);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[1, 2]));
        state.record_copied(uid(1), None, Some(Fingerprint::from(11u128)), 101);
        state.record_intent(uid(2), Some(Fingerprint::from(11u128)), 101);
        let target = next(obs(5, &[(1, 11, 0), (2, 11, 0)]), 3);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[2]));
        assert_eq!(plan.present[0].target, Some(uid(2)));
    }

    #[test]
    fn source_reset_without_adoption_keeps_mail_that_was_there() {
        let policy = Policy {
            adopt_existing: false,
            ..Policy::default()
        };
        let next = |o: Observation, n: u32| {
            let mut status = o.status().clone();
            status.uid_next = Some(uid(n));
            Observation::new(status, o.messages().to_vec())
        };
        // The target had message 11 before; it is copied anyway (no
        // adoption), to UID 2.
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0)]);
        let plan = state.begin_pass(
            &source,
            &next(obs(5, &[(1, 11, 0)]), 2),
            &Stage::Final,
            &policy,
        );
        assert_eq!(copy_uids(&plan), uids(&[1, 2]));
        state.record_copied(uid(1), Some(uid(2)), Some(Fingerprint::from(11u128)), 101);
        state.record_intent(uid(2), Some(Fingerprint::from(12u128)), 102);
        // Crash with message 12 appended (UID 3); the source is rebuilt.
        let target = next(obs(5, &[(1, 11, 0), (2, 11, 0), (3, 12, 0)]), 4);
        let source = obs(2, &[(7, 11, 0), (8, 12, 0)]);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &policy);
        assert!(plan.copy.is_empty(), "{plan:?}");
        let targets: Vec<_> = plan.present.iter().map(|p| p.target).collect();
        assert_eq!(targets, vec![Some(uid(2)), Some(uid(3))]);
        assert_eq!(plan.target_unmatched, 1);
    }

    #[test]
    fn copy_without_appenduid_is_found_later() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 0, 0)]);
        state.begin_pass(&source, &obs(5, &[]), &Stage::Final, &Policy::default());
        state.record_copied(uid(1), None, Some(Fingerprint::from(11u128)), 101);
        state.record_copied(uid(2), None, None, 102);
        let target = obs(5, &[(3, 0, 0), (4, 11, 0)]);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &Policy::default());
        assert_eq!(
            plan.present,
            vec![
                Pair {
                    source: uid(1),
                    target: Some(uid(4)),
                    matched: Match::Fingerprint
                },
                Pair {
                    source: uid(2),
                    target: None,
                    matched: Match::Recorded
                },
            ]
        );
        assert_eq!(state.copied_message(uid(1)).unwrap().target, Some(uid(4)));
    }

    #[test]
    fn source_reset_confirms_copies_recorded_without_appenduid() {
        // Copied to a server without UIDPLUS: no target UIDs recorded yet
        // when the source's UIDVALIDITY changes.
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0), (3, 13, 0)]);
        let plan = state.begin_pass(&source, &obs(5, &[]), &Stage::Final, &Policy::default());
        for m in &plan.copy {
            state.record_copied(m.uid, None, m.fingerprint, m.size);
        }
        let target = obs(5, &[(1, 11, 0), (2, 12, 0), (3, 13, 0)]);
        let source = obs(2, &[(7, 11, 0), (8, 12, 0), (9, 13, 0)]);
        let plan = execute(&mut state, &source, &target);
        let report = plan.reset.unwrap();
        assert_eq!((report.old_pairs, report.confirmed), (3, 3));
        assert_eq!(report.verdict, ResetVerdict::Confirmed);
        assert!(plan.copy.is_empty());
        assert_eq!(state.copied_message(uid(8)).unwrap().target, Some(uid(2)));
    }

    #[test]
    fn source_reset_without_fingerprints_is_never_a_blind_recopy() {
        let mut state = FolderState::new();
        execute(&mut state, &obs(1, &[(1, 11, 0), (2, 12, 0)]), &obs(5, &[]));
        let target = obs(5, &[(1001, 11, 0), (1002, 12, 0)]);
        let source = obs(2, &[(1, 11, 0), (2, 0, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert_eq!(plan.unidentified, uids(&[2]));
        assert!(plan.copy.is_empty());
        // The next pass (no reset now) still holds it.
        let plan = execute(&mut state, &source, &target);
        assert_eq!(plan.unidentified, uids(&[2]));
        assert!(plan.copy.is_empty());
        // Once it has a fingerprint it is matched.
        let source = obs(2, &[(1, 11, 0), (2, 12, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert!(plan.unidentified.is_empty() && plan.copy.is_empty());
        assert_eq!(plan.present.len(), 2);
    }

    #[test]
    fn unconfirmed_reset_copies_nothing_and_keeps_the_state() {
        let mut state = FolderState::new();
        execute(
            &mut state,
            &obs(1, &[(1, 11, 0), (2, 12, 0), (3, 13, 0)]),
            &obs(5, &[]),
        );
        let before = state.clone();
        let target = obs(5, &[(1001, 11, 0), (1002, 12, 0), (1003, 13, 0)]);
        // Same mail, but the fingerprints were computed differently.
        let source = obs(2, &[(1, 21, 0), (2, 22, 0), (3, 23, 0)]);
        let plan = state.begin_pass(&source, &target, &Stage::Final, &Policy::default());
        assert!(!plan.is_applicable());
        assert!(plan.copy.is_empty());
        assert_eq!(plan.held, uids(&[1, 2, 3]));
        assert_eq!(state, before);
        let policy = Policy {
            min_reset_confirmation: 0.0,
            ..Policy::default()
        };
        let plan = plan_pass(&state, &source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[1, 2, 3]));
    }

    #[test]
    fn stages_cover_everything_once() {
        let cutoff = 1_000;
        let source = obs(
            1,
            &[
                (1, 11, 10),
                (2, 12, 999),
                (3, 13, 1000),
                (4, 14, -1),
                (5, 15, 5000),
            ],
        );
        let target = obs(5, &[]);
        let table: &[(Stage, &[u32], &[u32])] = &[
            (Stage::PreStage { before: cutoff }, &[1, 2], &[3, 4, 5]),
            (Stage::Delta { since: cutoff }, &[3, 4, 5], &[1, 2]),
            (Stage::Final, &[1, 2, 3, 4, 5], &[]),
        ];
        for (stage, copied, deferred) in table {
            let plan = plan_pass(
                &FolderState::new(),
                &source,
                &target,
                stage,
                &Policy::default(),
            );
            assert_eq!(copy_uids(&plan), uids(copied), "{stage:?}");
            assert_eq!(plan.deferred, uids(deferred), "{stage:?}");
        }
        // Pre-stage then delta: the union is everything, nothing twice.
        let mut state = FolderState::new();
        let mut all = Vec::new();
        let mut on_target: Vec<(u32, u128, i64)> = Vec::new();
        for stage in [
            Stage::PreStage { before: cutoff },
            Stage::Delta { since: cutoff },
            Stage::Final,
        ] {
            let target = obs(5, &on_target);
            let plan = state.begin_pass(&source, &target, &stage, &Policy::default());
            for m in &plan.copy {
                state.record_copied(m.uid, None, m.fingerprint, m.size);
                on_target.push((m.uid.get() + 1000, m.fingerprint.unwrap().get(), 0));
                all.push(m.uid);
            }
        }
        assert_eq!(all, uids(&[1, 2, 3, 4, 5]));
    }

    #[test]
    fn flag_changes_ignore_recent_and_case() {
        let mut state = FolderState::new();
        let mut source = obs(1, &[(1, 11, 0)]);
        execute(&mut state, &source, &obs(5, &[]));
        let flags = |list: &[&str]| {
            list.iter()
                .map(|f| f.parse::<Flag>().unwrap())
                .collect::<Vec<_>>()
        };
        source.messages[0].flags = Some(flags(&["\\Seen", "$Label1", "\\Recent"]));
        let mut target = obs(5, &[(1001, 11, 0)]);
        target.messages[0].flags = Some(flags(&["\\seen", "\\Flagged", "$label1"]));
        let plan = plan_pass(&state, &source, &target, &Stage::Final, &Policy::default());
        assert_eq!(
            plan.flag_changes,
            vec![FlagChange {
                source: uid(1),
                target: uid(1001),
                add: vec![],
                remove: flags(&["\\Flagged"])
            }]
        );
        let policy = Policy {
            sync_flags: false,
            ..Policy::default()
        };
        assert!(
            plan_pass(&state, &source, &target, &Stage::Final, &policy)
                .flag_changes
                .is_empty()
        );
    }

    #[test]
    fn vanished_missing_duplicates_and_adoption() {
        let mut state = FolderState::new();
        execute(
            &mut state,
            &obs(1, &[(1, 11, 0), (2, 12, 0), (3, 13, 0)]),
            &obs(5, &[]),
        );
        // 1 expunged on the source, 2 deleted on the target, 4 and 5 are new
        // with the same fingerprint, 6 is new and already on the target.
        let source = obs(
            1,
            &[(2, 12, 0), (3, 13, 0), (4, 44, 0), (5, 44, 0), (6, 66, 0)],
        );
        let target = obs(
            5,
            &[(1001, 11, 0), (1003, 13, 0), (1500, 44, 0), (1501, 66, 0)],
        );
        let plan = execute(&mut state, &source, &target);
        assert_eq!(
            plan.vanished,
            vec![Vanished {
                source: uid(1),
                target: Some(uid(1001))
            }]
        );
        assert_eq!(plan.missing_on_target, uids(&[2]));
        assert_eq!(copy_uids(&plan), uids(&[2, 5]));
        let adopted: Vec<_> = plan
            .present
            .iter()
            .filter(|p| p.matched == Match::Fingerprint)
            .map(|p| (p.source, p.target))
            .collect();
        assert_eq!(
            adopted,
            vec![(uid(4), Some(uid(1500))), (uid(6), Some(uid(1501)))]
        );
        assert_eq!(plan.target_unmatched, 1);
        assert!(state.copied_message(uid(1)).is_none());
        let policy = Policy {
            adopt_existing: false,
            recopy_missing_on_target: false,
            ..Policy::default()
        };
        let mut fresh = FolderState::new();
        let plan = fresh.begin_pass(&source, &target, &Stage::Final, &policy);
        assert_eq!(copy_uids(&plan), uids(&[2, 3, 4, 5, 6]));
    }

    #[test]
    fn skips_survive_a_source_reset() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 0), (2, 12, 0)]);
        state.begin_pass(&source, &obs(5, &[]), &Stage::Final, &Policy::default());
        state.record_copied(
            uid(1),
            Some(uid(1001)),
            Some(Fingerprint::from(11u128)),
            101,
        );
        state.record_skipped(
            uid(2),
            Some(Fingerprint::from(12u128)),
            102,
            SkipReason::Corrupt,
            "bad",
        );
        let target = obs(5, &[(1001, 11, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert_eq!(plan.skipped, uids(&[2]));
        let source = obs(2, &[(8, 11, 0), (9, 12, 0)]);
        let plan = execute(&mut state, &source, &target);
        assert_eq!(plan.skipped, uids(&[9]));
        assert!(plan.copy.is_empty());
        let (skipped_uid, skip) = state.skipped().next().unwrap();
        assert_eq!((skipped_uid, skip.reason), (uid(9), SkipReason::Corrupt));
        let retry = Policy {
            retry_skipped: true,
            ..Policy::default()
        };
        assert_eq!(
            copy_uids(&plan_pass(&state, &source, &target, &Stage::Final, &retry)),
            uids(&[9])
        );
    }

    #[test]
    fn summary_counts() {
        let plan = plan_pass(
            &FolderState::new(),
            &obs(1, &[(1, 1, 0), (2, 2, 0)]),
            &obs(2, &[(5, 2, 0)]),
            &Stage::Final,
            &Policy::default(),
        );
        let s = plan.summary();
        assert_eq!(
            (s.copy, s.copy_bytes, s.present, s.reconciled),
            (1, 101, 1, 1)
        );
        assert!(
            s.to_string()
                .starts_with("copy: 1 (101 bytes) present: 1 (reconciled 1)")
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn plans_and_states_serialize() {
        let mut state = FolderState::new();
        let source = obs(1, &[(1, 11, 5), (2, 12, 0)]);
        let plan = execute(&mut state, &source, &obs(5, &[]));
        state.record_skipped(uid(2), None, 1, SkipReason::Corrupt, "x");
        let json = serde_json::to_string(&plan).unwrap();
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan);
        let json = serde_json::to_string(&state).unwrap();
        let back: FolderState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert!(serde_json::from_str::<Uid>("0").is_err());
    }
}
