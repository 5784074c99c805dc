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
        let cursor = vec![0; entries.len()];
        Pool { entries, cursor }
    }

    /// Claims the first entry with `fp` whose id is not `taken`.
    fn claim(&mut self, fp: Fingerprint, taken: &mut [bool]) -> Option<usize> {
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
/// Cost: O(n log n) time, about 40 bytes of working memory per message.
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
    let mut pool = Pool::new(
        tmsgs
            .iter()
            .enumerate()
            .filter_map(|(i, m)| target_fp(m).map(|f| (f, i as u32)))
            .collect(),
    );
    let target_index = |uid: Uid| tmsgs.binary_search_by_key(&uid, |m| m.uid).ok();

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

    if !source_reset {
        // Phase A: pairs by UID; sort the rest.
        let mut by_fingerprint = Vec::new();
        let mut new = Vec::new();
        for m in smsgs {
            if let Some(entry) = state.copied.get(&m.uid) {
                match (target_reset, entry.target) {
                    (false, Some(t)) => match target_index(t) {
                        Some(ti) if !claimed[ti] => {
                            claimed[ti] = true;
                            d.pair(m.uid, Some(t), Match::Uid);
                        }
                        Some(_) => by_fingerprint.push(m),
                        None => d.missing(m),
                    },
                    _ => by_fingerprint.push(m),
                }
            } else if state.skipped.contains_key(&m.uid) && !policy.retry_skipped {
                d.skip(m.uid, m.uid);
            } else if state.intents.contains_key(&m.uid) || state.unidentified.contains(&m.uid) {
                by_fingerprint.push(m);
            } else {
                new.push(m);
            }
        }
        for (uid, entry) in &state.copied {
            if source.message(*uid).is_none() {
                vanished.push(Vanished {
                    source: *uid,
                    target: entry.target,
                });
            }
        }
        let blind = tmsgs
            .iter()
            .zip(&claimed)
            .any(|(m, c)| !c && target_fp(m).is_none());
        // Phase B: records without a valid target UID, open intents,
        // earlier unidentified messages: by fingerprint.
        for m in by_fingerprint {
            let entry = state.copied.get(&m.uid);
            let intent = state.intents.get(&m.uid);
            let fp = m
                .fingerprint
                .or_else(|| entry.and_then(|e| e.fingerprint))
                .or_else(|| intent.and_then(|i| i.fingerprint));
            if let Some(ti) = fp.and_then(|f| pool.claim(f, &mut claimed)) {
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
        reconcile_source_reset(
            state,
            smsgs,
            tmsgs,
            target_reset,
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
    pool: &mut Pool,
    claimed: &mut [bool],
    target_fp: &dyn Fn(&ObservedMessage) -> Option<Fingerprint>,
    d: &mut Draft<'a>,
) {
    // Records copied without a known target UID stand for a target
    // message we cannot point at (only while target UIDs are valid).
    let phantoms: Vec<Fingerprint> = if target_reset {
        Vec::new()
    } else {
        state
            .copied
            .values()
            .filter(|c| c.target.is_none())
            .filter_map(|c| c.fingerprint)
            .collect()
    };
    let mut phantom_taken = vec![false; phantoms.len()];
    let mut phantom_pool = Pool::new(
        phantoms
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i as u32))
            .collect(),
    );
    // Which target messages were paired before (confirmation count).
    let mut old_targets: Vec<Uid> = if target_reset {
        Vec::new()
    } else {
        state.copied.values().filter_map(|c| c.target).collect()
    };
    old_targets.sort_unstable();
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
    let mut old_pool = Pool::new(
        old_fps
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i as u32))
            .collect(),
    );
    let old_skips: Vec<(Uid, Fingerprint)> = state
        .skipped
        .iter()
        .filter_map(|(uid, s)| Some((*uid, s.fingerprint?)))
        .collect();
    let mut skip_taken = vec![false; old_skips.len()];
    let mut skip_pool = Pool::new(
        old_skips
            .iter()
            .enumerate()
            .map(|(i, (_, f))| (*f, i as u32))
            .collect(),
    );
    let blind = tmsgs.iter().any(|m| target_fp(m).is_none());
    let possibly_copied = !state.copied.is_empty()
        || !state.intents.is_empty()
        || !state.unidentified.is_empty()
        || !tmsgs.is_empty();

    for m in smsgs {
        let Some(fp) = m.fingerprint else {
            if possibly_copied {
                d.unidentified(m);
            } else {
                d.candidates.push(m);
            }
            continue;
        };
        if let Some(ti) = pool.claim(fp, claimed) {
            let t = tmsgs[ti].uid;
            d.pair(m.uid, Some(t), Match::Fingerprint);
            let was_paired = if target_reset {
                old_pool.claim(fp, &mut old_taken).is_some()
            } else {
                old_targets.binary_search(&t).is_ok()
            };
            if was_paired {
                d.confirmed += 1;
            }
        } else if phantom_pool.claim(fp, &mut phantom_taken).is_some() {
            d.pair(m.uid, None, Match::Recorded);
            d.confirmed += 1;
        } else if let Some(k) = (!d.policy.retry_skipped)
            .then(|| skip_pool.claim(fp, &mut skip_taken))
            .flatten()
        {
            d.skip(m.uid, old_skips[k].0);
        } else if blind {
            d.unidentified(m);
        } else {
            d.candidates.push(m);
        }
    }
}

/// Flag differences for pairs whose target UID is known and whose flags
/// both sides reported. `\Recent` is ignored (a client cannot set it).
fn flag_changes(present: &[Pair], source: &Observation, target: &Observation) -> Vec<FlagChange> {
    let mut changes = Vec::new();
    for pair in present {
        let Some(t) = pair.target else { continue };
        let (Some(sm), Some(tm)) = (source.message(pair.source), target.message(t)) else {
            continue;
        };
        let (Some(sf), Some(tf)) = (&sm.flags, &tm.flags) else {
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
