//! Server processes: finding binaries, free ports, temp dirs, and a process
//! group that dies with its handle.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::ci;

/// Directories searched after `PATH`: Debian installs the daemons in
/// `/usr/sbin`, which is not on a normal user's `PATH`.
const SBIN_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// The directories searched for server binaries: `TESTKIT_PATH` if set,
/// otherwise `PATH` followed by the sbin directories.
fn search_dirs() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("TESTKIT_PATH") {
        return std::env::split_paths(&path).collect();
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(SBIN_DIRS.iter().map(PathBuf::from));
    dirs
}

fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Looks up every binary a server needs. When one is missing: prints loudly
/// what to install and returns `None`, or panics when `CI=true`.
pub(crate) fn require(server: &str, binaries: &[&str], install: &str) -> Option<Vec<PathBuf>> {
    let dirs = search_dirs();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in binaries {
        match find_in(&dirs, name) {
            Some(path) => found.push(path),
            None => missing.push(*name),
        }
    }
    if missing.is_empty() {
        return Some(found);
    }
    let searched = std::env::join_paths(&dirs).unwrap_or_else(|_| OsString::from("?"));
    let message = format!(
        "testkit: {server} is not installed: missing {} (searched {}). Install it with \
         `apt-get install -y --no-install-recommends {install}` or run `scripts/test`, \
         which installs every test server.",
        missing.join(", "),
        searched.to_string_lossy(),
    );
    if ci() {
        panic!("{message} CI=true, so a missing server is a test failure, not a skip.");
    }
    eprintln!(
        "\n{}\n{message}\nSKIPPING this test (set CI=true to make this a failure).\n{}\n",
        "!".repeat(78),
        "!".repeat(78)
    );
    None
}

/// A port on 127.0.0.1 that was free a moment ago. The caller starts its
/// server on it and retries with another port if the server cannot bind.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("testkit: cannot bind 127.0.0.1:0: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("testkit: local_addr of a bound socket: {e}"))
        .port();
    drop(listener);
    port
}

/// A fresh temp dir, mode 755 so that daemons running as other users
/// (`dovecot`, `nobody`) can traverse it. Removed when dropped.
pub(crate) fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("testkit: cannot create a temp dir: {e}"));
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("testkit: chmod 755 {}: {e}", dir.path().display()));
    dir
}

/// Writes a file or panics with its path.
pub(crate) fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("testkit: mkdir -p {}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("testkit: write {}: {e}", path.display()));
}

/// Creates a directory (and its parents) or panics with its path.
pub(crate) fn mkdir(path: &Path) {
    fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("testkit: mkdir -p {}: {e}", path.display()));
}

/// A server started in its own process group. Dropping it kills the whole
/// group with SIGKILL, reaps the leader and waits until every member is gone.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    child: Child,
}

impl ProcessGroup {
    /// Spawns `command` as the leader of a new process group, with stdin
    /// closed and stdout/stderr appended to `log`.
    pub(crate) fn spawn(mut command: Command, log: &Path) -> io::Result<ProcessGroup> {
        let out = fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        Ok(ProcessGroup {
            child: command.spawn()?,
        })
    }

    /// The process id of the group leader (also the process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the leader has exited (and so is not serving).
    pub(crate) fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    fn pgid(&self) -> Pid {
        #[allow(clippy::cast_possible_wrap, reason = "pids fit in i32 on every unix")]
        Pid::from_raw(self.child.id() as i32)
    }

    /// Kills the group and waits (up to 5 s) until no member is left
    /// running.
    pub(crate) fn kill(&mut self) {
        let pgid = self.pgid();
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_alive(self.child.id()) && Instant::now() < deadline {
            let _ = killpg(pgid, Signal::SIGKILL);
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether any process of the process group `pgid` is still running.
///
/// Zombies do not count: they hold no port, file or memory, and the members
/// other than the leader (which testkit reaps itself) are reaped by init.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        // No procfs: ask the kernel, counting zombies.
        #[allow(clippy::cast_possible_wrap, reason = "pids fit in i32 on every unix")]
        let pgid = Pid::from_raw(pgid as i32);
        return killpg(pgid, None) != Err(Errno::ESRCH);
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        fs::read_to_string(entry.path().join("stat"))
            .is_ok_and(|stat| running_in_group(&stat, pgid))
    })
}

/// Whether a `/proc/<pid>/stat` line is of a non-zombie process in `pgid`.
fn running_in_group(stat: &str, pgid: u32) -> bool {
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let mut fields = after.split_whitespace();
    let state = fields.next();
    let group = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
    group == Some(pgid) && !matches!(state, Some("Z" | "X"))
}

#[cfg(test)]
mod tests {
    use super::running_in_group;

    #[test]
    fn reads_proc_stat() {
        for (stat, pgid, want) in [
            ("12 (dovecot) S 1 12 12 0", 12, true),
            ("13 (imap-login) Z 1 12 12 0", 12, false),
            ("14 (a) b) (c) R 1 12 12 0", 12, true),
            ("15 (auth) S 1 99 99 0", 12, false),
            ("garbage", 12, false),
        ] {
            assert_eq!(running_in_group(stat, pgid), want, "{stat}");
        }
    }
}
