//! Mailbox sources: single message files, Maildirs, mbox files and trees of them.
//!
//! This is the only module of the crate that touches the file system; every
//! other module takes bytes. [`mbox_messages`] is sans-IO too: it splits mbox
//! bytes you already hold.
//!
//! # Formats
//!
//! * **Message file**: any regular file that does not start with `From `; the
//!   whole file is one message.
//! * **Maildir**: a directory with a `cur/` or a `new/` subdirectory. Its
//!   messages are the regular files of `cur/` and then of `new/`, each sorted
//!   by file name; files whose names start with `.` are not messages (Maildir
//!   writers use them for temporary state) and are skipped; `tmp/` is never
//!   read (it holds deliveries in progress).
//! * **mbox**: a regular file whose first five bytes are `From `. A message
//!   starts after a `From ` line that begins the file or follows an empty
//!   line; the empty line before a separator belongs to the mbox format, not
//!   to the message, and is removed. Requiring that empty line keeps an
//!   unquoted `From ` line inside a body (written by a careless mboxo writer)
//!   from splitting a message in two. Quoted lines (`>From `, `>>From `, …)
//!   lose one `>`: this is exactly mboxrd's rule, and for mboxo it is right for
//!   every line a writer quoted (mboxo cannot tell a quoted `>From ` from an
//!   original one, so no reader can do better).
//!
//! # Memory
//!
//! A message file is read whole; an mbox file is read in 1 MiB chunks and a
//! Maildir file by file, so memory is bounded by the largest message, not by
//! the size of the mailbox (a Google Takeout mbox can be many gigabytes).

use std::borrow::Cow;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use memchr::memmem;

use crate::Error;

/// What kind of mailbox a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SourceKind {
    /// A single message in a regular file.
    File,
    /// A Maildir directory (has `cur/` or `new/`).
    Maildir,
    /// An mbox file (starts with `From `).
    Mbox,
}

/// Tell what kind of mailbox `path` is.
///
/// A directory is a [`SourceKind::Maildir`] when it has a `cur/` or `new/`
/// subdirectory; a regular file is an [`SourceKind::Mbox`] when its first five
/// bytes are `From `, and a [`SourceKind::File`] (one message) otherwise.
///
/// # Errors
///
/// [`Error::Io`] when `path` cannot be read, [`Error::NotAMaildir`] for any
/// other directory.
pub fn kind_of(path: &Path) -> Result<SourceKind, Error> {
    let meta = fs::metadata(path).map_err(Error::io(path))?;
    if meta.is_dir() {
        if is_maildir(path) {
            Ok(SourceKind::Maildir)
        } else {
            Err(Error::NotAMaildir {
                path: path.to_path_buf(),
            })
        }
    } else if starts_with_from_line(path)? {
        Ok(SourceKind::Mbox)
    } else {
        Ok(SourceKind::File)
    }
}

/// Call `f(id, bytes)` for every message under `path` and return how many there were.
///
/// `id` is the form fixed for `imapmig mime classify`: the file's path for a
/// message file and for each Maildir message (the path of the file inside
/// `cur/` or `new/`), and `path#N` for the `N`th message of an mbox, `N`
/// counting from 1. Paths are shown as [`Path::display`] shows them.
///
/// # Errors
///
/// [`Error::Io`] when something cannot be read, [`Error::NotAMaildir`] for a
/// directory that is not a Maildir. Messages already passed to `f` stay passed.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let mbox = dir.path().join("inbox.mbox");
/// std::fs::write(&mbox, "From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\nhi\n>From here\n\nFrom b@example.org Mon Jan  1 00:00:00 2024\nSubject: two\n\nyo\n")?;
/// let mut seen = Vec::new();
/// let n = imapmig_mime::source::for_each_message(&mbox, |id, bytes| {
///     seen.push((id.to_owned(), bytes.to_vec()));
/// })?;
/// assert_eq!(n, 2);
/// assert!(seen[0].0.ends_with("inbox.mbox#1"));
/// assert_eq!(seen[0].1, b"Subject: one\n\nhi\nFrom here\n");
/// assert_eq!(seen[1].1, b"Subject: two\n\nyo\n");
/// # Ok(()) }
/// ```
pub fn for_each_message(path: &Path, mut f: impl FnMut(&str, &[u8])) -> Result<usize, Error> {
    match kind_of(path)? {
        SourceKind::File => {
            let bytes = fs::read(path).map_err(Error::io(path))?;
            f(&path.display().to_string(), &bytes);
            Ok(1)
        }
        SourceKind::Mbox => {
            let file = fs::File::open(path).map_err(Error::io(path))?;
            let base = path.display().to_string();
            let mut count = 0;
            stream_mbox(file, MBOX_CHUNK, |message| {
                count += 1;
                f(&format!("{base}#{count}"), message);
            })
            .map_err(Error::io(path))
        }
        SourceKind::Maildir => {
            let files = maildir_files(path)?;
            for file in &files {
                let bytes = fs::read(file).map_err(Error::io(file))?;
                f(&file.display().to_string(), &bytes);
            }
            Ok(files.len())
        }
    }
}

/// The message files of a Maildir: regular files of `cur/` then `new/`, each
/// sorted by name, dot-files skipped.
///
/// # Errors
///
/// [`Error::Io`] when a directory cannot be listed. A missing `cur/` or `new/`
/// is not an error (a fresh Maildir may lack one).
pub fn maildir_files(maildir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut all = Vec::new();
    for sub in ["cur", "new"] {
        let dir = maildir.join(sub);
        if !dir.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let entry = entry.map_err(Error::io(&dir))?;
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let file = entry.path();
            // Follows symlinks: a Maildir message may be a link into a store.
            if fs::metadata(&file).map_err(Error::io(&file))?.is_file() {
                files.push(file);
            }
        }
        files.sort();
        all.extend(files);
    }
    Ok(all)
}

/// How much of an mbox file is read at a time.
const MBOX_CHUNK: usize = 1 << 20;

/// Split mbox bytes into messages (see the module docs for the rules).
///
/// A message is borrowed from `bytes` unless one of its lines needs `>From`
/// unquoting. Bytes before the first `From ` line, if any, are yielded as a
/// first message so that nothing is dropped silently; empty input yields
/// nothing.
///
/// ```
/// let mbox = b"From x Mon Jan  1 00:00:00 2024\nA: 1\n\nbody\n\nFrom y Mon Jan  1 00:00:00 2024\nA: 2\n\n>>From quoted\n";
/// let messages: Vec<_> = imapmig_mime::source::mbox_messages(mbox).collect();
/// assert_eq!(messages.len(), 2);
/// assert_eq!(&*messages[0], b"A: 1\n\nbody\n");
/// assert_eq!(&*messages[1], b"A: 2\n\n>From quoted\n");
/// assert!(matches!(messages[0], std::borrow::Cow::Borrowed(_)));
/// ```
pub fn mbox_messages(bytes: &[u8]) -> MboxMessages<'_> {
    let pos = if bytes.starts_with(b"From ") {
        line_end(bytes, 0)
    } else {
        0
    };
    MboxMessages { bytes, pos }
}

/// Iterator over the messages of an mbox, made by [`mbox_messages`].
#[derive(Debug, Clone)]
pub struct MboxMessages<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for MboxMessages<'a> {
    type Item = Cow<'a, [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.bytes;
        if self.pos >= bytes.len() {
            return None;
        }
        let start = self.pos;
        let (end, next) = match next_separator(bytes, start) {
            Some(sep) => (sep, line_end(bytes, sep)),
            None => (bytes.len(), bytes.len()),
        };
        self.pos = next;
        let message = strip_separator_blank_line(&bytes[start..end]);
        Some(unquote_from_lines(message))
    }
}

/// Offset of the next separator line (`From ` after an empty line) at or after `from`.
fn next_separator(bytes: &[u8], from: usize) -> Option<usize> {
    next_separator_after(bytes, from, from)
}

/// [`next_separator`] for a message starting at `from`, with the search
/// resumed at `search` (bytes before it are known to hold no separator).
fn next_separator_after(bytes: &[u8], from: usize, mut search: usize) -> Option<usize> {
    let finder = memmem::Finder::new(b"\nFrom ");
    while let Some(hit) = finder.find(&bytes[search..]) {
        let newline = search + hit;
        let line_start = newline + 1;
        // The line before the separator must be empty: "\n\n" or "\n\r\n",
        // or the message itself is empty.
        let before = &bytes[from..newline];
        if before.is_empty()
            || before.ends_with(b"\n")
            || before.ends_with(b"\n\r")
            || before == b"\r"
        {
            return Some(line_start);
        }
        search = line_start;
    }
    None
}

/// Read an mbox message by message, as [`mbox_messages`] splits it, holding
/// at most one message (and one chunk) in memory.
fn stream_mbox(
    mut reader: impl Read,
    chunk: usize,
    mut f: impl FnMut(&[u8]),
) -> std::io::Result<usize> {
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = false;
    // Where the current message starts; `None` until the first line is read.
    let mut start: Option<usize> = None;
    let mut search = 0;
    let mut count = 0;
    loop {
        match start {
            None => {
                if let Some(i) = memchr::memchr(b'\n', &buf) {
                    let first = if buf.starts_with(b"From ") { i + 1 } else { 0 };
                    start = Some(first);
                    search = first;
                    continue;
                }
                if eof {
                    if !buf.is_empty() && !buf.starts_with(b"From ") {
                        f(&unquote_from_lines(strip_separator_blank_line(&buf)));
                        count += 1;
                    }
                    return Ok(count);
                }
            }
            Some(s) => {
                match next_separator_after(&buf, s, search) {
                    Some(sep) if eof || memchr::memchr(b'\n', &buf[sep..]).is_some() => {
                        f(&unquote_from_lines(strip_separator_blank_line(
                            &buf[s..sep],
                        )));
                        count += 1;
                        let next = line_end(&buf, sep);
                        start = Some(next);
                        search = next;
                        continue;
                    }
                    // The separator line is not complete yet: find it again.
                    Some(sep) => search = sep - 1,
                    None => search = buf.len().saturating_sub(6).max(s),
                }
                if eof {
                    if s < buf.len() {
                        f(&unquote_from_lines(strip_separator_blank_line(&buf[s..])));
                        count += 1;
                    }
                    return Ok(count);
                }
                if s > 0 {
                    buf.drain(..s);
                    search -= s;
                    start = Some(0);
                }
            }
        }
        let old = buf.len();
        buf.resize(old + chunk, 0);
        let n = loop {
            match reader.read(&mut buf[old..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        buf.truncate(old + n);
        eof = n == 0;
    }
}

/// Offset just past the line that starts at `start` (past its LF, or the end).
fn line_end(bytes: &[u8], start: usize) -> usize {
    match memchr::memchr(b'\n', &bytes[start..]) {
        Some(i) => start + i + 1,
        None => bytes.len(),
    }
}

/// Remove the one empty line an mbox writer puts after each message.
fn strip_separator_blank_line(message: &[u8]) -> &[u8] {
    if message.ends_with(b"\r\n\r\n") {
        &message[..message.len() - 2]
    } else if message.ends_with(b"\n\n") || message.ends_with(b"\n\r\n") && message.len() > 2 {
        let cut = if message.ends_with(b"\r\n") { 2 } else { 1 };
        &message[..message.len() - cut]
    } else if message == b"\n" || message == b"\r\n" {
        &[]
    } else {
        message
    }
}

/// Remove one `>` from every line matching `^>+From `, borrowing when none does.
fn unquote_from_lines(message: &[u8]) -> Cow<'_, [u8]> {
    if !has_quoted_from(message) {
        return Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len());
    let mut pos = 0;
    while pos < message.len() {
        let end = line_end(message, pos);
        let line = &message[pos..end];
        if is_quoted_from(line) {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
        pos = end;
    }
    Cow::Owned(out)
}

fn has_quoted_from(message: &[u8]) -> bool {
    if is_quoted_from(message) {
        return true;
    }
    memmem::find_iter(message, b"\n>").any(|i| is_quoted_from(&message[i + 1..]))
}

fn is_quoted_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

fn starts_with_from_line(path: &Path) -> Result<bool, Error> {
    let mut head = [0u8; 5];
    let mut file = fs::File::open(path).map_err(Error::io(path))?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..]).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled == head.len() && &head == b"From ")
}

/// One mail folder found by [`walk_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The folder's name: `INBOX` for the tree's root, otherwise the path
    /// relative to the root with components joined by `/` (see [`walk_tree`]
    /// for Maildir++ and mbox names). Not decoded: what is on disk.
    pub name: String,
    /// Where the folder is: a Maildir directory or an mbox file. Pass it to
    /// [`for_each_message`].
    pub path: PathBuf,
    /// [`SourceKind::Maildir`] or [`SourceKind::Mbox`].
    pub kind: SourceKind,
}

/// How deep [`walk_tree`] descends before giving up with [`Error::TreeTooDeep`].
pub const MAX_TREE_DEPTH: usize = 64;

/// Find every mail folder in a tree, sorted by name.
///
/// * `root` itself is folder `INBOX` when it is a Maildir or an mbox file.
/// * Below it, a directory that is a Maildir is a folder named by its path
///   relative to `root`, components joined with `/` (`Work/Projects`,
///   `[Gmail]/All Mail`); directories that are not Maildirs are walked but are
///   not folders themselves. Inside a Maildir, `cur`, `new` and `tmp` are
///   skipped.
/// * A Maildir++ folder (a directory `.A.B` directly under a Maildir root) is
///   named `A.B`, as on disk: its hierarchy delimiter (`.`) and any modified
///   UTF-7 are left to the caller to decode, since only the caller knows the
///   server's conventions. Maildir++ is flat, so such a folder is not walked
///   further.
/// * A regular file starting with `From ` is an mbox folder named by its
///   relative path without a trailing `.mbox`; an empty file ending in `.mbox`
///   is an empty mbox folder. A directory `X.sbd` (Thunderbird's container of
///   the children of `X`) contributes `X` to its children's names.
/// * Everything else is skipped without an error: other regular files (index,
///   cache and `subscriptions` files of Dovecot or Thunderbird, `.msf`
///   files), entries whose names start with `.` that are not Maildir++
///   folders, and symbolic links to directories (so a link cannot make the
///   walk loop).
///
/// Two entries can map to one name (`A/` as a Maildir and `A.mbox`); both are
/// returned, and the caller decides.
///
/// # Errors
///
/// [`Error::Io`] when a directory cannot be listed, [`Error::NonUtf8Name`] for
/// a folder whose name is not UTF-8, [`Error::TreeTooDeep`] past
/// [`MAX_TREE_DEPTH`] levels, [`Error::NotAMaildir`] when `root` is neither a
/// mail file nor a directory.
pub fn walk_tree(root: &Path) -> Result<Vec<Folder>, Error> {
    let meta = fs::metadata(root).map_err(Error::io(root))?;
    let mut folders = Vec::new();
    if meta.is_file() {
        if starts_with_from_line(root)? {
            folders.push(Folder {
                name: "INBOX".to_owned(),
                path: root.to_path_buf(),
                kind: SourceKind::Mbox,
            });
            return Ok(folders);
        }
        return Err(Error::NotAMaildir {
            path: root.to_path_buf(),
        });
    }
    let root_is_maildir = is_maildir(root);
    if root_is_maildir {
        folders.push(Folder {
            name: "INBOX".to_owned(),
            path: root.to_path_buf(),
            kind: SourceKind::Maildir,
        });
    }
    walk_dir(root, &[], root_is_maildir, true, &mut folders)?;
    folders.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.path.cmp(&b.path)));
    Ok(folders)
}

fn walk_dir(
    dir: &Path,
    prefix: &[String],
    dir_is_maildir: bool,
    is_root: bool,
    out: &mut Vec<Folder>,
) -> Result<(), Error> {
    if prefix.len() >= MAX_TREE_DEPTH {
        return Err(Error::TreeTooDeep {
            path: dir.to_path_buf(),
            limit: MAX_TREE_DEPTH,
        });
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        entries.push(entry.path());
    }
    entries.sort();
    for path in entries {
        let Some(raw_name) = path.file_name() else {
            continue;
        };
        let raw = raw_name.as_encoded_bytes();
        if dir_is_maildir && matches!(raw, b"cur" | b"new" | b"tmp") {
            continue;
        }
        let link = fs::symlink_metadata(&path).map_err(Error::io(&path))?;
        let Ok(meta) = fs::metadata(&path) else {
            // A dangling symlink is not mail.
            continue;
        };
        if meta.is_dir() {
            if link.file_type().is_symlink() {
                continue;
            }
            let maildir = is_maildir(&path);
            if raw.starts_with(b".") {
                if is_root && dir_is_maildir && maildir && raw.len() > 1 {
                    let name = utf8_name(&path, raw_name)?;
                    out.push(Folder {
                        name: name[1..].to_owned(),
                        path: path.clone(),
                        kind: SourceKind::Maildir,
                    });
                }
                continue;
            }
            let name = utf8_name(&path, raw_name)?;
            let component = name.strip_suffix(".sbd").unwrap_or(name);
            let mut child_prefix = prefix.to_vec();
            child_prefix.push(component.to_owned());
            if maildir {
                out.push(Folder {
                    name: child_prefix.join("/"),
                    path: path.clone(),
                    kind: SourceKind::Maildir,
                });
            }
            walk_dir(&path, &child_prefix, maildir, false, out)?;
        } else if meta.is_file() && !raw.starts_with(b".") {
            let is_mbox =
                starts_with_from_line(&path)? || (meta.len() == 0 && raw.ends_with(b".mbox"));
            if !is_mbox {
                continue;
            }
            let name = utf8_name(&path, raw_name)?;
            let component = name.strip_suffix(".mbox").unwrap_or(name);
            let mut parts = prefix.to_vec();
            parts.push(component.to_owned());
            out.push(Folder {
                name: parts.join("/"),
                path,
                kind: SourceKind::Mbox,
            });
        }
    }
    Ok(())
}

fn utf8_name<'a>(path: &Path, raw: &'a std::ffi::OsStr) -> Result<&'a str, Error> {
    raw.to_str().ok_or_else(|| Error::NonUtf8Name {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_split_table() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"", &[]),
            (b"From a\n", &[]),
            (b"From a\nX: 1\n\nb\n", &[b"X: 1\n\nb\n"]),
            (b"From a\nX: 1\n\nb\n\n", &[b"X: 1\n\nb\n"]),
            (
                b"From a\r\nX: 1\r\n\r\nb\r\n\r\nFrom b\r\nY: 2\r\n\r\nc\r\n",
                &[b"X: 1\r\n\r\nb\r\n", b"Y: 2\r\n\r\nc\r\n"],
            ),
            // An unquoted From line without an empty line before it stays in the body.
            (
                b"From a\nX: 1\n\nline\nFrom me to you\n",
                &[b"X: 1\n\nline\nFrom me to you\n"],
            ),
            // mboxrd unquoting removes exactly one '>'.
            (
                b"From a\nX: 1\n\n>From x\n>>From y\n> From z\n",
                &[b"X: 1\n\nFrom x\n>From y\n> From z\n"],
            ),
            // Leading bytes before the first From line are kept as a message.
            (b"X: 0\n\nFrom a\nX: 1\n", &[b"X: 0\n", b"X: 1\n"]),
            // Three messages, the middle one empty.
            (
                b"From a\nA: 1\n\nFrom b\n\nFrom c\nC: 3\n",
                &[b"A: 1\n", b"", b"C: 3\n"],
            ),
        ];
        for (input, expected) in cases {
            let got: Vec<Vec<u8>> = mbox_messages(input).map(|m| m.into_owned()).collect();
            let want: Vec<Vec<u8>> = expected.iter().map(|m| m.to_vec()).collect();
            assert_eq!(got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn streaming_matches_slicing_at_any_chunk_size() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"From a".to_vec(),
            b"no from line".to_vec(),
            b"From a\nX: 1\n\nFrom b\nY: 2".to_vec(),
            b"From a\r\nX: 1\r\n\r\n>From q\r\n\r\nFrom b\r\nY: 2\r\n".to_vec(),
            b"X: 0\n\nFrom a\nX: 1\n\nFrom b\n\nFrom c\nC: 3\n\n".to_vec(),
        ];
        let mut big = Vec::new();
        for i in 0..50 {
            big.extend_from_slice(
                format!("From s{i} Mon Jan  1 00:00:00 2024\nSubject: {i}\n\n").as_bytes(),
            );
            big.extend_from_slice(&b"line From x\n>From y\n".repeat(i));
            big.extend_from_slice(b"\n");
        }
        inputs.push(big);
        for input in &inputs {
            let want: Vec<Vec<u8>> = mbox_messages(input).map(Cow::into_owned).collect();
            for chunk in [1, 2, 3, 5, 7, 8, 64, 4096] {
                let mut got = Vec::new();
                let n = stream_mbox(&input[..], chunk, |m| got.push(m.to_vec())).unwrap();
                assert_eq!(n, got.len());
                assert_eq!(
                    got,
                    want,
                    "chunk {chunk} input {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn mbox_borrows_without_quoting() {
        let input = b"From a\nX: 1\n\nbody\n";
        let first = mbox_messages(input).next();
        assert!(matches!(first, Some(Cow::Borrowed(_))));
    }

    fn write(path: &Path, bytes: &[u8]) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn kinds_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("one.eml"), b"Subject: x\n\nbody\n");
        write(&root.join("box"), b"From a\nA: 1\n\nFrom b\nB: 2\n");
        write(&root.join("md/cur/2:2,S"), b"A: 2\n\n");
        write(&root.join("md/cur/1:2,S"), b"A: 1\n\n");
        write(&root.join("md/new/0"), b"A: 0\n\n");
        write(&root.join("md/new/.hidden"), b"junk");
        write(&root.join("md/tmp/x"), b"in progress");
        fs::create_dir_all(root.join("plain")).unwrap();

        assert_eq!(kind_of(&root.join("one.eml")).unwrap(), SourceKind::File);
        assert_eq!(kind_of(&root.join("box")).unwrap(), SourceKind::Mbox);
        assert_eq!(kind_of(&root.join("md")).unwrap(), SourceKind::Maildir);
        assert!(matches!(
            kind_of(&root.join("plain")),
            Err(Error::NotAMaildir { .. })
        ));
        assert!(matches!(
            kind_of(&root.join("missing")),
            Err(Error::Io { .. })
        ));

        let mut ids = Vec::new();
        let n = for_each_message(&root.join("md"), |id, bytes| {
            ids.push((id.to_owned(), bytes.to_vec()));
        })
        .unwrap();
        assert_eq!(n, 3);
        let md = root.join("md");
        assert_eq!(
            ids,
            vec![
                (
                    md.join("cur/1:2,S").display().to_string(),
                    b"A: 1\n\n".to_vec()
                ),
                (
                    md.join("cur/2:2,S").display().to_string(),
                    b"A: 2\n\n".to_vec()
                ),
                (md.join("new/0").display().to_string(), b"A: 0\n\n".to_vec()),
            ]
        );

        let mut ids = Vec::new();
        let n = for_each_message(&root.join("box"), |id, _| ids.push(id.to_owned())).unwrap();
        assert_eq!(n, 2);
        let base = root.join("box").display().to_string();
        assert_eq!(ids, vec![format!("{base}#1"), format!("{base}#2")]);

        let n = for_each_message(&root.join("one.eml"), |id, bytes| {
            assert_eq!(id, root.join("one.eml").display().to_string());
            assert_eq!(bytes, b"Subject: x\n\nbody\n");
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn walk_tree_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("cur/1"), b"A: 1\n\n");
        write(&root.join("new/.keep"), b"");
        write(&root.join("tmp/x"), b"");
        write(&root.join(".Sent.2024/cur/1"), b"A: 1\n\n");
        write(&root.join(".notmail/x"), b"");
        write(&root.join("Work/cur/1"), b"A: 1\n\n");
        write(&root.join("Work/Projects/new/1"), b"A: 1\n\n");
        write(&root.join("[Gmail]/All Mail/cur/1"), b"A: 1\n\n");
        write(&root.join("Archive.mbox"), b"From a\nA: 1\n");
        write(&root.join("Local.sbd/Old.mbox"), b"From a\nA: 1\n");
        write(&root.join("Empty.mbox"), b"");
        write(&root.join("dovecot-uidlist"), b"3 V1 N2\n");
        write(&root.join("subscriptions"), b"Work\n");
        let folders = walk_tree(root).unwrap();
        let got: Vec<(&str, SourceKind)> =
            folders.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("Archive", SourceKind::Mbox),
                ("Empty", SourceKind::Mbox),
                ("INBOX", SourceKind::Maildir),
                ("Local/Old", SourceKind::Mbox),
                ("Sent.2024", SourceKind::Maildir),
                ("Work", SourceKind::Maildir),
                ("Work/Projects", SourceKind::Maildir),
                ("[Gmail]/All Mail", SourceKind::Maildir),
            ]
        );
        assert_eq!(folders[2].path, root);
        // Deterministic.
        assert_eq!(walk_tree(root).unwrap(), folders);
    }

    #[test]
    fn walk_tree_single_mbox_file_is_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mail");
        write(&file, b"From a\nA: 1\n");
        let folders = walk_tree(&file).unwrap();
        assert_eq!(folders.len(), 1);
        assert_eq!(folders[0].name, "INBOX");
        assert_eq!(folders[0].kind, SourceKind::Mbox);
    }
}
