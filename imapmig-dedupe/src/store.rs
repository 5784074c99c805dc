//! Saving and loading an [`Index`] file: the crate's only file IO.
//!
//! [`Index::save`] never leaves a half-written index under the final name:
//! it writes a new file beside it, flushes it to stable storage (`fsync`),
//! renames it over the old one, and syncs the directory so the rename itself
//! survives a crash. A kill at any instant leaves either the old index or the
//! new one. [`Index::load`] checks the version, length and checksum, and a
//! bad file is an [`Error::CorruptIndex`], never an empty index.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::index::Index;

impl Index {
    /// Saves the index to `path` crash-safely: it writes `.NAME.new` beside
    /// it, syncs it to stable storage, renames it over `path`, and syncs the
    /// directory, so a kill at any instant leaves the old index or the new
    /// one, never a mix. The format is described in the [`index`](crate::index) docs.
    ///
    /// ```
    /// use imapmig_dedupe::{FolderId, Index, Scope};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("dedupe.idx");
    /// let mut index = Index::new(Scope::SAME_FOLDER)?;
    /// let _ = index.insert(7.into(), FolderId::new(0).unwrap())?;
    /// index.save(&path)?;
    ///
    /// let loaded = Index::load(&path)?;
    /// assert_eq!(loaded.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let temporary = temporary_path(path);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io {
                action,
                path: Some(path),
                source,
            }
        };
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .map_err(io("create index", &temporary))?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        self.write_to(&mut writer)
            .map_err(io("write index", &temporary))?;
        writer.flush().map_err(io("write index", &temporary))?;
        let file = writer
            .into_inner()
            .map_err(|err| io("write index", &temporary)(err.into_error()))?;
        file.sync_all().map_err(io("sync index", &temporary))?;
        drop(file);
        fs::rename(&temporary, path).map_err(io("replace index", path))?;
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(directory)
            .and_then(|dir| dir.sync_all())
            .map_err(io("sync directory", directory))?;
        Ok(())
    }

    /// Loads an index saved by [`Index::save`]. Its entries count as recorded
    /// by a previous run. A truncated, corrupt or unknown-version file is an
    /// [`Error::CorruptIndex`] naming the file and the byte offset.
    pub fn load(path: &Path) -> Result<Index, Error> {
        let file = File::open(path).map_err(|source| Error::Io {
            action: "open index",
            path: Some(path.to_path_buf()),
            source,
        })?;
        Index::read_from(BufReader::with_capacity(1 << 16, file)).map_err(|err| match err {
            Error::CorruptIndex { offset, reason, .. } => Error::CorruptIndex {
                path: Some(path.to_path_buf()),
                offset,
                reason,
            },
            Error::Io { action, source, .. } => Error::Io {
                action,
                path: Some(path.to_path_buf()),
                source,
            },
            other => other,
        })
    }
}

/// `dir/name` → `dir/.name.new`: same directory, so the rename is atomic.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_else(|| "index".as_ref()));
    name.push(".new");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CorruptIndexKind;
    use crate::fingerprint::FingerprintKey;
    use crate::index::{FolderId, Lookup, Scope};

    #[test]
    fn save_load_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.idx");
        let key = FingerprintKey::from_bytes([3; 32]);
        let mut index = Index::with_key(Scope::ANY_FOLDER, key.clone());
        let inbox = FolderId::new(1).unwrap();
        for fp in 0..100u128 {
            let _ = index
                .insert(((fp * 0x1234_5678_9abc_def1_u128) << 40).into(), inbox)
                .unwrap();
        }
        index.save(&path).unwrap();
        let _ = index.insert(5_u128.into(), inbox).unwrap();
        index.save(&path).unwrap();
        let loaded = Index::load(&path).unwrap();
        assert_eq!(loaded.len(), 101);
        assert_eq!(loaded.key(), &key);
        assert_eq!(
            loaded.lookup(5_u128.into(), inbox),
            Lookup::Duplicate {
                folder: inbox,
                previous_run: true
            }
        );
        assert!(!temporary_path(&path).exists());
    }

    #[test]
    fn corrupt_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.idx");
        let mut index = Index::with_key(Scope::SAME_FOLDER, FingerprintKey::from_bytes([4; 32]));
        let _ = index
            .insert(11_u128.into(), FolderId::new(0).unwrap())
            .unwrap();
        index.save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        match Index::load(&path) {
            Err(Error::CorruptIndex {
                path: Some(p),
                reason: CorruptIndexKind::Truncated,
                ..
            }) => {
                assert_eq!(p, path);
            }
            other => panic!("{other:?}"),
        }
        fs::write(&path, b"").unwrap();
        assert!(matches!(
            Index::load(&path),
            Err(Error::CorruptIndex { .. })
        ));
        assert!(matches!(
            Index::load(&dir.path().join("missing.idx")),
            Err(Error::Io {
                action: "open index",
                ..
            })
        ));
    }

    #[test]
    fn interrupted_save_leaves_the_old_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.idx");
        let mut index = Index::with_key(Scope::SAME_FOLDER, FingerprintKey::from_bytes([5; 32]));
        let _ = index
            .insert(12_u128.into(), FolderId::new(0).unwrap())
            .unwrap();
        index.save(&path).unwrap();
        // A save killed before its rename leaves a partial temporary file.
        fs::write(temporary_path(&path), b"IMMGDIDX partial").unwrap();
        assert_eq!(Index::load(&path).unwrap().len(), 1);
        index.save(&path).unwrap();
        assert_eq!(Index::load(&path).unwrap().len(), 1);
    }
}
