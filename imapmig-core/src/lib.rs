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
//! # Features
//!
//! * `serde`: `Serialize`/`Deserialize` for the state, observations,
//!   plans and reports. The state *file* format does not depend on it.

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

pub use error::Error;
pub use ids::{Fingerprint, Flag, ModSeq, Uid, UidValidity};
pub use observation::{FolderStatus, Observation, ObservedMessage};
pub use plan::{Match, Pair, Plan, Policy, Stage, plan_pass};
pub use state::FolderState;
pub use store::{FileStore, MemoryStore, StateStore, StoreKey};
pub use tolerance::{SkipReason, Tolerance};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
