//! [`Courier`]: a real Courier-IMAP 5 server in a temp dir and a private
//! mount namespace.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::Uid;

use crate::imap::{self, RawImap};
use crate::imap_account::{self, Account, Literals, START_ATTEMPTS};
use crate::packaged::{self, Wanted};
use crate::process::{self, ProcessGroup};

/// The user of every test server.
const USER: &str = "test";
/// Its password.
const PASSWORD: &str = "secret";
/// Where Debian's courier-authdaemon keeps authdaemond.
const AUTHLIB_DIR: &str = "/usr/lib/courier/courier-authlib";
/// The directory authdaemond and the login read their config from; each
/// instance bind-mounts its own `etc` over it in its namespace.
const ETC_COURIER: &str = "/etc/courier";
/// What to install for Courier.
const INSTALL: &str = "`apt-get install -y --no-install-recommends courier-base \
    courier-authdaemon courier-authlib-userdb openssl util-linux` plus courier-imap (which \
    conflicts with dovecot-imapd: `apt-get download courier-imap` and `dpkg-deb -x` it into \
    $TESTKIT_SERVERS_ROOT/courier-imap)";
/// The capabilities Courier announces (`IMAP_CAPABILITY`): Debian's
/// defaults without `AUTH=` mechanisms, `STARTTLS` or `XLIST`.
const CAPABILITY: &str = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT \
    THREAD=REFERENCES SORT QUOTA IDLE";

/// Runs inside the new mount namespace: bind-mounts the instance's `etc` on
/// /etc/courier and its `run` on /run (libcourierauth talks to the
/// compiled-in /run/courier/authdaemon/socket), starts authdaemond, then
/// becomes couriertcpd.
const NAMESPACE_SCRIPT: &str = r#"set -e
D=$1 PORT=$2 AUTHDAEMOND=$3 TCPD=$4 IMAPLOGIN=$5 IMAPD=$6 MOUNT=$7
"$MOUNT" --bind "$D/etc" /etc/courier
"$MOUNT" --bind "$D/run" /run
"$AUTHDAEMOND" >>"$D/authdaemond.log" 2>&1 &
waited=0
while [ ! -S /run/courier/authdaemon/socket ]; do
    waited=$((waited + 1))
    [ "$waited" -lt 1000 ] || { echo "authdaemond made no socket" >&2; exit 1; }
    sleep 0.01
done
exec "$TCPD" -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup \
    -stderr="$D/imapd.log" "$PORT" "$IMAPLOGIN" "$IMAPD" Maildir
"#;

/// What to start: Courier with optional limits. Build it with a struct
/// literal (`..Default::default()`) or the `with_` methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CourierConfig {
    /// A Maildir++ storage quota for the user, in KiB: an `APPEND` beyond
    /// it gets `NO [ALERT] You exceeded your mail quota.` (after a stray
    /// untagged `* NO`). `None`: no quota, and `GETQUOTAROOT` answers an
    /// empty `* QUOTA "ROOT"`.
    pub quota_kib: Option<u64>,
}

impl CourierConfig {
    /// Sets a storage quota in KiB.
    #[must_use]
    pub fn with_quota_kib(mut self, kib: u64) -> CourierConfig {
        self.quota_kib = Some(kib);
        self
    }
}

/// A running Courier-IMAP 5 server on 127.0.0.1 (plain text), with the user
/// `test` / `secret` (Maildir, courier-authlib's userdb), in a fresh temp
/// dir. Dropping it kills the server's process group and removes the dir,
/// also when the test panics.
///
/// Courier's login always asks authdaemond at the compiled-in
/// `/run/courier/authdaemon/socket`, which reads `/etc/courier`. Each
/// instance therefore runs in a private mount namespace (`unshare --mount
/// --propagation private`) with its own `etc` and `run` bind-mounted there:
/// nothing shows outside it, and instances run in parallel. That needs
/// root: as another user, `start` reports Courier as unavailable (a skip,
/// or a failure under `CI=true`). An unprivileged user namespace is no way
/// out: `imaplogin` calls `setgroups`, which is refused there.
///
/// What a migration sees here (see `TEST-SERVERS.md`): namespace
/// `(("INBOX." "."))`; no `LITERAL+` (a `{n+}` literal is read as commands,
/// so [`Courier::seed`] and [`Courier::append`] wait for the `+`), no
/// `CONDSTORE`/`QRESYNC`, no special-use, no `MOVE`, no `ID`;
/// `CREATE INBOX.Work.2024` leaves `INBOX.Work` `\Noselect` and an `APPEND`
/// to it gets `NO [TRYCREATE]`; a renamed folder gets a new UIDVALIDITY; a
/// refused `LOGIN` answers only after a pause of about 5 s.
///
/// ```
/// use testkit::Courier;
///
/// // `None` only when Courier is not installed (or we are not root) and
/// // CI is not "true".
/// let Some(server) = Courier::start() else { return };
/// server.seed("INBOX.Work", &[b"Subject: hi\r\n\r\nhello\r\n"]);
/// assert_eq!(server.messages("INBOX.Work"), [b"Subject: hi\r\n\r\nhello\r\n"]);
/// let mut imap = server.session();
/// let capability = String::from_utf8_lossy(&imap.command("CAPABILITY")).into_owned();
/// assert!(!capability.contains("LITERAL+"));
/// ```
#[derive(Debug)]
pub struct Courier {
    // Field order matters: the process group is killed before the dir goes.
    process: ProcessGroup,
    dir: tempfile::TempDir,
    account: Account,
    tools: Tools,
}

/// The programs that set up users.
#[derive(Debug)]
struct Tools {
    makeuserdb: PathBuf,
    maildirmake: PathBuf,
    openssl: PathBuf,
}

impl Courier {
    /// Starts a server without a quota. See [`Courier::start_with`].
    pub fn start() -> Option<Courier> {
        Courier::start_with(CourierConfig::default())
    }

    /// Starts a server, waits for its greeting and selects the INBOX once
    /// (until then Courier hands out a new INBOX UIDVALIDITY on every
    /// `STATUS`).
    ///
    /// Returns `None` only when a binary is missing, or testkit does not run
    /// as root, and the environment variable `CI` is not `true`, after
    /// printing why and what to install; under `CI=true` that panics, so the
    /// test fails. `imapd` and `imaplogin` are looked up in
    /// `$TESTKIT_SERVERS_ROOT/courier-imap` (where `scripts/test` unpacks
    /// them; default `target/servers`), then where the installed package
    /// puts them; `authdaemond` in `/usr/lib/courier/courier-authlib`; the
    /// rest in `PATH` and the sbin directories; all only in `TESTKIT_PATH`
    /// when that is set.
    ///
    /// # Panics
    /// When the server cannot be started.
    pub fn start_with(config: CourierConfig) -> Option<Courier> {
        const SERVER: &str = "Courier-IMAP";
        let binaries = packaged::locate(
            SERVER,
            &[
                Wanted::packaged("courier-imap", "/usr/bin", "imapd"),
                Wanted::packaged("courier-imap", "/usr/lib/courier/courier", "imaplogin"),
                Wanted::at(AUTHLIB_DIR, "authdaemond"),
                Wanted::on_path("couriertcpd"),
                Wanted::on_path("makeuserdb"),
                Wanted::on_path("maildirmake"),
                Wanted::on_path("openssl"),
                Wanted::on_path("unshare"),
                Wanted::on_path("mount"),
            ],
            INSTALL,
        )?;
        let [
            imapd,
            imaplogin,
            authdaemond,
            couriertcpd,
            makeuserdb,
            maildirmake,
            openssl,
            unshare,
            mount,
        ] = <[PathBuf; 9]>::try_from(binaries).ok()?;
        if !Uid::effective().is_root() {
            return packaged::unavailable(
                SERVER,
                "cannot run as a user other than root: each instance needs a private mount \
                 namespace over /etc/courier and /run (and an unprivileged user namespace \
                 does not do: imaplogin's setgroups is refused there)",
                "Run the tests as root (`scripts/test` as root does).",
            );
        }
        if !Path::new(ETC_COURIER).is_dir() {
            return packaged::unavailable(
                SERVER,
                "is not installed: /etc/courier is missing",
                &packaged::install_hint(INSTALL),
            );
        }
        let tools = Tools {
            makeuserdb,
            maildirmake,
            openssl,
        };
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = process::temp_dir("testkit-courier-");
            let port = process::free_port();
            let d = dir.path();
            process::mkdir(&d.join("run/courier/authdaemon"));
            process::write(
                &d.join("etc/authdaemonrc"),
                "authmodulelist=\"authuserdb\"\ndaemons=1\n\
                 authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\n",
            );
            tools.add_user(d, USER, PASSWORD, config.quota_kib);
            let log = d.join("courier.log");
            let mut command = Command::new(&unshare);
            command
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("IMAP_CAPABILITY", CAPABILITY)
                .envs([
                    ("IMAP_KEYWORDS", "1"),
                    ("IMAP_ACL", "1"),
                    ("IMAP_IDLE_TIMEOUT", "60"),
                    ("IMAP_ENHANCEDIDLE", "0"),
                    ("IMAP_UMASK", "022"),
                    ("IMAP_USELOCKS", "1"),
                    // An unused name, or INBOX.Trash could not be deleted or
                    // renamed and would be purged automatically.
                    ("IMAP_TRASHFOLDERNAME", "X-Unused-Trash"),
                    ("IMAP_EMPTYTRASH", ""),
                    ("IMAP_MOVE_EXPUNGE_TO_TRASH", "0"),
                    ("IMAP_TLS_REQUIRED", "0"),
                    ("IMAP_STARTTLS", "NO"),
                    ("IMAP_MAILBOX_SANITY_CHECK", "1"),
                ])
                .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                .arg(NAMESPACE_SCRIPT)
                .arg("testkit-courier")
                .arg(d)
                .arg(port.to_string())
                .args([&authdaemond, &couriertcpd, &imaplogin, &imapd, &mount]);
            let mut process = ProcessGroup::spawn(command, &log)
                .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", unshare.display()));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if imap_account::wait_for_greeting(&mut process, addr, "Courier-IMAP ready") {
                let server = Courier {
                    process,
                    dir,
                    account: Account {
                        addr,
                        user: USER.to_owned(),
                        password: PASSWORD.to_owned(),
                        literals: Literals::Synchronizing,
                    },
                    tools,
                };
                let mut session = server.session();
                Account::ok(&mut session, "SELECT INBOX");
                session.command("LOGOUT");
                return Some(server);
            }
            process.kill();
            last_log = ["courier.log", "authdaemond.log", "imapd.log"]
                .iter()
                .map(|name| {
                    format!(
                        "--- {name}\n{}",
                        fs::read_to_string(d.join(name)).unwrap_or_default()
                    )
                })
                .collect();
        }
        panic!("testkit: Courier did not start in {START_ATTEMPTS} attempts; logs:\n{last_log}");
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.account.addr
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.account.addr.port()
    }

    /// The user name (`test`).
    pub fn user(&self) -> &str {
        USER
    }

    /// The user's password (`secret`), for `LOGIN`.
    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// The hierarchy separator: `.`.
    pub fn separator(&self) -> char {
        '.'
    }

    /// The personal namespace prefix: `INBOX.`.
    pub fn prefix(&self) -> &str {
        "INBOX."
    }

    /// The temp dir holding config, Maildirs and logs (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the group leader, `couriertcpd` (the process
    /// group id too).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// A new, logged-in IMAP connection as `test`.
    pub fn session(&self) -> RawImap {
        self.account.session()
    }

    /// Adds another user with this password and an empty Maildir, without
    /// a quota. Log in with [`RawImap::login`].
    pub fn add_user(&self, user: &str, password: &str) {
        self.tools.add_user(self.dir.path(), user, password, None);
    }

    /// Creates a folder by its full name (`INBOX.Work`); a missing parent
    /// is left `\Noselect`. Panics unless Courier says OK.
    pub fn create_folder(&self, name: &str) {
        self.account.create(name);
    }

    /// Appends messages to the folder (full UTF-8 name), creating it if
    /// missing: one `APPEND` per message over one connection, each literal
    /// sent after Courier's `+` (no `LITERAL+`, no `MULTIAPPEND` here).
    ///
    /// # Panics
    /// When Courier refuses a message (over quota, `\Noselect` folder...).
    pub fn seed(&self, folder: &str, messages: &[&[u8]]) {
        self.account.seed(folder, messages);
    }

    /// One `APPEND` of `message` to `folder` with a synchronising literal
    /// over a new connection; returns the whole reply unjudged (`+`
    /// continuation and untagged lines included), e.g. to see
    /// `NO [TRYCREATE]`. When Courier refuses before the `+`, the message is
    /// never sent.
    pub fn append(&self, folder: &str, message: &[u8]) -> Vec<u8> {
        self.account.append(folder, message)
    }

    /// The raw bytes of every message in the folder, in UID order, as
    /// `BODY.PEEK[]` serves them.
    pub fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        self.account.messages(folder)
    }

    /// Every folder name `LIST "" "*"` shows, in UTF-8 (`INBOX`,
    /// `INBOX.Work`...; `\Noselect` parents included).
    pub fn folders(&self) -> Vec<String> {
        self.account.folders()
    }

    /// The folder's UIDVALIDITY (from `STATUS`).
    pub fn uidvalidity(&self, folder: &str) -> u32 {
        self.account.uidvalidity(folder)
    }

    /// Gives a folder (not INBOX) a new UIDVALIDITY the way Courier allows:
    /// `RENAME` it away and back. Messages, flags and subfolders stay, but
    /// Courier numbers the messages anew in the Maildir's directory order,
    /// which need not be their old UID order. Takes about 4 s: Courier
    /// spends 2 s on each `RENAME` here.
    /// Returns the new UIDVALIDITY.
    ///
    /// # Panics
    /// For INBOX, or when Courier refuses a `RENAME`.
    pub fn new_uidvalidity(&self, folder: &str) -> u32 {
        assert!(
            !folder.eq_ignore_ascii_case("INBOX"),
            "testkit: renaming INBOX moves its messages instead"
        );
        let name = imap::quote_mailbox(folder);
        let away = imap::quote_mailbox(&format!("{folder}-testkit-away"));
        self.account.change_uidvalidity(folder, || {
            let mut session = self.session();
            Account::ok(&mut session, &format!("RENAME {name} {away}"));
            Account::ok(&mut session, &format!("RENAME {away} {name}"));
            session.command("LOGOUT");
        })
    }
}

impl Tools {
    /// Adds a userdb entry (running as root: uid 0 owns the mail) with an
    /// MD5-crypt password, rebuilds userdb.dat (which authdaemond reopens
    /// when it changes) and makes the user's Maildir, with a quota if given.
    fn add_user(&self, dir: &Path, user: &str, password: &str, quota_kib: Option<u64>) {
        let home = dir.join("home").join(user);
        let maildir = home.join("Maildir");
        process::mkdir(&home);
        let hash = self.run(&self.openssl, &["passwd", "-1", "-stdin"], Some(password));
        let userdb = dir.join("etc/userdb");
        let line = format!(
            "{user}\tuid=0|gid=0|home={}|mail={}|systempw={}\n",
            home.display(),
            maildir.display(),
            hash.trim()
        );
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&userdb)
            .unwrap_or_else(|e| panic!("testkit: open {}: {e}", userdb.display()));
        file.write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("testkit: write {}: {e}", userdb.display()));
        drop(file);
        fs::set_permissions(&userdb, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("testkit: chmod {}: {e}", userdb.display()));
        let userdb_arg = userdb.to_string_lossy().into_owned();
        self.run(&self.makeuserdb, &["-f", &userdb_arg], None);
        let maildir_arg = maildir.to_string_lossy().into_owned();
        self.run(&self.maildirmake, &[&maildir_arg], None);
        if let Some(kib) = quota_kib {
            let quota = format!("{}S", kib.saturating_mul(1024));
            self.run(&self.maildirmake, &["-q", &quota, &maildir_arg], None);
        }
    }

    /// Runs a setup program; returns its stdout, panics unless it succeeds.
    fn run(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", program.display()));
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("testkit: {} stdin: {e}", program.display()));
        }
        drop(child.stdin.take());
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("testkit: {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "testkit: {} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}
