//! Reading the mailboxes, only through `imapmig_mime::source`: first the
//! folder trees ([`discover`]), then one pass over every message ([`read`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use imapmig_mime::source::{self, Folder, SourceKind};

/// One mailbox (one PATH argument) and its folders as found on disk.
#[derive(Debug)]
pub(super) struct Tree {
    /// How the report names the mailbox: the path as given.
    pub(super) label: String,
    /// Its folders, sorted by name.
    pub(super) folders: Vec<Folder>,
    /// Whether the folders are Maildir++ (`.A.B` directories): their names
    /// then use `.` between levels and modified UTF-7, as on disk.
    pub(super) maildir_plus_plus: bool,
}

/// One mailbox after the pass: its folders with counts and sizes.
#[derive(Debug)]
pub(super) struct Mailbox {
    /// How the report names the mailbox: the path as given.
    pub(super) label: String,
    /// Its folders, sorted by name.
    pub(super) folders: Vec<FolderStats>,
}

/// Counts and sizes of one folder.
#[derive(Debug)]
pub(super) struct FolderStats {
    /// The folder name as on disk, `INBOX` for the root.
    pub(super) name: String,
    /// Maildir directory or mbox file.
    pub(super) kind: SourceKind,
    /// Number of messages.
    pub(super) messages: u64,
    /// Sum of the message sizes in bytes.
    pub(super) bytes: u64,
}

/// One message as the pass hands it to the report's sections.
#[derive(Debug)]
pub(super) struct Message<'a> {
    /// Index of the mailbox in the list of trees.
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

/// Find the folders of every root.
pub(super) fn discover(roots: &[PathBuf]) -> anyhow::Result<Vec<Tree>> {
    roots.iter().map(|root| discover_one(root)).collect()
}

fn discover_one(root: &Path) -> anyhow::Result<Tree> {
    let kind = source::kind_of(root).with_context(|| format!("reading {}", root.display()));
    let folders = if root.is_file() && kind? == SourceKind::File {
        // A single message file is a mailbox with one message in its INBOX.
        vec![Folder {
            name: "INBOX".to_owned(),
            path: root.to_path_buf(),
            kind: SourceKind::File,
        }]
    } else {
        source::walk_tree(root)
            .with_context(|| format!("reading the mail tree at {}", root.display()))?
    };
    if folders.is_empty() {
        anyhow::bail!(
            "{} holds no mail folder (no Maildir with cur/ or new/, no mbox file)",
            root.display()
        );
    }
    let maildir_plus_plus = folders.iter().any(|f| {
        f.kind == SourceKind::Maildir
            && f.path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
            && f.path.parent() == Some(root)
    });
    Ok(Tree {
        label: root.display().to_string(),
        folders,
        maildir_plus_plus,
    })
}

/// Read every message of every tree, count and measure each folder, and hand
/// each message to `visit`; the first error `visit` returns stops the pass.
pub(super) fn read(
    trees: &[Tree],
    mut visit: impl FnMut(&Message<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Mailbox>> {
    let mut mailboxes = Vec::with_capacity(trees.len());
    for (index, tree) in trees.iter().enumerate() {
        let mut folders = Vec::with_capacity(tree.folders.len());
        for folder in &tree.folders {
            let mut stats = FolderStats {
                name: folder.name.clone(),
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
        mailboxes.push(Mailbox {
            label: tree.label.clone(),
            folders,
        });
    }
    Ok(mailboxes)
}
