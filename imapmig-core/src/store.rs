//! Persistence of [`FolderState`]: the [`StateStore`] trait, a crash-safe
//! [`FileStore`] and a [`MemoryStore`].
//!
//! # The state file format (version 2)
//!
//! A text file, written by hand rather than by serde so that it stays the
//! same whatever features are on:
//!
//! ```text
//! imapmig-state 2
//! key <store key>
//! length <bytes of body>
//! crc32 <8 lowercase hex digits: CRC-32 (IEEE) of body>
//!
//! <body>
//! ```
//!
//! The body has one record per line, fields separated by one space, `-`
//! for an absent value, fingerprints as 32 hex digits:
//!
//! ```text
//! source <uidvalidity> <uidnext|-> <highestmodseq|->
//! target <uidvalidity> <uidnext|-> <highestmodseq|->
//! copied <source uid> <target uid|-> <fingerprint|-> <size>
//! intent <source uid> <fingerprint|-> <size>
//! unidentified <source uid>
//! skipped <source uid> <fingerprint|-> <size> <reason code> <detail as a JSON string>
//! cutoffs <pre-stage before|-> <delta since|->
//! ```
//!
//! Version 2 added the `cutoffs` record (the stage cutoffs of completed
//! passes, Unix seconds; written only when a staged pass completed). A
//! version 1 file has none and still loads, with no cutoffs; a `cutoffs`
//! record in a version 1 file is corruption. The journal never carries
//! `cutoffs`: a save that changes them writes a snapshot.
//!
//! A reader rejects, with an error and never an empty state: a wrong magic
//! line, a version newer than it knows ([`Error::FutureVersion`]), another
//! key, a body longer or shorter than `length`, a checksum mismatch, an
//! unknown record, a bad field, or a UID recorded twice.
//!
//! A snapshot written by [`FileStore`] starts its body with `generation
//! <n>`, naming the journal that continues it.
//!
//! # The journal
//!
//! Between snapshots, [`FileStore::save`] appends what changed since the
//! last save to `<key>.journal`:
//!
//! ```text
//! imapmig-journal 1
//! key <store key>
//! generation <n>
//!
//! block <bytes> <crc32 of the block's records>
//! <records: the body records above, plus drop-copied|drop-intent|
//!  drop-skipped|drop-unidentified <uid> and drop-source|drop-target>
//! block ...
//! ```
//!
//! Loading replays the blocks of the journal whose generation matches the
//! snapshot's. A last block cut short or failing its checksum is a crash
//! during an append, before the save returned: it is ignored, and the next
//! save writes a new snapshot. A damaged block followed by others is
//! corruption: an error.
//!
//! # Crash safety
//!
//! A snapshot is written as `<key>.state.tmp`, fsynced, renamed over
//! `<key>.state`, and the directory fsynced; a journal block is appended
//! and the journal fsynced (and the directory, when the journal is new).
//! A crash at any step leaves the previous state or the new one, never a
//! mix. A new snapshot (when the journal would outgrow the snapshot) gets
//! a new generation, which makes the old journal obsolete in the same
//! rename. Saves therefore cost about the size of the change (some 60
//! bytes a record) plus an fsync; still, batch intents: record several,
//! save once, then APPEND them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Error;
use crate::ids::{Fingerprint, ModSeq, Uid, UidValidity};
use crate::plan::StageCutoffs;
use crate::state::{CopiedMessage, FolderState, Intent, SideMark, SkippedMessage};

/// The newest state file format this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 2;

const MAGIC: &str = "imapmig-state";

/// The name under which a folder pair's state is stored: 1 to 200 ASCII
/// letters, digits, `.`, `_` or `-`, not starting with `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct StoreKey(String);

impl StoreKey {
    /// Validates a key.
    pub fn new(key: &str) -> Result<Self, Error> {
        if key.is_empty() || key.len() > 200 {
            return Err(Error::invalid("store key", key, "must be 1 to 200 bytes"));
        }
        if key.starts_with('.') {
            return Err(Error::invalid("store key", key, "must not start with '.'"));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(Error::invalid(
                "store key",
                key,
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ));
        }
        Ok(StoreKey(key.to_owned()))
    }

    /// A key for a folder pair: a readable prefix from the folder names and
    /// a BLAKE3 hash of all four parts, so distinct pairs never collide.
    ///
    /// ```
    /// use imapmig_core::store::StoreKey;
    /// let a = StoreKey::for_folder_pair("alice@old", "INBOX/Sent", "alice@new", "Sent Items");
    /// let b = StoreKey::for_folder_pair("alice@old", "INBOX.Sent", "alice@new", "Sent Items");
    /// assert_ne!(a, b);
    /// assert!(a.as_str().starts_with("INBOX_Sent-"));
    /// ```
    pub fn for_folder_pair(
        source_account: &str,
        source_folder: &str,
        target_account: &str,
        target_folder: &str,
    ) -> Self {
        let mut hasher = blake3::Hasher::new();
        for part in [source_account, source_folder, target_account, target_folder] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let hash = hasher.finalize().to_hex();
        let readable: String = source_folder
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(48)
            .collect();
        let readable = readable.trim_start_matches('_');
        let hash = &hash.as_str()[..32];
        StoreKey(if readable.is_empty() {
            hash.to_owned()
        } else {
            format!("{readable}-{hash}")
        })
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StoreKey {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        StoreKey::new(&value)
    }
}

impl From<StoreKey> for String {
    fn from(value: StoreKey) -> String {
        value.0
    }
}

/// Where folder states are kept. Two implementations: [`FileStore`]
/// (crash-safe files, the default) and [`MemoryStore`] (tests, dry runs).
pub trait StateStore {
    /// The saved state, `Ok(None)` when nothing was ever saved under this
    /// key. A damaged or future-version file is an error, never `None`.
    fn load(&self, key: &StoreKey) -> Result<Option<FolderState>, Error>;
    /// Saves the state atomically: after a crash, `load` returns either the
    /// previous state or this one.
    fn save(&self, key: &StoreKey, state: &FolderState) -> Result<(), Error>;
}

/// The file operations [`FileStore`] performs, one method per step, so a
/// test can make any step fail ([`OsFilesystem`] is the real one).
pub trait Filesystem: fmt::Debug + Send + Sync {
    /// Creates or truncates `path` and writes `bytes` to it.
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Flushes `path`'s data to stable storage (fsync).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Flushes the directory entry changes of `dir` (fsync on the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Reads at most `limit` bytes of `path`; `Ok(None)` when it does not
    /// exist; an error of kind `FileTooLarge` when it is longer.
    fn read(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>>;
    /// Appends `bytes` to the existing file `path` in one write.
    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFilesystem;

impl Filesystem for OsFilesystem {
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = fs::File::create(path)?;
        file.write_all(bytes)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        fs::OpenOptions::new().write(true).open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::File::open(dir)?.sync_all()
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("state file is larger than the limit of {limit} bytes"),
            ));
        }
        Ok(Some(bytes))
    }

    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        fs::OpenOptions::new()
            .append(true)
            .open(path)?
            .write_all(bytes)
    }
}

/// Folder states as files `<dir>/<key>.state` plus an append-only
/// journal `<dir>/<key>.journal` (see the module docs for the format and
/// the crash-safety argument).
///
/// A save appends only what changed since the last load or save of the
/// same key through this store, so the cost of a save follows the change,
/// not the folder. When the journal would outgrow the snapshot (or on the
/// first save of a key in a process), the whole state is written as a new
/// snapshot with a new generation, which makes the old journal obsolete.
///
/// One process per directory: concurrent writers of the same key are not
/// coordinated.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    fs: Box<dyn Filesystem>,
    max_file_size: u64,
    journal: bool,
    cache: Mutex<HashMap<StoreKey, OnDisk>>,
}

/// What is on disk for a key, as of this store's last load or save.
#[derive(Debug)]
struct OnDisk {
    state: FolderState,
    generation: u64,
    snapshot_len: u64,
    /// Valid bytes of the journal of this generation; `None` when there is
    /// none yet (the next append creates it).
    journal_len: Option<u64>,
}

const JOURNAL_MAGIC: &str = "imapmig-journal 1";

/// A journal is compacted into a snapshot once it would exceed the
/// snapshot's size or this, whichever is larger.
const MIN_JOURNAL_LIMIT: u64 = 256 * 1024;

impl FileStore {
    /// Default limit on the size of a state file read back: 1 GiB, about
    /// fifteen million messages.
    pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;

    /// A store in `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore::with_filesystem(dir, Box::new(OsFilesystem))
    }

    /// A store using other file operations (fault injection in tests).
    pub fn with_filesystem(dir: impl Into<PathBuf>, fs: Box<dyn Filesystem>) -> Self {
        FileStore {
            dir: dir.into(),
            fs,
            max_file_size: FileStore::DEFAULT_MAX_FILE_SIZE,
            journal: true,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Changes the largest state or journal file [`StateStore::load`]
    /// accepts.
    #[must_use]
    pub fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Writes a full snapshot on every save instead of appending to the
    /// journal.
    #[must_use]
    pub fn without_journal(mut self) -> Self {
        self.journal = false;
        self
    }

    /// The path of a key's state file (its snapshot).
    pub fn path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{key}.state"))
    }

    /// The path of a key's journal.
    pub fn journal_path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{key}.journal"))
    }

    fn io<'a>(path: &'a Path, step: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| Error::Io {
            path: path.to_path_buf(),
            step,
            source,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, OnDisk>> {
        // Entries are replaced whole, so a panic elsewhere cannot leave one
        // half-updated.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a full snapshot with a new generation; returns its length.
    fn write_snapshot(
        &self,
        key: &StoreKey,
        state: &FolderState,
        generation: u64,
    ) -> Result<u64, Error> {
        let path = self.path(key);
        let tmp = self.dir.join(format!("{key}.state.tmp"));
        let bytes = encode_generation(key, state, Some(generation));
        self.fs
            .write(&tmp, &bytes)
            .map_err(FileStore::io(&tmp, "write"))?;
        self.fs
            .sync_file(&tmp)
            .map_err(FileStore::io(&tmp, "fsync"))?;
        self.fs
            .rename(&tmp, &path)
            .map_err(FileStore::io(&path, "rename"))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(FileStore::io(&self.dir, "fsync directory"))?;
        Ok(bytes.len() as u64)
    }

    /// Appends one journal block; creates the journal when there is none
    /// for this generation. Returns the journal's new length.
    fn append_block(
        &self,
        key: &StoreKey,
        generation: u64,
        journal_len: Option<u64>,
        records: &str,
    ) -> Result<u64, Error> {
        let path = self.journal_path(key);
        let block = format!(
            "block {} {:08x}\n{records}",
            records.len(),
            crc32fast::hash(records.as_bytes())
        );
        match journal_len {
            Some(len) => {
                self.fs
                    .append(&path, block.as_bytes())
                    .map_err(FileStore::io(&path, "append journal"))?;
                self.fs
                    .sync_file(&path)
                    .map_err(FileStore::io(&path, "fsync journal"))?;
                Ok(len + block.len() as u64)
            }
            None => {
                let mut bytes = format!("{JOURNAL_MAGIC}\nkey {key}\ngeneration {generation}\n\n");
                bytes.push_str(&block);
                self.fs
                    .write(&path, bytes.as_bytes())
                    .map_err(FileStore::io(&path, "write journal"))?;
                self.fs
                    .sync_file(&path)
                    .map_err(FileStore::io(&path, "fsync journal"))?;
                self.fs
                    .sync_dir(&self.dir)
                    .map_err(FileStore::io(&self.dir, "fsync directory"))?;
                Ok(bytes.len() as u64)
            }
        }
    }

    fn save_uncached(
        &self,
        key: &StoreKey,
        state: &FolderState,
        old: Option<OnDisk>,
    ) -> Result<OnDisk, Error> {
        if self.journal
            && let Some(old) = old
            // The journal never carries cutoffs: a change of them is a snapshot.
            && old.state.cutoffs == state.cutoffs
        {
            let records = delta(&old.state, state);
            if records.is_empty() {
                return Ok(OnDisk {
                    state: state.clone(),
                    ..old
                });
            }
            let limit = old.snapshot_len.max(MIN_JOURNAL_LIMIT);
            let grown = old.journal_len.unwrap_or(0) + records.len() as u64 + 64;
            if grown <= limit {
                let journal_len =
                    self.append_block(key, old.generation, old.journal_len, &records)?;
                return Ok(OnDisk {
                    state: state.clone(),
                    journal_len: Some(journal_len),
                    ..old
                });
            }
            let generation = old.generation.wrapping_add(1);
            let snapshot_len = self.write_snapshot(key, state, generation)?;
            return Ok(OnDisk {
                state: state.clone(),
                generation,
                snapshot_len,
                journal_len: None,
            });
        }
        // Not loaded through this store: a generation no journal on disk
        // can have (time-based, so distinct across processes).
        let generation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let snapshot_len = self.write_snapshot(key, state, generation)?;
        Ok(OnDisk {
            state: state.clone(),
            generation,
            snapshot_len,
            journal_len: None,
        })
    }

    /// Replays a journal onto `state`.
    fn replay(
        &self,
        key: &StoreKey,
        generation: Option<u64>,
        state: &mut FolderState,
    ) -> Result<Journal, Error> {
        let path = self.journal_path(key);
        let Some(bytes) = self
            .fs
            .read(&path, self.max_file_size)
            .map_err(FileStore::io(&path, "read journal"))?
        else {
            return Ok(Journal::Absent);
        };
        let corrupt = |offset: usize, reason: String| Error::CorruptState {
            path: path.clone(),
            offset,
            reason,
        };
        // The header and the first block are written in one go: a header
        // cut short is a crash while creating the journal.
        let Some(header_end) = bytes.windows(2).position(|w| w == b"\n\n") else {
            return Ok(Journal::Absent);
        };
        let header = std::str::from_utf8(&bytes[..header_end])
            .map_err(|_| corrupt(0, "journal header is not UTF-8".into()))?;
        let mut lines = header.lines();
        if lines.next() != Some(JOURNAL_MAGIC) {
            return Err(corrupt(
                0,
                "not an imapmig journal of a known version".into(),
            ));
        }
        if lines.next().and_then(|l| l.strip_prefix("key ")) != Some(key.as_str()) {
            return Err(corrupt(0, "journal of another key".into()));
        }
        let found: Option<u64> = lines
            .next()
            .and_then(|l| l.strip_prefix("generation "))
            .and_then(|g| g.parse().ok());
        if found.is_none() || lines.next().is_some() {
            return Err(corrupt(0, "bad journal header".into()));
        }
        if found != generation {
            // Made obsolete by a newer snapshot.
            return Ok(Journal::Absent);
        }
        let mut pos = header_end + 2;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let Some(eol) = rest.iter().position(|b| *b == b'\n') else {
                return Ok(Journal::Torn);
            };
            let line = std::str::from_utf8(&rest[..eol]).unwrap_or("");
            let mut f = line.split(' ');
            let (Some("block"), Some(len), Some(crc), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(corrupt(pos, "bad journal block header".into()));
            };
            let (Ok(len), Ok(crc)) = (len.parse::<usize>(), u32::from_str_radix(crc, 16)) else {
                return Err(corrupt(pos, "bad journal block header".into()));
            };
            let start = pos + eol + 1;
            let Some(end) = start.checked_add(len).filter(|e| *e <= bytes.len()) else {
                return Ok(Journal::Torn);
            };
            let body = &bytes[start..end];
            if crc32fast::hash(body) != crc {
                if end == bytes.len() {
                    return Ok(Journal::Torn);
                }
                return Err(corrupt(start, "journal block checksum mismatch".into()));
            }
            let text = std::str::from_utf8(body)
                .map_err(|_| corrupt(start, "journal block is not UTF-8".into()))?;
            apply_records(state, text, start, true).map_err(|e| e.at_path(&path))?;
            pos = end;
        }
        Ok(Journal::Valid(bytes.len() as u64))
    }
}

/// What [`FileStore::replay`] found.
enum Journal {
    /// No journal for this generation (none, obsolete, or cut short while
    /// being created): the next save may create one.
    Absent,
    /// Replayed; this many bytes, all valid.
    Valid(u64),
    /// Replayed up to a torn last block (a crash during an append; that
    /// block was never acknowledged). Not appendable: the next save
    /// writes a snapshot.
    Torn,
}

impl StateStore for FileStore {
    fn load(&self, key: &StoreKey) -> Result<Option<FolderState>, Error> {
        self.cache().remove(key);
        let path = self.path(key);
        let Some(bytes) = self
            .fs
            .read(&path, self.max_file_size)
            .map_err(FileStore::io(&path, "read"))?
        else {
            return Ok(None);
        };
        let (found, mut state, generation) = decode_full(&bytes).map_err(|e| e.at_path(&path))?;
        if &found != key {
            return Err(Error::KeyMismatch {
                path,
                found: found.0,
                expected: key.0.clone(),
            });
        }
        let journal = self.replay(key, generation, &mut state)?;
        let journal_len = match journal {
            Journal::Absent => Some(None),
            Journal::Valid(len) => Some(Some(len)),
            Journal::Torn => None,
        };
        if let (Some(generation), Some(journal_len)) = (generation, journal_len) {
            self.cache().insert(
                key.clone(),
                OnDisk {
                    state: state.clone(),
                    generation,
                    snapshot_len: bytes.len() as u64,
                    journal_len,
                },
            );
        }
        Ok(Some(state))
    }

    fn save(&self, key: &StoreKey, state: &FolderState) -> Result<(), Error> {
        let old = self.cache().remove(key);
        let saved = self.save_uncached(key, state, old)?;
        self.cache().insert(key.clone(), saved);
        Ok(())
    }
}

/// Folder states in memory, encoded in the file format so that a test
/// exercises the same encoder and decoder as the file store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    files: Mutex<HashMap<StoreKey, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, Vec<u8>>> {
        // A panic while holding the lock cannot leave a half-written entry:
        // entries are replaced whole.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StateStore for MemoryStore {
    fn load(&self, key: &StoreKey) -> Result<Option<FolderState>, Error> {
        let files = self.files();
        let Some(bytes) = files.get(key) else {
            return Ok(None);
        };
        let (_, state) = decode(bytes)?;
        Ok(Some(state))
    }

    fn save(&self, key: &StoreKey, state: &FolderState) -> Result<(), Error> {
        let bytes = encode(key, state);
        self.files().insert(key.clone(), bytes);
        Ok(())
    }
}

fn opt<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn write_mark(out: &mut String, name: &str, m: &SideMark) {
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{name} {} {} {}",
        m.uid_validity,
        opt(m.uid_next),
        opt(m.highest_modseq)
    );
}

fn write_copied(out: &mut String, uid: Uid, c: &CopiedMessage) {
    let _ = writeln!(
        out,
        "copied {uid} {} {} {}",
        opt(c.target),
        opt(c.fingerprint),
        c.size
    );
}

fn write_intent(out: &mut String, uid: Uid, i: &Intent) {
    let _ = writeln!(out, "intent {uid} {} {}", opt(i.fingerprint), i.size);
}

fn write_skipped(out: &mut String, uid: Uid, s: &SkippedMessage) {
    let detail = serde_json::Value::String(s.detail.clone()).to_string();
    let _ = writeln!(
        out,
        "skipped {uid} {} {} {} {detail}",
        opt(s.fingerprint),
        s.size,
        s.reason
    );
}

/// Encodes a state in the file format (version [`FORMAT_VERSION`]).
pub fn encode(key: &StoreKey, state: &FolderState) -> Vec<u8> {
    encode_generation(key, state, None)
}

fn encode_generation(key: &StoreKey, state: &FolderState, generation: Option<u64>) -> Vec<u8> {
    let mut body = String::with_capacity(64 + state.copied.len() * 64);
    if let Some(g) = generation {
        let _ = writeln!(body, "generation {g}");
    }
    for (name, mark) in [("source", &state.source), ("target", &state.target)] {
        if let Some(m) = mark {
            write_mark(&mut body, name, m);
        }
    }
    for (uid, c) in &state.copied {
        write_copied(&mut body, *uid, c);
    }
    for (uid, i) in &state.intents {
        write_intent(&mut body, *uid, i);
    }
    for uid in &state.unidentified {
        let _ = writeln!(body, "unidentified {uid}");
    }
    for (uid, s) in &state.skipped {
        write_skipped(&mut body, *uid, s);
    }
    let cutoffs = state.cutoffs;
    if cutoffs != StageCutoffs::default() {
        let _ = writeln!(
            body,
            "cutoffs {} {}",
            opt(cutoffs.before),
            opt(cutoffs.since)
        );
    }
    let crc = crc32fast::hash(body.as_bytes());
    let mut out = format!(
        "{MAGIC} {FORMAT_VERSION}\nkey {key}\nlength {}\ncrc32 {crc:08x}\n\n",
        body.len()
    );
    out.push_str(&body);
    out.into_bytes()
}

/// Calls `put` for entries of `new` that are absent from or different in
/// `old`, and `drop` for entries of `old` absent from `new` (one merge
/// pass over both sorted maps).
fn diff_maps<V: PartialEq>(
    old: &BTreeMap<Uid, V>,
    new: &BTreeMap<Uid, V>,
    mut put: impl FnMut(Uid, &V),
    mut drop: impl FnMut(Uid),
) {
    let mut a = old.iter().peekable();
    let mut b = new.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return,
            (Some((ka, _)), None) => {
                drop(**ka);
                a.next();
            }
            (None, Some((kb, vb))) => {
                put(**kb, vb);
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => {
                if ka < kb {
                    drop(**ka);
                    a.next();
                } else if kb < ka {
                    put(**kb, vb);
                    b.next();
                } else {
                    if va != vb {
                        put(**kb, vb);
                    }
                    a.next();
                    b.next();
                }
            }
        }
    }
}

/// The journal records that turn `old` into `new`.
fn delta(old: &FolderState, new: &FolderState) -> String {
    let mut out = String::new();
    for (name, a, b) in [
        ("source", &old.source, &new.source),
        ("target", &old.target, &new.target),
    ] {
        match (a, b) {
            (_, Some(m)) if a != b => write_mark(&mut out, name, m),
            (Some(_), None) => {
                let _ = writeln!(out, "drop-{name}");
            }
            _ => {}
        }
    }
    let mut drops = String::new();
    diff_maps(
        &old.copied,
        &new.copied,
        |uid, c| write_copied(&mut out, uid, c),
        |uid| {
            let _ = writeln!(drops, "drop-copied {uid}");
        },
    );
    diff_maps(
        &old.intents,
        &new.intents,
        |uid, i| write_intent(&mut out, uid, i),
        |uid| {
            let _ = writeln!(drops, "drop-intent {uid}");
        },
    );
    diff_maps(
        &old.skipped,
        &new.skipped,
        |uid, s| write_skipped(&mut out, uid, s),
        |uid| {
            let _ = writeln!(drops, "drop-skipped {uid}");
        },
    );
    for uid in new.unidentified.difference(&old.unidentified) {
        let _ = writeln!(out, "unidentified {uid}");
    }
    for uid in old.unidentified.difference(&new.unidentified) {
        let _ = writeln!(drops, "drop-unidentified {uid}");
    }
    out.push_str(&drops);
    out
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn corrupt(&self, offset: usize, reason: impl Into<String>) -> Error {
        Error::CorruptState {
            path: PathBuf::new(),
            offset,
            reason: reason.into(),
        }
    }

    /// The next line without its `\n`, and its offset.
    fn line(&mut self) -> Result<(&'a str, usize), Error> {
        let start = self.pos;
        let rest = &self.bytes[start..];
        let Some(len) = rest.iter().position(|b| *b == b'\n') else {
            return Err(self.corrupt(start, "unterminated header line"));
        };
        self.pos = start + len + 1;
        let line = std::str::from_utf8(&rest[..len])
            .map_err(|_| self.corrupt(start, "header line is not UTF-8"))?;
        Ok((line, start))
    }

    /// The next header line `<name> <value>`: its value and the value's offset.
    fn header(&mut self, name: &str) -> Result<(&'a str, usize), Error> {
        let (line, at) = self.line()?;
        let value = line
            .strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .ok_or_else(|| self.corrupt(at, format!("expected the {name} line")))?;
        Ok((value, at + name.len() + 1))
    }
}

fn field<T: std::str::FromStr>(value: Option<&str>, what: &str, offset: usize) -> Result<T, Error> {
    let corrupt = |reason: String| Error::CorruptState {
        path: PathBuf::new(),
        offset,
        reason,
    };
    let value = value.ok_or_else(|| corrupt(format!("missing {what}")))?;
    value
        .parse()
        .map_err(|_| corrupt(format!("bad {what} {:?}", truncate(value))))
}

fn optional<T: std::str::FromStr>(
    value: Option<&str>,
    what: &str,
    offset: usize,
) -> Result<Option<T>, Error> {
    match value {
        Some("-") => Ok(None),
        other => field(other, what, offset).map(Some),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Decodes a state file, checking magic, version, length and checksum.
///
/// Errors carry the byte offset of the problem; the path is empty (the
/// [`FileStore`] fills it in).
pub fn decode(bytes: &[u8]) -> Result<(StoreKey, FolderState), Error> {
    decode_full(bytes).map(|(key, state, _)| (key, state))
}

/// [`decode`], also returning the snapshot's journal generation.
fn decode_full(bytes: &[u8]) -> Result<(StoreKey, FolderState, Option<u64>), Error> {
    let mut cur = Cursor { bytes, pos: 0 };
    let (magic, at) = cur.line()?;
    let version = magic
        .strip_prefix(MAGIC)
        .and_then(|v| v.strip_prefix(' '))
        .ok_or_else(|| cur.corrupt(at, "not an imapmig state file"))?;
    let version: u32 = version
        .parse()
        .map_err(|_| cur.corrupt(at + MAGIC.len() + 1, "bad format version"))?;
    if version > FORMAT_VERSION {
        return Err(Error::FutureVersion {
            path: PathBuf::new(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(cur.corrupt(at, "format version 0 does not exist"));
    }
    let (key, key_at) = cur.header("key")?;
    let key = StoreKey::new(key).map_err(|_| cur.corrupt(key_at, "bad key"))?;
    let (length, length_at) = cur.header("length")?;
    let length: usize = length
        .parse()
        .map_err(|_| cur.corrupt(length_at, "bad length"))?;
    let (crc, crc_at) = cur.header("crc32")?;
    let lower_hex = crc
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let crc = (crc.len() == 8 && lower_hex)
        .then(|| u32::from_str_radix(crc, 16).ok())
        .flatten()
        .ok_or_else(|| cur.corrupt(crc_at, "bad crc32"))?;
    let (blank, blank_at) = cur.line()?;
    if !blank.is_empty() {
        return Err(cur.corrupt(blank_at, "expected an empty line after the header"));
    }
    let body_at = cur.pos;
    let body = &bytes[body_at..];
    if body.len() != length {
        return Err(cur.corrupt(
            body_at,
            format!("body is {} bytes, header says {length}", body.len()),
        ));
    }
    let actual = crc32fast::hash(body);
    if actual != crc {
        return Err(cur.corrupt(
            body_at,
            format!("checksum mismatch: header {crc:08x}, body {actual:08x}"),
        ));
    }
    let body = std::str::from_utf8(body)
        .map_err(|e| cur.corrupt(body_at + e.valid_up_to(), "body is not UTF-8"))?;
    let mut state = FolderState::new();
    let generation = apply_records(&mut state, body, body_at, false)?;
    if version < 2 && state.cutoffs != StageCutoffs::default() {
        return Err(cur.corrupt(body_at, "a cutoffs record in a version 1 state"));
    }
    Ok((key, state, generation))
}

/// Applies records to `state`. In a snapshot every record appears at most
/// once; a journal replaces records and may drop them. Returns the
/// `generation` record's value, if any.
fn apply_records(
    state: &mut FolderState,
    body: &str,
    body_at: usize,
    journal: bool,
) -> Result<Option<u64>, Error> {
    let mut generation = None;
    let mut seen_cutoffs = false;
    let mut at = body_at;
    for line in body.split_inclusive('\n') {
        let offset = at;
        at += line.len();
        let corrupt = |reason: String| Error::CorruptState {
            path: PathBuf::new(),
            offset,
            reason,
        };
        let Some(line) = line.strip_suffix('\n') else {
            return Err(corrupt("last record is not terminated".into()));
        };
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut f = rest.splitn(if kind == "skipped" { 5 } else { 4 }, ' ');
        let uid = |v: Option<&str>| field::<Uid>(v, "uid", offset);
        let duplicate = |what: &str, uid: Uid| corrupt(format!("{what} {uid} recorded twice"));
        if let Some(what) = kind.strip_prefix("drop-").filter(|_| journal) {
            let gone = match what {
                "source" | "target" if !rest.is_empty() => {
                    return Err(corrupt("trailing field".into()));
                }
                "source" => state.source.take().is_some(),
                "target" => state.target.take().is_some(),
                "copied" => state.copied.remove(&uid(f.next())?).is_some(),
                "intent" => state.intents.remove(&uid(f.next())?).is_some(),
                "skipped" => state.skipped.remove(&uid(f.next())?).is_some(),
                "unidentified" => state.unidentified.remove(&uid(f.next())?),
                other => {
                    return Err(corrupt(format!(
                        "unknown record drop-{:?}",
                        truncate(other)
                    )));
                }
            };
            if !gone {
                return Err(corrupt(format!("{kind} of a record that does not exist")));
            }
            if what != "source" && what != "target" && f.next().is_some() {
                return Err(corrupt("trailing field".into()));
            }
            continue;
        }
        match kind {
            "generation" if !journal => {
                let g = field::<u64>(f.next(), "generation", offset)?;
                if generation.replace(g).is_some() {
                    return Err(corrupt("generation recorded twice".into()));
                }
            }
            "cutoffs" if !journal => {
                if seen_cutoffs {
                    return Err(corrupt("cutoffs recorded twice".into()));
                }
                seen_cutoffs = true;
                state.cutoffs = StageCutoffs {
                    before: optional::<i64>(f.next(), "pre-stage cutoff", offset)?,
                    since: optional::<i64>(f.next(), "delta cutoff", offset)?,
                };
            }
            "source" | "target" => {
                let mark = SideMark {
                    uid_validity: field::<UidValidity>(f.next(), "uidvalidity", offset)?,
                    uid_next: optional::<Uid>(f.next(), "uidnext", offset)?,
                    highest_modseq: optional::<ModSeq>(f.next(), "highestmodseq", offset)?,
                };
                let slot = if kind == "source" {
                    &mut state.source
                } else {
                    &mut state.target
                };
                if slot.replace(mark).is_some() && !journal {
                    return Err(corrupt(format!("{kind} recorded twice")));
                }
            }
            "copied" => {
                let source = uid(f.next())?;
                let entry = CopiedMessage {
                    target: optional::<Uid>(f.next(), "target uid", offset)?,
                    fingerprint: optional::<Fingerprint>(f.next(), "fingerprint", offset)?,
                    size: field(f.next(), "size", offset)?,
                };
                if state.copied.insert(source, entry).is_some() && !journal {
                    return Err(duplicate("copied uid", source));
                }
            }
            "intent" => {
                let source = uid(f.next())?;
                let entry = Intent {
                    fingerprint: optional::<Fingerprint>(f.next(), "fingerprint", offset)?,
                    size: field(f.next(), "size", offset)?,
                };
                if f.next().is_some() {
                    return Err(corrupt("trailing field".into()));
                }
                if state.intents.insert(source, entry).is_some() && !journal {
                    return Err(duplicate("intent uid", source));
                }
            }
            "unidentified" => {
                let source = uid(f.next())?;
                if f.next().is_some() {
                    return Err(corrupt("trailing field".into()));
                }
                if !state.unidentified.insert(source) && !journal {
                    return Err(duplicate("unidentified uid", source));
                }
            }
            "skipped" => {
                let source = uid(f.next())?;
                let fingerprint = optional::<Fingerprint>(f.next(), "fingerprint", offset)?;
                let size = field(f.next(), "size", offset)?;
                let reason = field(f.next(), "reason", offset)?;
                let detail: String = f
                    .next()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .ok_or_else(|| corrupt("bad detail string".into()))?;
                let entry = SkippedMessage {
                    fingerprint,
                    size,
                    reason,
                    detail,
                };
                if state.skipped.insert(source, entry).is_some() && !journal {
                    return Err(duplicate("skipped uid", source));
                }
            }
            other => return Err(corrupt(format!("unknown record {:?}", truncate(other)))),
        }
        if kind != "skipped" && kind != "intent" && kind != "unidentified" && f.next().is_some() {
            return Err(corrupt("trailing field".into()));
        }
    }
    Ok(generation)
}

impl Error {
    fn at_path(self, path: &Path) -> Error {
        match self {
            Error::CorruptState { offset, reason, .. } => Error::CorruptState {
                path: path.to_path_buf(),
                offset,
                reason,
            },
            Error::FutureVersion {
                found, supported, ..
            } => Error::FutureVersion {
                path: path.to_path_buf(),
                found,
                supported,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::tolerance::SkipReason;

    fn uid(n: u32) -> Uid {
        Uid::try_from(n).unwrap()
    }

    fn sample(n: u32) -> FolderState {
        let mut state = FolderState::new();
        state.source = Some(SideMark {
            uid_validity: UidValidity::try_from(7).unwrap(),
            uid_next: Some(uid(n + 1)),
            highest_modseq: Some(ModSeq::try_from(u64::MAX).unwrap()),
        });
        state.target = Some(SideMark {
            uid_validity: UidValidity::try_from(9).unwrap(),
            uid_next: None,
            highest_modseq: None,
        });
        for i in 1..=n {
            let target = (i % 3 != 0).then(|| uid(i + 100));
            let fp = (i % 5 != 0).then(|| Fingerprint::from(u128::from(i) << 64));
            state.record_copied(uid(i), target, fp, u64::from(i) * 1000);
        }
        state.record_intent(uid(n + 1), Some(Fingerprint::from(1u128)), 10);
        state.record_intent(uid(n + 2), None, 11);
        state.unidentified.insert(uid(n + 3));
        state.record_skipped(
            uid(n + 4),
            None,
            12,
            SkipReason::Corrupt,
            "close-boundary-missing, \"quoted\"\nnext line",
        );
        state
    }

    #[test]
    fn round_trips() {
        let key = StoreKey::new("INBOX-abc").unwrap();
        for n in [0, 1, 10] {
            let state = sample(n);
            let bytes = encode(&key, &state);
            let (k, back) = decode(&bytes).unwrap();
            assert_eq!(k, key);
            assert_eq!(back, state);
        }
        let empty = FolderState::new();
        assert_eq!(decode(&encode(&key, &empty)).unwrap().1, empty);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let key = StoreKey::new("k").unwrap();
        let bytes = encode(&key, &sample(5));
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "truncated to {len} accepted"
            );
        }
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x20, 0x80] {
                let mut damaged = bytes.clone();
                damaged[i] ^= bit;
                if let Ok((k, state)) = decode(&damaged) {
                    // Only a flip in the key line can still decode, and then
                    // the key differs (the store reports a mismatch).
                    assert_ne!(k, key, "flip at {i} decoded: {state:?}");
                }
            }
        }
        let mut longer = bytes.clone();
        longer.push(b'\n');
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn header_errors_are_typed() {
        let key = StoreKey::new("k").unwrap();
        let good = String::from_utf8(encode(&key, &sample(2))).unwrap();
        let future = good.replacen("imapmig-state 2", "imapmig-state 3", 1);
        assert!(matches!(
            decode(future.as_bytes()),
            Err(Error::FutureVersion {
                found: 3,
                supported: 2,
                ..
            })
        ));
        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("imapmig-state x\n", 14),
            ("something else\n", 0),
            ("imapmig-state 0\n", 0),
            ("imapmig-state 1\nkey ../x\n", 20),
        ];
        for (input, offset) in cases {
            match decode(input.as_bytes()) {
                Err(Error::CorruptState { offset: got, .. }) => {
                    assert_eq!(got, *offset, "{input:?}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_records_are_rejected() {
        let key = StoreKey::new("k").unwrap();
        let frame = |body: &str| {
            format!(
                "imapmig-state 1\nkey k\nlength {}\ncrc32 {:08x}\n\n{body}",
                body.len(),
                crc32fast::hash(body.as_bytes())
            )
        };
        let good = [
            "copied 1 - - 5\n",
            "source 1 - -\ntarget 2 3 4\n",
            "skipped 3 - 1 corrupt \"a b\"\n",
        ];
        for body in good {
            assert!(decode(frame(body).as_bytes()).is_ok(), "{body:?}");
        }
        let bad = [
            "copied 0 - - 5\n",
            "copied 1 - - 5",
            "copied 1 - - 5 6\n",
            "copied 1 - - 5\ncopied 1 2 - 5\n",
            "copied 1 x - 5\n",
            "copied 1 - 123 5\n",
            "source 0 - -\n",
            "source 1 - -\nsource 1 - -\n",
            "source 1 - - -\n",
            "intent 1 - 5 x\n",
            "unidentified 1 2\n",
            "skipped 3 - 1 nope \"a\"\n",
            "skipped 3 - 1 corrupt a\n",
            "frobnicate 1\n",
            "\n",
        ];
        for body in bad {
            assert!(
                matches!(
                    decode(frame(body).as_bytes()),
                    Err(Error::CorruptState { .. })
                ),
                "{body:?}"
            );
        }
        let _ = key;
    }

    #[test]
    fn stage_cutoffs_are_version_2_and_old_states_still_load() {
        let key = StoreKey::new("k").unwrap();
        let frame = |version: u32, body: &str| {
            format!(
                "imapmig-state {version}\nkey k\nlength {}\ncrc32 {:08x}\n\n{body}",
                body.len(),
                crc32fast::hash(body.as_bytes())
            )
        };
        // A version 1 state (written before cutoffs existed) loads, without them.
        let old = decode(frame(1, "source 1 - -\ncopied 1 - - 5\n").as_bytes()).unwrap();
        assert_eq!(old.1.stage_cutoffs(), StageCutoffs::default());
        assert_eq!(old.1.copied_count(), 1);
        // Version 2 carries them, and a state without staged passes has none.
        let mut state = sample(2);
        let plain = String::from_utf8(encode(&key, &state)).unwrap();
        assert!(plain.starts_with("imapmig-state 2\n") && !plain.contains("cutoffs"));
        state.record_stage(&crate::Stage::PreStage { before: -86_400 });
        state.record_stage(&crate::Stage::Delta {
            since: 1_700_000_000,
        });
        let bytes = encode(&key, &state);
        assert!(String::from_utf8_lossy(&bytes).contains("cutoffs -86400 1700000000\n"));
        assert_eq!(decode(&bytes).unwrap().1, state);
        let half = decode(frame(2, "cutoffs - 5\n").as_bytes()).unwrap().1;
        assert_eq!(
            half.stage_cutoffs(),
            StageCutoffs {
                before: None,
                since: Some(5)
            }
        );
        for (version, body) in [
            (1, "cutoffs 1 -\n"),
            (2, "cutoffs 1 - -\n"),
            (2, "cutoffs x -\n"),
            (2, "cutoffs 1\n"),
            (2, "cutoffs 1 -\ncutoffs 1 -\n"),
        ] {
            assert!(
                matches!(
                    decode(frame(version, body).as_bytes()),
                    Err(Error::CorruptState { .. })
                ),
                "{version} {body:?}"
            );
        }
        // Through the journaling file store: a change of cutoffs is saved and loaded.
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let key = StoreKey::new("a").unwrap();
        let mut state = sample(3);
        store.save(&key, &state).unwrap();
        state.record_stage(&crate::Stage::PreStage { before: 100 });
        store.save(&key, &state).unwrap();
        assert_eq!(FileStore::new(dir.path()).load(&key).unwrap(), Some(state));
    }

    #[test]
    fn file_store_round_trips_and_checks_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let key = StoreKey::new("a").unwrap();
        assert_eq!(store.load(&key).unwrap(), None);
        store.save(&key, &sample(3)).unwrap();
        assert_eq!(store.load(&key).unwrap(), Some(sample(3)));
        let other = StoreKey::new("b").unwrap();
        fs::copy(store.path(&key), store.path(&other)).unwrap();
        assert!(matches!(store.load(&other), Err(Error::KeyMismatch { .. })));
        fs::write(store.path(&key), b"").unwrap();
        assert!(matches!(store.load(&key), Err(Error::CorruptState { .. })));
        let small = FileStore::new(dir.path()).with_max_file_size(3);
        assert!(matches!(
            small.load(&other),
            Err(Error::Io { step: "read", .. })
        ));
    }

    /// Fails the `fail_at`-th file operation (1-based); a failing write
    /// leaves half of the bytes behind, like a crash in the middle.
    #[derive(Debug)]
    struct FaultyFs {
        fail_at: usize,
        count: AtomicUsize,
    }

    impl FaultyFs {
        fn step(&self) -> io::Result<()> {
            let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.fail_at {
                Err(io::Error::other(format!("injected fault at step {n}")))
            } else {
                Ok(())
            }
        }
    }

    impl Filesystem for FaultyFs {
        fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            if let Err(e) = self.step() {
                OsFilesystem.write(path, &bytes[..bytes.len() / 2])?;
                return Err(e);
            }
            OsFilesystem.write(path, bytes)
        }
        fn sync_file(&self, path: &Path) -> io::Result<()> {
            self.step()?;
            OsFilesystem.sync_file(path)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.step()?;
            OsFilesystem.rename(from, to)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.step()?;
            OsFilesystem.sync_dir(dir)
        }
        fn read(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
            self.step()?;
            OsFilesystem.read(path, limit)
        }
        fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            if let Err(e) = self.step() {
                OsFilesystem.append(path, &bytes[..bytes.len() / 2])?;
                return Err(e);
            }
            OsFilesystem.append(path, bytes)
        }
    }

    #[test]
    fn a_fault_at_every_write_step_leaves_old_or_new_state() {
        let key = StoreKey::new("INBOX").unwrap();
        let (old, new) = (sample(4), sample(9));
        let steps = ["write", "fsync", "rename", "fsync directory"];
        for (i, step) in steps.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            FileStore::new(dir.path()).save(&key, &old).unwrap();
            let faulty = FileStore::with_filesystem(
                dir.path(),
                Box::new(FaultyFs {
                    fail_at: i + 1,
                    count: AtomicUsize::new(0),
                }),
            );
            match faulty.save(&key, &new) {
                Err(Error::Io { step: got, .. }) => assert_eq!(got, *step),
                other => panic!("step {step}: {other:?}"),
            }
            let store = FileStore::new(dir.path());
            let loaded = store.load(&key).unwrap().unwrap();
            if *step == "fsync directory" {
                assert_eq!(loaded, new, "the rename happened before the fault");
            } else {
                assert_eq!(loaded, old, "fault at {step} must keep the old state");
            }
            // The next save succeeds over the leftover temporary file.
            store.save(&key, &new).unwrap();
            assert_eq!(store.load(&key).unwrap(), Some(new.clone()));
        }
        // A read fault is an error, not an empty state.
        let dir = tempfile::tempdir().unwrap();
        FileStore::new(dir.path()).save(&key, &old).unwrap();
        let faulty = FileStore::with_filesystem(
            dir.path(),
            Box::new(FaultyFs {
                fail_at: 1,
                count: AtomicUsize::new(0),
            }),
        );
        assert!(matches!(
            faulty.load(&key),
            Err(Error::Io { step: "read", .. })
        ));
    }

    #[test]
    fn memory_store_uses_the_file_format() {
        let store = MemoryStore::new();
        let key = StoreKey::new("x").unwrap();
        assert_eq!(store.load(&key).unwrap(), None);
        store.save(&key, &sample(2)).unwrap();
        assert_eq!(store.load(&key).unwrap(), Some(sample(2)));
    }

    #[test]
    fn store_keys() {
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(201), "ü"] {
            assert!(StoreKey::new(bad).is_err(), "{bad:?}");
        }
        for good in ["INBOX", "a.b_c-d", &"x".repeat(200)] {
            assert!(StoreKey::new(good).is_ok(), "{good:?}");
        }
        let k = StoreKey::for_folder_pair("a", "Ünïcode/Ordner", "b", "x");
        assert!(StoreKey::new(k.as_str()).is_ok());
        let k = StoreKey::for_folder_pair("a", "...", "b", "x");
        assert_eq!(k.as_str().len(), 32);
    }

    /// A sequence of states where each differs a little from the last,
    /// with additions, changes and removals of every kind of record.
    fn evolving(n: u32) -> Vec<FolderState> {
        let mut out = Vec::new();
        let mut state = sample(3);
        out.push(state.clone());
        for i in 0..n {
            let u = uid(100 + i);
            state.record_intent(u, Some(Fingerprint::from(u128::from(i) + 7)), 5);
            out.push(state.clone());
            if i % 3 == 0 {
                state.forget_intent(u);
            } else {
                state.record_copied(u, Some(uid(500 + i)), None, 5);
            }
            if i % 4 == 1 {
                state.record_skipped(uid(100 + i - 1), None, 1, SkipReason::TooLarge, "big");
            }
            if i == 5 {
                state.target = None;
                state.unidentified.clear();
            }
            if i == 6 {
                state.target = Some(SideMark {
                    uid_validity: UidValidity::try_from(77).unwrap(),
                    uid_next: None,
                    highest_modseq: None,
                });
            }
            out.push(state.clone());
        }
        out
    }

    #[test]
    fn journal_appends_and_replays() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey::new("j").unwrap();
        let store = FileStore::new(dir.path());
        let states = evolving(12);
        store.save(&key, &states[0]).unwrap();
        let snapshot = fs::read(store.path(&key)).unwrap();
        for (i, state) in states.iter().enumerate().skip(1) {
            store.save(&key, state).unwrap();
            // Every prefix of the history loads, through a fresh store.
            let fresh = FileStore::new(dir.path());
            assert_eq!(
                fresh.load(&key).unwrap().as_ref(),
                Some(state),
                "after save {i}"
            );
        }
        assert_eq!(
            fs::read(store.path(&key)).unwrap(),
            snapshot,
            "only the journal grew"
        );
        assert!(fs::metadata(store.journal_path(&key)).unwrap().len() > 0);
        // Saving the same state again writes nothing.
        let len = fs::metadata(store.journal_path(&key)).unwrap().len();
        store.save(&key, states.last().unwrap()).unwrap();
        assert_eq!(fs::metadata(store.journal_path(&key)).unwrap().len(), len);
        // A store that loads first goes on appending to the same journal.
        let second = FileStore::new(dir.path());
        second.load(&key).unwrap();
        let mut next = states.last().unwrap().clone();
        next.record_intent(uid(9999), None, 1);
        second.save(&key, &next).unwrap();
        assert!(fs::metadata(store.journal_path(&key)).unwrap().len() > len);
        assert_eq!(FileStore::new(dir.path()).load(&key).unwrap(), Some(next));
        // Without the journal every save is a snapshot.
        let plain = FileStore::new(dir.path()).without_journal();
        plain.save(&key, &states[1]).unwrap();
        plain.save(&key, &states[2]).unwrap();
        assert_eq!(
            FileStore::new(dir.path()).load(&key).unwrap().as_ref(),
            Some(&states[2])
        );
    }

    #[test]
    fn a_torn_journal_tail_is_the_previous_save() {
        let key = StoreKey::new("t").unwrap();
        let states = evolving(4);
        let history = |dir: &Path| {
            let store = FileStore::new(dir);
            for state in &states {
                store.save(&key, state).unwrap();
            }
            fs::read(store.journal_path(&key)).unwrap()
        };
        let probe = tempfile::tempdir().unwrap();
        let journal = history(probe.path());
        let last_block = journal.windows(6).rposition(|w| w == b"block ").unwrap();
        let prev = &states[states.len() - 2];
        for cut in [
            journal.len() - 1,
            last_block + 20,
            last_block + 3,
            last_block,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = FileStore::new(dir.path());
            history(dir.path());
            let full = fs::read(store.journal_path(&key)).unwrap();
            fs::write(store.journal_path(&key), &full[..cut]).unwrap();
            let fresh = FileStore::new(dir.path());
            assert_eq!(
                fresh.load(&key).unwrap().as_ref(),
                Some(prev),
                "cut at {cut}"
            );
            // The next save must not append after the torn block.
            fresh.save(&key, &states[1]).unwrap();
            assert_eq!(
                FileStore::new(dir.path()).load(&key).unwrap().as_ref(),
                Some(&states[1])
            );
            fresh.save(&key, &states[3]).unwrap();
            assert_eq!(
                FileStore::new(dir.path()).load(&key).unwrap().as_ref(),
                Some(&states[3])
            );
        }
    }

    #[test]
    fn a_damaged_journal_block_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey::new("m").unwrap();
        let store = FileStore::new(dir.path());
        for state in &evolving(4) {
            store.save(&key, state).unwrap();
        }
        let journal = fs::read(store.journal_path(&key)).unwrap();
        let first_block = journal.windows(6).position(|w| w == b"block ").unwrap();
        let mut damaged = journal.clone();
        let body = first_block
            + journal[first_block..]
                .iter()
                .position(|b| *b == b'\n')
                .unwrap()
            + 2;
        damaged[body] ^= 0x01;
        fs::write(store.journal_path(&key), &damaged).unwrap();
        assert!(matches!(
            FileStore::new(dir.path()).load(&key),
            Err(Error::CorruptState { .. })
        ));
    }

    #[test]
    fn the_journal_is_compacted_into_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey::new("c").unwrap();
        let store = FileStore::new(dir.path());
        let mut state = FolderState::new();
        store.save(&key, &state).unwrap();
        let first = fs::read(store.path(&key)).unwrap();
        // Each save adds 2,000 records (about 120 kB): the journal passes
        // its 256 kB limit within a few saves.
        for round in 0..6u32 {
            for i in 0..2000 {
                let u = uid(round * 2000 + i + 1);
                state.record_copied(u, Some(u), Some(Fingerprint::from(u128::from(u.get()))), 1);
            }
            store.save(&key, &state).unwrap();
            assert_eq!(
                FileStore::new(dir.path()).load(&key).unwrap().as_ref(),
                Some(&state)
            );
        }
        assert_ne!(
            fs::read(store.path(&key)).unwrap(),
            first,
            "a new snapshot was written"
        );
        let journal = fs::metadata(store.journal_path(&key)).map_or(0, |m| m.len());
        let snapshot = fs::metadata(store.path(&key)).unwrap().len();
        assert!(
            journal <= snapshot.max(MIN_JOURNAL_LIMIT),
            "{journal} > {snapshot}"
        );
    }

    #[test]
    fn a_fault_at_every_step_of_a_journal_save_leaves_old_or_new_state() {
        let key = StoreKey::new("f").unwrap();
        let states = evolving(3);
        let (old, new) = (&states[2], &states[3]);
        // Steps of an append save that creates the journal: write journal,
        // fsync journal, fsync directory; of a later append: append, fsync.
        for creating in [true, false] {
            for fail_at in 1..=3 {
                let dir = tempfile::tempdir().unwrap();
                let setup = if creating {
                    FileStore::new(dir.path()).without_journal()
                } else {
                    FileStore::new(dir.path())
                };
                setup.save(&key, &states[0]).unwrap();
                setup.save(&key, &states[1]).unwrap();
                setup.save(&key, old).unwrap();
                assert_eq!(setup.journal_path(&key).exists(), !creating);
                let armed = FileStore::with_filesystem(
                    dir.path(),
                    Box::new(FaultyFs {
                        fail_at: fail_at + 2,
                        count: AtomicUsize::new(0),
                    }),
                );
                // Two reads (snapshot, journal), then the save's steps.
                assert_eq!(armed.load(&key).unwrap().as_ref(), Some(old));
                let result = armed.save(&key, new);
                let loaded = FileStore::new(dir.path()).load(&key).unwrap().unwrap();
                assert!(
                    loaded == *old || loaded == *new,
                    "creating {creating}, fault at step {fail_at}: {result:?}"
                );
                if result.is_ok() {
                    assert_eq!(loaded, *new);
                }
                // And the store recovers: the next save and load work.
                let again = FileStore::new(dir.path());
                again.load(&key).unwrap();
                again.save(&key, &states[0]).unwrap();
                assert_eq!(
                    FileStore::new(dir.path()).load(&key).unwrap().as_ref(),
                    Some(&states[0])
                );
            }
        }
    }
}
