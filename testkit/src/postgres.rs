//! [`Postgres`]: a real PostgreSQL server in a temp dir, on a free port of
//! 127.0.0.1, with trust authentication.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};

use crate::packaged::{self, Wanted};
use crate::process::{self, ProcessGroup};

/// The superuser `initdb` creates, and the user of [`Postgres::url`].
const SUPERUSER: &str = "postgres";
/// The database every cluster starts with.
const DEFAULT_DATABASE: &str = "postgres";
/// Where Debian installs the server binaries: one directory per major
/// version (`/usr/lib/postgresql/15/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// Where the `initdb` template of each installed version is kept between
/// runs, unless `TESTKIT_POSTGRES_TEMPLATES` says otherwise.
const DEFAULT_TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/testkit-postgres");
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many ports to try when the one picked is taken meanwhile.
const START_ATTEMPTS: u32 = 5;
/// How long an immediate shutdown may take before the group is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Server settings for tests: no fsync (a test cluster is thrown away),
/// dynamic shared memory in the data dir (removed with it, never left in
/// `/dev/shm`), and room for many parallel connections.
const SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "dynamic_shared_memory_type=mmap",
    "max_connections=200",
    "shared_buffers=16MB",
];

/// A running PostgreSQL server on 127.0.0.1, in a fresh temp dir: trust
/// authentication for the superuser `postgres`, its Unix socket in the temp
/// dir, no fsync. Dropping it shuts the server down (immediate shutdown,
/// then SIGKILL to its process group) and removes the dir, also when the
/// test panics.
///
/// ```
/// // `None` only when PostgreSQL is not installed and CI is not "true".
/// let Some(server) = testkit::Postgres::start() else { return };
/// assert!(server.url().starts_with("postgres://postgres@127.0.0.1:"));
/// let url = server.create_database("queue_test");
/// assert!(url.ends_with("/queue_test"));
/// assert_eq!(server.psql("queue_test", "SELECT 6 * 7"), "42");
/// ```
#[derive(Debug)]
pub struct Postgres {
    // Field order matters: the process group is killed before the dir goes.
    process: ProcessGroup,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    psql: PathBuf,
    started_in: Duration,
}

impl Postgres {
    /// Starts a server and waits until it accepts connections.
    ///
    /// `initdb` runs once per installed version and user: its data dir is
    /// kept as a template in `TESTKIT_POSTGRES_TEMPLATES` (default
    /// `target/testkit-postgres` of this workspace) and copied for each
    /// server (0.5 to 0.8 s to a server accepting connections, against
    /// 2 to 3 s with an `initdb` each time). As root the
    /// server runs as the `postgres` user that Debian's package creates
    /// (PostgreSQL refuses to run as root); otherwise as the current user.
    ///
    /// Returns `None` only when `initdb`, `postgres` or `psql` is missing
    /// (looked up in `TESTKIT_PATH` if set, else in `PATH` and in
    /// `/usr/lib/postgresql/<version>/bin`, the newest version first) and
    /// `CI` is not `true`, after printing how to install it; under
    /// `CI=true` it panics.
    ///
    /// # Panics
    /// When the server cannot be started (the panic shows its log).
    pub fn start() -> Option<Postgres> {
        let started = Instant::now();
        let dirs = binary_dirs();
        let wanted = ["initdb", "postgres", "psql"].map(|name| Wanted {
            name,
            dirs: dirs.clone(),
        });
        let binaries = packaged::locate(
            "PostgreSQL",
            &wanted,
            "`apt-get install -y --no-install-recommends postgresql`",
        )?;
        let [initdb, postgres, psql] = <[PathBuf; 3]>::try_from(binaries).ok()?;
        let owner = Owner::current()?;
        let template = template(&initdb, &owner);
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = process::temp_dir("testkit-postgres-");
            let data = dir.path().join("data");
            copy_tree(template, &data);
            let run = dir.path().join("run");
            process::mkdir(&run);
            owner.chown(&run);
            let port = process::free_port();
            let log = dir.path().join("postgres.log");
            let mut command = Command::new(&postgres);
            command
                .arg("-D")
                .arg(&data)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
                .arg(&run);
            for setting in SETTINGS {
                command.args(["-c", setting]);
            }
            owner.apply(&mut command);
            let mut process = ProcessGroup::spawn(command, &log)
                .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", postgres.display()));
            if wait_until_ready(&mut process, &log) {
                return Some(Postgres {
                    process,
                    dir,
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    psql,
                    started_in: started.elapsed(),
                });
            }
            process.kill();
            last_log = fs::read_to_string(&log).unwrap_or_default();
        }
        panic!(
            "testkit: PostgreSQL did not start in {START_ATTEMPTS} attempts; last log:\n{last_log}"
        );
    }

    /// The URL of the default database:
    /// `postgres://postgres@127.0.0.1:PORT/postgres` (no password: trust
    /// authentication).
    pub fn url(&self) -> String {
        self.url_for(DEFAULT_DATABASE)
    }

    /// The URL of another database of this server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@{}/{database}", self.addr)
    }

    /// Creates a database (a name of ASCII letters, digits and `_`) and
    /// returns its URL: tests that share a server each take their own.
    ///
    /// # Panics
    /// On any other name, or when it exists already.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "testkit: database name {name:?}: use ASCII letters, digits and '_'"
        );
        self.psql(DEFAULT_DATABASE, &format!("CREATE DATABASE \"{name}\""));
        self.url_for(name)
    }

    /// Runs SQL with `psql` in `database` and returns its output, unaligned
    /// and without headers (`psql -At`), trimmed: one line per row, columns
    /// separated by `|`.
    ///
    /// # Panics
    /// When the SQL fails (the panic shows psql's error).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(&self.psql)
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port().to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
            ])
            .args(["-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", self.psql.display()));
        assert!(
            output.status.success(),
            "testkit: psql {sql:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The superuser's name (`postgres`).
    pub fn user(&self) -> &str {
        SUPERUSER
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The process id of the postmaster (its process group id too).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The temp dir holding the data dir, socket and log (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How long [`Postgres::start`] took, from the binary lookup to the
    /// first moment the server accepted connections (an `initdb` included
    /// when no template existed yet).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // An immediate shutdown (SIGQUIT) removes the server's System V
        // shared memory segment, which SIGKILL would leave behind; the
        // process group is killed afterwards in any case.
        #[allow(clippy::cast_possible_wrap, reason = "pids fit in i32 on every unix")]
        let pid = Pid::from_raw(self.process.pid() as i32);
        if kill(pid, Signal::SIGQUIT).is_ok() {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while !self.process.has_exited() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The directories searched for the binaries: `PATH`, the sbin dirs, then
/// Debian's per-version directories, the newest version first.
fn binary_dirs() -> Vec<PathBuf> {
    let mut dirs = Wanted::on_path("postgres").dirs;
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(DEBIAN_ROOT)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((version, entry.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    dirs
}

/// Who runs the server: as root, Debian's `postgres` user; otherwise the
/// current user.
#[derive(Debug, Clone)]
struct Owner {
    /// `None`: the current user.
    user: Option<User>,
}

impl Owner {
    fn current() -> Option<Owner> {
        if !Uid::effective().is_root() {
            return Some(Owner { user: None });
        }
        match User::from_name(SUPERUSER) {
            Ok(Some(user)) => Some(Owner { user: Some(user) }),
            _ => packaged::unavailable(
                "PostgreSQL",
                "cannot run as root, and there is no `postgres` user to run it as",
                &packaged::install_hint(
                    "`apt-get install -y --no-install-recommends postgresql` (it creates the user)",
                ),
            ),
        }
    }

    /// A name for templates made by this owner.
    fn tag(&self) -> String {
        match &self.user {
            Some(user) => format!("uid{}", user.uid),
            None => format!("uid{}", Uid::effective()),
        }
    }

    fn chown(&self, path: &Path) {
        if let Some(user) = &self.user {
            nix::unistd::chown(path, Some(user.uid), Some(user.gid))
                .unwrap_or_else(|e| panic!("testkit: chown {}: {e}", path.display()));
        }
    }

    fn apply(&self, command: &mut Command) {
        if let Some(user) = &self.user {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            // The server's own home, not root's, for anything it looks up.
            command.env("HOME", &user.dir);
        }
    }
}

/// The template data dir for this `initdb` and owner, made on first use
/// (once per process; across processes the first to finish wins the
/// rename).
fn template(initdb: &Path, owner: &Owner) -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = std::env::var_os("TESTKIT_POSTGRES_TEMPLATES")
            .map_or_else(|| PathBuf::from(DEFAULT_TEMPLATES), PathBuf::from);
        let initdb = fs::canonicalize(initdb).unwrap_or_else(|_| initdb.to_path_buf());
        let bin: String = initdb
            .parent()
            .unwrap_or(&initdb)
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        // "v1": the initdb options below; change it when they change.
        let path = root.join(format!("template-v1{bin}-{}", owner.tag()));
        if path.join("PG_VERSION").is_file() {
            return path;
        }
        process::mkdir(&root);
        // initdb runs in a temp dir the server's user can write, then the
        // result is copied next to the template and renamed into place.
        let scratch = process::temp_dir("testkit-initdb-");
        owner.chown(scratch.path());
        let data = scratch.path().join("data");
        let log = scratch.path().join("initdb.log");
        let out = fs::File::create(&log)
            .unwrap_or_else(|e| panic!("testkit: create {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("testkit: {}: {e}", log.display()));
        let mut command = Command::new(&initdb);
        command
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions", "--wal-segsize=1"])
            .stdout(out)
            .stderr(err);
        owner.apply(&mut command);
        let status = command
            .status()
            .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", initdb.display()));
        assert!(
            status.success(),
            "testkit: initdb failed ({status}):\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&root)
            .unwrap_or_else(|e| panic!("testkit: temp dir in {}: {e}", root.display()));
        let staged = staging.path().join("data");
        copy_tree(&data, &staged);
        // Another test binary may have won: its template is as good.
        if fs::rename(&staged, &path).is_err() && !path.join("PG_VERSION").is_file() {
            panic!("testkit: cannot move the template into {}", path.display());
        }
        path
    })
}

/// Copies a data dir with owners and modes (`cp -a`).
fn copy_tree(from: &Path, to: &Path) {
    let output = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap_or_else(|e| panic!("testkit: cannot run cp: {e}"));
    assert!(
        output.status.success(),
        "testkit: cp -a {} {} failed: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // PostgreSQL refuses a data dir that others can read.
    fs::set_permissions(to, fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("testkit: chmod 700 {}: {e}", to.display()));
}

/// Waits for "ready to accept connections" in the log; `false` when the
/// server exits first (a port taken meanwhile) or takes too long.
fn wait_until_ready(process: &mut ProcessGroup, log: &Path) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if fs::read_to_string(log)
            .is_ok_and(|text| text.contains("database system is ready to accept connections"))
        {
            return true;
        }
        if process.has_exited() {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}
