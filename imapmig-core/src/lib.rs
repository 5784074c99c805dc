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
//! # What is in the crate
//!
//! | module | what it decides |
//! |---|---|
//! | [`state`], [`plan`] | per folder pair: what was copied where; the next pass (copy, present, flags, vanished, unidentified), UIDVALIDITY changes reconciled by fingerprint; intents for crash safety; stages |
//! | [`store`] | the state on disk: snapshots written new, fsynced, renamed; an append-only journal so a save costs the size of the change; versioned, checksummed; [`store::MemoryStore`] for tests |
//! | [`throttle`] | server replies classified (Gmail, Office 365, Dovecot, Cyrus, Exchange); backoff with jitter honouring hints; token buckets; daily budgets; multi-day transfer times |
//! | [`inventory`] | STATUS parsing with RFC 8438 SIZE; sizes per folder and mailbox; whale verdicts against per-seat or pooled quotas |
//! | [`tolerance`] | the bad-item threshold; the skipped-items CSV (RFC 4180) |
//! | [`progress`] | counters, throttle state and ETA for a progress bar |
//!
//! # The copy protocol in short
//!
//! 1. Load the folder pair's [`FolderState`] from a [`StateStore`].
//! 2. Observe both folders ([`Observation`]: status, UIDs, sizes,
//!    INTERNALDATE, flags, a fingerprint per message from your
//!    fingerprinting code) and call [`FolderState::begin_pass`]; save.
//! 3. For each message of [`Plan::copy`]: [`FolderState::record_intent`],
//!    save, APPEND, then [`FolderState::record_copied`] with the APPENDUID
//!    (or [`FolderState::record_skipped`] / [`FolderState::forget_intent`]
//!    as the reply says: see [`throttle::classify`]); save.
//!
//! A kill at any instant leaves a state that the next pass completes
//! without duplicates: an open intent is resolved by looking for its
//! fingerprint on the target; a message that cannot be identified is
//! reported in [`Plan::unidentified`], never blindly copied again.
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
pub use plan::{Match, Pair, Plan, Policy, Stage, UnidentifiedPolicy, plan_pass};
pub use state::FolderState;
pub use store::{FileStore, MemoryStore, StateStore, StoreKey};
pub use tolerance::{SkipReason, Tolerance};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
