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
//! so they are uniform, and an entry's home slot is taken from the top bits
//! of the fingerprint itself (`fingerprint × homes / 2¹²⁸`), which is
//! monotonic: with linear probing that never wraps around (a short overflow
//! tail follows the last home) and clusters kept in order (ordered hashing,
//! Amble and Knuth 1974), the slots are a sorted array with gaps. A lookup
//! scans from the home slot and stops at the first larger fingerprint, so a
//! miss (every new message) costs about as much as a hit even at 90 % load;
//! an insert shifts the rest of its cluster by one slot; growing re-lays the
//! sorted entries in one sequential pass; saving writes them in order.
//!
//! The table grows when it is 90 % full, to 85 % of the new size, so at any
//! size past 100 000 entries it uses at most 20 / 0.847 bytes plus the tail,
//! under 23.7 bytes per message ([`Index::heap_bytes`] says exactly; the
//! bench measures 10 million).
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
    /// Fingerprints, in ascending order (empty slots aside).
    keys: Vec<u128>,
    /// Folder and previous-run bit per slot, `EMPTY` for a free slot.
    meta: Vec<u32>,
    /// Number of home slots; the arrays have a short overflow tail beyond.
    homes: usize,
    len: usize,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("scope", &self.scope)
            .field("len", &self.len)
            .field("slots", &self.keys.len())
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
        let homes = capacity_for(entries.min(MAX_ENTRIES));
        let slots = slots_for(homes);
        Index {
            key,
            scope,
            keys: vec![0; slots],
            meta: vec![EMPTY; slots],
            homes,
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
    ///
    /// Slots are sorted by fingerprint, so the scan stops at the first larger
    /// fingerprint: a miss costs about as much as a hit.
    fn find(&self, fp: u128, folder: FolderId) -> Option<usize> {
        let mut slot = Self::home(fp, self.homes);
        while let (Some(&meta), Some(&key)) = (self.meta.get(slot), self.keys.get(slot)) {
            if meta == EMPTY || key > fp {
                return None;
            }
            if key == fp && (self.scope.folders == FolderScope::Any || meta & !PREVIOUS == folder.0)
            {
                return Some(slot);
            }
            slot += 1;
        }
        None
    }

    fn insert_new(&mut self, fp: u128, meta: u32) -> Result<(), Error> {
        if self.len >= MAX_ENTRIES {
            return Err(Error::IndexFull { entries: self.len });
        }
        if (self.len + 1) * MAX_LOAD_DEN > self.homes * MAX_LOAD_NUM {
            self.grow();
        }
        while !place(&mut self.keys, &mut self.meta, self.homes, fp, meta) {
            // The last cluster reached the end of the overflow tail (rare
            // with keyed fingerprints): lengthen the tail.
            let extra = MIN_CAPACITY + self.keys.len() / 512;
            self.keys = extended(&self.keys, 0, extra);
            self.meta = extended(&self.meta, EMPTY, extra);
        }
        self.len += 1;
        Ok(())
    }

    fn grow(&mut self) {
        let homes = capacity_for(self.len + 1).max(self.homes + 1);
        let (keys, meta) = rebuild(&self.keys, &self.meta, homes);
        self.keys = keys;
        self.meta = meta;
        self.homes = homes;
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
        // The entries are read into vectors that grow with what is actually
        // read, so a lying count cannot make us allocate more than the file
        // holds; the table is then laid out in one sequential pass.
        let mut keys: Vec<u128> = Vec::new();
        let mut metas: Vec<u32> = Vec::new();
        let mut entry = [0u8; ENTRY_LEN];
        for _ in 0..count {
            let offset = reader.offset;
            reader.fill(&mut entry)?;
            let mut fp = [0u8; 16];
            fp.copy_from_slice(&entry[..16]);
            let fp = u128::from_le_bytes(fp);
            let meta = u32::from_le_bytes([entry[16], entry[17], entry[18], entry[19]]);
            let folder = meta & !PREVIOUS;
            if folder > FolderId::MAX {
                return Err(corrupt(offset + 16, CorruptIndexKind::InvalidField));
            }
            // Entries are written in strictly increasing order: by
            // fingerprint, and by folder among equal fingerprints (which
            // only the same-folder scope has).
            if let (Some(&last_fp), Some(&last_meta)) = (keys.last(), metas.last()) {
                let increasing = last_fp < fp
                    || (last_fp == fp
                        && folders == FolderScope::Same
                        && last_meta & !PREVIOUS < folder);
                if !increasing {
                    return Err(corrupt(offset, CorruptIndexKind::InvalidField));
                }
            }
            keys.push(fp);
            metas.push(meta | PREVIOUS);
        }
        let homes = capacity_for(keys.len());
        let (table_keys, table_meta) = rebuild(&keys, &metas, homes);
        drop((keys, metas));
        let index = Index {
            key: FingerprintKey::from_bytes(key),
            scope,
            keys: table_keys,
            meta: table_meta,
            homes,
            len: count,
        };
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

/// The slots for `homes` home slots: the homes and an overflow tail, so
/// that probing never wraps around and the slots stay sorted.
fn slots_for(homes: usize) -> usize {
    homes + homes / 512 + 64
}

/// Whether slot entry (`key`, `meta`) sorts before the entry (`fp`, `m`):
/// by fingerprint, then by folder.
fn before(key: u128, meta: u32, fp: u128, m: u32) -> bool {
    key < fp || (key == fp && meta & !PREVIOUS < m & !PREVIOUS)
}

/// Inserts an entry known to be absent at its place in sorted order,
/// shifting the rest of its cluster right by one. `false` when the cluster
/// would run off the end of the arrays.
fn place(keys: &mut [u128], meta: &mut [u32], homes: usize, fp: u128, m: u32) -> bool {
    let slots = meta.len().min(keys.len());
    let mut at = Index::home(fp, homes);
    while at < slots && meta[at] != EMPTY && before(keys[at], meta[at], fp, m) {
        at += 1;
    }
    let mut free = at;
    while free < slots && meta[free] != EMPTY {
        free += 1;
    }
    if free >= slots {
        return false;
    }
    keys.copy_within(at..free, at + 1);
    meta.copy_within(at..free, at + 1);
    keys[at] = fp;
    meta[at] = m;
    true
}

/// A copy of `values` with `extra` more slots set to `fill`, allocated exactly.
fn extended<T: Copy>(values: &[T], fill: T, extra: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len() + extra);
    out.extend_from_slice(values);
    out.resize(values.len() + extra, fill);
    out
}

/// The sorted entries of `old_keys`/`old_meta` (free slots skipped) laid
/// out for `homes` home slots, in one sequential pass; the overflow tail is
/// made as long as the last cluster needs.
fn rebuild(old_keys: &[u128], old_meta: &[u32], homes: usize) -> (Vec<u128>, Vec<u32>) {
    let entries = || old_keys.iter().zip(old_meta).filter(|(_, m)| **m != EMPTY);
    // A first pass finds where the last entry lands, so that the arrays are
    // allocated once, exactly.
    let mut next = 0;
    for (&key, _) in entries() {
        next = Index::home(key, homes).max(next) + 1;
    }
    let slots = slots_for(homes).max(next + MIN_CAPACITY);
    let mut keys = vec![0u128; slots];
    let mut meta = vec![EMPTY; slots];
    let mut next = 0;
    for (&key, &m) in entries() {
        let at = Index::home(key, homes).max(next);
        keys[at] = key;
        meta[at] = m;
        next = at + 1;
    }
    (keys, meta)
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
        let mut worst_past_100k = 0.0f64;
        while len < 20_000_000 {
            // The last length that fits, then the insert that grows.
            len = capacity * MAX_LOAD_NUM / MAX_LOAD_DEN;
            capacity = capacity_for(len + 1);
            let bytes = (slots_for(capacity) * ENTRY_LEN) as f64 / (len + 1) as f64;
            if len >= 100_000 {
                worst_past_100k = worst_past_100k.max(bytes);
            }
        }
        assert!(worst_past_100k <= 23.7, "{worst_past_100k}");
        // And the table never runs fuller than the load limit.
        assert!(capacity_for(10_000_000) * MAX_LOAD_NUM / MAX_LOAD_DEN >= 10_000_000);
    }

    #[test]
    fn slots_stay_sorted_and_clustered_keys_fit() {
        // Uniform keys, then keys that all share a home at either end of the
        // table (a worst case that keyed hashes never produce): the overflow
        // tail lengthens, nothing wraps, order holds, memory stays linear.
        let mut index = Index::with_key(Scope::SAME_FOLDER, key());
        let uniform: Vec<Fingerprint> = fingerprints(5000, 8).collect();
        let high = (0..3000u128).map(|i| Fingerprint::from_u128(u128::MAX - i));
        let low = (1..3000u128).map(Fingerprint::from_u128);
        for (i, fp) in uniform.iter().copied().chain(high).chain(low).enumerate() {
            assert_eq!(index.insert(fp, folder(i as u32 % 3)).unwrap(), Lookup::New);
        }
        assert_eq!(index.len(), 5000 + 3000 + 2999);
        let slots: Vec<(u128, u32)> = index
            .iter()
            .map(|(fp, f, _)| (fp.as_u128(), f.get()))
            .collect();
        assert!(slots.windows(2).all(|w| w[0] < w[1]), "slots out of order");
        for (i, fp) in uniform.iter().enumerate() {
            assert!(matches!(
                index.lookup(*fp, folder(i as u32 % 3)),
                Lookup::Duplicate { .. }
            ));
        }
        assert!(
            index.bytes_per_message() < 48.0,
            "{}",
            index.bytes_per_message()
        );
        let loaded = Index::from_bytes(&index.to_bytes()).unwrap();
        assert_eq!(loaded.len(), index.len());
    }

    #[test]
    fn out_of_order_files_are_corrupt() {
        let mut index = Index::with_key(Scope::ANY_FOLDER, key());
        let _ = index
            .insert(Fingerprint::from_u128(1 << 100), folder(0))
            .unwrap();
        let _ = index
            .insert(Fingerprint::from_u128(2 << 100), folder(0))
            .unwrap();
        let mut bytes = index.to_bytes();
        // Swap the two entries and fix the checksum: sorted order is checked too.
        let (a, b) = (HEADER_LEN, HEADER_LEN + ENTRY_LEN);
        let first: Vec<u8> = bytes[a..b].to_vec();
        bytes.copy_within(b..b + ENTRY_LEN, a);
        bytes[b..b + ENTRY_LEN].copy_from_slice(&first);
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            Index::from_bytes(&bytes),
            Err(Error::CorruptIndex { offset, reason: CorruptIndexKind::InvalidField, .. }) if offset == b
        ));
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
