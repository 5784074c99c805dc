//! imapmig-dedupe (being built).

mod error;
pub mod fingerprint;
mod header;
pub mod message_id;

pub use error::{CorruptIndexKind, Error, MessageIdErrorKind};
pub use fingerprint::{Fingerprint, FingerprintKey, Fingerprinter, MessageFingerprints, Strategy};
pub use message_id::{MessageId, MessageIdStatus, Weakness};
pub mod index;
mod store;
pub use index::{FolderId, FolderScope, Index, Lookup, RunScope, Scope};
