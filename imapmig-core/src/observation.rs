//! What a server said about one folder at the start of a pass.

use crate::ids::{Fingerprint, Flag, ModSeq, Uid, UidValidity};

/// A folder's status as SELECT/EXAMINE or STATUS report it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FolderStatus {
    /// UIDVALIDITY of the folder.
    pub uid_validity: UidValidity,
    /// UIDNEXT, when the server sent it.
    pub uid_next: Option<Uid>,
    /// HIGHESTMODSEQ, when the server has CONDSTORE (RFC 7162).
    pub highest_modseq: Option<ModSeq>,
    /// Number of messages (EXISTS / STATUS MESSAGES).
    pub messages: u32,
}

impl FolderStatus {
    /// A status with only UIDVALIDITY and the message count known.
    pub fn new(uid_validity: UidValidity, messages: u32) -> Self {
        FolderStatus {
            uid_validity,
            uid_next: None,
            highest_modseq: None,
            messages,
        }
    }
}

/// One message as fetched from a folder (UID, RFC822.SIZE, INTERNALDATE,
/// FLAGS and a fingerprint computed by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ObservedMessage {
    /// The message's UID under the observation's UIDVALIDITY.
    pub uid: Uid,
    /// The caller's identity for the message; `None` when it could not be
    /// computed (headers not fetched, fetch failed). Messages without a
    /// fingerprint can still be copied, but never *reconciled*.
    pub fingerprint: Option<Fingerprint>,
    /// RFC822.SIZE in bytes.
    pub size: u64,
    /// INTERNALDATE as Unix seconds, when known. Staging uses this, never
    /// the Date header, which may be missing or bogus.
    pub internal_date: Option<i64>,
    /// FLAGS, or `None` when they were not fetched (then no flag changes
    /// are planned for this message).
    pub flags: Option<Vec<Flag>>,
}

impl ObservedMessage {
    /// A message with a UID and size only; set the other fields directly.
    pub fn new(uid: Uid, size: u64) -> Self {
        ObservedMessage {
            uid,
            fingerprint: None,
            size,
            internal_date: None,
            flags: None,
        }
    }

    /// Sets the fingerprint (builder style).
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: impl Into<Fingerprint>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// Sets INTERNALDATE in Unix seconds (builder style).
    #[must_use]
    pub fn with_internal_date(mut self, unix_seconds: i64) -> Self {
        self.internal_date = Some(unix_seconds);
        self
    }

    /// Sets the flags (builder style).
    #[must_use]
    pub fn with_flags(mut self, flags: Vec<Flag>) -> Self {
        self.flags = Some(flags);
        self
    }
}

/// One folder on one side, observed at the start of a pass.
///
/// The messages may come in any order; [`Observation::new`] sorts them by
/// UID and drops repeated UIDs (a server never reports one twice in a
/// consistent snapshot; the first report wins).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Observation {
    status: FolderStatus,
    pub(crate) messages: Vec<ObservedMessage>,
}

impl Observation {
    /// Builds an observation, sorting messages by UID.
    pub fn new(status: FolderStatus, mut messages: Vec<ObservedMessage>) -> Self {
        let sorted = messages.windows(2).all(|w| w[0].uid < w[1].uid);
        if !sorted {
            messages.sort_by_key(|m| m.uid);
            messages.dedup_by_key(|m| m.uid);
        }
        Observation { status, messages }
    }

    /// The folder status.
    pub fn status(&self) -> &FolderStatus {
        &self.status
    }

    /// The messages, sorted by UID, without repeats.
    pub fn messages(&self) -> &[ObservedMessage] {
        &self.messages
    }

    /// The message with this UID, if observed (binary search).
    pub fn message(&self, uid: Uid) -> Option<&ObservedMessage> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| &self.messages[i])
    }

    /// Total size of the observed messages in bytes.
    pub fn total_size(&self) -> u64 {
        self.messages.iter().map(|m| m.size).sum()
    }
}
