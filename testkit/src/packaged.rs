//! Finding the binaries of servers that Debian keeps outside `PATH`, or that
//! `scripts/test` unpacked into a private root because their packages
//! conflict with `dovecot-imapd` (Cyrus's `imapd`, Courier's `imapd` and
//! `imaplogin`).

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ci;

/// Where `scripts/test` unpacks `cyrus-imapd` and `courier-imap` when
/// `TESTKIT_SERVERS_ROOT` is not set: `target/servers` of this workspace.
const DEFAULT_SERVERS_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/servers");

/// The root that `scripts/test` unpacked the conflicting packages into,
/// one directory per package (`ROOT/cyrus-imapd/usr/lib/cyrus/bin/imapd`).
pub(crate) fn servers_root() -> PathBuf {
    std::env::var_os("TESTKIT_SERVERS_ROOT")
        .map_or_else(|| PathBuf::from(DEFAULT_SERVERS_ROOT), PathBuf::from)
}

/// Where one binary may be: its file name and the directories to try, in
/// order (the first directory holding an executable of that name wins).
#[derive(Debug)]
pub(crate) struct Wanted {
    pub(crate) name: &'static str,
    pub(crate) dirs: Vec<PathBuf>,
}

impl Wanted {
    /// A binary looked for in `PATH`, then `/usr/local/sbin`, `/usr/sbin`
    /// and `/sbin`.
    pub(crate) fn on_path(name: &'static str) -> Wanted {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from));
        Wanted { name, dirs }
    }

    /// A binary of a Debian package: first in the package's unpacked copy
    /// under [`servers_root`] (`ROOT/package/dir/name`), then in the
    /// installed package (`/dir/name`). `dir` is absolute, as in the package.
    pub(crate) fn packaged(package: &str, dir: &str, name: &'static str) -> Wanted {
        let relative = dir.trim_start_matches('/');
        Wanted {
            name,
            dirs: vec![
                servers_root().join(package).join(relative),
                PathBuf::from(dir),
            ],
        }
    }

    /// A binary in one fixed directory (a helper Debian installs outside
    /// `PATH`).
    pub(crate) fn at(dir: &str, name: &'static str) -> Wanted {
        Wanted {
            name,
            dirs: vec![PathBuf::from(dir)],
        }
    }
}

fn executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds every wanted binary, in the order given. With `TESTKIT_PATH` set,
/// every binary is looked for only there (by file name), so tests can hide
/// servers. When one is missing: prints loudly what to install and returns
/// `None`, or panics when `CI=true`.
pub(crate) fn locate(server: &str, wanted: &[Wanted], install: &str) -> Option<Vec<PathBuf>> {
    let override_dirs: Option<Vec<PathBuf>> =
        std::env::var_os("TESTKIT_PATH").map(|p| std::env::split_paths(&p).collect());
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut searched: Vec<PathBuf> = Vec::new();
    for want in wanted {
        let dirs = override_dirs.as_ref().unwrap_or(&want.dirs);
        match dirs
            .iter()
            .map(|d| d.join(want.name))
            .find(|p| executable(p))
        {
            Some(path) => found.push(path),
            None => {
                missing.push(want.name);
                for dir in dirs {
                    if !searched.contains(dir) {
                        searched.push(dir.clone());
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        return Some(found);
    }
    let searched = std::env::join_paths(&searched).unwrap_or_else(|_| OsString::from("?"));
    unavailable(
        server,
        &format!(
            "is not installed: missing {} (searched {})",
            missing.join(", "),
            searched.to_string_lossy()
        ),
        &install_hint(install),
    )
}

/// The sentence saying how to install a server.
pub(crate) fn install_hint(install: &str) -> String {
    format!("Install it with {install}, or run `scripts/test`, which installs every test server.")
}

/// Reports a server that cannot run here (`why`, completing "testkit:
/// SERVER ...") and what to do (`remedy`, a sentence): a panic under
/// `CI=true`, otherwise a loud skip (`None`).
pub(crate) fn unavailable<T>(server: &str, why: &str, remedy: &str) -> Option<T> {
    let message = format!("testkit: {server} {why}. {remedy}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packaged_binaries_are_looked_for_unpacked_first() {
        let want = Wanted::packaged("cyrus-imapd", "/usr/lib/cyrus/bin", "imapd");
        assert_eq!(
            want.dirs,
            [
                servers_root().join("cyrus-imapd/usr/lib/cyrus/bin"),
                PathBuf::from("/usr/lib/cyrus/bin")
            ]
        );
        assert!(
            Wanted::on_path("sh")
                .dirs
                .contains(&PathBuf::from("/usr/sbin"))
        );
    }
}
