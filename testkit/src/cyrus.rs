//! [`Cyrus`]: a real Cyrus IMAP 3.6 server in a temp dir.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Group, Uid, User};

use crate::imap::{self, RawImap};
use crate::imap_account::{self, Account, Literals, START_ATTEMPTS};
use crate::packaged::{self, Wanted};
use crate::process::{self, ProcessGroup};

/// The user of every test server.
const USER: &str = "test";
/// Its password.
const PASSWORD: &str = "secret";
/// Where Debian's cyrus-common keeps Cyrus's own programs.
const CYRUS_BIN: &str = "/usr/lib/cyrus/bin";
/// What to install for Cyrus.
const INSTALL: &str = "`apt-get install -y --no-install-recommends cyrus-common sasl2-bin \
    libsasl2-modules` plus cyrus-imapd (which conflicts with dovecot-imapd: `apt-get download \
    cyrus-imapd` and `dpkg-deb -x` it into $TESTKIT_SERVERS_ROOT/cyrus-imapd)";

/// What to start: Cyrus with optional limits. Build it with a struct literal
/// (`..Default::default()`) or the `with_` methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CyrusConfig {
    /// A storage quota on the user's INBOX and everything below it, in KiB
    /// (`autocreate_quota`): an `APPEND` beyond it gets a plain
    /// `NO Over quota`, without an `[OVERQUOTA]` code. `None`: no quota.
    pub quota_kib: Option<u64>,
}

impl CyrusConfig {
    /// Sets a storage quota in KiB.
    #[must_use]
    pub fn with_quota_kib(mut self, kib: u64) -> CyrusConfig {
        self.quota_kib = Some(kib);
        self
    }
}

/// A running Cyrus IMAP 3.6 server on 127.0.0.1 (plain text), with the user
/// `test` / `secret`, in a fresh temp dir. Dropping it kills the server's
/// process group and removes the dir, also when the test panics.
///
/// What a migration sees here (see `TEST-SERVERS.md`): namespace
/// `(("INBOX." "."))` (`CREATE Top` is refused; create `INBOX.Top`),
/// `LITERAL+`, `MULTIAPPEND`, `UIDPLUS`, `CONDSTORE`, `QRESYNC`,
/// `SPECIAL-USE`, `STATUS=SIZE`, `QUOTA`, `MOVE`; raw 8-bit bytes in headers
/// are stored as `X`; a full quota answers a plain `NO Over quota`; a folder
/// deleted and created again gets a new UIDVALIDITY (`delete_mode:
/// immediate`).
///
/// As root, Cyrus runs as Debian's `cyrus` user, which owns the temp dir
/// (Cyrus refuses to run as root); otherwise as the current user.
///
/// ```
/// use testkit::Cyrus;
///
/// // `None` only when Cyrus is not installed and CI is not "true".
/// let Some(server) = Cyrus::start() else { return };
/// server.seed("INBOX.Work", &[b"Subject: hi\r\n\r\nhello\r\n"]);
/// assert_eq!(server.messages("INBOX.Work"), [b"Subject: hi\r\n\r\nhello\r\n"]);
/// assert!(server.folders().contains(&"INBOX.Work".to_owned()));
/// let mut imap = server.session();
/// let namespace = imap.command("NAMESPACE");
/// assert!(namespace.starts_with(b"* NAMESPACE ((\"INBOX.\" \".\"))"));
/// ```
#[derive(Debug)]
pub struct Cyrus {
    // Field order matters: the process group is killed before the dir goes.
    process: ProcessGroup,
    dir: tempfile::TempDir,
    account: Account,
    realm: String,
    saslpasswd2: PathBuf,
    owner: Option<Owner>,
}

/// Who owns the files when testkit runs as root.
#[derive(Clone, Copy, Debug)]
struct Owner {
    uid: Uid,
    gid: Gid,
}

impl Cyrus {
    /// Starts a server without a quota. See [`Cyrus::start_with`].
    pub fn start() -> Option<Cyrus> {
        Cyrus::start_with(CyrusConfig::default())
    }

    /// Starts a server, waits for its greeting and logs in once (which
    /// creates the INBOX, with the quota if any).
    ///
    /// Returns `None` only when a binary is missing and the environment
    /// variable `CI` is not `true`, after printing what is missing and how
    /// to install it; under `CI=true` that panics, so the test fails.
    /// `imapd` is looked up in `$TESTKIT_SERVERS_ROOT/cyrus-imapd` (where
    /// `scripts/test` unpacks it; default `target/servers`), then in
    /// `/usr/lib/cyrus/bin`; `master` and `ctl_cyrusdb` in
    /// `/usr/lib/cyrus/bin`, `saslpasswd2` in `PATH` and the sbin
    /// directories; all only in `TESTKIT_PATH` when that is set.
    ///
    /// # Panics
    /// When the server cannot be started.
    pub fn start_with(config: CyrusConfig) -> Option<Cyrus> {
        let binaries = packaged::locate(
            "Cyrus IMAP",
            &[
                Wanted::packaged("cyrus-imapd", CYRUS_BIN, "imapd"),
                Wanted::at(CYRUS_BIN, "master"),
                Wanted::at(CYRUS_BIN, "ctl_cyrusdb"),
                Wanted::on_path("saslpasswd2"),
            ],
            INSTALL,
        )?;
        let [imapd, master, ctl_cyrusdb, saslpasswd2] = <[PathBuf; 4]>::try_from(binaries).ok()?;
        let owner = Uid::effective().is_root().then(cyrus_owner);
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = process::temp_dir("testkit-cyrus-");
            let port = process::free_port();
            // A realm (and server name) of our own: the greeting shows it,
            // so we know we reached this instance. Lower case: Cyrus
            // lowercases its server name.
            let realm = dir
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            let conf = write_config(
                dir.path(),
                port,
                &realm,
                &config,
                owner.is_some(),
                &imapd,
                &ctl_cyrusdb,
            );
            set_password(&saslpasswd2, dir.path(), &realm, USER, PASSWORD);
            if let Some(owner) = owner {
                chown_tree(dir.path(), owner);
            }
            let log = dir.path().join("master.log");
            let mut command = Command::new(&master);
            command
                .arg("-C")
                .arg(&conf)
                .arg("-M")
                .arg(dir.path().join("cyrus.conf"))
                .arg("-p")
                .arg(dir.path().join("master.pid"))
                .arg("-D");
            let mut process = ProcessGroup::spawn(command, &log)
                .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", master.display()));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if imap_account::wait_for_greeting(&mut process, addr, &format!(" {realm} Cyrus IMAP"))
            {
                let server = Cyrus {
                    process,
                    dir,
                    account: Account {
                        addr,
                        user: USER.to_owned(),
                        password: PASSWORD.to_owned(),
                        literals: Literals::NonSynchronizing,
                    },
                    realm,
                    saslpasswd2,
                    owner,
                };
                // The first LOGIN creates the INBOX (and its quota).
                let mut session = server.session();
                Account::ok(&mut session, "SELECT INBOX");
                session.command("LOGOUT");
                return Some(server);
            }
            process.kill();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!(
            "testkit: Cyrus did not start in {START_ATTEMPTS} attempts (it logs only to syslog); \
             master's output:\n{last_log}"
        );
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

    /// The user's password (`secret`), for `LOGIN` and `AUTHENTICATE PLAIN`.
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

    /// The temp dir holding config, spool and SASL database (removed on
    /// drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of Cyrus's `master` (its process group id too).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// A new, logged-in IMAP connection as `test`.
    pub fn session(&self) -> RawImap {
        self.account.session()
    }

    /// Adds another user with this password (its INBOX appears at its first
    /// `LOGIN`, without the quota of [`CyrusConfig::quota_kib`]). Log in
    /// with [`RawImap::login`].
    pub fn add_user(&self, user: &str, password: &str) {
        set_password(
            &self.saslpasswd2,
            self.dir.path(),
            &self.realm,
            user,
            password,
        );
        if let Some(owner) = self.owner {
            chown_tree(&self.dir.path().join("sasldb2"), owner);
        }
    }

    /// Creates a folder by its full name (`INBOX.Work`); parents are created
    /// as real folders too. Panics unless Cyrus says OK.
    pub fn create_folder(&self, name: &str) {
        self.account.create(name);
    }

    /// Appends messages to the folder (full UTF-8 name), creating it if
    /// missing, with `LITERAL+` `MULTIAPPEND`s over one connection. Cyrus
    /// stores raw 8-bit header bytes as `X` and refuses bare LF.
    ///
    /// # Panics
    /// When Cyrus refuses a message (over quota, bare LF...).
    pub fn seed(&self, folder: &str, messages: &[&[u8]]) {
        self.account.seed(folder, messages);
    }

    /// One `APPEND` of `message` to `folder` with a synchronising literal
    /// over a new connection; returns the whole reply unjudged (`+`
    /// continuation included), e.g. to see `NO Over quota`.
    pub fn append(&self, folder: &str, message: &[u8]) -> Vec<u8> {
        self.account.append(folder, message)
    }

    /// The raw bytes of every message in the folder, in UID order, as
    /// `BODY.PEEK[]` serves them.
    pub fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        self.account.messages(folder)
    }

    /// Every folder name `LIST "" "*"` shows, in UTF-8 (`INBOX`,
    /// `INBOX.Work`...).
    pub fn folders(&self) -> Vec<String> {
        self.account.folders()
    }

    /// The folder's UIDVALIDITY (from `STATUS`).
    pub fn uidvalidity(&self, folder: &str) -> u32 {
        self.account.uidvalidity(folder)
    }

    /// Gives a folder (not INBOX) a new UIDVALIDITY the way Cyrus allows:
    /// `DELETE` and `CREATE` again, then its messages (as `messages` read
    /// them, without flags or dates) are appended anew, with new UIDs.
    /// Cyrus derives UIDVALIDITY from the clock, so this may take a second.
    /// Returns the new UIDVALIDITY.
    ///
    /// # Panics
    /// For INBOX, or when Cyrus refuses a step.
    pub fn new_uidvalidity(&self, folder: &str) -> u32 {
        assert!(
            !folder.eq_ignore_ascii_case("INBOX"),
            "testkit: Cyrus cannot delete INBOX"
        );
        let messages = self.messages(folder);
        let name = imap::quote_mailbox(folder);
        let uidvalidity = self.account.change_uidvalidity(folder, || {
            let mut session = self.session();
            Account::ok(&mut session, &format!("DELETE {name}"));
            Account::ok(&mut session, &format!("CREATE {name}"));
            session.command("LOGOUT");
        });
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        if !messages.is_empty() {
            self.seed(folder, &messages);
        }
        uidvalidity
    }
}

/// Debian's `cyrus` user and `mail` group, which own the dir when testkit
/// runs as root.
fn cyrus_owner() -> Owner {
    let user = User::from_name("cyrus").ok().flatten().unwrap_or_else(|| {
        panic!("testkit: running as root, Cyrus needs the user `cyrus` (from cyrus-common)")
    });
    let gid = Group::from_name("mail")
        .ok()
        .flatten()
        .map_or(user.gid, |g| g.gid);
    Owner { uid: user.uid, gid }
}

/// Gives the whole tree to `owner`.
fn chown_tree(path: &Path, owner: Owner) {
    nix::unistd::chown(path, Some(owner.uid), Some(owner.gid))
        .unwrap_or_else(|e| panic!("testkit: chown {}: {e}", path.display()));
    if path.is_dir() {
        let entries = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("testkit: read_dir {}: {e}", path.display()));
        for entry in entries.flatten() {
            chown_tree(&entry.path(), owner);
        }
    }
}

/// Sets a user's password in the instance's SASL database.
fn set_password(saslpasswd2: &Path, dir: &Path, realm: &str, user: &str, password: &str) {
    let mut child = Command::new(saslpasswd2)
        .args(["-p", "-c", "-f"])
        .arg(dir.join("sasldb2"))
        .args(["-u", realm, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", saslpasswd2.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(password.as_bytes())
            .unwrap_or_else(|e| panic!("testkit: saslpasswd2 stdin: {e}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("testkit: saslpasswd2: {e}"));
    assert!(
        output.status.success(),
        "testkit: saslpasswd2 for {user} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Writes imapd.conf and cyrus.conf; returns the imapd.conf path.
fn write_config(
    dir: &Path,
    port: u16,
    realm: &str,
    config: &CyrusConfig,
    root: bool,
    imapd: &Path,
    ctl_cyrusdb: &Path,
) -> PathBuf {
    let d = dir.display();
    process::mkdir(&dir.join("conf/socket"));
    process::mkdir(&dir.join("spool"));
    let run_as = if root {
        "cyrus".to_owned()
    } else {
        User::from_uid(Uid::effective())
            .ok()
            .flatten()
            .map_or_else(|| Uid::effective().to_string(), |u| u.name)
    };
    let mut imapd_conf = format!(
        "# Written by testkit for one test; see TEST-SERVERS.md.
configdirectory: {d}/conf
defaultpartition: default
partition-default: {d}/spool
cyrus_user: {run_as}
servername: {realm}
admins: admin
altnamespace: no
unixhierarchysep: no
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {d}/sasldb2
sasl_mech_list: PLAIN LOGIN
delete_mode: immediate
failedloginpause: 0
expunge_mode: immediate
specialuse_extra: \\All \\Flagged
"
    );
    // autocreate_quota 0 is no quota; the INBOX made at the first LOGIN
    // gets this one.
    let _ = writeln!(
        imapd_conf,
        "autocreate_quota: {}",
        config.quota_kib.unwrap_or(0)
    );
    let conf = dir.join("imapd.conf");
    process::write(&conf, imapd_conf);
    // Every command needs -C, or it reads /etc/imapd.conf.
    process::write(
        &dir.join("cyrus.conf"),
        format!(
            "START {{
  recover cmd=\"{ctl} -C {conf} -r\"
}}
SERVICES {{
  imap cmd=\"{imapd} -C {conf}\" listen=\"127.0.0.1:{port}\" prefork=0
}}
EVENTS {{
}}
",
            ctl = ctl_cyrusdb.display(),
            imapd = imapd.display(),
            conf = conf.display(),
        ),
    );
    conf
}
