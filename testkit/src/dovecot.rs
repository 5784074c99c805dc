//! [`Dovecot`]: a real IMAP server in a temp dir, in one of three layouts.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Group, Uid, User};

use crate::imap::{self, RawImap};
use crate::process::{self, ProcessGroup};

/// The only user of every test server.
const USER: &str = "test";
/// Its password.
const PASSWORD: &str = "secret";
/// How long a server may take to greet before the start counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports to try when the one picked is taken meanwhile.
const START_ATTEMPTS: u32 = 5;
/// Messages per MULTIAPPEND command when seeding.
const SEED_BATCH: usize = 500;
/// The most connections per user and IP when no limit is configured
/// (Dovecot's own default of 10 would bite parallel tests).
const UNLIMITED_CONNECTIONS: u32 = 1000;

/// How a server names and separates its folders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Dovecot- and Gmail-style: separator `/`, no prefix (`Work/2024`).
    /// `Sent`, `Trash`, `Drafts` and `Junk` carry their special-use flag once
    /// created; none exists at start.
    Slash,
    /// Courier- and Cyrus-style: separator `.`, every folder under the
    /// `INBOX.` prefix (`INBOX.Work.2024`). `INBOX.Sent`, `INBOX.Trash`,
    /// `INBOX.Drafts` and `INBOX.Junk` carry their special-use flag once
    /// created; none exists at start.
    DotInbox,
    /// Gmail-like: [`Layout::Slash`] for user folders (labels), plus these
    /// folders, present from the start, named as Gmail names them in English:
    ///
    /// | folder | special use | holds |
    /// |---|---|---|
    /// | `[Gmail]/All Mail` | `\All` | every message of every folder but Trash and Spam, plus archived mail; APPEND refused |
    /// | `[Gmail]/Sent Mail` | `\Sent` | its own messages |
    /// | `[Gmail]/Drafts` | `\Drafts` | its own messages |
    /// | `[Gmail]/Trash` | `\Trash` | its own messages |
    /// | `[Gmail]/Spam` | `\Junk` | its own messages |
    ///
    /// `[Gmail]` itself is `\Noselect`. Archived mail ([`Dovecot::seed_archived`])
    /// is in All Mail and in no listed folder. All Mail has its own
    /// UIDVALIDITY and UIDs, like Gmail's. There is no `X-GM-EXT-1`.
    Gmail,
}

impl Layout {
    fn separator(self) -> char {
        match self {
            Layout::Slash | Layout::Gmail => '/',
            Layout::DotInbox => '.',
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Layout::Slash | Layout::Gmail => "",
            Layout::DotInbox => "INBOX.",
        }
    }
}

/// What to start: a layout plus optional limits. Build it with a struct
/// literal (`..Default::default()`) or the `with_` methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DovecotConfig {
    /// Folder naming.
    pub layout: Layout,
    /// A storage quota for the user (Dovecot's quota plugin): an APPEND that
    /// would exceed it gets `NO [OVERQUOTA]`, and `GETQUOTAROOT` reports it
    /// (in KiB, rounded up). `None`: no quota.
    pub quota_bytes: Option<u64>,
    /// Concurrent IMAP connections allowed per user and IP
    /// (`mail_max_userip_connections`): the LOGIN beyond it gets
    /// `NO [LIMIT]`. `None`: 1000.
    pub max_connections: Option<u32>,
    /// TLS: a fresh CA (its certificate is [`Dovecot::ca_pem`]) signs a
    /// server certificate for `localhost` and `127.0.0.1`; the server offers
    /// STARTTLS on [`Dovecot::port`] and TLS from the first byte on
    /// [`Dovecot::imaps_port`]. Plain-text login stays allowed on the
    /// plain port unless [`DovecotConfig::tls_required_for_login`]. `false`:
    /// no TLS at all.
    pub tls: bool,
    /// More users besides the default one (same password); see
    /// [`DovecotConfig::with_users`].
    pub users: Vec<String>,
    /// `disable_plaintext_auth = yes`: on a connection without TLS the server announces
    /// `LOGINDISABLED` and no `AUTH=` mechanism, and refuses a password. Dovecot counts a
    /// client whose address equals the server's (127.0.0.1 to 127.0.0.1) as secure anyway,
    /// so connect from another loopback address (127.0.0.2) to see it. `false`: plain-text
    /// login allowed everywhere.
    pub tls_required_for_login: bool,
}

impl Default for DovecotConfig {
    fn default() -> DovecotConfig {
        DovecotConfig {
            layout: Layout::Slash,
            quota_bytes: None,
            max_connections: None,
            tls: false,
            users: Vec::new(),
            tls_required_for_login: false,
        }
    }
}

impl DovecotConfig {
    /// The default configuration with this layout.
    pub fn new(layout: Layout) -> DovecotConfig {
        DovecotConfig {
            layout,
            ..DovecotConfig::default()
        }
    }

    /// Sets the layout.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> DovecotConfig {
        self.layout = layout;
        self
    }

    /// Sets a storage quota in bytes.
    #[must_use]
    pub fn with_quota_bytes(mut self, bytes: u64) -> DovecotConfig {
        self.quota_bytes = Some(bytes);
        self
    }

    /// Sets the connection limit per user and IP.
    #[must_use]
    pub fn with_max_connections(mut self, connections: u32) -> DovecotConfig {
        self.max_connections = Some(connections);
        self
    }

    /// More users besides [`Dovecot::user`], each with a mailbox of its own and the same
    /// password: for tests that move many mailboxes between one pair of servers (see
    /// [`Dovecot::seed_as`], [`Dovecot::messages_as`]).
    ///
    /// # Panics
    /// When a name is not a simple login name.
    #[must_use]
    pub fn with_users(mut self, names: &[&str]) -> DovecotConfig {
        for name in names {
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "testkit: user name {name:?}"
            );
            self.users.push((*name).to_owned());
        }
        self
    }

    /// Turns TLS on (see [`DovecotConfig::tls`]).
    #[must_use]
    pub fn with_tls(mut self) -> DovecotConfig {
        self.tls = true;
        self
    }

    /// Turns TLS on and refuses passwords without it (see
    /// [`DovecotConfig::tls_required_for_login`]).
    #[must_use]
    pub fn with_tls_required_for_login(mut self) -> DovecotConfig {
        self.tls = true;
        self.tls_required_for_login = true;
        self
    }
}

/// A running Dovecot IMAP server on 127.0.0.1 (plain text, plus TLS with
/// [`DovecotConfig::tls`]), with one
/// user, in a fresh temp dir. Dropping it kills the server's process group
/// and removes the dir, also when the test panics.
///
/// ```
/// use testkit::{Dovecot, Layout};
///
/// // `None` only when Dovecot is not installed and CI is not "true".
/// let Some(server) = Dovecot::start(Layout::DotInbox) else { return };
/// server.create_folder("INBOX.Work");
/// server.seed("INBOX.Work", &[b"Subject: hi\r\n\r\nhello\r\n"]);
/// assert_eq!(server.messages("INBOX.Work").len(), 1);
/// let mut imap = server.session();
/// let list = imap.command("LIST \"\" \"*\"");
/// assert!(String::from_utf8_lossy(&list).contains("INBOX.Work"));
/// ```
#[derive(Debug)]
pub struct Dovecot {
    // Field order matters: the process group is killed before the dir goes.
    process: ProcessGroup,
    dir: tempfile::TempDir,
    doveadm: PathBuf,
    config_path: PathBuf,
    addr: SocketAddr,
    layout: Layout,
    tls: Option<Tls>,
}

/// The TLS side of a server started with [`DovecotConfig::tls`].
#[derive(Debug)]
struct Tls {
    imaps_port: u16,
    ca_pem: String,
}

impl Dovecot {
    /// Starts a server with this layout and no limits. See
    /// [`Dovecot::start_with`].
    pub fn start(layout: Layout) -> Option<Dovecot> {
        Dovecot::start_with(DovecotConfig::new(layout))
    }

    /// Starts a server and waits for its greeting.
    ///
    /// Returns `None` only when `dovecot` or `doveadm` is not installed and
    /// the environment variable `CI` is not `true`, after printing what is
    /// missing and how to install it. Under `CI=true` a missing server
    /// panics, so the test fails. Binaries are looked up in `TESTKIT_PATH`
    /// if set, else in `PATH` and the sbin directories.
    ///
    /// # Panics
    /// When the server cannot be started (the panic shows its log).
    pub fn start_with(config: DovecotConfig) -> Option<Dovecot> {
        let binaries = process::require("Dovecot", &["dovecot", "doveadm"], "dovecot-imapd")?;
        let [dovecot, doveadm] = <[PathBuf; 2]>::try_from(binaries).ok()?;
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = process::temp_dir("testkit-dovecot-");
            let port = process::free_port();
            let tls = config.tls.then(|| Tls {
                imaps_port: process::free_port(),
                ca_pem: write_certificates(dir.path()),
            });
            let config_path = write_config(dir.path(), port, &config, tls.as_ref());
            let log = dir.path().join("dovecot.log");
            let mut command = Command::new(&dovecot);
            command.arg("-F").arg("-c").arg(&config_path);
            let mut process = ProcessGroup::spawn(command, &log)
                .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", dovecot.display()));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if wait_for_greeting(&mut process, addr, &greeting(dir.path())) {
                return Some(Dovecot {
                    process,
                    dir,
                    doveadm,
                    config_path,
                    addr,
                    layout: config.layout,
                    tls,
                });
            }
            process.kill();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!(
            "testkit: Dovecot did not start in {START_ATTEMPTS} attempts; last log:\n{last_log}"
        );
    }

    /// The port of the TLS-from-the-first-byte (`imaps`) listener, when
    /// started with [`DovecotConfig::tls`].
    pub fn imaps_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|t| t.imaps_port)
    }

    /// The PEM certificate of the CA that signed this server's certificate,
    /// when started with [`DovecotConfig::tls`].
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The user name (`test`).
    pub fn user(&self) -> &str {
        USER
    }

    /// The user's password (`secret`), accepted by `LOGIN` and
    /// `AUTHENTICATE PLAIN`. `AUTHENTICATE XOAUTH2` and `OAUTHBEARER` are
    /// offered too: Dovecot 2.3 checks their bearer token against the passdb
    /// like a password, so the token `secret` logs in and any other is refused.
    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// The hierarchy separator: `/` or `.`.
    pub fn separator(&self) -> char {
        self.layout.separator()
    }

    /// The personal namespace prefix: `""` or `"INBOX."`.
    pub fn prefix(&self) -> &str {
        self.layout.prefix()
    }

    /// The layout the server was started with.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The Dovecot config file of this instance.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temp dir holding config, mail and logs (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the Dovecot master (its process group id too).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Runs `doveadm -c <this config> args...` and returns its output,
    /// whatever its exit status.
    pub fn doveadm(&self, args: &[&str]) -> Output {
        Command::new(&self.doveadm)
            .arg("-c")
            .arg(&self.config_path)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", self.doveadm.display()))
    }

    /// Runs doveadm and panics with its stderr unless it succeeds.
    fn doveadm_ok(&self, args: &[&str]) -> Output {
        let output = self.doveadm(args);
        assert!(
            output.status.success(),
            "testkit: doveadm {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Creates a folder by its full server-side name in UTF-8, as doveadm
    /// takes it (`"INBOX.Work"` on [`Layout::DotInbox`], `"Work/2024"` on
    /// the others). Panics if it exists already.
    pub fn create_folder(&self, name: &str) {
        self.doveadm_ok(&["mailbox", "create", "-u", USER, name]);
    }

    /// Appends messages, byte for byte as given, to the folder (full UTF-8
    /// name), creating it if missing. Uses MULTIAPPEND over one IMAP
    /// connection, so thousands of messages take seconds, not minutes (the
    /// connection counts against [`DovecotConfig::max_connections`] while
    /// it lasts). Dovecot refuses an empty message.
    ///
    /// # Panics
    /// When the server refuses a message (over quota, empty message...).
    pub fn seed(&self, folder: &str, messages: &[&[u8]]) {
        self.seed_as(USER, folder, messages);
    }

    /// [`Layout::Gmail`] only: adds messages that appear in
    /// `[Gmail]/All Mail` and in no other folder, like Gmail's archived mail.
    ///
    /// # Panics
    /// On the other layouts.
    pub fn seed_archived(&self, messages: &[&[u8]]) {
        assert!(
            self.layout == Layout::Gmail,
            "testkit: seed_archived needs Layout::Gmail, this server is {:?}",
            self.layout
        );
        self.seed(ARCHIVE_FOLDER, messages);
    }

    /// The folder's UIDVALIDITY, from `STATUS`.
    pub fn uidvalidity(&self, folder: &str) -> u32 {
        let mut session = self.session();
        let reply = session.command(&format!(
            "STATUS {} (UIDVALIDITY)",
            imap::quote_mailbox(folder)
        ));
        session.command("LOGOUT");
        crate::imap_account::status_uidvalidity(&reply).unwrap_or_else(|| {
            panic!(
                "testkit: STATUS {folder} gave no UIDVALIDITY: {}",
                String::from_utf8_lossy(&reply)
            )
        })
    }

    /// Gives the folder a new UIDVALIDITY (`doveadm mailbox update
    /// --uid-validity`). A session that has the folder selected gets
    /// `* BYE` and must log in again.
    pub fn set_uidvalidity(&self, folder: &str, n: u32) {
        self.doveadm_ok(&[
            "mailbox",
            "update",
            "--uid-validity",
            &n.to_string(),
            "-u",
            USER,
            folder,
        ]);
    }

    /// Every folder name, in UTF-8, as `doveadm mailbox list` reports them
    /// (`\Noselect` parents such as `[Gmail]` included; the hidden archive
    /// of [`Layout::Gmail`] not).
    pub fn folders(&self) -> Vec<String> {
        let output = self.doveadm_ok(&["mailbox", "list", "-u", USER]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The raw bytes of every message in a folder, in UID order, as IMAP
    /// `BODY.PEEK[]` serves them (Dovecot serves bare LF as CRLF). Flags are
    /// left unchanged.
    pub fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        self.messages_as(USER, folder)
    }

    /// [`Dovecot::seed`] into another user's mailbox (see [`DovecotConfig::with_users`]).
    pub fn seed_as(&self, user: &str, folder: &str, messages: &[&[u8]]) {
        let mut imap = RawImap::connect(self.addr);
        imap.login(user, PASSWORD);
        if folder != "INBOX" {
            imap.command(&format!("CREATE {}", imap::quote_mailbox(folder)));
        }
        for batch in messages.chunks(SEED_BATCH) {
            let reply = imap.command_bytes(&imap::append_command(folder, batch));
            assert!(
                imap::completion_is_ok(&reply),
                "testkit: seeding {} messages into {user}'s {folder} failed: {}",
                batch.len(),
                String::from_utf8_lossy(imap::completion(&reply))
            );
        }
        imap.command("LOGOUT");
    }

    /// [`Dovecot::messages`] of another user's folder.
    pub fn messages_as(&self, user: &str, folder: &str) -> Vec<Vec<u8>> {
        let mut imap = RawImap::connect(self.addr);
        imap.login(user, PASSWORD);
        let messages = imap.fetch_all(folder);
        imap.command("LOGOUT");
        messages
    }

    /// A new, logged-in IMAP connection.
    pub fn session(&self) -> RawImap {
        let mut imap = RawImap::connect(self.addr);
        imap.login(USER, PASSWORD);
        imap
    }
}

/// The hidden folder behind archived mail in the Gmail layout.
const ARCHIVE_FOLDER: &str = "Archived/all";

/// The virtual folders of the Gmail layout: name, special use, backing folder.
const GMAIL_FOLDERS: &[(&str, &str, &str)] = &[
    ("Sent Mail", "\\Sent", "Special/Sent Mail"),
    ("Drafts", "\\Drafts", "Special/Drafts"),
    ("Trash", "\\Trash", "Special/Trash"),
    ("Spam", "\\Junk", "Special/Spam"),
];

/// Who runs the user's mail processes and Dovecot's own.
#[derive(Debug)]
struct Identity {
    /// Running as root: mail as `nobody`, Dovecot's processes as `dovecot`
    /// and `dovenull` (Debian's users), login processes chrooted.
    /// Otherwise everything runs as the current user, unchrooted.
    root: bool,
    mail_uid: String,
    mail_gid: String,
    user: String,
    group: String,
}

impl Identity {
    fn current() -> Identity {
        let uid = Uid::effective();
        let gid = Gid::effective();
        if uid.is_root() {
            return Identity {
                root: true,
                mail_uid: "nobody".into(),
                mail_gid: "nogroup".into(),
                user: String::new(),
                group: String::new(),
            };
        }
        let user = User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        let group = Group::from_gid(gid)
            .ok()
            .flatten()
            .map_or_else(|| gid.to_string(), |g| g.name);
        Identity {
            root: false,
            mail_uid: uid.to_string(),
            mail_gid: gid.to_string(),
            user,
            group,
        }
    }

    fn settings(&self) -> String {
        if self.root {
            "default_internal_user = dovecot\ndefault_login_user = dovenull".into()
        } else {
            format!(
                "default_internal_user = {user}\ndefault_login_user = {user}\ndefault_internal_group = {group}",
                user = self.user,
                group = self.group
            )
        }
    }

    fn chown_to_mail_user(&self, path: &Path) {
        let user = User::from_name(&self.mail_uid).ok().flatten();
        let group = Group::from_name(&self.mail_gid).ok().flatten();
        let (Some(user), Some(group)) = (user, group) else {
            panic!(
                "testkit: no user {} or group {} to own the mail",
                self.mail_uid, self.mail_gid
            );
        };
        nix::unistd::chown(path, Some(user.uid), Some(group.gid))
            .unwrap_or_else(|e| panic!("testkit: chown {}: {e}", path.display()));
    }
}

/// The greeting this instance sends, so we know we reached our own server.
fn greeting(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("testkit {name} ready")
}

/// Writes dovecot.conf, the passwd file and the mail dirs; returns the
/// config path.
/// Makes a CA and a server certificate for `localhost` and `127.0.0.1` signed
/// by it, writes `server.crt`/`server.key` (and `ca.crt`) into `dir`; returns
/// the CA's PEM.
///
/// # Panics
/// When key generation or signing fails (not expected with ring).
fn write_certificates(dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let fail = |e: rcgen::Error| -> ! { panic!("testkit: making a test certificate: {e}") };
    let ca_key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap_or_else(|e| fail(e));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "testkit test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap_or_else(|e| fail(e));
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap_or_else(|e| fail(e));
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap_or_else(|e| fail(e));
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).unwrap_or_else(|e| fail(e));
    process::write(&dir.join("server.crt"), cert.pem());
    process::write(&dir.join("server.key"), key.serialize_pem());
    process::write(&dir.join("ca.crt"), ca_cert.pem());
    ca_cert.pem()
}

fn write_config(dir: &Path, port: u16, config: &DovecotConfig, tls: Option<&Tls>) -> PathBuf {
    let d = dir.display();
    process::write(
        &dir.join("passwd"),
        std::iter::once(USER)
            .chain(config.users.iter().map(String::as_str))
            .map(|u| format!("{u}:{{PLAIN}}{PASSWORD}::::::\n"))
            .collect::<String>(),
    );
    let who = Identity::current();
    let mut owned_dirs = vec![dir.join("mail")];
    let mut plugins = String::from("$mail_plugins");
    if config.quota_bytes.is_some() {
        plugins.push_str(" quota");
    }
    if config.layout == Layout::Gmail {
        plugins.push_str(" virtual");
    }
    let mut conf = format!(
        "# Written by testkit for one test; see TEST-SERVERS.md.
base_dir = {d}/run
state_dir = {d}/state
instance_name = {name}
log_path = {d}/dovecot.log
login_greeting = {greeting}
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = {plaintext}
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
{identity}
first_valid_uid = 1
mail_fsync = never
mail_plugins = {plugins}
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={d}/mail/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
protocol imap {{
  mail_plugins = $mail_plugins{imap_quota}
  mail_max_userip_connections = {max}
}}
",
        name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        greeting = greeting(dir),
        imap_quota = if config.quota_bytes.is_some() {
            " imap_quota"
        } else {
            ""
        },
        max = config.max_connections.unwrap_or(UNLIMITED_CONNECTIONS),
        ssl = if tls.is_some() {
            format!("ssl = yes\nssl_cert = <{d}/server.crt\nssl_key = <{d}/server.key")
        } else {
            "ssl = no".to_owned()
        },
        imaps_port = tls.map_or(0, |t| t.imaps_port),
        plaintext = if config.tls_required_for_login {
            "yes"
        } else {
            "no"
        },
        identity = who.settings(),
        mail_uid = who.mail_uid,
        mail_gid = who.mail_gid,
        chroot = if who.root { "" } else { "  chroot =\n" },
    );
    if !who.root {
        conf.push_str("service anvil {\n  chroot =\n}\n");
    }
    if let Some(bytes) = config.quota_bytes {
        let _ = write!(
            conf,
            "plugin {{\n  quota = maildir:User quota\n  quota_rule = *:storage={bytes}B\n}}\n"
        );
    }
    let special = |prefix: &str, sent: &str| {
        format!(
            "  mailbox {prefix}{sent} {{\n    special_use = \\Sent\n  }}\n  mailbox {prefix}Trash {{\n    special_use = \\Trash\n  }}\n  mailbox {prefix}Drafts {{\n    special_use = \\Drafts\n  }}\n  mailbox {prefix}Junk {{\n    special_use = \\Junk\n  }}\n"
        )
    };
    match config.layout {
        Layout::Slash => {
            let _ = write!(
                conf,
                "mail_location = maildir:{d}/mail/%u:LAYOUT=fs\nnamespace inbox {{\n  inbox = yes\n  separator = /\n  prefix =\n{}}}\n",
                special("", "Sent")
            );
        }
        Layout::DotInbox => {
            let _ = write!(
                conf,
                "mail_location = maildir:{d}/mail/%u\nnamespace inbox {{\n  inbox = yes\n  separator = .\n  prefix = INBOX.\n{}}}\n",
                special("", "Sent")
            );
        }
        Layout::Gmail => {
            owned_dirs.extend([dir.join("archive"), dir.join("special"), dir.join("vindex")]);
            let mut gmail = String::from(
                "  mailbox \"All Mail\" {\n    special_use = \\All\n    auto = subscribe\n  }\n",
            );
            let mut backing = String::new();
            let mut all_mail = String::from("*\nArchived/*\n");
            for (name, special_use, backend) in GMAIL_FOLDERS {
                let _ = write!(
                    gmail,
                    "  mailbox \"{name}\" {{\n    special_use = {special_use}\n    auto = subscribe\n  }}\n"
                );
                let inner = backend.trim_start_matches("Special/");
                let _ = write!(
                    backing,
                    "  mailbox \"{inner}\" {{\n    auto = create\n  }}\n"
                );
                // `!` marks the backend that APPEND saves into.
                process::write(
                    &dir.join("virtual").join(name).join("dovecot-virtual"),
                    format!("!{backend}\n  all\n"),
                );
                if matches!(*name, "Sent Mail" | "Drafts") {
                    let _ = writeln!(all_mail, "{backend}");
                }
            }
            all_mail.push_str("  all\n");
            process::write(
                &dir.join("virtual").join("All Mail").join("dovecot-virtual"),
                all_mail,
            );
            let _ = write!(
                conf,
                "mail_location = maildir:{d}/mail/%u:LAYOUT=fs
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
namespace gmail {{
  prefix = [Gmail]/
  separator = /
  location = virtual:{d}/virtual:INDEX={d}/vindex/%u
  subscriptions = no
{gmail}}}
namespace archived {{
  prefix = Archived/
  separator = /
  location = maildir:{d}/archive/%u:LAYOUT=fs
  hidden = yes
  list = no
  subscriptions = no
  mailbox all {{
    auto = create
  }}
}}
namespace special {{
  prefix = Special/
  separator = /
  location = maildir:{d}/special/%u:LAYOUT=fs
  hidden = yes
  list = no
  subscriptions = no
{backing}}}
"
            );
        }
    }
    for owned in &owned_dirs {
        process::mkdir(owned);
        if who.root {
            who.chown_to_mail_user(owned);
        }
    }
    let path = dir.join("dovecot.conf");
    process::write(&path, conf);
    path
}

/// Waits until our server greets on `addr`; false if it exited or timed out.
fn wait_for_greeting(process: &mut ProcessGroup, addr: SocketAddr, expected: &str) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if process.has_exited() {
            return false;
        }
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            // Under load Dovecot first says it waits for its auth process.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.contains(expected) {
                    return true;
                }
                if !line.starts_with("* OK Waiting for authentication") {
                    // Someone else's server took the port.
                    return false;
                }
                line.clear();
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}
