//! UIDVALIDITY-aware sync state, staged passes, throttling, quota inventory
//! and bad-item tolerance for email migrations.
//!
//! This crate is the part of a migrator that decides; it never talks to a
//! server. You give it what the servers said (folder status, UID lists with
//! sizes, dates, flags and fingerprints, reply lines) and it gives back
//! plans and verdicts. The only I/O is the state store on disk
//! ([`store::FileStore`]) and the skipped-items CSV ([`tolerance::SkipLog`]).
//!
//! # Planning a pass
//!
//! ```
//! use imapmig_core::{FolderState, FolderStatus, Observation, ObservedMessage, Policy, Stage, Uid, UidValidity};
//!
//! # fn main() -> Result<(), imapmig_core::Error> {
//! let uid = |n: u32| Uid::try_from(n);
//! let source = Observation::new(
//!     FolderStatus::new(UidValidity::try_from(7)?, 2),
//!     vec![
//!         ObservedMessage::new(uid(1)?, 1200).with_fingerprint(0xaaaa_u128),
//!         ObservedMessage::new(uid(2)?, 3400).with_fingerprint(0xbbbb_u128),
//!     ],
//! );
//! let target = Observation::new(FolderStatus::new(UidValidity::try_from(99)?, 0), vec![]);
//!
//! let mut state = FolderState::new();
//! let plan = state.begin_pass(&source, &target, &Stage::Final, &Policy::default());
//! assert_eq!(plan.copy.len(), 2);
//! for message in &plan.copy {
//!     state.record_intent(message.uid, message.fingerprint, message.size);
//!     // save the state, APPEND the message, read APPENDUID ...
//!     let appended = Uid::try_from(100 + message.uid.get())?;
//!     state.record_copied(message.uid, Some(appended), message.fingerprint, message.size);
//! }
//!
//! // The source folder was recreated: new UIDVALIDITY, new UIDs, same mail.
//! let source = Observation::new(
//!     FolderStatus::new(UidValidity::try_from(8)?, 2),
//!     vec![
//!         ObservedMessage::new(uid(5)?, 1200).with_fingerprint(0xaaaa_u128),
//!         ObservedMessage::new(uid(6)?, 3400).with_fingerprint(0xbbbb_u128),
//!     ],
//! );
//! let target = Observation::new(
//!     FolderStatus::new(UidValidity::try_from(99)?, 2),
//!     vec![ObservedMessage::new(uid(101)?, 1200), ObservedMessage::new(uid(102)?, 3400)],
//! );
//! let plan = state.begin_pass(&source, &target, &Stage::Final, &Policy::default());
//! assert!(plan.copy.is_empty(), "reconciled by fingerprint, nothing recopied");
//! assert_eq!(plan.summary().reconciled, 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Driving a migration: the engine
//!
//! [`engine::Engine`] runs the whole copy protocol of one folder pair as a
//! sans-IO state machine: it says what to do next ([`engine::Action`]: observe,
//! save, copy a batch, classify a refused message, log a skip, store flags,
//! back off, verify) and the driver answers with what happened
//! ([`engine::Event`]). The driver owns the sockets, the clock and the
//! files; the engine owns every decision, so the crash safety below is
//! proved once, by simulation (`tests/core/engine_sim.rs`), for every driver.
//!
//! ```
//! use imapmig_core::engine::{Action, Config, Event};
//! use imapmig_core::{Engine, FolderState, FolderStatus, Observation, ObservedMessage, Uid, UidValidity};
//!
//! # fn main() -> Result<(), imapmig_core::Error> {
//! // A tiny "server": two source messages, an empty target that answers
//! // the first APPEND with a throttling NO.
//! let uid = |n: u32| Uid::try_from(n);
//! let source = vec![
//!     ObservedMessage::new(uid(1)?, 900).with_fingerprint(0xa1_u128),
//!     ObservedMessage::new(uid(2)?, 700).with_fingerprint(0xb2_u128),
//! ];
//! let mut target: Vec<ObservedMessage> = Vec::new();
//! let mut throttle_once = true;
//! let mut saved = FolderState::new();
//! let folder = |validity: u32, messages: &[ObservedMessage]| -> Result<Observation, imapmig_core::Error> {
//!     let status = FolderStatus::new(UidValidity::try_from(validity)?, messages.len() as u32);
//!     Ok(Observation::new(status, messages.to_vec()))
//! };
//!
//! let mut engine = Engine::new(saved.clone(), Config::default());
//! loop {
//!     match engine.next_action() {
//!         Action::ObserveSource { .. } => engine.handle(Event::SourceObserved(folder(1, &source)?))?,
//!         Action::ObserveTarget | Action::Verify => engine.handle(Event::TargetObserved(folder(5, &target)?))?,
//!         Action::Save => {
//!             saved = engine.state().clone(); // durably, in a real driver
//!             engine.handle(Event::Saved)?;
//!         }
//!         Action::Copy(items) => {
//!             for item in items {
//!                 if std::mem::take(&mut throttle_once) {
//!                     let reply = "A3 NO [THROTTLED] Try again in 2 seconds".to_owned();
//!                     engine.handle(Event::Refused { source: item.source, reply })?;
//!                     continue;
//!                 }
//!                 let appended = uid(target.len() as u32 + 1)?;
//!                 let mut copy = ObservedMessage::new(appended, item.size);
//!                 copy.fingerprint = item.fingerprint;
//!                 target.push(copy);
//!                 engine.handle(Event::Copied { source: item.source, target: Some(appended) })?;
//!             }
//!         }
//!         Action::Backoff { hint, .. } => {
//!             // Sleep here: throttle::Backoff::delay, honouring the hint.
//!             assert_eq!(hint, Some(std::time::Duration::from_secs(2)));
//!         }
//!         Action::Done => break,
//!         other => panic!("not in this example: {other:?}"),
//!     }
//! }
//! let report = engine.report();
//! assert_eq!((report.asked, report.copied, report.failed), (2, 2, 0));
//! assert_eq!(target.len(), 2);
//! assert_eq!(saved.copied_count(), 2, "the last save holds both copies");
//! # Ok(())
//! # }
//! ```
//!
//! # What is in the crate
//!
//! | module | what it decides |
//! |---|---|
//! | [`engine`] | the copy protocol of a folder pair, sans-IO: observe, plan, intents saved before each batch, outcomes, refusals classified, skips logged before they are recorded, flags with CONDSTORE, verification with duplicates counted |
//! | [`state`], [`plan`] | per folder pair: what was copied where; the next pass (copy, present, flags, vanished, unidentified), UIDVALIDITY changes reconciled by fingerprint; intents for crash safety; stages |
//! | [`store`] | the state on disk: snapshots written new, fsynced, renamed; an append-only journal so a save costs the size of the change; versioned, checksummed; [`store::MemoryStore`] for tests |
//! | [`throttle`] | server replies classified (Gmail, Office 365, Dovecot, Cyrus, Exchange); backoff with jitter honouring hints; token buckets; daily budgets; multi-day transfer times |
//! | [`inventory`] | STATUS parsing with RFC 8438 SIZE; sizes per folder and mailbox; whale verdicts against per-seat or pooled quotas |
//! | [`tolerance`] | the bad-item threshold; the skipped-items CSV (RFC 4180) |
//! | [`progress`] | counters, throttle state and ETA for a progress bar |
//!
//! # The copy protocol in short
//!
//! This is what [`engine::Engine`] does; a driver that uses the state
//! directly must do the same.
//!
//! | step | state | engine action |
//! |---|---|---|
//! | 1. load | [`FolderState`] from a [`StateStore`] | [`engine::Engine::new`] |
//! | 2. observe both folders: status, UIDs, sizes, INTERNALDATE, flags (CONDSTORE: only changed ones), a fingerprint per message | | `ObserveSource`, `ObserveTarget` |
//! | 3. plan; an unconfirmed UIDVALIDITY change stops here, state untouched | [`FolderState::begin_pass`] | `Save` (or `Stop`) |
//! | 4. per batch: intents, **save**, APPEND the batch | [`FolderState::record_intent`] | `Save`, `Copy` |
//! | 5. outcomes: copied (APPENDUID), refused (classified by [`throttle::classify`]: over quota stops, throttling backs off, others are classified and repaired or skipped), no body (retried, then reported) | [`FolderState::record_copied`], [`FolderState::forget_intent`], [`FolderState::record_skipped`] after the skip log row is flushed | `Classify`, `LogSkip`, `Backoff` |
//! | 6. after the last batch: save; flags; then the source's new HIGHESTMODSEQ and save | [`FolderState::record_source_modseq`] | `Save`, `StoreFlags`, `Save` |
//! | 7. verify: count the target by fingerprint, report what failed and any duplicates | | `Verify`, `Done` |
//!
//! A kill at any instant leaves a state that the next pass completes
//! without duplicates: an open intent is resolved by looking for its
//! fingerprint on the target, above the UIDNEXT of the pass that recorded
//! it; a message that cannot be identified is reported in
//! [`Plan::unidentified`], never blindly copied again.
//!
//! # Input safety and limits
//!
//! * No panics on any input; `unsafe` is forbidden.
//! * [`store::decode`] checks magic, version, length and CRC-32 before it
//!   parses; a damaged or future-version file is an error, never an empty
//!   state. [`store::FileStore`] refuses files over 1 GiB by default.
//! * [`inventory::parse_status`] refuses input over 64 KiB, checks every
//!   number for overflow and limits nesting when skipping unknown items.
//! * Planning is O(n log n) in the number of messages and needs about
//!   50 bytes a message of working memory: reconciling a million-message
//!   folder after a UIDVALIDITY change takes about 0.4 s of CPU and 52 MB
//!   (see `benches/README.md`).
//!
//! # Features
//!
//! * `serde`: `Serialize`/`Deserialize` for the state, observations,
//!   plans and reports. The state *file* format does not depend on it.

pub mod engine;
mod error;
pub mod ids;
pub mod inventory;
pub mod observation;
pub mod plan;
pub mod progress;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tolerance;

pub use engine::Engine;
pub use error::Error;
pub use ids::{Fingerprint, Flag, ModSeq, Uid, UidValidity};
pub use observation::{FolderStatus, Observation, ObservedMessage};
pub use plan::{
    Match, Pair, Plan, Policy, Stage, StageCutoffs, StageGap, UnidentifiedPolicy, plan_pass,
};
pub use state::FolderState;
pub use store::{FileStore, MemoryStore, StateStore, StoreKey};
pub use tolerance::{SkipReason, Tolerance};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
