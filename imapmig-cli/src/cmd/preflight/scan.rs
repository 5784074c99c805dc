//! Reading the mailboxes: one pass over every message, through `imapmig_mime::source`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imapmig_mime::source::{self, SourceKind};

/// One mailbox (one PATH argument) and its folders, with their counts and sizes.
#[derive(Debug)]
pub(super) struct Mailbox {
    /// How the report names the mailbox: the path as given.
    pub(super) label: String,
    /// Its folders, sorted by name, as `walk_tree` found them.
    pub(super) folders: Vec<FolderStats>,
}

/// Counts and sizes of one folder.
#[derive(Debug)]
pub(super) struct FolderStats {
    /// The folder name as on disk, `/`-separated, `INBOX` for the root.
    pub(super) name: String,
    /// Maildir directory or mbox file.
    pub(super) kind: SourceKind,
    /// Number of messages.
    pub(super) messages: u64,
    /// Sum of the message sizes in bytes.
    pub(super) bytes: u64,
}

/// One message as the scan hands it to the report's sections.
#[derive(Debug)]
pub(super) struct Message<'a> {
    /// Index of the mailbox in the scan's list.
    pub(super) mailbox: usize,
    /// Folder name.
    pub(super) folder: &'a str,
    /// Its position in the folder, from 1 (Maildir: `cur/` then `new/`, by name;
    /// mbox: in file order), which is the UID a fresh import would give it.
    pub(super) position: u32,
    /// The id fixed by `imapmig mime classify`: a file path, or `path#N` in an mbox.
    pub(super) id: &'a str,
    /// The raw message.
    pub(super) bytes: &'a [u8],
}

impl Mailbox {
    /// Total messages in the mailbox.
    pub(super) fn messages(&self) -> u64 {
        self.folders.iter().map(|f| f.messages).sum()
    }

    /// Total bytes in the mailbox.
    pub(super) fn bytes(&self) -> u64 {
        self.folders.iter().map(|f| f.bytes).sum()
    }
}

/// Walk every root, count and measure each folder, and hand each message to `visit`.
pub(super) fn scan(
    roots: &[PathBuf],
    mut visit: impl FnMut(&Message<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Mailbox>> {
    let mut mailboxes = Vec::with_capacity(roots.len());
    for (index, root) in roots.iter().enumerate() {
        mailboxes.push(scan_one(index, root, &mut visit)?);
    }
    Ok(mailboxes)
}

fn scan_one(
    index: usize,
    root: &Path,
    visit: &mut impl FnMut(&Message<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Mailbox> {
    let found = source::walk_tree(root)
        .with_context(|| format!("reading the mail tree at {}", root.display()))?;
    if found.is_empty() {
        anyhow::bail!(
            "{} holds no mail folder (no Maildir with cur/ or new/, no mbox file)",
            root.display()
        );
    }
    let mut folders = Vec::with_capacity(found.len());
    for folder in found {
        let mut stats = FolderStats {
            name: folder.name,
            kind: folder.kind,
            messages: 0,
            bytes: 0,
        };
        let mut failure = None;
        source::for_each_message(&folder.path, |id, bytes| {
            stats.messages += 1;
            stats.bytes += bytes.len() as u64;
            if failure.is_none() {
                failure = visit(&Message {
                    mailbox: index,
                    folder: &stats.name,
                    position: u32::try_from(stats.messages).unwrap_or(u32::MAX),
                    id,
                    bytes,
                })
                .err();
            }
        })
        .with_context(|| format!("reading folder {}", folder.path.display()))?;
        if let Some(error) = failure {
            return Err(error);
        }
        folders.push(stats);
    }
    Ok(Mailbox {
        label: root.display().to_string(),
        folders,
    })
}
