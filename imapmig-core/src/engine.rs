//! The migration engine: the copy protocol of one folder pair as a sans-IO
//! state machine.
//!
//! An [`Engine`] decides and its caller (the *driver*) does the I/O, the way
//! a rustls connection is driven: the driver asks [`Engine::next_action`],
//! performs the [`Action`] (observe a folder, save the state, APPEND a batch,
//! log a skip, store flags, wait) and reports what happened with
//! [`Engine::handle`]. The engine holds no socket, no clock and no file.
//!
//! # The protocol
//!
//! | step | action | answer |
//! |---|---|---|
//! | observe | [`Action::ObserveSource`], then [`Action::ObserveTarget`] | [`Event::SourceObserved`], [`Event::TargetObserved`] |
//! | plan | [`FolderState::begin_pass`]; an unconfirmed UIDVALIDITY reset is [`Action::Stop`] with [`StopReason::ResetUnconfirmed`] and the state is untouched | |
//! | save the plan | [`Action::Save`] | [`Event::Saved`] / [`Event::SaveFailed`] |
//! | too large | messages over [`Config::max_message_size`]: [`Action::LogSkip`] | [`Event::SkipLogged`] |
//! | each batch | intents recorded, [`Action::Save`] (which also persists the previous batch's outcomes), then [`Action::Copy`] | one of [`Event::Copied`], [`Event::Refused`], [`Event::NotFetched`], [`Event::TooLarge`] per item |
//! | refusals | over quota: Save, then [`StopReason::OverQuota`]; throttled: re-queued, [`Action::Backoff`]; folder gone (`[TRYCREATE]`): Save, observe again; otherwise [`Action::Classify`] | [`Event::Classified`] |
//! | after the last batch | [`Action::Save`] | |
//! | flags | [`Action::StoreFlags`]; the source's new HIGHESTMODSEQ is recorded only after [`Event::FlagsStored`]; [`Action::Save`] | [`Event::FlagsStored`] / [`Event::FlagsFailed`] |
//! | verify | [`Action::Verify`] | [`Event::TargetObserved`] |
//! | finished | [`Action::Done`]: see [`Engine::report`] | |
//!
//! # Crash safety
//!
//! An APPEND is sent only after its intent is saved. Whatever the moment a
//! driver dies, a new engine built from the last *saved* state completes the
//! folder without duplicates: open intents are resolved by fingerprint on
//! the target when planning. A lost connection is the same, without losing
//! memory: call [`Engine::reconnected`] and the engine observes both sides
//! again and plans from its in-memory state. `tests/core/engine_sim.rs`
//! proves both by crashing a simulated run at every action boundary.
//!
//! Skips are *at least once* in the skip log: a skip is recorded in the
//! state only after its row is flushed ([`Event::SkipLogged`]), and saved
//! with the next save, so a crash exactly between the two logs it again.
//!
//! # Example
//!
//! A driver against a tiny in-memory "server" (a vector of messages):
//!
//! ```
//! use imapmig_core::engine::{Action, Config, Engine, Event};
//! use imapmig_core::{FolderState, FolderStatus, Observation, ObservedMessage, Uid, UidValidity};
//!
//! # fn main() -> Result<(), imapmig_core::Error> {
//! let source: Vec<ObservedMessage> = (1..=3)
//!     .map(|n| Ok(ObservedMessage::new(Uid::try_from(n)?, 100).with_fingerprint(u128::from(n))))
//!     .collect::<Result<_, imapmig_core::Error>>()?;
//! let mut target: Vec<ObservedMessage> = Vec::new();
//! let mut saved = FolderState::new(); // the durable copy
//!
//! let observe = |messages: &[ObservedMessage], validity: u32| -> Result<Observation, imapmig_core::Error> {
//!     let status = FolderStatus::new(UidValidity::try_from(validity)?, messages.len() as u32);
//!     Ok(Observation::new(status, messages.to_vec()))
//! };
//! let mut engine = Engine::new(saved.clone(), Config::default());
//! loop {
//!     match engine.next_action() {
//!         Action::ObserveSource { .. } => engine.handle(Event::SourceObserved(observe(&source, 1)?))?,
//!         Action::ObserveTarget | Action::Verify => {
//!             engine.handle(Event::TargetObserved(observe(&target, 9)?))?
//!         }
//!         Action::Save => {
//!             saved = engine.state().clone();
//!             engine.handle(Event::Saved)?;
//!         }
//!         Action::Copy(items) => {
//!             for item in items {
//!                 let uid = Uid::try_from(target.len() as u32 + 1)?;
//!                 let mut copy = ObservedMessage::new(uid, item.size);
//!                 copy.fingerprint = item.fingerprint;
//!                 target.push(copy);
//!                 engine.handle(Event::Copied { source: item.source, target: Some(uid) })?;
//!             }
//!         }
//!         Action::Done => break,
//!         other => panic!("not in this example: {other:?}"),
//!     }
//! }
//! let report = engine.report();
//! assert_eq!((report.copied, report.failed, target.len()), (3, 0, 3));
//! assert!(report.verified && report.duplicates.is_empty());
//! assert_eq!(saved.copied_count(), 3);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use crate::error::Error;
use crate::ids::{Fingerprint, Flag, ModSeq, Uid};
use crate::observation::Observation;
use crate::plan::{FlagChange, Match, Plan, PlanSummary, Policy, ResetReport, ResetVerdict, Stage};
use crate::state::FolderState;
use crate::throttle::{ReplyClass, classify, parse_reply};
use crate::tolerance::SkipReason;

/// How an [`Engine`] runs a pass.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// Which messages this pass copies (staged migrations).
    pub stage: Stage,
    /// The operator's choices (unidentified mail, adoption, flags, ...).
    pub policy: Policy,
    /// Most messages per [`Action::Copy`] batch (default 64; 0 counts as 1).
    pub batch_messages: usize,
    /// Most bytes (sum of sizes) per batch (default 32 MiB); a single larger
    /// message goes in a batch of its own.
    pub batch_bytes: u64,
    /// The target's APPENDLIMIT (RFC 7889) or the operator's maximum:
    /// larger messages are skipped with [`SkipReason::TooLarge`] instead of
    /// being sent.
    pub max_message_size: Option<u64>,
    /// Both servers have CONDSTORE (RFC 7162): observe only the flags that
    /// changed since the saved HIGHESTMODSEQ.
    pub condstore: bool,
    /// [`Action::Backoff`]s in a row without progress before
    /// [`StopReason::Throttled`] (default 12).
    pub max_stalls: u32,
    /// How often a message the source did not return is asked again before
    /// it counts as failed (default 2).
    pub missing_retries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stage: Stage::Final,
            policy: Policy::default(),
            batch_messages: 64,
            batch_bytes: 32 << 20,
            max_message_size: None,
            condstore: false,
            max_stalls: 12,
            missing_retries: 2,
        }
    }
}

/// One message to copy in an [`Action::Copy`] batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CopyItem {
    /// Its UID on the source.
    pub source: Uid,
    /// RFC822.SIZE on the source.
    pub size: u64,
    /// INTERNALDATE (Unix seconds) to give the APPEND, when known.
    pub internal_date: Option<i64>,
    /// Flags to give the APPEND (storable flags only: never `\Recent`).
    pub flags: Vec<Flag>,
    /// Its fingerprint, when known.
    pub fingerprint: Option<Fingerprint>,
    /// APPEND the repaired body (the target refused the original and
    /// classification found it repairable).
    pub repair: bool,
}

/// A message to write to the skip log ([`Action::LogSkip`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SkipEntry {
    /// Its UID on the source.
    pub source: Uid,
    /// Its fingerprint, when known.
    pub fingerprint: Option<Fingerprint>,
    /// RFC822.SIZE on the source.
    pub size: u64,
    /// Why it is not copied.
    pub reason: SkipReason,
    /// Details for the operator (the server's reply, defect codes).
    pub detail: String,
}

/// Why an engine cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum StopReason {
    /// The target mailbox is full (the server's reply).
    OverQuota(String),
    /// A UIDVALIDITY change could not be confirmed by fingerprints; the
    /// state was left untouched.
    ResetUnconfirmed(ResetReport),
    /// The state could not be saved (the driver's reason).
    SaveFailed(String),
    /// The target kept throttling without progress (the last reply).
    Throttled(String),
    /// The target folder kept disappearing (`[TRYCREATE]` to APPEND) without
    /// progress, [`Config::max_stalls`] times in a row (the last reply).
    TargetMissing(String),
}

/// The next thing the driver must do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Observe the source folder: status and every message (UID, size,
    /// INTERNALDATE, flags, fingerprint). With `flags_changed_since =
    /// Some(m)`, messages already copied carry flags only when they changed
    /// since `m` (CONDSTORE `CHANGEDSINCE`), else `None`. Answer with
    /// [`Event::SourceObserved`].
    ObserveSource {
        /// The saved source HIGHESTMODSEQ, when CONDSTORE is used.
        flags_changed_since: Option<ModSeq>,
    },
    /// Observe the target folder (create it when missing). Answer with
    /// [`Event::TargetObserved`].
    ObserveTarget,
    /// Persist [`Engine::state`] durably. Answer with [`Event::Saved`] or
    /// [`Event::SaveFailed`].
    Save,
    /// Fetch each body from the source and APPEND it with its flags and
    /// INTERNALDATE. Answer with one outcome event per item, in any order.
    /// Asked again before every outcome arrived, it lists the items still
    /// without one.
    Copy(Vec<CopyItem>),
    /// The target refused this message (not throttling, not quota):
    /// classify its body and answer with [`Event::Classified`].
    Classify {
        /// The refused message.
        source: Uid,
        /// The target's reply.
        reply: String,
    },
    /// Write this skip to the skip log and flush it; answer with
    /// [`Event::SkipLogged`]. The state records the skip only then.
    LogSkip(SkipEntry),
    /// STORE these flag changes on the target; answer with
    /// [`Event::FlagsStored`] or [`Event::FlagsFailed`].
    StoreFlags(Vec<FlagChange>),
    /// The target throttled: wait (choose the delay with
    /// [`crate::throttle::Backoff`], honouring `hint`), then ask
    /// [`Engine::next_action`] again. Needs no event; it is handed out once.
    Backoff {
        /// The server's suggested wait, when it gave one.
        hint: Option<Duration>,
        /// The reply that asked for it.
        reason: String,
    },
    /// Observe the target again to verify the pass; answer with
    /// [`Event::TargetObserved`].
    Verify,
    /// Finished: see [`Engine::report`].
    Done,
    /// The engine cannot go on.
    Stop(StopReason),
}

/// What the driver reports back to the engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The answer to [`Action::ObserveSource`].
    SourceObserved(Observation),
    /// The answer to [`Action::ObserveTarget`] and [`Action::Verify`].
    TargetObserved(Observation),
    /// The state given by [`Engine::state`] is durable.
    Saved,
    /// The state could not be saved (why).
    SaveFailed(String),
    /// The APPEND of `source` succeeded.
    Copied {
        /// The source UID.
        source: Uid,
        /// The target UID from APPENDUID (UIDPLUS), when the server sent it.
        target: Option<Uid>,
    },
    /// The target answered the APPEND with a tagged NO or BAD.
    Refused {
        /// The source UID.
        source: Uid,
        /// The reply line.
        reply: String,
    },
    /// The source returned no body for it (expunged, or a refused or
    /// partial FETCH).
    NotFetched {
        /// The source UID.
        source: Uid,
    },
    /// The driver found it over a size limit when fetching it.
    TooLarge {
        /// The source UID.
        source: Uid,
        /// Its size in bytes.
        size: u64,
    },
    /// The answer to [`Action::Classify`].
    Classified {
        /// The source UID.
        source: Uid,
        /// What the body is.
        verdict: Classified,
    },
    /// The skip of [`Action::LogSkip`] is in the log, flushed.
    SkipLogged {
        /// The source UID.
        source: Uid,
    },
    /// The flag changes of [`Action::StoreFlags`] are stored.
    FlagsStored,
    /// Storing flags failed (the reply); counted, not fatal.
    FlagsFailed(String),
}

/// What a refused message's body is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Classified {
    /// Broken in a way a repair fixes (defect codes).
    Repairable {
        /// The defects found.
        codes: Vec<String>,
    },
    /// Broken beyond safe repair (defect codes).
    Corrupt {
        /// The defects found.
        codes: Vec<String>,
    },
    /// Nothing wrong found: the target refused it for its own reasons.
    Clean,
}

/// Extra copies of one message on the target that this migrator appended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Duplicate {
    /// The message's fingerprint.
    pub fingerprint: Fingerprint,
    /// The extra target copies (appended by this migrator).
    pub target_uids: Vec<Uid>,
    /// The source messages with this fingerprint.
    pub source_uids: Vec<Uid>,
}

/// A message that was asked for and is neither on the target nor skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NotCopied {
    /// The source UID.
    pub source: Uid,
    /// Why, as far as the engine knows.
    pub reason: String,
}

/// The result of a pass, complete after [`Action::Done`].
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Report {
    /// Messages in the source folder.
    pub source_messages: u64,
    /// Messages in the target folder after the pass.
    pub target_messages: u64,
    /// Source messages this pass is about (its stage, not deferred).
    pub asked: u64,
    /// Of those, copied by this engine and found on the target.
    pub copied: u64,
    /// Of those, on the target before (found by fingerprint or record).
    pub present: u64,
    /// Of those, skipped (in the skip log).
    pub skipped: u64,
    /// Of those, neither on the target nor skipped: see `not_copied`.
    pub failed: u64,
    /// Flag changes stored on the target.
    pub flags_synced: u64,
    /// Present messages whose flags were compared.
    pub flags_compared: u64,
    /// [`Action::StoreFlags`] answered with [`Event::FlagsFailed`] (the
    /// changes are compared again next pass).
    pub flags_failed: u64,
    /// The plan's counts (the last plan of this engine).
    pub plan: Option<PlanSummary>,
    /// What a UIDVALIDITY change did, when one happened.
    pub reset: Option<ResetReport>,
    /// Messages more often on the target than on the source, among the
    /// copies this migrator appended.
    pub duplicates: Vec<Duplicate>,
    /// Every asked message neither on the target nor skipped.
    pub not_copied: Vec<NotCopied>,
    /// The target was observed again after the pass and counted.
    pub verified: bool,
}

/// What the engine waits for.
#[derive(Debug, Clone)]
enum Wait {
    Source(Option<ModSeq>),
    Target,
    Save(AfterSave),
    Copy(Batch),
    Classify(Uid, String),
    LogSkip(SkipEntry),
    StoreFlags(Vec<FlagChange>),
    Verify,
}

/// What follows a save.
#[derive(Debug, Clone)]
enum AfterSave {
    Continue,
    Copy(Vec<CopyItem>),
    Stop(StopReason),
    FlagsDone,
}

#[derive(Debug, Clone)]
struct Batch {
    items: Vec<CopyItem>,
    outstanding: BTreeSet<Uid>,
}

/// Where a pass is.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Observe,
    Copying,
    Flags,
    Verify,
    Finished,
    Stopped(StopReason),
}

/// Work a batch's outcomes left to do before the next batch.
#[derive(Debug, Clone)]
enum Chore {
    Classify(Uid, String),
    LogSkip(SkipEntry),
}

/// The migration engine of one folder pair (see the [module docs](self)).
///
/// One engine runs one pass; build a new one per run. It survives lost
/// connections ([`Engine::reconnected`]); after a crash, build a new one
/// from the last saved state.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    state: FolderState,
    report: Report,
    phase: Phase,
    wait: Option<Wait>,
    /// The source observation of this pass, as the driver gave it.
    source: Option<Observation>,
    /// The source HIGHESTMODSEQ to record once flags are stored.
    new_modseq: Option<ModSeq>,
    plan: Option<Plan>,
    queue: VecDeque<CopyItem>,
    chores: VecDeque<Chore>,
    /// Refused messages waiting for a verdict: the item and the reply.
    refused: BTreeMap<Uid, (CopyItem, String)>,
    /// Defect codes of messages to copy repaired.
    repairs: BTreeMap<Uid, Vec<String>>,
    /// Times each message came back without a body.
    missing: BTreeMap<Uid, u32>,
    /// Messages given up on in this run, with the reason.
    given_up: BTreeMap<Uid, String>,
    backoff: Option<(Option<Duration>, String)>,
    stop_after_batch: Option<StopReason>,
    /// The target answered [TRYCREATE] in the current batch.
    folder_missing: Option<String>,
    /// Times the folder went missing without progress in between.
    recreates: u32,
    progress_at_recreate: u64,
    stalls: u32,
    progress_at_backoff: u64,
    settled: BTreeSet<Uid>,
    copied_now: u64,
    /// Target UIDs from APPENDUID in this run.
    appended: BTreeSet<Uid>,
    /// An APPEND succeeded without APPENDUID in this run.
    blind_appends: bool,
    /// The highest target UID before this run's first copy.
    target_top: Option<(u32, u32)>,
    flags_planned: Vec<FlagChange>,
    flags_done: bool,
    unsaved: bool,
    /// The last source observation was made with CHANGEDSINCE.
    changed_since_used: bool,
}

impl Engine {
    /// An engine for one pass over a folder pair, starting from `state`
    /// (the last saved state, or [`FolderState::new`]).
    pub fn new(state: FolderState, config: Config) -> Engine {
        Engine {
            config,
            state,
            report: Report::default(),
            phase: Phase::Observe,
            wait: None,
            source: None,
            new_modseq: None,
            plan: None,
            queue: VecDeque::new(),
            chores: VecDeque::new(),
            refused: BTreeMap::new(),
            repairs: BTreeMap::new(),
            missing: BTreeMap::new(),
            given_up: BTreeMap::new(),
            backoff: None,
            stop_after_batch: None,
            folder_missing: None,
            recreates: 0,
            progress_at_recreate: 0,
            stalls: 0,
            progress_at_backoff: 0,
            settled: BTreeSet::new(),
            copied_now: 0,
            appended: BTreeSet::new(),
            blind_appends: false,
            target_top: None,
            flags_planned: Vec::new(),
            flags_done: false,
            unsaved: false,
            changed_since_used: false,
        }
    }

    /// The state as it is now: what [`Action::Save`] must persist.
    pub fn state(&self) -> &FolderState {
        &self.state
    }

    /// The report: counts complete after [`Action::Done`].
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// How many messages were settled so far (copied, skipped or found
    /// present); never decreases. A driver counts retries without progress
    /// with it.
    pub fn progress(&self) -> u64 {
        self.settled.len() as u64
    }

    /// The connection(s) were lost and opened again: outcomes not reported
    /// are unknown. The in-flight batch is dropped (its intents stay open),
    /// and the engine observes both sides again and plans from its
    /// in-memory state; nothing already settled is redone. Does nothing
    /// once the engine is done or stopped.
    pub fn reconnected(&mut self) {
        if matches!(self.phase, Phase::Finished | Phase::Stopped(_)) {
            return;
        }
        self.reobserve();
    }

    /// Drops the pass in flight and goes back to observing both sides.
    fn reobserve(&mut self) {
        self.folder_missing = None;
        self.phase = Phase::Observe;
        self.wait = None;
        self.source = None;
        self.plan = None;
        self.queue.clear();
        self.chores.clear();
        self.refused.clear();
        self.backoff = None;
        self.stop_after_batch = None;
        self.flags_planned.clear();
        self.flags_done = false;
    }

    /// The next thing to do. Asked again without an event in between, it
    /// returns the same action (except [`Action::Backoff`], handed out
    /// once).
    pub fn next_action(&mut self) -> Action {
        loop {
            if let Some(wait) = &self.wait {
                return action_of(wait);
            }
            match &self.phase {
                Phase::Finished => return Action::Done,
                Phase::Stopped(reason) => return Action::Stop(reason.clone()),
                Phase::Observe => {
                    self.wait = Some(if self.source.is_none() {
                        Wait::Source(self.flags_changed_since())
                    } else {
                        Wait::Target
                    });
                }
                Phase::Copying => {
                    if let Some(action) = self.next_copy_step() {
                        return action;
                    }
                }
                Phase::Flags => self.next_flag_step(),
                Phase::Verify => self.wait = Some(Wait::Verify),
            }
        }
    }

    /// Reports what happened in answer to the last [`Engine::next_action`].
    /// An error means the event breaks the protocol (nobody asked for it,
    /// or it names a message that is not in the current batch); the engine
    /// is unchanged then.
    pub fn handle(&mut self, event: Event) -> Result<(), Error> {
        let wait = self.wait.take();
        match (wait, event) {
            (Some(Wait::Source(since)), Event::SourceObserved(observation)) => {
                self.source_observed(observation, since);
                Ok(())
            }
            (Some(Wait::Target), Event::TargetObserved(observation)) => {
                self.target_observed(&observation);
                Ok(())
            }
            (Some(Wait::Verify), Event::TargetObserved(observation)) => {
                self.verify(&observation);
                self.phase = Phase::Finished;
                Ok(())
            }
            (Some(Wait::Save(after)), Event::Saved) => {
                self.unsaved = false;
                match after {
                    AfterSave::Continue => {}
                    AfterSave::Copy(items) => {
                        let outstanding = items.iter().map(|i| i.source).collect();
                        self.wait = Some(Wait::Copy(Batch { items, outstanding }));
                    }
                    AfterSave::Stop(reason) => self.phase = Phase::Stopped(reason),
                    AfterSave::FlagsDone => self.phase = Phase::Verify,
                }
                Ok(())
            }
            (Some(Wait::Save(_)), Event::SaveFailed(why)) => {
                self.phase = Phase::Stopped(StopReason::SaveFailed(why));
                Ok(())
            }
            (Some(Wait::Copy(mut batch)), event) => {
                let result = self.copy_outcome(&mut batch, event);
                if !batch.outstanding.is_empty() {
                    self.wait = Some(Wait::Copy(batch));
                }
                result
            }
            (Some(Wait::Classify(uid, reply)), Event::Classified { source, verdict })
                if source == uid =>
            {
                self.classified(uid, &reply, verdict);
                Ok(())
            }
            (Some(Wait::LogSkip(entry)), Event::SkipLogged { source })
                if source == entry.source =>
            {
                self.state.record_skipped(
                    entry.source,
                    entry.fingerprint,
                    entry.size,
                    entry.reason,
                    entry.detail,
                );
                self.settled.insert(source);
                self.unsaved = true;
                Ok(())
            }
            (Some(Wait::StoreFlags(changes)), Event::FlagsStored) => {
                self.report.flags_synced += changes.len() as u64;
                self.flags_done = true;
                self.state.record_source_modseq(self.new_modseq);
                self.wait = Some(Wait::Save(AfterSave::FlagsDone));
                Ok(())
            }
            (Some(Wait::StoreFlags(_)), Event::FlagsFailed(_)) => {
                // The changes are compared again next pass: the mark stays.
                self.report.flags_failed += 1;
                self.flags_done = true;
                self.wait = Some(Wait::Save(AfterSave::FlagsDone));
                Ok(())
            }
            (wait, event) => {
                let expected = wait.as_ref().map_or("nothing", wait_name);
                self.wait = wait;
                Err(Error::UnexpectedEvent {
                    event: event_name(&event),
                    uid: event_uid(&event),
                    expected,
                })
            }
        }
    }

    /// Under CHANGEDSINCE, a pair found by fingerprint whose source flags
    /// were not reported: its flags cannot be compared.
    fn flags_unseen_for_new_pairs(&self, plan: &Plan) -> bool {
        let Some(source) = self.source.as_ref() else {
            return false;
        };
        self.changed_since_used
            && self.config.policy.sync_flags
            && plan.present.iter().any(|p| {
                p.matched == Match::Fingerprint
                    && source.message(p.source).is_some_and(|m| m.flags.is_none())
            })
    }

    fn flags_changed_since(&self) -> Option<ModSeq> {
        if self.config.condstore {
            self.state.source_mark().and_then(|m| m.highest_modseq)
        } else {
            None
        }
    }

    fn source_observed(&mut self, observation: Observation, since: Option<ModSeq>) {
        self.changed_since_used = since.is_some();
        let mut status = observation.status().clone();
        let mark = self.state.source_mark().copied();
        let same_validity = mark.is_some_and(|m| m.uid_validity == status.uid_validity);
        // Plan with the old mark; the new one is recorded after the flag
        // changes are stored, so a crash in between compares them again.
        self.new_modseq = if since.is_some() && !same_validity {
            // Flags of copied messages were not all observed.
            None
        } else {
            status.highest_modseq
        };
        status.highest_modseq = if same_validity {
            mark.and_then(|m| m.highest_modseq)
        } else {
            None
        };
        self.source = Some(Observation::new(status, observation.messages));
    }

    fn target_observed(&mut self, target: &Observation) {
        let Some(source) = self.source.as_ref() else {
            return;
        };
        let plan = self
            .state
            .begin_pass(source, target, &self.config.stage, &self.config.policy);
        self.report.source_messages = source.messages().len() as u64;
        self.report.target_messages = target.messages().len() as u64;
        self.report.plan = Some(plan.summary());
        self.report.reset = plan.reset;
        if let Some(reset) = plan
            .reset
            .filter(|r| r.verdict == ResetVerdict::Unconfirmed)
        {
            // begin_pass left the state untouched.
            self.phase = Phase::Stopped(StopReason::ResetUnconfirmed(reset));
            return;
        }
        if self.flags_unseen_for_new_pairs(&plan) {
            // Pairs found by fingerprint this pass (copies made without
            // APPENDUID, identical messages) whose flags CHANGEDSINCE did
            // not report: forget the mark (saved with the new pairs, so a
            // crash cannot lose it) and observe the source again with
            // every flag; that pass plans the pairs by UID.
            self.state.record_source_modseq(None);
            self.source = None;
            self.phase = Phase::Observe;
            self.wait = Some(Wait::Save(AfterSave::Continue));
            return;
        }
        let top = target.messages().last().map_or(0, |m| m.uid.get()).max(
            target
                .status()
                .uid_next
                .map_or(0, |u| u.get().saturating_sub(1)),
        );
        let validity = target.status().uid_validity.get();
        if self.target_top.is_none_or(|(v, _)| v != validity) {
            self.target_top = Some((validity, top));
        }
        for pair in &plan.present {
            self.settled.insert(pair.source);
        }
        self.report.flags_compared = plan
            .present
            .iter()
            .filter(|p| {
                p.target.is_some()
                    && source.message(p.source).is_some_and(|m| m.flags.is_some())
                    && p.target
                        .and_then(|t| target.message(t))
                        .is_some_and(|m| m.flags.is_some())
            })
            .count() as u64;
        self.queue.clear();
        self.chores.clear();
        for m in &plan.copy {
            if self.given_up.contains_key(&m.uid) {
                continue;
            }
            if let Some(limit) = self.config.max_message_size
                && m.size > limit
            {
                self.chores.push_back(Chore::LogSkip(SkipEntry {
                    source: m.uid,
                    fingerprint: m.fingerprint,
                    size: m.size,
                    reason: SkipReason::TooLarge,
                    detail: format!("{} bytes, over the limit of {limit} bytes", m.size),
                }));
                continue;
            }
            self.queue.push_back(CopyItem {
                source: m.uid,
                size: m.size,
                internal_date: m.internal_date,
                flags: m
                    .flags
                    .iter()
                    .flatten()
                    .filter(|f| f.is_storable())
                    .cloned()
                    .collect(),
                fingerprint: m.fingerprint,
                repair: self.repairs.contains_key(&m.uid),
            });
        }
        self.flags_planned = plan.flag_changes.clone();
        self.flags_done = false;
        self.plan = Some(plan);
        self.phase = Phase::Copying;
        self.wait = Some(Wait::Save(AfterSave::Continue));
    }

    /// The next step of the copy loop, or `None` after setting a wait.
    fn next_copy_step(&mut self) -> Option<Action> {
        if let Some(reason) = self.stop_after_batch.take() {
            self.wait = Some(Wait::Save(AfterSave::Stop(reason)));
            return None;
        }
        if let Some(chore) = self.chores.pop_front() {
            self.wait = Some(match chore {
                Chore::Classify(uid, reply) => Wait::Classify(uid, reply),
                Chore::LogSkip(entry) => Wait::LogSkip(entry),
            });
            return None;
        }
        if let Some(reply) = self.folder_missing.take() {
            let progress = self.progress();
            if progress > self.progress_at_recreate {
                self.recreates = 0;
                self.progress_at_recreate = progress;
            }
            let stop = self.recreates >= self.config.max_stalls;
            self.recreates += 1;
            // Save what is known, then observe both sides again (or stop).
            self.reobserve();
            self.wait = Some(Wait::Save(if stop {
                AfterSave::Stop(StopReason::TargetMissing(reply))
            } else {
                AfterSave::Continue
            }));
            return None;
        }
        if let Some((hint, reason)) = self.backoff.take() {
            let progress = self.progress();
            if progress > self.progress_at_backoff {
                self.stalls = 0;
                self.progress_at_backoff = progress;
            }
            if self.stalls >= self.config.max_stalls {
                // Save what is known, then stop with the last reply.
                self.wait = Some(Wait::Save(AfterSave::Stop(StopReason::Throttled(reason))));
                return None;
            }
            self.stalls += 1;
            return Some(Action::Backoff { hint, reason });
        }
        if !self.queue.is_empty() {
            let max_messages = self.config.batch_messages.max(1);
            let mut items = Vec::new();
            let mut bytes = 0u64;
            while let Some(item) = self.queue.front() {
                if items.len() >= max_messages
                    || (!items.is_empty()
                        && bytes.saturating_add(item.size) > self.config.batch_bytes)
                {
                    break;
                }
                bytes = bytes.saturating_add(item.size);
                if let Some(item) = self.queue.pop_front() {
                    self.state
                        .record_intent(item.source, item.fingerprint, item.size);
                    items.push(item);
                }
            }
            self.unsaved = true;
            self.wait = Some(Wait::Save(AfterSave::Copy(items)));
            return None;
        }
        if self.unsaved {
            self.wait = Some(Wait::Save(AfterSave::Continue));
            return None;
        }
        self.phase = Phase::Flags;
        None
    }

    fn next_flag_step(&mut self) {
        if self.flags_done {
            self.phase = Phase::Verify;
            return;
        }
        if self.flags_planned.is_empty() {
            self.flags_done = true;
            if self.state.record_source_modseq(self.new_modseq) {
                self.wait = Some(Wait::Save(AfterSave::FlagsDone));
            } else {
                self.phase = Phase::Verify;
            }
            return;
        }
        self.wait = Some(Wait::StoreFlags(self.flags_planned.clone()));
    }

    fn copy_outcome(&mut self, batch: &mut Batch, event: Event) -> Result<(), Error> {
        let Some(uid) = event_uid(&event) else {
            return Err(Error::UnexpectedEvent {
                event: event_name(&event),
                uid: None,
                expected: "a copy outcome",
            });
        };
        let item = match batch.items.iter().find(|i| i.source == uid) {
            Some(item) if batch.outstanding.contains(&uid) => item.clone(),
            _ => {
                return Err(Error::UnexpectedEvent {
                    event: event_name(&event),
                    uid: Some(uid),
                    expected: "an outcome for a message of the batch",
                });
            }
        };
        match event {
            Event::Copied { target, .. } => {
                self.state
                    .record_copied(uid, target, item.fingerprint, item.size);
                self.copied_now += 1;
                self.settled.insert(uid);
                match target {
                    Some(t) => {
                        self.appended.insert(t);
                    }
                    None => self.blind_appends = true,
                }
            }
            Event::Refused { reply, .. } => {
                // A tagged NO or BAD stored nothing.
                self.state.forget_intent(uid);
                let class = match parse_reply(&reply) {
                    Some(_) => classify(&reply),
                    None => classify(&format!("* NO {reply}")),
                };
                match class {
                    ReplyClass::OverQuota => {
                        // The other outcomes of the batch are still recorded;
                        // then the state is saved and the engine stops.
                        self.stop_after_batch = Some(StopReason::OverQuota(reply));
                    }
                    ReplyClass::TryCreate => {
                        // The target folder is gone: observe again (the
                        // driver creates it) and copy what is missing.
                        self.queue.push_front(item);
                        self.folder_missing = Some(reply);
                    }
                    c if c.is_retryable() => {
                        self.queue.push_front(item);
                        let hint = c.retry_after();
                        self.backoff = Some(match self.backoff.take() {
                            Some((h, _)) => (h.max(hint), reply),
                            None => (hint, reply),
                        });
                    }
                    _ if item.repair => {
                        let codes = self
                            .repairs
                            .get(&uid)
                            .map(|c| c.join(" "))
                            .unwrap_or_default();
                        self.chores.push_back(Chore::LogSkip(SkipEntry {
                            source: uid,
                            fingerprint: item.fingerprint,
                            size: item.size,
                            reason: SkipReason::Rejected,
                            detail: format!("{reply} (repaired: {codes})"),
                        }));
                    }
                    _ => {
                        self.refused.insert(uid, (item, reply.clone()));
                        self.chores.push_back(Chore::Classify(uid, reply));
                    }
                }
            }
            Event::NotFetched { .. } => {
                self.state.forget_intent(uid);
                let times = self.missing.entry(uid).or_insert(0);
                *times += 1;
                if *times <= self.config.missing_retries {
                    self.queue.push_back(item);
                } else {
                    self.given_up.insert(
                        uid,
                        format!("the source returned no body ({} times)", *times),
                    );
                }
            }
            Event::TooLarge { size, .. } => {
                self.state.forget_intent(uid);
                self.chores.push_back(Chore::LogSkip(SkipEntry {
                    source: uid,
                    fingerprint: item.fingerprint,
                    size,
                    reason: SkipReason::TooLarge,
                    detail: format!("{size} bytes, over the limit found when fetching"),
                }));
            }
            other => {
                return Err(Error::UnexpectedEvent {
                    event: event_name(&other),
                    uid: Some(uid),
                    expected: "a copy outcome",
                });
            }
        }
        batch.outstanding.remove(&uid);
        self.unsaved = true;
        Ok(())
    }

    fn classified(&mut self, uid: Uid, reply: &str, verdict: Classified) {
        let Some((item, _)) = self.refused.remove(&uid) else {
            return;
        };
        let skip = |reason, detail| {
            Chore::LogSkip(SkipEntry {
                source: uid,
                fingerprint: item.fingerprint,
                size: item.size,
                reason,
                detail,
            })
        };
        match verdict {
            Classified::Repairable { codes } => {
                self.repairs.insert(uid, codes);
                let mut item = item;
                item.repair = true;
                self.queue.push_front(item);
            }
            Classified::Corrupt { codes } => {
                let chore = skip(
                    SkipReason::Corrupt,
                    format!("{reply} ({})", codes.join(" ")),
                );
                self.chores.push_front(chore);
            }
            Classified::Clean => {
                let chore = skip(SkipReason::Rejected, reply.to_owned());
                self.chores.push_front(chore);
            }
        }
    }

    fn verify(&mut self, target: &Observation) {
        let (Some(source), Some(plan)) = (self.source.as_ref(), self.plan.as_ref()) else {
            return;
        };
        let report = &mut self.report;
        report.verified = true;
        report.target_messages = target.messages().len() as u64;
        report.asked = 0;
        report.skipped = 0;
        report.failed = 0;
        report.not_copied.clear();
        report.duplicates.clear();
        // A copy recorded with its target UID is verified by that UID while the target's
        // UIDVALIDITY stands, whatever its fingerprint now: a repaired copy, or one a server
        // rewrote on APPEND (Cyrus replaces raw 8-bit header bytes), is the same message.
        // It then counts under its source's fingerprint.
        let uids_valid = self
            .state
            .target_mark()
            .is_some_and(|m| m.uid_validity == target.status().uid_validity);
        let mut by_uid: HashMap<Uid, Option<Fingerprint>> = HashMap::new();
        if uids_valid {
            for m in source.messages() {
                if let Some(t) = self.state.copied_message(m.uid).and_then(|c| c.target)
                    && target.message(t).is_some()
                    && !by_uid.contains_key(&t)
                {
                    by_uid.insert(t, m.fingerprint);
                }
            }
        }
        let mut paired: BTreeSet<Uid> = BTreeSet::new();
        let mut on_target: HashMap<Fingerprint, u64> = HashMap::new();
        let mut target_uids: HashMap<Fingerprint, Vec<Uid>> = HashMap::new();
        for m in target.messages() {
            let f = match by_uid.get(&m.uid) {
                Some(source_fp) => source_fp.or(m.fingerprint),
                None => {
                    if let Some(f) = m.fingerprint {
                        *on_target.entry(f).or_default() += 1;
                    }
                    m.fingerprint
                }
            };
            if let Some(f) = f {
                target_uids.entry(f).or_default().push(m.uid);
            }
        }
        let deferred: BTreeSet<Uid> = plan.deferred.iter().copied().collect();
        let skipped: BTreeSet<Uid> = self.state.skipped().map(|(u, _)| u).collect();
        let held: BTreeSet<Uid> = plan
            .held
            .iter()
            .chain(&plan.unidentified)
            .copied()
            .collect();
        let mut found = 0u64;
        let mut on_source: HashMap<Fingerprint, Vec<Uid>> = HashMap::new();
        for m in source.messages() {
            if let Some(f) = m.fingerprint {
                on_source.entry(f).or_default().push(m.uid);
            }
            if deferred.contains(&m.uid)
                || (!self.config.stage.includes(m.internal_date)
                    && self.state.copied_message(m.uid).is_none())
            {
                continue;
            }
            report.asked += 1;
            if skipped.contains(&m.uid) {
                report.skipped += 1;
                continue;
            }
            if let Some(t) = self.state.copied_message(m.uid).and_then(|c| c.target)
                && by_uid.contains_key(&t)
                && paired.insert(t)
            {
                found += 1;
                continue;
            }
            let hit = m
                .fingerprint
                .and_then(|f| on_target.get_mut(&f))
                .filter(|n| **n > 0);
            match hit {
                Some(n) => {
                    *n -= 1;
                    found += 1;
                }
                None if m.fingerprint.is_none() && self.state.copied_message(m.uid).is_some() => {
                    found += 1;
                }
                None => {
                    report.failed += 1;
                    let reason = match self.given_up.get(&m.uid) {
                        Some(r) => r.clone(),
                        None if held.contains(&m.uid) => {
                            "held: its identity could not be established".to_owned()
                        }
                        None => "not on the target after the pass".to_owned(),
                    };
                    report.not_copied.push(NotCopied {
                        source: m.uid,
                        reason,
                    });
                }
            }
        }
        report.copied = self.copied_now.min(found);
        report.present = found - report.copied;

        // Duplicates: more copies on the target than on the source, among
        // the copies this engine appended (by APPENDUID, or above the
        // target's highest UID before the first copy when the target has
        // no UIDPLUS). Copies recorded in the state by earlier runs are not
        // counted: the state does not tell them from adopted mail, and
        // mail that was on the target before is not ours to report.
        let ours = &self.appended;
        let top = self
            .target_top
            .filter(|(v, _)| *v == target.status().uid_validity.get())
            .map(|(_, t)| t);
        let mut duplicates: Vec<Duplicate> = target_uids
            .into_iter()
            .filter_map(|(fp, mut uids)| {
                let sources = on_source.get(&fp).cloned().unwrap_or_default();
                let extra = uids.len().checked_sub(sources.len()).filter(|n| *n > 0)?;
                uids.sort_unstable();
                let mine: Vec<Uid> = uids
                    .into_iter()
                    .filter(|u| {
                        ours.contains(u) || (self.blind_appends && top.is_some_and(|t| u.get() > t))
                    })
                    .collect();
                let keep = mine.len().saturating_sub(extra);
                let target_uids = mine[keep..].to_vec();
                (!target_uids.is_empty()).then_some(Duplicate {
                    fingerprint: fp,
                    target_uids,
                    source_uids: sources,
                })
            })
            .collect();
        duplicates.sort_unstable_by_key(|d| d.target_uids.first().copied());
        report.duplicates = duplicates;
    }
}

fn action_of(wait: &Wait) -> Action {
    match wait {
        Wait::Source(since) => Action::ObserveSource {
            flags_changed_since: *since,
        },
        Wait::Target => Action::ObserveTarget,
        Wait::Save(_) => Action::Save,
        Wait::Copy(batch) => Action::Copy(
            batch
                .items
                .iter()
                .filter(|i| batch.outstanding.contains(&i.source))
                .cloned()
                .collect(),
        ),
        Wait::Classify(source, reply) => Action::Classify {
            source: *source,
            reply: reply.clone(),
        },
        Wait::LogSkip(entry) => Action::LogSkip(entry.clone()),
        Wait::StoreFlags(changes) => Action::StoreFlags(changes.clone()),
        Wait::Verify => Action::Verify,
    }
}

fn wait_name(wait: &Wait) -> &'static str {
    match wait {
        Wait::Source(_) => "SourceObserved",
        Wait::Target | Wait::Verify => "TargetObserved",
        Wait::Save(_) => "Saved or SaveFailed",
        Wait::Copy(_) => "a copy outcome",
        Wait::Classify(..) => "Classified for the refused message",
        Wait::LogSkip(_) => "SkipLogged for the logged message",
        Wait::StoreFlags(_) => "FlagsStored or FlagsFailed",
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::SourceObserved(_) => "SourceObserved",
        Event::TargetObserved(_) => "TargetObserved",
        Event::Saved => "Saved",
        Event::SaveFailed(_) => "SaveFailed",
        Event::Copied { .. } => "Copied",
        Event::Refused { .. } => "Refused",
        Event::NotFetched { .. } => "NotFetched",
        Event::TooLarge { .. } => "TooLarge",
        Event::Classified { .. } => "Classified",
        Event::SkipLogged { .. } => "SkipLogged",
        Event::FlagsStored => "FlagsStored",
        Event::FlagsFailed(_) => "FlagsFailed",
    }
}

fn event_uid(event: &Event) -> Option<Uid> {
    match event {
        Event::Copied { source, .. }
        | Event::Refused { source, .. }
        | Event::NotFetched { source }
        | Event::TooLarge { source, .. }
        | Event::Classified { source, .. }
        | Event::SkipLogged { source } => Some(*source),
        _ => None,
    }
}
