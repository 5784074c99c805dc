//! A compact fingerprint index for millions of messages.
//!
//! [`Index`] answers "has this message been seen (in this folder / anywhere /
//! in a previous run)?" for every message of a migration, in memory, and is
//! saved between runs (see [`Index::save`] and the format below).
//!
//! # Layout and memory
//!
//! The index is one open-addressed table stored as two parallel arrays: the
//! 128-bit fingerprints (16 bytes) and a 32-bit word holding the folder and a
//! "recorded by a previous run" bit (4 bytes), 20 bytes per slot. There are
//! no per-entry allocations and no pointers. Fingerprints are keyed hashes,
//! so they are uniform and the slot is taken from the top bits of the
//! fingerprint itself (`fingerprint × capacity / 2¹²⁸`), with linear
//! probing. The table grows when it is 90 % full, to 85 % of the new
//! capacity, so at any size above a few thousand entries it uses at most
//! 20 / 0.847 = 23.6 bytes per message ([`Index::heap_bytes`] says exactly).
//! Because the slot order follows the fingerprint order, growing re-inserts
//! the entries almost sequentially, which keeps the frequent small growth
//! steps cheap.
//!
//! # Scope
//!
//! A [`Scope`] fixed when the index is made decides what counts as a
//! duplicate: the same fingerprint in the same folder or in any folder
//! ([`FolderScope`]), recorded in this run too or only by a previous run
//! ([`RunScope`]). Entries loaded from disk belong to previous runs.
//!
//! # File format (version 1)
//!
//! All integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `IMMGDIDX` |
//! | 8 | 4 | version, `1` |
//! | 12 | 1 | folder scope: 0 same, 1 any |
//! | 13 | 1 | run scope: 0 all, 1 previous |
//! | 14 | 2 | zero |
//! | 16 | 32 | the [`FingerprintKey`] |
//! | 48 | 8 | entry count *n* |
//! | 56 | 20 *n* | entries: fingerprint (16), folder (4, bit 31 = previous run) |
//! | 56 + 20 *n* | 4 | CRC-32 (IEEE) of all preceding bytes |
//!
//! A file that is shorter or longer than its count says, whose checksum does
//! not match, or whose fields hold values outside the format is an
//! [`Error::CorruptIndex`]: never an empty or partial index.

use std::io::{self, Read, Write};

use crate::error::{CorruptIndexKind, Error};
use crate::fingerprint::{Fingerprint, FingerprintKey, Fingerprinter};

/// A folder, numbered by the caller (at most [`FolderId::MAX`]).
///
/// The index stores numbers, not names: keep the name-to-number table next
/// to it (a migration state usually has one already).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FolderId(u32);

impl FolderId {
    /// The largest folder number (2³¹ − 2); the top bit and the all-ones
    /// value are used by the index itself.
    pub const MAX: u32 = (1 << 31) - 2;

    /// A folder id, if `value` is at most [`FolderId::MAX`].
    pub const fn new(value: u32) -> Option<FolderId> {
        if value <= Self::MAX {
            Some(FolderId(value))
        } else {
            None
        }
    }

    /// The folder number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for FolderId {
    type Error = Error;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        FolderId::new(value).ok_or(Error::FolderId(value))
    }
}

/// Which folders a duplicate may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FolderScope {
    /// Only a copy in the same folder counts: the same message filed under
    /// two folders (two Gmail labels) is kept twice.
    Same,
    /// A copy in any folder counts: one copy in total is kept.
    Any,
}

/// Which runs a duplicate may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RunScope {
    /// A copy recorded earlier in this run or by a previous run counts.
    All,
    /// Only a copy recorded by a previous run counts (what a repeat pass of a
    /// migration needs: skip what an earlier pass copied, copy everything
    /// else as it is, duplicates in the source included).
    Previous,
}

/// What counts as a duplicate (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Scope {
    /// Which folders.
    pub folders: FolderScope,
    /// Which runs.
    pub runs: RunScope,
}

impl Scope {
    /// The same fingerprint in the same folder, from any run.
    pub const SAME_FOLDER: Scope = Scope {
        folders: FolderScope::Same,
        runs: RunScope::All,
    };
    /// The same fingerprint in any folder, from any run.
    pub const ANY_FOLDER: Scope = Scope {
        folders: FolderScope::Any,
        runs: RunScope::All,
    };
    /// The same fingerprint in the same folder, recorded by a previous run.
    pub const PREVIOUS_RUNS: Scope = Scope {
        folders: FolderScope::Same,
        runs: RunScope::Previous,
    };
}

/// The verdict of [`Index::lookup`] and [`Index::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Lookup {
    /// Not a duplicate within the scope.
    New,
    /// A duplicate of a message recorded before.
    Duplicate {
        /// The folder the first copy was recorded in.
        folder: FolderId,
        /// Whether a previous run recorded it.
        previous_run: bool,
    },
}

/// Most entries an index holds.
pub const MAX_ENTRIES: usize = 1 << 32;

const EMPTY: u32 = u32::MAX;
const PREVIOUS: u32 = 1 << 31;
const MIN_CAPACITY: usize = 16;
/// Grow when `len / capacity` would exceed `MAX_LOAD_NUM / MAX_LOAD_DEN`.
const MAX_LOAD_NUM: usize = 9;
const MAX_LOAD_DEN: usize = 10;
/// After growing, `capacity = len × GROWTH_NUM / GROWTH_DEN` (load 0.847).
const GROWTH_NUM: usize = 118;
const GROWTH_DEN: usize = 100;

const MAGIC: &[u8; 8] = b"IMMGDIDX";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 56;
const ENTRY_LEN: usize = 20;

/// The fingerprint index (see the [module docs](self)).
///
/// ```
/// use imapmig_dedupe::{FolderId, Index, Lookup, Scope};
///
/// let mut index = Index::new(Scope::SAME_FOLDER)?;
/// let fingerprinter = index.fingerprinter();
/// let inbox = FolderId::new(0).unwrap();
/// let archive = FolderId::new(1).unwrap();
/// let fp = fingerprinter.content(b"Subject: hi\r\n\r\nhello\r\n");
///
/// assert_eq!(index.insert(fp, inbox)?, Lookup::New);
/// assert_eq!(index.insert(fp, archive)?, Lookup::New);
/// assert_eq!(
///     index.insert(fp, inbox)?,
///     Lookup::Duplicate { folder: inbox, previous_run: false }
/// );
/// assert_eq!(index.len(), 2);
/// # Ok::<(), imapmig_dedupe::Error>(())
/// ```
#[derive(Clone)]
pub struct Index {
    key: FingerprintKey,
    scope: Scope,
    keys: Vec<u128>,
    meta: Vec<u32>,
    len: usize,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("scope", &self.scope)
            .field("len", &self.len)
            .field("capacity", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Index {
    /// An empty index with a new random key.
    pub fn new(scope: Scope) -> Result<Index, Error> {
        Ok(Index::with_key(scope, FingerprintKey::generate()?))
    }

    /// An empty index whose fingerprints use `key`.
    pub fn with_key(scope: Scope, key: FingerprintKey) -> Index {
        Index::with_capacity(scope, key, 0)
    }

    /// An empty index with room for `entries` entries before it grows.
    pub fn with_capacity(scope: Scope, key: FingerprintKey, entries: usize) -> Index {
        let capacity = capacity_for(entries.min(MAX_ENTRIES));
        Index {
            key,
            scope,
            keys: vec![0; capacity],
            meta: vec![EMPTY; capacity],
            len: 0,
        }
    }

    /// The fingerprint key kept with this index.
    pub fn key(&self) -> &FingerprintKey {
        &self.key
    }

    /// A [`Fingerprinter`] with this index's key and the default header fields.
    pub fn fingerprinter(&self) -> Fingerprinter {
        Fingerprinter::new(&self.key)
    }

    /// The scope this index judges duplicates by.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of heap memory held by the entries (both arrays, by capacity).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<u128>() + self.meta.capacity() * size_of::<u32>()
    }

    /// [`Index::heap_bytes`] per entry (0 for an empty index).
    pub fn bytes_per_message(&self) -> f64 {
        if self.len == 0 {
            0.0
        } else {
            self.heap_bytes() as f64 / self.len as f64
        }
    }

    /// Whether `fingerprint` in `folder` is a duplicate within the scope,
    /// without recording it.
    pub fn lookup(&self, fingerprint: Fingerprint, folder: FolderId) -> Lookup {
        match self.find(fingerprint.as_u128(), folder) {
            Some(slot) => self.verdict(slot),
            None => Lookup::New,
        }
    }

    /// Records `fingerprint` in `folder` unless it is a duplicate within the
    /// scope, and says which it was. A duplicate is not recorded again.
    ///
    /// Errors only when the index already holds [`MAX_ENTRIES`].
    pub fn insert(&mut self, fingerprint: Fingerprint, folder: FolderId) -> Result<Lookup, Error> {
        let fp = fingerprint.as_u128();
        if let Some(slot) = self.find(fp, folder) {
            // With `RunScope::Previous`, a copy from this run is not a
            // duplicate, but it is already recorded.
            return Ok(self.verdict(slot));
        }
        self.insert_new(fp, folder.0)?;
        Ok(Lookup::New)
    }

    /// Marks every entry as recorded by a previous run, as loading a saved
    /// index does: for a caller that keeps one index in memory across passes.
    pub fn start_new_run(&mut self) {
        for meta in &mut self.meta {
            if *meta != EMPTY {
                *meta |= PREVIOUS;
            }
        }
    }

    /// Every entry: fingerprint, folder, and whether a previous run recorded it.
    pub fn iter(&self) -> impl Iterator<Item = (Fingerprint, FolderId, bool)> + '_ {
        self.keys
            .iter()
            .zip(&self.meta)
            .filter(|(_, meta)| **meta != EMPTY)
            .map(|(key, meta)| {
                (
                    Fingerprint::from_u128(*key),
                    FolderId(meta & !PREVIOUS),
                    meta & PREVIOUS != 0,
                )
            })
    }

    fn verdict(&self, slot: usize) -> Lookup {
        let meta = self.meta[slot];
        let previous_run = meta & PREVIOUS != 0;
        if self.scope.runs == RunScope::Previous && !previous_run {
            return Lookup::New;
        }
        Lookup::Duplicate {
            folder: FolderId(meta & !PREVIOUS),
            previous_run,
        }
    }

    /// The home slot of a fingerprint: its top 64 bits scaled to the capacity.
    fn home(fp: u128, capacity: usize) -> usize {
        (((fp >> 64) * capacity as u128) >> 64) as usize
    }

    /// The slot of the entry that `fp` in `folder` would duplicate.
    fn find(&self, fp: u128, folder: FolderId) -> Option<usize> {
        let capacity = self.keys.len();
        let mut slot = Self::home(fp, capacity);
        // At most `capacity` probes; the load limit guarantees an empty slot.
        for _ in 0..capacity {
            let meta = self.meta[slot];
            if meta == EMPTY {
                return None;
            }
            if self.keys[slot] == fp
                && (self.scope.folders == FolderScope::Any || meta & !PREVIOUS == folder.0)
            {
                return Some(slot);
            }
            slot += 1;
            if slot == capacity {
                slot = 0;
            }
        }
        None
    }

    fn insert_new(&mut self, fp: u128, meta: u32) -> Result<(), Error> {
        if self.len >= MAX_ENTRIES {
            return Err(Error::IndexFull { entries: self.len });
        }
        if (self.len + 1) * MAX_LOAD_DEN > self.keys.len() * MAX_LOAD_NUM {
            self.grow();
        }
        place(&mut self.keys, &mut self.meta, fp, meta);
        self.len += 1;
        Ok(())
    }

    fn grow(&mut self) {
        let capacity = capacity_for(self.len + 1);
        let mut keys = vec![0u128; capacity];
        let mut meta = vec![EMPTY; capacity];
        // Slots are in fingerprint order (but for the few that wrapped), so
        // this pass writes the new arrays nearly sequentially.
        for (&key, &m) in self.keys.iter().zip(&self.meta) {
            if m != EMPTY {
                place(&mut keys, &mut meta, key, m);
            }
        }
        self.keys = keys;
        self.meta = meta;
    }

    /// Writes the index in the [file format](self) to `writer`.
    pub fn write_to<W: Write>(&self, writer: W) -> io::Result<()> {
        let mut writer = Checksummed {
            inner: writer,
            crc: crc32fast::Hasher::new(),
        };
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        header[12] = match self.scope.folders {
            FolderScope::Same => 0,
            FolderScope::Any => 1,
        };
        header[13] = match self.scope.runs {
            RunScope::All => 0,
            RunScope::Previous => 1,
        };
        header[16..48].copy_from_slice(self.key.as_bytes());
        header[48..56].copy_from_slice(&(self.len as u64).to_le_bytes());
        writer.write_all(&header)?;
        let mut entry = [0u8; ENTRY_LEN];
        for (&key, &meta) in self.keys.iter().zip(&self.meta) {
            if meta != EMPTY {
                entry[..16].copy_from_slice(&key.to_le_bytes());
                entry[16..].copy_from_slice(&meta.to_le_bytes());
                writer.write_all(&entry)?;
            }
        }
        let crc = writer.crc.clone().finalize();
        writer.inner.write_all(&crc.to_le_bytes())?;
        writer.inner.flush()
    }

    /// The index in the [file format](self), as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.len * ENTRY_LEN + 4);
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// Reads an index in the [file format](self). Every entry is marked as
    /// recorded by a previous run.
    ///
    /// ```
    /// use imapmig_dedupe::{CorruptIndexKind, Error, FolderId, Index, Scope};
    ///
    /// let mut index = Index::new(Scope::ANY_FOLDER)?;
    /// let _ = index.insert(42.into(), FolderId::new(3).unwrap())?;
    /// let bytes = index.to_bytes();
    ///
    /// let loaded = Index::from_bytes(&bytes)?;
    /// assert_eq!(loaded.len(), 1);
    /// assert_eq!(loaded.key(), index.key());
    ///
    /// let truncated = Index::from_bytes(&bytes[..bytes.len() - 1]);
    /// assert!(matches!(
    ///     truncated,
    ///     Err(Error::CorruptIndex { reason: CorruptIndexKind::Truncated, .. })
    /// ));
    /// # Ok::<(), imapmig_dedupe::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Index, Error> {
        Index::read_from(bytes)
    }

    /// Like [`Index::from_bytes`], from a reader (read to its end).
    pub fn read_from<R: Read>(reader: R) -> Result<Index, Error> {
        let mut reader = Reading {
            inner: reader,
            crc: crc32fast::Hasher::new(),
            offset: 0,
        };
        let mut header = [0u8; HEADER_LEN];
        reader.fill(&mut header)?;
        if &header[..8] != MAGIC {
            return Err(corrupt(0, CorruptIndexKind::BadMagic));
        }
        let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if version != VERSION {
            return Err(corrupt(8, CorruptIndexKind::UnsupportedVersion(version)));
        }
        let folders = match header[12] {
            0 => FolderScope::Same,
            1 => FolderScope::Any,
            _ => return Err(corrupt(12, CorruptIndexKind::InvalidField)),
        };
        let runs = match header[13] {
            0 => RunScope::All,
            1 => RunScope::Previous,
            _ => return Err(corrupt(13, CorruptIndexKind::InvalidField)),
        };
        if header[14..16] != [0, 0] {
            return Err(corrupt(14, CorruptIndexKind::InvalidField));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&header[16..48]);
        let mut count = [0u8; 8];
        count.copy_from_slice(&header[48..56]);
        let count = u64::from_le_bytes(count);
        let count = usize::try_from(count)
            .ok()
            .filter(|&c| c <= MAX_ENTRIES)
            .ok_or(corrupt(48, CorruptIndexKind::InvalidField))?;
        let scope = Scope { folders, runs };
        // The capacity grows with what is actually read, so a lying count
        // cannot make us allocate more than the file holds.
        let mut index = Index::with_key(scope, FingerprintKey::from_bytes(key));
        let mut entry = [0u8; ENTRY_LEN];
        for _ in 0..count {
            let offset = reader.offset;
            reader.fill(&mut entry)?;
            let mut fp = [0u8; 16];
            fp.copy_from_slice(&entry[..16]);
            let fp = u128::from_le_bytes(fp);
            let meta = u32::from_le_bytes([entry[16], entry[17], entry[18], entry[19]]);
            let folder = FolderId::new(meta & !PREVIOUS)
                .ok_or(corrupt(offset + 16, CorruptIndexKind::InvalidField))?;
            if index.find(fp, folder).is_some() {
                // Two entries that the scope says are one: not a file we wrote.
                return Err(corrupt(offset, CorruptIndexKind::InvalidField));
            }
            index.insert_new(fp, meta | PREVIOUS)?;
        }
        let expected = reader.crc.clone().finalize();
        let offset = reader.offset;
        let mut crc = [0u8; 4];
        reader.fill(&mut crc)?;
        if u32::from_le_bytes(crc) != expected {
            return Err(corrupt(offset, CorruptIndexKind::Checksum));
        }
        let mut extra = [0u8; 1];
        match reader.inner.read(&mut extra) {
            Ok(0) => Ok(index),
            Ok(_) => Err(corrupt(reader.offset, CorruptIndexKind::TrailingBytes)),
            Err(source) => Err(Error::Io {
                action: "read index",
                path: None,
                source,
            }),
        }
    }
}

/// The table capacity for `entries` entries right after growing.
fn capacity_for(entries: usize) -> usize {
    (entries.saturating_mul(GROWTH_NUM) / GROWTH_DEN).max(MIN_CAPACITY)
}

/// Puts an entry known to be absent into the first free slot from its home.
fn place(keys: &mut [u128], meta: &mut [u32], fp: u128, m: u32) {
    let capacity = keys.len();
    let mut slot = Index::home(fp, capacity);
    while meta[slot] != EMPTY {
        slot += 1;
        if slot == capacity {
            slot = 0;
        }
    }
    keys[slot] = fp;
    meta[slot] = m;
}

fn corrupt(offset: usize, reason: CorruptIndexKind) -> Error {
    Error::CorruptIndex {
        path: None,
        offset,
        reason,
    }
}

struct Checksummed<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Checksummed<W> {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
}

struct Reading<R> {
    inner: R,
    crc: crc32fast::Hasher,
    offset: usize,
}

impl<R: Read> Reading<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.crc.update(buf);
                self.offset += buf.len();
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                Err(corrupt(self.offset, CorruptIndexKind::Truncated))
            }
            Err(source) => Err(Error::Io {
                action: "read index",
                path: None,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(n: u32) -> FolderId {
        FolderId::new(n).unwrap()
    }

    /// A cheap uniform sequence (splitmix64) standing in for keyed hashes.
    fn fingerprints(n: usize, seed: u64) -> impl Iterator<Item = Fingerprint> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        (0..n).map(move |_| Fingerprint::from_u128((u128::from(next()) << 64) | u128::from(next())))
    }

    fn key() -> FingerprintKey {
        FingerprintKey::from_bytes([9; 32])
    }

    #[test]
    fn scopes() {
        // (scope, expected verdicts for: fp in f0, fp in f1, fp in f0 again)
        let dup = |f: u32| Lookup::Duplicate {
            folder: folder(f),
            previous_run: false,
        };
        let cases = [
            (Scope::SAME_FOLDER, [Lookup::New, Lookup::New, dup(0)]),
            (Scope::ANY_FOLDER, [Lookup::New, dup(0), dup(0)]),
            (
                Scope::PREVIOUS_RUNS,
                [Lookup::New, Lookup::New, Lookup::New],
            ),
        ];
        for (scope, expected) in cases {
            let mut index = Index::with_key(scope, key());
            let fp = Fingerprint::from_u128(7);
            let got = [
                index.insert(fp, folder(0)).unwrap(),
                index.insert(fp, folder(1)).unwrap(),
                index.insert(fp, folder(0)).unwrap(),
            ];
            assert_eq!(got, expected, "{scope:?}");
        }
    }

    #[test]
    fn previous_runs() {
        let mut index = Index::with_key(Scope::PREVIOUS_RUNS, key());
        let fp = Fingerprint::from_u128(99);
        assert_eq!(index.insert(fp, folder(2)).unwrap(), Lookup::New);
        index.start_new_run();
        assert_eq!(
            index.insert(fp, folder(2)).unwrap(),
            Lookup::Duplicate {
                folder: folder(2),
                previous_run: true
            }
        );
        assert_eq!(index.lookup(fp, folder(3)), Lookup::New);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn many_entries_within_budget() {
        let mut index = Index::with_key(Scope::ANY_FOLDER, key());
        let n = 200_000;
        for fp in fingerprints(n, 1) {
            assert_eq!(index.insert(fp, folder(0)).unwrap(), Lookup::New);
        }
        assert_eq!(index.len(), n);
        for fp in fingerprints(n, 1) {
            assert!(matches!(
                index.lookup(fp, folder(5)),
                Lookup::Duplicate { .. }
            ));
        }
        for fp in fingerprints(1000, 2) {
            assert_eq!(index.lookup(fp, folder(0)), Lookup::New);
        }
        let bytes = index.bytes_per_message();
        assert!(bytes <= 24.0, "{bytes} bytes per message");
    }

    #[test]
    fn round_trip() {
        let mut index = Index::with_key(Scope::SAME_FOLDER, key());
        for (i, fp) in fingerprints(1000, 3).enumerate() {
            let _ = index.insert(fp, folder(i as u32 % 7)).unwrap();
        }
        let bytes = index.to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN + 1000 * ENTRY_LEN + 4);
        let loaded = Index::from_bytes(&bytes).unwrap();
        assert_eq!(loaded.len(), 1000);
        assert_eq!(loaded.scope(), Scope::SAME_FOLDER);
        assert_eq!(loaded.key(), &key());
        for (i, fp) in fingerprints(1000, 3).enumerate() {
            assert_eq!(
                loaded.lookup(fp, folder(i as u32 % 7)),
                Lookup::Duplicate {
                    folder: folder(i as u32 % 7),
                    previous_run: true
                }
            );
        }
        assert!(loaded.iter().all(|(_, _, previous)| previous));
    }

    #[test]
    fn rejects_every_truncation_and_flip() {
        let mut index = Index::with_key(Scope::ANY_FOLDER, key());
        for fp in fingerprints(20, 4) {
            let _ = index.insert(fp, folder(1)).unwrap();
        }
        let bytes = index.to_bytes();
        for len in 0..bytes.len() {
            match Index::from_bytes(&bytes[..len]) {
                Err(Error::CorruptIndex { .. }) => {}
                other => panic!("truncated to {len}: {other:?}"),
            }
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(
                matches!(Index::from_bytes(&flipped), Err(Error::CorruptIndex { .. })),
                "byte {i} flipped"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Index::from_bytes(&longer),
            Err(Error::CorruptIndex {
                reason: CorruptIndexKind::TrailingBytes,
                ..
            })
        ));
    }

    #[test]
    fn header_errors() {
        let index = Index::with_key(Scope::ANY_FOLDER, key());
        let bytes = index.to_bytes();
        let cases: &[(usize, u8, CorruptIndexKind)] = &[
            (0, b'X', CorruptIndexKind::BadMagic),
            (8, 2, CorruptIndexKind::UnsupportedVersion(2)),
            (12, 5, CorruptIndexKind::InvalidField),
        ];
        for (at, value, reason) in cases {
            let mut bad = bytes.clone();
            bad[*at] = *value;
            match Index::from_bytes(&bad) {
                Err(Error::CorruptIndex {
                    offset, reason: r, ..
                }) => {
                    assert_eq!((offset, r), (*at, *reason));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// The memory bound at every size up to 20 million, from the growth
    /// rule itself: the worst moment is right after a growth step.
    #[test]
    fn bytes_per_message_bound_at_every_size() {
        let mut capacity = capacity_for(0);
        let mut len = 0usize;
        let mut worst_past_10k = 0.0f64;
        while len < 20_000_000 {
            // The last length that fits, then the insert that grows.
            len = capacity * MAX_LOAD_NUM / MAX_LOAD_DEN;
            capacity = capacity_for(len + 1);
            let bytes = (capacity * ENTRY_LEN) as f64 / (len + 1) as f64;
            if len >= 10_000 {
                worst_past_10k = worst_past_10k.max(bytes);
            }
        }
        assert!(worst_past_10k <= 23.7, "{worst_past_10k}");
        // And the table never runs fuller than the load limit.
        assert!(capacity_for(10_000_000) * MAX_LOAD_NUM / MAX_LOAD_DEN >= 10_000_000);
    }

    #[test]
    fn folder_ids() {
        assert!(FolderId::new(FolderId::MAX).is_some());
        assert!(FolderId::new(FolderId::MAX + 1).is_none());
        assert!(matches!(
            FolderId::try_from(u32::MAX),
            Err(Error::FolderId(_))
        ));
    }
}
