//! `imapmig migrate`: a resumable IMAP-to-IMAP migration built from the imapmig crates.
//!
//! ```text
//! imapmig migrate --source imap://USER@HOST:PORT --target imap://USER@HOST:PORT --state DIR
//!                 [--rules FILE] [--skip-log FILE] [--max-bad N] [--before DATE | --since DATE]
//!                 [--dry-run] [--parallel N] [--quota BYTES] [--gmail auto|on|off]
//!                 [--gmail-labels first|per-label]
//!                 [--quota-pool BYTES [--quota-pool-used BYTES]]
//!                 [--target-profile generic|exchange|gmail] [--ca-file FILE]
//! ```
//!
//! TLS (`imaps://`, or `imap://…?starttls`) verifies the server against the Mozilla roots,
//! plus the CA certificates of `--ca-file` (PEM) when given: a private CA or a self-signed
//! server. A failed handshake exits with status 6.
//!
//! Passwords come from `IMAPMIG_SOURCE_PASSWORD` / `IMAPMIG_TARGET_PASSWORD` (or
//! `--source-password-file` / `--target-password-file`); bearer tokens for XOAUTH2 and
//! OAUTHBEARER from `IMAPMIG_SOURCE_TOKEN` / `IMAPMIG_TARGET_TOKEN` (or `--*-token-file`).
//!
//! The run: discover both servers' folders and namespaces and map them (imapmig-folders, with
//! `--rules`); size the source and refuse a plan that does not fit the target's quota before
//! copying anything (imapmig-core); then, for each folder pair (up to `--parallel` at once),
//! observe both sides with header fingerprints (imapmig-dedupe), plan the pass against the
//! saved state (imapmig-core), stream the missing bodies into pipelined APPENDs with flags and
//! INTERNALDATE, repair or skip what the target refuses (imapmig-mime, `--max-bad`, the CSV
//! skip log), sync flag changes (with CONDSTORE on both servers, only those made since the
//! last pass's HIGHESTMODSEQ; a full compare otherwise), and verify the folder from the
//! target's own listing. A throttled, dropped or stalled connection is retried with backoff;
//! a killed run resumes where it stopped, copying nothing twice.
//!
//! Raw 8-bit header text (`--repair-8bit-headers[=auto|on|off]`): when on, each message's
//! raw 8-bit Subject, Comments, X- fields and address display names are RFC 2047-encoded
//! before APPEND (imapmig-mime's `encode_8bit_headers`); what has no safe 7-bit form (an 8-bit
//! Message-ID or address) is sent as it is and named on stderr. The rule for `auto`, the
//! default: on when the target is Cyrus IMAP (it announces `X-REPLICATION` or
//! `NO_ATOMIC_RENAME`), which by default stores every raw 8-bit header byte as `X`; off
//! otherwise (Dovecot and Courier-IMAP store the bytes as they are). A repaired copy differs
//! from the source in bytes and size: it is verified by the UID the target gave it
//! (APPENDUID), and the state keeps the source's own fingerprint. After a UIDVALIDITY change on
//! either side such a copy cannot be found again by fingerprint, so the run stops unconfirmed
//! (exit 1) rather than copy it twice; `--accept-reset` would copy it again.
//!
//! Staging: `--before DATE` copies only mail older than DATE (the historic pre-stage);
//! `--since DATE` only mail from DATE on; neither copies everything still missing (the final
//! delta pass after cutover, which copies only what earlier passes did not). A staged pass
//! that completes saves its cutoff in the folder pair's state; a later `--since` later than
//! a saved `--before` (or a `--before` earlier than a saved `--since`) would leave the mail
//! dated in between to no stage, and is refused with exit status 64, naming both dates.
//!
//! Target profiles: what the target refuses in folder names (`--target-profile`; guessed
//! when not given: `X-GM-EXT-1` in the target's CAPABILITY or a host under gmail.com is
//! Gmail, a host under office365.com or outlook.com is Exchange, anything else generic). With `exchange` or `gmail`, names that differ only in case, reserved names
//! and trailing blanks are renamed before CREATE, exactly as `imapmig folders map
//! --profile` shows. The profile used, and why, is said on stderr.
//!
//! Quota: the source's size less what the mapped target folders already hold (counted
//! once) must fit what the target's quota leaves (`--quota`, or the target's own
//! GETQUOTAROOT). With `--quota-pool BYTES` the mailbox is judged against a quota shared
//! with other mailboxes: the pool less `--quota-pool-used` (default: the usage the
//! target's GETQUOTAROOT reports, else 0); the target's own quota, when tighter, still
//! holds. A target size or quota that cannot be read is said on stderr, with what that
//! means for the verdict.
//!
//! Gmail (`--gmail auto`: on when the source shows a `\All` folder or offers X-GM-EXT-1): All
//! Mail is not copied as a folder. With X-GM-EXT-1, each message is read once from All Mail
//! with its X-GM-MSGID and X-GM-LABELS and placed by label (`--gmail-labels first`, the
//! default: one copy in its first label's folder, INBOX first, the other labels as keywords;
//! `per-label`: a copy per label), mail with no label in the archive folder; what a folder
//! shows outside All Mail (Spam, Trash) is copied from the folder. Without X-GM-EXT-1 each
//! label folder is copied as a folder and mail seen only in All Mail goes to the archive.
//!
//! The last line on stdout is `copied: C present: P skipped: S failed: F`.
//!
//! # Exit status
//!
//! | status | meaning |
//! |---|---|
//! | 0 | every source message asked for is on the target or in the skip log |
//! | 1 | the run ended with messages neither copied nor logged (`failed` > 0, listed in `STATE/not-copied.csv`), copies this migrator made twice (`duplicate:` lines), or a UIDVALIDITY reset that could not be confirmed (see `--accept-reset`) |
//! | 2 | the bad-item threshold (`--max-bad`, `--max-bad-fraction`) was exceeded; the run stopped |
//! | 3 | refused: the source does not fit the target's quota (nothing was copied), or the target ran out of quota |
//! | 4 | a server refused the login |
//! | 5 | a server could not be reached (or kept failing after every retry) |
//! | 6 | TLS (or STARTTLS) failed |
//! | 7 | the state directory or skip log could not be used |
//! | 8 | the folder map is unusable: two source folders map to one target, or a rule is invalid |
//! | 9 | a server refused a command for good (a NO that is not throttling), or answered what cannot be used |
//! | 64 | usage: a malformed URL or option, a missing password, or a `--since`/`--before` that would leave a gap after the stage cutoffs saved in the state |

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use imapmig_core::inventory::{self, FolderSize, InventoryPolicy, MailboxInventory, Quota};
use imapmig_core::throttle::Limits;
use imapmig_core::{FileStore, FolderState, Policy, Stage, StateStore, StoreKey, Tolerance, Uid};
use imapmig_folders::TargetProfile;
use imapmig_folders::{Listing, Mapper, Rules};

use crate::imap::pace::{self, PaceLimits, Pacer, Provider};
use crate::imap::pair::Filter;
use crate::imap::pair::{
    self, Connector, Interrupted, PairContext, PairError, PairNames, PairOutcome, SkipOutcome,
    SkipRow, SkipSink, SourceFilter, StateSlot,
};
use crate::imap::{Connection, Endpoint, ImapError, SecretSource};

/// The exit status of `imapmig migrate` (and `imapmig inventory`), one value per outcome as
/// the table in this module's docs says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Exit {
    /// Every source message asked for is on the target or in the skip log.
    Complete = 0,
    /// Messages neither copied nor logged, copies made twice, or an unconfirmed reset.
    Incomplete = 1,
    /// The bad-item threshold was exceeded.
    TooManyBad = 2,
    /// Quota: refused before copying, or the target filled up.
    Quota = 3,
    /// A server refused the login.
    Login = 4,
    /// A server could not be reached, or kept failing after every retry.
    Unreachable = 5,
    /// TLS or STARTTLS failed.
    Tls = 6,
    /// The state directory or skip log could not be used.
    State = 7,
    /// The folder map is unusable.
    FolderMap = 8,
    /// A server refused a command for good, or answered what cannot be used.
    Refused = 9,
    /// A malformed URL or option, or a missing password.
    Usage = 64,
}

impl Exit {
    /// The process exit status.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// Which of two failures to report: the more specific one (threshold, quota, state,
    /// refusal, then connection trouble).
    fn rank(self) -> u8 {
        match self {
            Exit::TooManyBad => 0,
            Exit::Quota => 1,
            Exit::State => 2,
            Exit::Refused => 3,
            _ => 4,
        }
    }
}

/// Gmail handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GmailMode {
    /// On when the source has a `\All` folder or X-GM-EXT-1.
    Auto,
    /// Always.
    On,
    /// Never: All Mail is an ordinary folder.
    Off,
}

/// Whether raw 8-bit header text is RFC 2047-encoded before APPEND (`--repair-8bit-headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EightBitMode {
    /// On when the target is known to change such bytes: Cyrus IMAP (see
    /// [`munges_8bit_headers`]).
    Auto,
    /// Always.
    On,
    /// Never: the bytes go as they are (Cyrus then stores them as `X`).
    Off,
}

/// Whether a target, by its capabilities, is Cyrus IMAP, which by default (`munge8bit: 1`)
/// replaces every raw 8-bit byte of a message's header by `X` on APPEND (Dovecot and
/// Courier-IMAP store such bytes as they are). Cyrus announces capability words of its own:
/// `X-REPLICATION` and `NO_ATOMIC_RENAME` (seen on Cyrus 3.6, with `X-CREATEDMODSEQ`).
fn munges_8bit_headers(capabilities: &[String]) -> bool {
    let has = |w: &str| capabilities.iter().any(|c| c.eq_ignore_ascii_case(w));
    has("X-REPLICATION") || has("NO_ATOMIC_RENAME")
}

/// Where a Gmail message with several labels goes (when the source offers X-GM-EXT-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GmailLabels {
    /// One copy, in the folder of its first folder label (INBOX first); the other labels
    /// become keywords.
    First,
    /// One copy in the folder of each label.
    PerLabel,
}

/// Arguments of `imapmig migrate` (boxed: the option set is large).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    options: Box<Options>,
}

/// The options of `imapmig migrate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 complete, 1 incomplete (failed > 0), 2 bad-item threshold exceeded, \
3 quota refused, 4 login refused, 5 unreachable, 6 TLS failure, 7 state unusable, 8 folder map unusable, \
9 a command refused for good, 64 usage."
)]
pub(crate) struct Options {
    /// Source server, `imap://USER@HOST:PORT` or `imaps://…` (`?starttls`, `?auth=xoauth2|oauthbearer|plain|login`).
    #[arg(long)]
    source: String,
    /// Target server, same form.
    #[arg(long)]
    target: String,
    /// PEM file of CA certificates to trust for TLS and STARTTLS on both servers, besides
    /// the Mozilla roots (a private CA or a self-signed server).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Directory for the resumable state (created if missing).
    #[arg(long)]
    state: PathBuf,
    /// Folder mapping rules (`^INBOX\.Sent$ -> Sent Items`, `[SKIP]`), first match wins.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// CSV of skipped messages with reasons (default: DIR/skipped.csv).
    #[arg(long)]
    skip_log: Option<PathBuf>,
    /// Most bad (skipped) messages allowed before the run stops.
    #[arg(long, default_value_t = 50)]
    max_bad: u64,
    /// Largest fraction of bad messages allowed (0.0-1.0).
    #[arg(long)]
    max_bad_fraction: Option<f64>,
    /// Pre-stage: copy only mail with INTERNALDATE before this day (YYYY-MM-DD, UTC). A
    /// completed pre-stage saves its cutoff in the state.
    #[arg(long, conflicts_with = "since")]
    before: Option<String>,
    /// Delta: copy only mail from this day on (YYYY-MM-DD, UTC). Refused (exit 64) when later
    /// than a saved pre-stage cutoff: the mail in between would be copied by no stage.
    #[arg(long)]
    since: Option<String>,
    /// Plan and report; change nothing on the target or in the state.
    #[arg(long)]
    dry_run: bool,
    /// Folder pairs migrated at once (each uses one connection per server).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    parallel: u16,
    /// Target quota in bytes (default: the target's own GETQUOTAROOT, if it has one).
    #[arg(long)]
    quota: Option<u64>,
    /// A quota pooled across mailboxes, in bytes: this mailbox is judged against what the
    /// pool has left (the pool less --quota-pool-used).
    #[arg(long, value_name = "BYTES", conflicts_with = "quota")]
    quota_pool: Option<u64>,
    /// What the pool already holds, other mailboxes included, in bytes (default: the usage
    /// the target's GETQUOTAROOT reports, else 0).
    #[arg(long, value_name = "BYTES", requires = "quota_pool")]
    quota_pool_used: Option<u64>,
    /// What the target refuses in folder names: generic, exchange (also office365) or
    /// gmail. Default: guessed from the target's CAPABILITY and host (X-GM-EXT-1 or
    /// gmail.com: gmail; office365.com or outlook.com: exchange; otherwise generic, so give
    /// `exchange` for an on-premises Exchange); the profile used and why is said on stderr.
    #[arg(long, value_name = "generic|exchange|gmail")]
    target_profile: Option<TargetProfile>,
    /// Gmail handling: All Mail skipped, archived-only mail placed in the archive folder.
    #[arg(long, value_enum, default_value = "auto")]
    gmail: GmailMode,
    /// Gmail with X-GM-EXT-1: mail is read once from All Mail and placed by its X-GM-LABELS,
    /// one copy in its first label's folder (`first`, INBOX first, the other labels kept as
    /// keywords) or one copy per label (`per-label`).
    #[arg(long, value_enum, default_value = "first")]
    gmail_labels: GmailLabels,
    /// Seconds to wait for any one server answer.
    #[arg(long, default_value_t = 120)]
    io_timeout: u64,
    /// Retries of a folder after throttling or a dropped connection.
    #[arg(long, default_value_t = 12)]
    retries: u32,
    /// Largest message to copy, in bytes (besides the target's own APPENDLIMIT); larger ones
    /// are skipped with a reason and never block their folder.
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<u64>,
    /// Copy at most this many messages per second (imapmig-core's token bucket).
    #[arg(long, value_name = "MSGS/S")]
    max_rate: Option<f64>,
    /// Transfer at most this many bytes per second.
    #[arg(long, value_name = "BYTES/S")]
    max_bandwidth: Option<u64>,
    /// The source's provider: its published limits are kept (gmail: 2,500 MB a day of
    /// download; office365: about 4 messages a second).
    #[arg(long, value_enum)]
    provider: Option<Provider>,
    /// The target's provider (gmail: 500 MB a day of upload; office365: about 4 messages a
    /// second).
    #[arg(long, value_enum)]
    target_provider: Option<Provider>,
    /// A transfer budget in bytes per window (a day unless --budget-window says otherwise):
    /// when it is used up the run waits for the window to reopen, saying until when.
    #[arg(long, value_name = "BYTES")]
    daily_budget: Option<u64>,
    /// The transfer budget's window in seconds (default 86400, a day).
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    budget_window: u64,
    /// Allow a password or token to cross a plain `imap://` connection (no TLS, no STARTTLS)
    /// to a host that is not this machine. Without it such a URL is refused before anything
    /// is sent.
    #[arg(long)]
    allow_plaintext: bool,
    /// Try the messages that earlier runs skipped again (they stay in the skip log; a
    /// message copied now is no longer skipped).
    #[arg(long)]
    retry_skipped: bool,
    /// Delete extra copies of a message that this run appended itself (known by APPENDUID)
    /// when they are byte for byte the same as the copy kept (needs UIDPLUS on the target).
    #[arg(long)]
    remove_own_duplicates: bool,
    /// RFC 2047-encode raw 8-bit header text before APPEND (imapmig-mime's repair): Subject,
    /// Comments, X- fields and the display names of address fields become `=?UTF-8?B?...?=`
    /// words; a Message-ID, an address or other structured field stays as it is (and is
    /// reported). `auto` (the default) turns it on for a target that changes such bytes:
    /// Cyrus IMAP, known by its capabilities, stores them as `X`. The bare option means `on`.
    #[arg(
        long = "repair-8bit-headers",
        value_enum,
        value_name = "auto|on|off",
        default_value = "auto",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "on"
    )]
    repair_8bit_headers: EightBitMode,
    /// After a UIDVALIDITY change that cannot be confirmed (too few recorded messages found
    /// again), copy by fingerprint anyway: what is on the target is never copied twice.
    #[arg(long)]
    accept_reset: bool,
    /// Batch: this mailbox's secrets (from the CSV), instead of the environment and the file
    /// options.
    #[arg(skip)]
    secrets: Option<(SecretSource, SecretSource)>,
    /// Batch: no per-folder lines and no totals line on stdout (the batch prints its own).
    #[arg(skip)]
    quiet: bool,
    /// Batch: the folder states in another store than the files under `--state` (PostgreSQL),
    /// with the fingerprint key every worker of the batch shares.
    #[arg(skip)]
    shared_state: Option<SharedState>,
    /// Read the source password from this file instead of the environment.
    #[arg(long)]
    source_password_file: Option<PathBuf>,
    /// Read the target password from this file instead of the environment.
    #[arg(long)]
    target_password_file: Option<PathBuf>,
    /// Read the source bearer token (XOAUTH2/OAUTHBEARER) from this file.
    #[arg(long)]
    source_token_file: Option<PathBuf>,
    /// Read the target bearer token (XOAUTH2/OAUTHBEARER) from this file.
    #[arg(long)]
    target_token_file: Option<PathBuf>,
}

/// The folder states' store of a batch mailbox, as the migration shares it.
pub(crate) type DynStore = Arc<dyn StateStore + Send + Sync>;

/// A batch mailbox's state kept elsewhere than under `--state`: its store (PostgreSQL, fenced by
/// the mailbox's lease) and the fingerprint key every worker of the batch shares. `--state`
/// then holds only the skip log and the not-copied list.
#[derive(Clone)]
pub(crate) struct SharedState {
    /// Where the folder states are loaded from and saved to.
    pub(crate) store: DynStore,
    /// The fingerprint key (the same for every worker, so fingerprints agree across them).
    pub(crate) fingerprint_key: [u8; 32],
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("SharedState { .. }")
    }
}

/// A failure that decides the exit status.
#[derive(Debug)]
struct Fatal {
    code: Exit,
    message: String,
}

impl Fatal {
    fn new(code: Exit, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The exit status for a connection-level error: a refused login, TLS, a server that cannot
/// be reached or kept failing, or a refusal that will not change (not "unreachable").
pub(crate) fn imap_exit(e: &ImapError) -> Exit {
    match e {
        ImapError::Url { .. } | ImapError::Secret { .. } => Exit::Usage,
        ImapError::Login { .. } => Exit::Login,
        ImapError::Tls { .. } => Exit::Tls,
        ImapError::No { .. } if !e.is_transient() => Exit::Refused,
        ImapError::Protocol { .. } => Exit::Refused,
        _ => Exit::Unreachable,
    }
}

impl From<ImapError> for Fatal {
    fn from(e: ImapError) -> Self {
        Self::new(imap_exit(&e), e.to_string())
    }
}

/// Runs the command.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut marks = Marks::default();
    match runtime.block_on(migrate(*args.options, &mut marks)) {
        Ok(code) => Ok(ExitCode::from(code.code())),
        Err(fatal) => {
            if marks.discovered && !marks.totals_printed {
                // Stopped after discovery and before any copy: nothing was copied, and what
                // was asked for is not settled.
                println!(
                    "copied: 0 present: 0 skipped: 0 failed: {}",
                    marks.source_messages
                );
            }
            eprintln!("error: {}", fatal.message);
            Ok(ExitCode::from(fatal.code.code()))
        }
    }
}

/// Everything fixed before the first folder is touched.
struct Setup {
    source: Endpoint,
    target: Endpoint,
    source_cred: crate::imap::Credential,
    target_cred: crate::imap::Credential,
    timeout: Duration,
    stage: Stage,
}

fn parse_day(s: &str, what: &str) -> Result<i64, Fatal> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
        Fatal::new(
            Exit::Usage,
            format!("--{what} {s:?}: expected YYYY-MM-DD ({e})"),
        )
    })?;
    Ok(d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp()))
}

/// A cutoff as the day the options take (`YYYY-MM-DD`, UTC).
fn day(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| secs.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// Why a stage is refused for a folder pair whose state saved other cutoffs.
fn stage_refusal(folder: &str, stage: &Stage, gap: &imapmig_core::StageGap) -> String {
    let (before, since) = (day(gap.before), day(gap.since));
    let asked = match stage {
        Stage::Delta { .. } => format!(
            "--since {since} is later than the pre-stage cutoff --before {before} saved for folder {folder}"
        ),
        _ => format!(
            "--before {before} is earlier than the delta cutoff --since {since} saved for folder {folder}"
        ),
    };
    format!(
        "{asked}: mail dated from {before} up to {since} would be copied by no stage. Use \
         --since {before} or earlier, or the final pass (neither --before nor --since), which \
         copies everything still missing"
    )
}

/// The target profile guessed from what the target says of itself — its CAPABILITY words,
/// its greeting and its RFC 2971 ID (`name`, `vendor`) — and its host name, and why.
fn guess_profile(
    capabilities: &[String],
    host: &str,
    greeting: &str,
    id: &[(String, String)],
) -> (TargetProfile, String) {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    let id_says = |key: &str, needle: &str| {
        id.iter().any(|(k, v)| {
            k == key
                && v.to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase())
        })
    };
    let shown = |key: &str| {
        id.iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    };
    if id_says("name", "gimap") || id_says("vendor", "google") {
        (
            TargetProfile::Gmail,
            format!(
                "guessed: the target's ID says name \"{}\", vendor \"{}\"",
                shown("name"),
                shown("vendor")
            ),
        )
    } else if id_says("name", "exchange") || id_says("vendor", "microsoft") {
        (
            TargetProfile::Exchange,
            format!(
                "guessed: the target's ID says name \"{}\", vendor \"{}\"",
                shown("name"),
                shown("vendor")
            ),
        )
    } else if greeting.to_ascii_lowercase().contains("microsoft exchange") {
        (
            TargetProfile::Exchange,
            format!("guessed: the target's greeting says \"{greeting}\""),
        )
    } else if capabilities
        .iter()
        .any(|c| c.eq_ignore_ascii_case("X-GM-EXT-1"))
    {
        (
            TargetProfile::Gmail,
            "guessed: the target's CAPABILITY has X-GM-EXT-1".to_owned(),
        )
    } else if ["gmail.com", "googlemail.com"].into_iter().any(under) {
        (
            TargetProfile::Gmail,
            format!("guessed: the target host {host} is Gmail's"),
        )
    } else if ["office365.com", "outlook.com"].into_iter().any(under) {
        (
            TargetProfile::Exchange,
            format!("guessed: the target host {host} is Exchange Online's"),
        )
    } else {
        (
            TargetProfile::Generic,
            "guessed: neither the target's CAPABILITY, greeting, ID nor its host name \
             says Gmail or Exchange; give --target-profile exchange for an Exchange server"
                .to_owned(),
        )
    }
}

fn profile_name(profile: TargetProfile) -> &'static str {
    match profile {
        TargetProfile::Exchange => "exchange",
        TargetProfile::Gmail => "gmail",
        _ => "generic",
    }
}

/// Whether `host` is this machine (a loopback address or `localhost`), decided from the
/// name alone, before anything is resolved or sent.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn setup(args: &Options) -> Result<Setup, Fatal> {
    let mut source: Endpoint = args
        .source
        .parse()
        .map_err(|e: ImapError| Fatal::new(Exit::Usage, format!("--source: {e}")))?;
    let mut target: Endpoint = args
        .target
        .parse()
        .map_err(|e: ImapError| Fatal::new(Exit::Usage, format!("--target: {e}")))?;
    for (side, ep) in [("--source", &source), ("--target", &target)] {
        if ep.security == crate::imap::endpoint::Security::Plain
            && !is_loopback(&ep.host)
            && !args.allow_plaintext
        {
            return Err(Fatal::new(
                Exit::Usage,
                format!(
                    "{side}: refusing to send credentials to {} without TLS; use imaps:// or \
                     ?starttls, or --allow-plaintext if the link is protected another way",
                    ep.host
                ),
            ));
        }
    }
    if let Some(path) = &args.ca_file {
        let roots = crate::imap::transport::load_ca_file(path)
            .map_err(|e| Fatal::new(Exit::Usage, format!("--ca-file {e}")))?;
        source.extra_roots.clone_from(&roots);
        target.extra_roots = roots;
    }
    let (source_secret, target_secret) = match &args.secrets {
        Some((s, t)) => (s.clone(), t.clone()),
        None => (
            SecretSource::source(
                args.source_password_file.clone(),
                args.source_token_file.clone(),
            ),
            SecretSource::target(
                args.target_password_file.clone(),
                args.target_token_file.clone(),
            ),
        ),
    };
    let source_cred = source_secret
        .load(source.mechanism.map(|m| m.wants_token()))
        .map_err(|e| Fatal::new(Exit::Usage, format!("source {e}")))?;
    let target_cred = target_secret
        .load(target.mechanism.map(|m| m.wants_token()))
        .map_err(|e| Fatal::new(Exit::Usage, format!("target {e}")))?;
    if let Some(f) = args.max_bad_fraction
        && !(0.0..=1.0).contains(&f)
    {
        return Err(Fatal::new(
            Exit::Usage,
            "--max-bad-fraction must be between 0 and 1",
        ));
    }
    let stage = match (&args.before, &args.since) {
        (Some(b), _) => Stage::PreStage {
            before: parse_day(b, "before")?,
        },
        (None, Some(s)) => Stage::Delta {
            since: parse_day(s, "since")?,
        },
        (None, None) => Stage::Final,
    };
    Ok(Setup {
        source,
        target,
        source_cred,
        target_cred,
        timeout: Duration::from_secs(args.io_timeout.max(1)),
        stage,
    })
}

/// The CSV skip log plus the bad-item threshold, shared by all folder tasks.
struct Skips {
    log: Option<Mutex<imapmig_core::tolerance::SkipLog<std::fs::File>>>,
    tolerance: Tolerance,
    bad: AtomicU64,
    asked: AtomicU64,
}

impl SkipSink for Skips {
    fn skip(&self, row: &SkipRow<'_>) -> Result<SkipOutcome, String> {
        if let Some(log) = &self.log {
            let record = imapmig_core::tolerance::SkipRecord {
                folder: row.folder.to_owned(),
                source_uid: row.uid,
                message_id: row.message_id.clone(),
                size: row.size,
                reason: row.reason,
                detail: row.detail.to_owned(),
                time: chrono::Utc::now().timestamp(),
            };
            let mut log = log
                .lock()
                .map_err(|_| "skip log lock poisoned".to_owned())?;
            log.write(&record).map_err(|e| e.to_string())?;
        }
        let bad = self.bad.fetch_add(1, Ordering::SeqCst) + 1;
        let verdict = self
            .tolerance
            .verdict(bad, self.asked.load(Ordering::SeqCst).max(bad));
        Ok(if verdict.exceeded() {
            SkipOutcome::ThresholdExceeded(verdict.to_string())
        } else {
            SkipOutcome::Within
        })
    }

    fn asked(&self, n: u64) {
        self.asked.fetch_add(n, Ordering::SeqCst);
    }
}

/// One pair's state file in the store.
struct Slot {
    store: DynStore,
    key: StoreKey,
}

impl StateSlot for Slot {
    fn load(&self) -> Result<FolderState, String> {
        self.store
            .load(&self.key)
            .map(Option::unwrap_or_default)
            .map_err(|e| e.to_string())
    }

    fn save(&self, state: &FolderState) -> Result<(), String> {
        self.store.save(&self.key, state).map_err(|e| e.to_string())
    }
}

/// Opens the pair's connections with the run's retry policy.
struct RunConnector<'a> {
    setup: &'a Setup,
    retries: u32,
}

impl Connector for RunConnector<'_> {
    async fn source(&self) -> Result<Connection, ImapError> {
        connect(
            &self.setup.source,
            &self.setup.source_cred,
            self.setup.timeout,
            self.retries,
            true,
        )
        .await
    }

    async fn target(&self) -> Result<Connection, ImapError> {
        connect(
            &self.setup.target,
            &self.setup.target_cred,
            self.setup.timeout,
            self.retries,
            true,
        )
        .await
    }

    fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Option<Duration> {
        backoff(attempt, self.retries, hint)
    }
}

/// The fingerprint key of this state directory: made once, kept, so that reruns compute the
/// same fingerprints.
fn fingerprint_key(dir: &Path) -> anyhow::Result<imapmig_dedupe::FingerprintKey> {
    let path = dir.join("fingerprint.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} is not 32 bytes", path.display()))?;
            Ok(imapmig_dedupe::FingerprintKey::from_bytes(arr))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key =
                imapmig_dedupe::FingerprintKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
            let tmp = dir.join("fingerprint.key.new");
            {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                // The key makes fingerprints unguessable: readable by its owner only.
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                f.write_all(key.as_bytes())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            // The rename is durable only once the directory is.
            std::fs::File::open(dir)?.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Connects, retrying throttling-type refusals (connection caps, `[LIMIT]`, BYE at login).
/// Unless `patient`, a server that cannot be reached at all fails at once (the first contact
/// of a run: a wrong port should not cost minutes of backoff).
async fn connect(
    ep: &Endpoint,
    cred: &crate::imap::Credential,
    timeout: Duration,
    retries: u32,
    patient: bool,
) -> Result<Connection, ImapError> {
    let mut attempt = 0;
    loop {
        match Connection::open(ep, cred, timeout).await {
            Ok(c) => return Ok(c),
            Err(e @ ImapError::Unreachable { .. }) if !patient => return Err(e),
            Err(e) if e.is_transient() => {
                match backoff(attempt, retries, e.reply_class().retry_after()) {
                    Some(wait) => {
                        attempt += 1;
                        // Said like every other retry: a throttled LOGIN or a refused
                        // connection is not waited out in silence.
                        eprintln!(
                            "{}:{} connect: {e}; retry {attempt} in {:.1} s",
                            ep.host,
                            ep.port,
                            wait.as_secs_f64()
                        );
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// imapmig-core's backoff: exponential with jitter from 0.5 s up to 30 s, a server hint
/// honoured (up to 10 min); `None` after `retries` attempts.
fn backoff(attempt: u32, retries: u32, hint: Option<Duration>) -> Option<Duration> {
    let policy = imapmig_core::throttle::Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(30),
        max_hint: Duration::from_secs(600),
        max_attempts: retries,
    };
    policy.delay(attempt, hint, &mut rand::rng())
}

/// One side's control connection for discovery (LIST, STATUS, GETQUOTAROOT, CREATE).
struct Control<'a> {
    conn: Connection,
    endpoint: &'a Endpoint,
    cred: &'a crate::imap::Credential,
    timeout: Duration,
    retries: u32,
    side: &'static str,
}

impl Control<'_> {
    /// Runs one discovery command. Throttling, BYE and dropped connections are retried with
    /// the same backoff as copying (the connection is opened again when it broke), so a
    /// source that throttles discovery does not stop the run.
    async fn run<T>(
        &mut self,
        what: &str,
        mut command: impl AsyncFnMut(&mut Connection) -> Result<T, ImapError>,
    ) -> Result<T, ImapError> {
        let mut attempt = 0;
        loop {
            let e = match command(&mut self.conn).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e),
            };
            let Some(wait) = backoff(attempt, self.retries, e.reply_class().retry_after()) else {
                return Err(e);
            };
            attempt += 1;
            eprintln!(
                "{} {what}: {e}; retry {attempt} in {:.1} s",
                self.side,
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
            if !matches!(e, ImapError::No { .. }) {
                self.conn =
                    connect(self.endpoint, self.cred, self.timeout, self.retries, true).await?;
            }
        }
    }
}

/// A folder pair to migrate.
#[derive(Debug, Clone)]
struct Job {
    names: PairNames,
    /// Source messages in the folder at inventory time (for the count of an interrupted pair).
    source_messages: u64,
    filter: SourceFilter,
}

/// How far a run got, so that the totals line is printed on every path after discovery.
#[derive(Debug, Default)]
struct Marks {
    /// Both servers' folders were listed.
    discovered: bool,
    /// Source messages in the folders the map copies, once sized.
    source_messages: u64,
    /// The `copied: ...` line is out.
    totals_printed: bool,
    /// (copied, present, skipped, failed) of a run that got to its report.
    totals: Option<(u64, u64, u64, u64)>,
    /// Bytes copied.
    bytes: u64,
}

/// One mailbox's migration as a batch sees it.
#[derive(Debug, Clone)]
pub(crate) struct MailboxOutcome {
    /// The exit status `imapmig migrate` would have.
    pub(crate) exit: Exit,
    /// (copied, present, skipped, failed).
    pub(crate) totals: (u64, u64, u64, u64),
    /// Bytes copied.
    pub(crate) bytes: u64,
    /// Why it stopped, when it did.
    pub(crate) reason: Option<String>,
}

/// `imapmig migrate`'s options parsed from words, for one batch row.
#[derive(Debug, clap::Parser)]
#[command(name = "migrate")]
struct OptionWords {
    #[command(flatten)]
    options: Options,
}

/// The options of one batch row: `words` are `migrate` options (`--source`, `--target`,
/// `--state`, `--rules`, and whatever the batch passes on); the secrets come from the CSV.
pub(crate) fn options_for_batch(
    words: &[String],
    secrets: (SecretSource, SecretSource),
) -> Result<Options, clap::Error> {
    use clap::Parser;
    let mut options = OptionWords::try_parse_from(
        std::iter::once("migrate".to_owned()).chain(words.iter().cloned()),
    )?
    .options;
    options.secrets = Some(secrets);
    Ok(options)
}

/// A batch row's options with its folder states elsewhere than under `--state` (PostgreSQL)
/// and the batch's shared fingerprint key.
pub(crate) fn share_state(options: &mut Options, shared: SharedState) {
    options.shared_state = Some(shared);
}

/// Runs one mailbox's migration with these options (a batch row's), quietly.
pub(crate) async fn run_mailbox(mut args: Options) -> MailboxOutcome {
    args.quiet = true;
    let mut marks = Marks::default();
    match migrate(args, &mut marks).await {
        Ok(exit) => MailboxOutcome {
            exit,
            totals: marks.totals.unwrap_or_default(),
            bytes: marks.bytes,
            reason: None,
        },
        Err(fatal) => MailboxOutcome {
            exit: fatal.code,
            totals: marks.totals.unwrap_or((0, 0, 0, marks.source_messages)),
            bytes: marks.bytes,
            reason: Some(fatal.message),
        },
    }
}

async fn migrate(args: Options, marks: &mut Marks) -> Result<Exit, Fatal> {
    let s = setup(&args)?;
    std::fs::create_dir_all(&args.state).map_err(|e| {
        Fatal::new(
            Exit::State,
            format!("state directory {}: {e}", args.state.display()),
        )
    })?;
    let (store, key): (DynStore, _) = match &args.shared_state {
        Some(shared) => (
            shared.store.clone(),
            imapmig_dedupe::FingerprintKey::from_bytes(shared.fingerprint_key),
        ),
        None => (
            Arc::new(FileStore::new(&args.state)),
            fingerprint_key(&args.state).map_err(|e| Fatal::new(Exit::State, format!("{e:#}")))?,
        ),
    };
    let rules = match &args.rules {
        None => Rules::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Fatal::new(Exit::Usage, format!("--rules {}: {e}", p.display())))?;
            text.parse::<Rules>()
                .map_err(|e| Fatal::new(Exit::FolderMap, format!("--rules {}: {e}", p.display())))?
        }
    };

    // Discovery on one control connection per side, retried like copying.
    let mut src = Control {
        conn: connect(&s.source, &s.source_cred, s.timeout, args.retries, false)
            .await
            .map_err(|e| Fatal::new(imap_exit(&e), format!("source: {e}")))?,
        endpoint: &s.source,
        cred: &s.source_cred,
        timeout: s.timeout,
        retries: args.retries,
        side: "source",
    };
    let mut dst = Control {
        conn: connect(&s.target, &s.target_cred, s.timeout, args.retries, false)
            .await
            .map_err(|e| Fatal::new(imap_exit(&e), format!("target: {e}")))?,
        endpoint: &s.target,
        cred: &s.target_cred,
        timeout: s.timeout,
        retries: args.retries,
        side: "target",
    };
    let raw = src
        .run("LIST", async |c: &mut Connection| c.listing_raw().await)
        .await?;
    let src_listing = Listing::parse(&raw)
        .map_err(|e| Fatal::new(Exit::FolderMap, format!("source LIST: {e}")))?;
    let raw = dst
        .run("LIST", async |c: &mut Connection| c.listing_raw().await)
        .await?;
    let dst_listing = Listing::parse(&raw)
        .map_err(|e| Fatal::new(Exit::FolderMap, format!("target LIST: {e}")))?;
    marks.discovered = true;
    let gmail = match args.gmail {
        GmailMode::On => true,
        GmailMode::Off => false,
        GmailMode::Auto => {
            src.conn.capabilities().gmail
                || src_listing
                    .entries()
                    .iter()
                    .any(|e| e.attributes().contains(&imapmig_folders::Attribute::All))
        }
    };
    let repair_8bit_headers = match args.repair_8bit_headers {
        EightBitMode::On => true,
        EightBitMode::Off => false,
        EightBitMode::Auto => munges_8bit_headers(&dst.conn.capabilities().all),
    };
    if repair_8bit_headers && args.repair_8bit_headers == EightBitMode::Auto && !args.quiet {
        eprintln!(
            "target is Cyrus IMAP, which stores raw 8-bit header bytes as X: they are \
             RFC 2047-encoded before APPEND (--repair-8bit-headers=off to send them as they are)"
        );
    }
    let (profile, why) = match args.target_profile {
        Some(p) => (p, "--target-profile".to_owned()),
        None => {
            let id = dst
                .run("ID", async |c: &mut Connection| c.server_id().await)
                .await?;
            guess_profile(
                &dst.conn.capabilities().all,
                &s.target.host,
                dst.conn.greeting_text(),
                &id,
            )
        }
    };
    if !args.quiet {
        eprintln!("target profile: {} ({why})", profile_name(profile));
    }
    let mut mapper = Mapper::from_listings(&src_listing, &dst_listing)
        .map_err(|e| Fatal::new(Exit::FolderMap, format!("folder hierarchy: {e}")))?
        .rules(rules)
        .profile(profile)
        .target_listing(&dst_listing);
    // With X-GM-EXT-1 the labels place the mail (see `gmail_label_jobs`).
    let gmail_labels = gmail && src.conn.capabilities().gmail;
    if gmail {
        mapper = mapper.gmail(imapmig_folders::GmailPolicy {
            multi_label: match args.gmail_labels {
                GmailLabels::First => imapmig_folders::MultiLabel::FirstLabel,
                GmailLabels::PerLabel => imapmig_folders::MultiLabel::CopyPerLabel,
            },
            ..imapmig_folders::GmailPolicy::default()
        });
    }
    let plan = mapper
        .plan(&src_listing)
        .map_err(|e| Fatal::new(Exit::FolderMap, format!("folder map: {e}")))?;
    plan.check()
        .map_err(|e| Fatal::new(Exit::FolderMap, format!("folder map: {e}")))?;

    // A stage that would leave a gap after the staged passes saved in the state is refused
    // before anything is created or copied.
    // With Gmail labels the mail is copied from All Mail (see `gmail_label_jobs`): its
    // stages are saved under All Mail -> each target folder.
    let all_mail = plan
        .entries()
        .iter()
        .find(|e| e.reason == imapmig_folders::Reason::AllMail)
        .filter(|_| gmail_labels);
    if s.stage != Stage::Final {
        for entry in plan.entries() {
            let Some(target) = entry.target() else {
                continue;
            };
            for from in std::iter::once(entry).chain(all_mail) {
                let key = StoreKey::for_folder_pair(
                    &s.source.to_string(),
                    &crate::imap::state_name(from.source.wire()),
                    &s.target.to_string(),
                    &crate::imap::state_name(target.wire()),
                );
                let saved = store
                    .load(&key)
                    .map_err(|e| Fatal::new(Exit::State, e.to_string()))?
                    .unwrap_or_default();
                if let Some(gap) = saved.stage_cutoffs().gap(&s.stage) {
                    return Err(Fatal::new(
                        Exit::Usage,
                        stage_refusal(&crate::imap::display_name(&from.source), &s.stage, &gap),
                    ));
                }
            }
        }
    }

    // Inventory and the quota verdict (imapmig-core), before any copying. What the mapped
    // target folders hold already (an earlier pass) is not needed again.
    let mut folders = Vec::new();
    let mut on_target = 0u64;
    let mut size_unknown = false;
    for entry in plan.entries() {
        let Some(target) = entry.target() else {
            continue;
        };
        let wire = entry.source.wire();
        let (messages, bytes) = src
            .run("STATUS", async |c: &mut Connection| {
                c.folder_size(wire).await
            })
            .await?;
        marks.source_messages += u64::from(messages);
        folders.push(FolderSize {
            name: crate::imap::display_name(&entry.source),
            messages: u64::from(messages),
            bytes,
        });
        let target_wire = target.wire();
        let exists = dst_listing
            .entries()
            .iter()
            .any(|e| e.kind() == imapmig_folders::ListKind::List && e.name() == target);
        let there = dst
            .run("STATUS", async |c: &mut Connection| {
                match c.folder_size(target_wire).await {
                    Ok((_, bytes)) => Ok(Ok(bytes)),
                    Err(e @ ImapError::No { .. }) if !e.is_transient() => Ok(Err(e)),
                    Err(e) => Err(e),
                }
            })
            .await?;
        match there {
            // Mail beyond the source folder's size is not source mail already copied.
            Ok(there) => on_target += there.min(bytes),
            // Not created yet: nothing there.
            Err(_) if !exists => {}
            Err(e) => {
                size_unknown = true;
                eprintln!(
                    "warning: the size of target folder {} cannot be read ({e}); it is counted \
                     as empty, so the quota check may refuse a plan that would fit",
                    target.as_str()
                );
            }
        }
    }
    let server_quota = if args.quota.is_some() {
        None
    } else {
        let read = dst
            .run("GETQUOTAROOT", async |c: &mut Connection| {
                match c.storage_quota().await {
                    Ok(q) => Ok(Ok(q)),
                    Err(e @ (ImapError::No { .. } | ImapError::Protocol { .. }))
                        if !e.is_transient() =>
                    {
                        Ok(Err(e))
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        match read {
            Ok(q) => q,
            Err(e) => {
                eprintln!(
                    "warning: the target's quota cannot be read ({e}); {}",
                    if args.quota_pool.is_some() {
                        "the pool's usage is taken as 0 unless --quota-pool-used says it"
                    } else {
                        "the quota is not judged before copying (give --quota BYTES to judge it)"
                    }
                );
                None
            }
        }
    };
    // (available bytes, how they are shared)
    let available = match (args.quota, args.quota_pool) {
        (Some(q), _) => Some((q, Quota::PerSeat(q))),
        (None, Some(pool)) => {
            let used = args
                .quota_pool_used
                .or_else(|| server_quota.map(|(used, _)| used))
                .unwrap_or(0);
            let left = pool.saturating_sub(used);
            if !args.quiet {
                eprintln!(
                    "quota pool: {pool} bytes, {used} used (by every mailbox sharing it), {left} left"
                );
            }
            // The target's own quota, when it has one, still holds.
            match server_quota.map(|(used, limit)| limit.saturating_sub(used)) {
                Some(own) if own < left => {
                    if !args.quiet {
                        eprintln!(
                            "quota: the target's own GETQUOTAROOT leaves {own} bytes, less than the pool"
                        );
                    }
                    Some((own, Quota::PerSeat(own)))
                }
                _ => Some((left, Quota::Pooled(left))),
            }
        }
        (None, None) => server_quota.map(|(used, limit)| {
            let left = limit.saturating_sub(used);
            (left, Quota::PerSeat(left))
        }),
    };
    // With Gmail labels placed one copy per message (`--gmail-labels first`), the label
    // folders' sizes count a message once per label: what is copied is All Mail once, plus
    // what Spam and Trash show outside it.
    let gmail_once = match all_mail {
        Some(all) if args.gmail_labels == GmailLabels::First => {
            let wire = all.source.wire().to_vec();
            let (_, all_bytes) = src
                .run("STATUS", async |c: &mut Connection| {
                    c.folder_size(&wire).await
                })
                .await?;
            let outside: u64 = plan
                .entries()
                .iter()
                .filter(|e| e.target().is_some())
                .filter(|e| {
                    src_listing.entries().iter().any(|l| {
                        l.name() == &e.source
                            && l.attributes().iter().any(|a| {
                                matches!(
                                    a,
                                    imapmig_folders::Attribute::Junk
                                        | imapmig_folders::Attribute::Trash
                                )
                            })
                    })
                })
                .filter_map(|e| {
                    folders
                        .iter()
                        .find(|f| f.name == crate::imap::display_name(&e.source))
                        .map(|f| f.bytes)
                })
                .sum();
            Some(all_bytes + outside)
        }
        _ => None,
    };
    if let Some((available, quota)) = available {
        let source_bytes: u64 = gmail_once.unwrap_or_else(|| folders.iter().map(|f| f.bytes).sum());
        let needed = source_bytes.saturating_sub(on_target);
        let mailbox = MailboxInventory {
            mailbox: args.source.clone(),
            folders: vec![FolderSize {
                name: "to copy".into(),
                messages: folders.iter().map(|f| f.messages).sum(),
                bytes: needed,
            }],
        };
        let report = inventory::assess(
            &[mailbox],
            &InventoryPolicy {
                quota,
                ..InventoryPolicy::default()
            },
        );
        if report.refused() {
            let verdict = report
                .mailboxes
                .first()
                .map(|m| m.verdict.to_string())
                .unwrap_or_default();
            return Err(Fatal::new(
                Exit::Quota,
                format!(
                    "refused before copying: {verdict} (source {source_bytes} bytes, {on_target} already on the target, {available} available{}{})",
                    if matches!(quota, Quota::Pooled(_)) {
                        " in the shared pool"
                    } else {
                        ""
                    },
                    if size_unknown {
                        "; a target folder's size could not be read and was counted as empty"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }

    // Create the target folders, parents first.
    if !args.dry_run {
        for (name, _) in plan.creation_order() {
            let wire = name.wire();
            dst.run("CREATE", async |c: &mut Connection| c.create(wire).await)
                .await?;
        }
    }
    src.conn.logout().await;
    dst.conn.logout().await;

    let skips = Arc::new(Skips {
        log: if args.dry_run {
            None
        } else {
            let path = args
                .skip_log
                .clone()
                .unwrap_or_else(|| args.state.join("skipped.csv"));
            Some(Mutex::new(
                imapmig_core::tolerance::SkipLog::append_to(&path).map_err(|e| {
                    Fatal::new(Exit::State, format!("skip log {}: {e}", path.display()))
                })?,
            ))
        },
        tolerance: Tolerance {
            max_count: Some(args.max_bad),
            max_fraction: args.max_bad_fraction,
        },
        bad: AtomicU64::new(0),
        asked: AtomicU64::new(0),
    });
    let bar = progress_bar();
    let (b1, b2) = (bar.clone(), bar.clone());
    let pacer = Arc::new(Pacer::new(pace_limits(&args)));
    let eta_pacer = pacer.clone();
    let pacer_for_totals = pacer.clone();
    let mut engine_config = imapmig_core::engine::Config {
        stage: s.stage,
        policy: Policy {
            min_reset_confirmation: if args.accept_reset { 0.0 } else { 0.5 },
            retry_skipped: args.retry_skipped,
            ..Policy::default()
        },
        ..imapmig_core::engine::Config::default()
    };
    // Large batches: one state save (with fsync) per batch, and each batch is one pipelined
    // stream of FETCH and APPEND.
    engine_config.batch_messages = 256;
    // Paced runs take smaller batches, so the pace is kept within about a second.
    let limits = pacer.limits().limits;
    if let Some(rate) = limits.messages_per_second {
        engine_config.batch_messages =
            (rate.ceil() as usize).clamp(1, engine_config.batch_messages);
    }
    if let Some(bw) = limits.bytes_per_second {
        engine_config.batch_bytes = (bw as u64).clamp(64 << 10, engine_config.batch_bytes);
    }
    if let Some(budget) = limits.bytes_per_day {
        engine_config.batch_bytes = budget.clamp(1, engine_config.batch_bytes);
    }
    let ctx = Arc::new(PairContext {
        fingerprinter: imapmig_dedupe::Fingerprinter::new(&key),
        engine: engine_config,
        max_message_size: args.max_message_size,
        dry_run: args.dry_run,
        remove_own_duplicates: args.remove_own_duplicates,
        repair_8bit_headers,
        skips: skips.clone(),
        pacer,
        on_copied: Arc::new(move |n| {
            b1.inc(n);
            if let Some(eta) = eta_pacer.eta() {
                b1.set_message(format!("ETA {}", pace::human(eta)));
            }
        }),
        on_planned: Arc::new(move |n| b2.inc_length(n)),
    });
    let setup = Arc::new(s);

    let mut jobs = Vec::new();
    for entry in plan.entries() {
        if let Some(t) = entry.target() {
            jobs.push(Job {
                names: PairNames {
                    source: entry.source.wire().to_vec(),
                    target: t.wire().to_vec(),
                    display: crate::imap::display_name(&entry.source),
                    target_display: t.as_str().to_owned(),
                },
                filter: None,
                source_messages: folders
                    .iter()
                    .find(|f| f.name == crate::imap::display_name(&entry.source))
                    .map_or(0, |f| f.messages),
            });
        }
    }

    if gmail_labels {
        jobs = gmail_label_jobs(&setup, &plan, jobs, args.retries).await?;
    }

    // The bad-item threshold counts across runs: what earlier runs skipped, from the state.
    if !args.retry_skipped {
        let earlier: u64 = jobs
            .iter()
            .filter_map(|job| store.load(&pair_key(&setup, job)).ok().flatten())
            .map(|state| state.skipped().count() as u64)
            .sum();
        skips.bad.fetch_add(earlier, Ordering::SeqCst);
        skips.asked.fetch_add(earlier, Ordering::SeqCst);
    }

    let mut reports: Vec<(Job, Result<PairOutcome, Interrupted>)> = Vec::new();
    let results = futures::stream::iter(jobs.into_iter().map(|job| {
        let (setup, ctx, store) = (setup.clone(), ctx.clone(), store.clone());
        let retries = args.retries;
        async move {
            let r = run_job(&setup, &ctx, &store, &job, retries).await;
            (job, r)
        }
    }))
    .buffer_unordered(usize::from(args.parallel))
    .collect::<Vec<_>>()
    .await;
    reports.extend(results);

    // Gmail without labels: mail that lives only in All Mail goes to the archive folder.
    if gmail
        && !gmail_labels
        && let Some(archive) = plan.archive_target()
        && reports.iter().all(|(_, r)| r.is_ok())
        && let Some(job) = archived_only_job(&setup, &ctx, &plan, archive, args.retries).await?
    {
        let r = run_job(&setup, &ctx, &store, &job, args.retries).await;
        reports.push((job, r));
    }
    bar.finish_and_clear();

    // Per-folder verification and the totals.
    let mut total = Totals::default();
    let mut worst: Option<Fatal> = None;
    let mut not_copied: Vec<NotCopiedRow> = Vec::new();
    let mut duplicates = 0u64;
    let quiet = args.quiet;
    // Per-folder lines and the totals line, unless a batch runs this mailbox.
    macro_rules! say {
        ($($arg:tt)*) => {
            if !quiet {
                println!($($arg)*);
            }
        };
    }
    reports.sort_by(|a, b| a.0.names.display.cmp(&b.0.names.display));
    for (job, r) in &reports {
        match r {
            Ok(out) => {
                let rep = &out.report;
                if args.dry_run {
                    say!(
                        "folder {} -> {}: would copy {} present {} skipped {}",
                        job.names.display,
                        job.names.target_display,
                        out.would_copy,
                        rep.present,
                        rep.skipped
                    );
                    total.would_copy += out.would_copy;
                    continue;
                }
                let (copied, present) = (rep.copied, rep.present);
                let ok = rep.failed == 0 && rep.duplicates.is_empty();
                // A staged pass that completed saves its cutoff, so that a later stage
                // cannot leave a gap.
                if rep.failed == 0 && setup.stage != Stage::Final {
                    let key = pair_key(&setup, job);
                    let saved = store.load(&key).and_then(|state| {
                        let mut state = state.unwrap_or_default();
                        state.record_stage(&setup.stage);
                        store.save(&key, &state)
                    });
                    if let Err(e) = saved {
                        eprintln!("error: {}: saving the stage cutoff: {e}", job.names.display);
                        worst.get_or_insert(Fatal::new(
                            Exit::State,
                            format!("{}: saving the stage cutoff: {e}", job.names.display),
                        ));
                    }
                }
                say!(
                    "folder {} -> {}: source {} target {} asked {} copied {} present {} skipped {} failed {}{}",
                    job.names.display,
                    job.names.target_display,
                    rep.source_messages,
                    rep.target_messages,
                    rep.asked,
                    copied,
                    present,
                    rep.skipped,
                    rep.failed,
                    if ok { " ok" } else { " INCOMPLETE" }
                );
                say!(
                    "folder {} -> {}: flags compared {} synced {} ({})",
                    job.names.display,
                    job.names.target_display,
                    rep.flags_compared,
                    rep.flags_synced,
                    match out.flags_since {
                        Some(m) => format!("changed since modseq {m}"),
                        None => "full compare".to_owned(),
                    }
                );
                for uid in &out.removed {
                    say!(
                        "removed duplicate: {} target uid {uid} (a byte-identical extra copy this run made)",
                        job.names.target_display
                    );
                }
                for dup in &rep.duplicates {
                    duplicates += dup.target_uids.len() as u64;
                    let ids: Vec<String> = dup
                        .source_uids
                        .iter()
                        .map(|u| {
                            out.message_ids
                                .get(&u.get())
                                .cloned()
                                .unwrap_or_else(|| "-".to_owned())
                        })
                        .collect();
                    say!(
                        "duplicate: {} target uids {} (source uids {}; Message-ID {})",
                        job.names.target_display,
                        join(&dup.target_uids),
                        join(&dup.source_uids),
                        ids.join(" ")
                    );
                }
                for n in &rep.not_copied {
                    not_copied.push(NotCopiedRow {
                        folder: job.names.display.clone(),
                        uid: n.source.get(),
                        message_id: out.message_ids.get(&n.source.get()).cloned(),
                        reason: n.reason.clone(),
                    });
                }
                total.copied += copied;
                total.present += present;
                total.skipped += rep.skipped;
                total.failed += rep.failed;
            }
            Err(stop) => {
                // Not verified: counted from the state, and whatever it does not show as
                // settled counts as failed.
                let unsettled = job
                    .source_messages
                    .saturating_sub(stop.recorded + stop.skipped);
                say!(
                    "folder {} -> {}: stopped: {} (copied {} present {} skipped {} failed {}, from the state, unverified)",
                    job.names.display,
                    job.names.target_display,
                    stop.error,
                    stop.copied_now,
                    stop.recorded.saturating_sub(stop.copied_now),
                    stop.skipped,
                    unsettled
                );
                not_copied.push(NotCopiedRow {
                    folder: job.names.display.clone(),
                    uid: 0,
                    message_id: None,
                    reason: format!("{unsettled} messages not settled: {}", stop.error),
                });
                total.copied += stop.copied_now;
                total.present += stop.recorded.saturating_sub(stop.copied_now);
                total.skipped += stop.skipped;
                total.failed += unsettled;
                let fatal = match &stop.error {
                    PairError::TooManyBad(m) => Fatal::new(Exit::TooManyBad, m.clone()),
                    PairError::OverQuota(m) => {
                        Fatal::new(Exit::Quota, format!("target over quota: {m}"))
                    }
                    PairError::State(m) => Fatal::new(Exit::State, m.clone()),
                    PairError::Imap(i) => Fatal::new(imap_exit(i), i.to_string()),
                    PairError::Throttled(m) => Fatal::new(
                        Exit::Unreachable,
                        format!("still throttled after every retry: {m}"),
                    ),
                    e @ PairError::ResetUnconfirmed { .. } => {
                        Fatal::new(Exit::Incomplete, format!("{}: {e}", job.names.display))
                    }
                    e @ PairError::Engine(_) => Fatal::new(Exit::Incomplete, e.to_string()),
                };
                // The more specific failure wins.
                if worst
                    .as_ref()
                    .is_none_or(|w| fatal.code.rank() < w.code.rank())
                {
                    worst = Some(fatal);
                }
            }
        }
    }
    if args.dry_run {
        say!("dry run: would copy {}", total.would_copy);
    } else if let Err(e) = write_not_copied(&args.state.join("not-copied.csv"), &not_copied) {
        eprintln!("error: not-copied list: {e}");
        worst.get_or_insert(Fatal::new(Exit::State, format!("not-copied list: {e}")));
    }
    if duplicates > 0 {
        eprintln!(
            "error: {duplicates} messages were copied twice by this migrator (listed above as `duplicate:`)"
        );
    }
    say!(
        "copied: {} present: {} skipped: {} failed: {}",
        total.copied,
        total.present,
        total.skipped,
        total.failed
    );
    marks.totals_printed = true;
    marks.totals = Some((total.copied, total.present, total.skipped, total.failed));
    marks.bytes = pacer_for_totals.counts().2;
    if let Some(w) = worst {
        return Err(w);
    }
    Ok(if total.failed > 0 || duplicates > 0 {
        Exit::Incomplete
    } else {
        Exit::Complete
    })
}

/// The run's totals.
#[derive(Debug, Default)]
struct Totals {
    copied: u64,
    present: u64,
    skipped: u64,
    failed: u64,
    would_copy: u64,
}

/// One row of `not-copied.csv`.
#[derive(Debug)]
struct NotCopiedRow {
    folder: String,
    /// 0 for a whole folder that stopped.
    uid: u32,
    message_id: Option<String>,
    reason: String,
}

/// Writes the messages this run did not copy (folder, source UID, Message-ID, reason); an
/// empty list leaves just the header.
fn write_not_copied(path: &Path, rows: &[NotCopiedRow]) -> anyhow::Result<()> {
    let tmp = path.with_extension("csv.new");
    {
        let mut w = csv::Writer::from_path(&tmp)?;
        w.write_record(["folder", "source_uid", "message_id", "reason"])?;
        for r in rows {
            w.write_record([
                r.folder.as_str(),
                &r.uid.to_string(),
                r.message_id.as_deref().unwrap_or(""),
                r.reason.as_str(),
            ])?;
        }
        w.flush()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn join(uids: &[Uid]) -> String {
    uids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A key for the pair in the state store: both accounts and both folders.
fn pair_key(setup: &Setup, job: &Job) -> StoreKey {
    StoreKey::for_folder_pair(
        &setup.source.to_string(),
        &crate::imap::state_name(&job.names.source),
        &setup.target.to_string(),
        &crate::imap::state_name(&job.names.target),
    )
}

/// One folder pair, driven by imapmig-core's engine; it reconnects and goes on by itself.
async fn run_job(
    setup: &Setup,
    ctx: &PairContext,
    store: &DynStore,
    job: &Job,
    retries: u32,
) -> Result<PairOutcome, Interrupted> {
    let slot = Slot {
        store: store.clone(),
        key: pair_key(setup, job),
    };
    let connector = RunConnector { setup, retries };
    pair::run_pair(&job.names, ctx, &connector, &slot, &job.filter).await
}

/// Builds the job for Gmail's archived-only mail: observe every copied folder and All Mail,
/// keep the header fingerprints seen only in All Mail.
async fn archived_only_job(
    setup: &Setup,
    ctx: &PairContext,
    plan: &imapmig_folders::FolderPlan,
    archive: &imapmig_folders::MailboxName,
    retries: u32,
) -> Result<Option<Job>, Fatal> {
    let mut detector = plan.archive_detector();
    let mut src = connect(
        &setup.source,
        &setup.source_cred,
        setup.timeout,
        retries,
        true,
    )
    .await?;
    let mut all_mail = None;
    for entry in plan.entries() {
        let is_all = entry.reason == imapmig_folders::Reason::AllMail;
        if entry.target().is_none() && !is_all {
            continue;
        }
        let sel = src.select(entry.source.wire(), true).await?;
        let status = pair::status_of(&sel)?;
        for m in pair::fetch_all_meta(&mut src, &status).await? {
            let f = ctx
                .fingerprinter
                .headers_with_size(&m.header, u64::from(m.size))
                .as_u128();
            detector.record(entry.source.as_str(), &format!("{f:032x}"));
        }
        if is_all && all_mail.is_none() {
            all_mail = Some(entry.clone());
        }
    }
    src.logout().await;
    let Some(all) = all_mail else { return Ok(None) };
    let keep: std::collections::HashSet<u128> = detector
        .archived_only()
        .iter()
        .filter_map(|s| u128::from_str_radix(s, 16).ok())
        .collect();
    Ok(Some(Job {
        names: PairNames {
            source: all.source.wire().to_vec(),
            target: archive.wire().to_vec(),
            display: format!("{} (archived only)", crate::imap::display_name(&all.source)),
            target_display: archive.as_str().to_owned(),
        },
        source_messages: keep.len() as u64,
        filter: Some(Arc::new(Filter::Headers(keep))),
    }))
}

/// Builds the jobs of a Gmail source that offers X-GM-EXT-1, in place of `folder_jobs` (one
/// per copied folder): each message is read once, from `[Gmail]/All Mail`, and placed by its
/// X-GM-LABELS with the plan's policy ([`imapmig_folders::FolderPlan::place_labels`]).
///
/// - One job per target folder, from All Mail, filtered to the UIDs placed there; each UID
///   carries its other labels as keywords ([`imapmig_folders::GmailLabel::keyword`]: user
///   labels in modified UTF-7 with the characters atoms forbid as `_`, `\Important` as
///   `$Important`, `\Starred` as `\Flagged`). Mail with no folder label goes to the archive
///   folder.
/// - X-GM-MSGID is the identity across folders: All Mail shows one message once per
///   X-GM-MSGID (the lowest UID is used when a server shows it more), and a copied folder's
///   messages whose X-GM-MSGID is not in All Mail (Spam, Trash, or anything All Mail does
///   not show) are copied from that folder, by a job filtered to their UIDs. So nothing a
///   folder shows is left out, and nothing is read from two folders.
/// - Each job has its own state (All Mail -> target folder), so a rerun copies nothing and a
///   killed run resumes without duplicates, as for folder jobs. A label changed between runs
///   moves the message's placement: it is then copied to its new folder too.
async fn gmail_label_jobs(
    setup: &Setup,
    plan: &imapmig_folders::FolderPlan,
    folder_jobs: Vec<Job>,
    retries: u32,
) -> Result<Vec<Job>, Fatal> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let Some(all) = plan
        .entries()
        .iter()
        .find(|e| e.reason == imapmig_folders::Reason::AllMail)
    else {
        return Ok(folder_jobs);
    };
    let wire = |n: &imapmig_folders::MailboxName| n.wire().to_vec();
    // Throttling and dropped connections are retried as in discovery.
    let mut src = Control {
        conn: connect(
            &setup.source,
            &setup.source_cred,
            setup.timeout,
            retries,
            true,
        )
        .await?,
        endpoint: &setup.source,
        cred: &setup.source_cred,
        timeout: setup.timeout,
        retries,
        side: "source",
    };
    let all_wire = wire(&all.source);
    let metas = src
        .run("X-GM-LABELS", async |c: &mut Connection| {
            gmail_items(c, &all_wire).await
        })
        .await?;
    // Target folder (wire) -> (display, UID -> keywords).
    type Groups = BTreeMap<Vec<u8>, (String, HashMap<u32, Vec<String>>)>;
    let mut groups: Groups = BTreeMap::new();
    let mut seen: HashSet<u64> = HashSet::new();
    for m in &metas {
        if let Some(id) = m.msgid
            && !seen.insert(id)
        {
            continue;
        }
        let labels = match &m.labels {
            Some(raw) => imapmig_folders::parse_labels(raw).map_err(|e| {
                Fatal::new(
                    Exit::Refused,
                    format!("{} uid {}: X-GM-LABELS: {e}", all.source.as_str(), m.uid),
                )
            })?,
            None => Vec::new(),
        };
        let placement = plan.place_labels(&labels);
        if placement.folders.is_empty() {
            return Err(Fatal::new(
                Exit::FolderMap,
                format!(
                    "{} uid {} has no folder label and the plan has no archive folder",
                    all.source.as_str(),
                    m.uid
                ),
            ));
        }
        for folder in &placement.folders {
            groups
                .entry(wire(folder))
                .or_insert_with(|| (folder.as_str().to_owned(), HashMap::new()))
                .1
                .insert(m.uid, placement.keywords.clone());
        }
    }
    let mut jobs = Vec::new();
    for (target, (target_display, uids)) in groups {
        jobs.push(Job {
            names: PairNames {
                source: all_wire.clone(),
                target,
                display: format!("{} (labels)", all.source.as_str()),
                target_display,
            },
            source_messages: uids.len() as u64,
            filter: Some(Arc::new(Filter::Uids(uids))),
        });
    }
    // What a copied folder shows outside All Mail is copied from the folder itself.
    for job in folder_jobs {
        let folder = job.names.source.clone();
        let leftovers: HashMap<u32, Vec<String>> = src
            .run("X-GM-MSGID", async |c: &mut Connection| {
                gmail_items(c, &folder).await
            })
            .await?
            .into_iter()
            .filter(|m| m.msgid.is_none_or(|id| !seen.contains(&id)))
            .map(|m| (m.uid, Vec::new()))
            .collect();
        if leftovers.is_empty() {
            continue;
        }
        jobs.push(Job {
            source_messages: leftovers.len() as u64,
            filter: Some(Arc::new(Filter::Uids(leftovers))),
            ..job
        });
    }
    src.conn.logout().await;
    Ok(jobs)
}

/// X-GM-MSGID and X-GM-LABELS of every message of a folder, by UID. A FETCH the server ends
/// with NO or BAD after part of its answers is asked again from after the last UID that
/// arrived; a message that never arrives is missing here (a labelled one is then copied from
/// its label folder, as mail outside All Mail is) and counted in a warning.
async fn gmail_items(
    conn: &mut Connection,
    folder: &[u8],
) -> Result<Vec<crate::imap::session::GmailMeta>, ImapError> {
    let exists = conn.select(folder, true).await?.exists;
    let mut out = Vec::new();
    if exists == 0 {
        return Ok(out);
    }
    let mut lo = 1u32;
    loop {
        let (metas, refused) = conn.fetch_gmail(&format!("{lo}:*")).await?;
        // `n:*` always returns the last message, even below n.
        let highest = metas.iter().map(|m| m.uid).filter(|&u| u >= lo).max();
        out.extend(metas.into_iter().filter(|m| m.uid >= lo));
        match (refused, highest) {
            (None, _) => break,
            (Some(_), Some(u)) if u < u32::MAX => lo = u + 1,
            (Some(e), _) => return Err(e),
        }
    }
    out.sort_unstable_by_key(|m| m.uid);
    out.dedup_by_key(|m| m.uid);
    if out.len() < exists as usize {
        eprintln!(
            "warning: {}: the server reported {exists} messages but sent X-GM items for {}",
            folder.escape_ascii(),
            out.len()
        );
    }
    Ok(out)
}

/// The run's limits: the operator's options and the providers' published limits, the
/// tightest of each.
fn pace_limits(args: &Options) -> PaceLimits {
    let operator = Limits {
        messages_per_second: args.max_rate.filter(|r| r.is_finite() && *r > 0.0),
        bytes_per_second: args.max_bandwidth.filter(|b| *b > 0).map(|b| b as f64),
        bytes_per_day: args.daily_budget,
    };
    let source = args
        .provider
        .map_or_else(Limits::default, Provider::as_source);
    let target = args
        .target_provider
        .map_or_else(Limits::default, Provider::as_target);
    PaceLimits {
        limits: operator.min(source).min(target),
        window: Duration::from_secs(args.budget_window.max(1)),
    }
}

/// A progress bar on stderr with core's ETA, hidden when stderr is not a terminal.
fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} msgs {per_sec} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrus_is_known_by_its_capabilities() {
        let words =
            |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_owned).collect() };
        // After LOGIN, as the test kit's servers announce them.
        let cyrus = words(
            "IMAP4REV1 LITERAL+ ID ENABLE ACL BINARY CONDSTORE MOVE MULTIAPPEND NAMESPACE QRESYNC \
             QUOTA UIDPLUS DIGEST=SHA1 LIST-METADATA NO_ATOMIC_RENAME SCAN X-CREATEDMODSEQ \
             X-REPLICATION X-SIEVE-MAILBOX XLIST XMOVE IDLE APPENDLIMIT=4294967295",
        );
        let dovecot = words(
            "IMAP4REV1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND \
             UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC MOVE \
             SPECIAL-USE BINARY LITERAL+",
        );
        let courier = words(
            "IMAP4REV1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT \
             QUOTA IDLE ACL ACL2=UNION",
        );
        assert!(munges_8bit_headers(&cyrus));
        assert!(!munges_8bit_headers(&dovecot));
        assert!(!munges_8bit_headers(&courier));
        assert!(!munges_8bit_headers(&[]));
    }

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-02", "before").unwrap(), 86_400);
        assert!(parse_day("2024-13-01", "before").is_err());
        assert!(parse_day("yesterday", "since").is_err());
    }

    #[test]
    fn the_target_profile_is_guessed_from_capability_and_host() {
        let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let gmail = words(
            "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584",
        );
        let (p, why) = guess_profile(&gmail, "imap.example.org", "", &[]);
        assert_eq!(p, TargetProfile::Gmail);
        assert!(why.contains("X-GM-EXT-1"), "{why}");
        assert_eq!(
            guess_profile(&words("IMAP4REV1 x-gm-ext-1"), "h", "", &[]).0,
            TargetProfile::Gmail
        );
        let exchange = words("IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID");
        let (p, why) = guess_profile(&exchange, "Outlook.Office365.com.", "", &[]);
        assert_eq!(p, TargetProfile::Exchange);
        assert!(why.contains("outlook.office365.com"), "{why}");
        assert_eq!(
            guess_profile(&exchange, "imap.gmail.com", "", &[]).0,
            TargetProfile::Gmail
        );
        // A name that only ends like one is not one.
        assert_eq!(
            guess_profile(&exchange, "notoutlook.com", "", &[]).0,
            TargetProfile::Generic
        );
        for caps in [
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES LITERAL+ NAMESPACE QUOTA UIDPLUS CONDSTORE",
            "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+",
            "",
        ] {
            let (p, why) = guess_profile(&words(caps), "127.0.0.1", "", &[]);
            assert_eq!(p, TargetProfile::Generic, "{caps}");
            assert!(why.contains("--target-profile exchange"), "{why}");
        }
        assert_eq!(profile_name(TargetProfile::Exchange), "exchange");
    }

    #[test]
    fn the_target_profile_is_guessed_from_greeting_and_id() {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let caps = vec!["IMAP4REV1".to_owned(), "ID".to_owned()];
        // On-premises Exchange: a host name of its own, its greeting names it.
        let (p, why) = guess_profile(
            &caps,
            "mail.corp.example",
            "The Microsoft Exchange IMAP4 service is ready.",
            &[],
        );
        assert_eq!(p, TargetProfile::Exchange);
        assert!(why.contains("greeting"), "{why}");
        // Gmail behind a name of its own: its ID (as imap.gmail.com answers ID NIL).
        let gimap = pairs(&[
            ("name", "GImap"),
            ("vendor", "Google, Inc."),
            ("support-url", "https://support.google.com/mail"),
        ]);
        let (p, why) = guess_profile(&caps, "imap.example.org", "Gimap ready", &gimap);
        assert_eq!(p, TargetProfile::Gmail);
        assert!(why.contains("GImap"), "{why}");
        let exchange = pairs(&[("name", "Microsoft Exchange"), ("vendor", "Microsoft")]);
        assert_eq!(
            guess_profile(&caps, "10.0.0.5", "ready", &exchange).0,
            TargetProfile::Exchange
        );
        // Dovecot says what it is, which is neither.
        let dovecot = pairs(&[("name", "Dovecot")]);
        assert_eq!(
            guess_profile(&caps, "127.0.0.1", "Dovecot ready.", &dovecot).0,
            TargetProfile::Generic
        );
    }

    #[test]
    fn a_stage_refusal_names_both_dates() {
        let gap = imapmig_core::StageGap {
            before: 1_704_067_200,
            since: 1_706_745_600,
        };
        let delta = stage_refusal("INBOX", &Stage::Delta { since: gap.since }, &gap);
        assert!(
            delta.contains("--since 2024-02-01 is later than the pre-stage cutoff --before 2024-01-01 saved for folder INBOX"),
            "{delta}"
        );
        let pre = stage_refusal("INBOX", &Stage::PreStage { before: gap.before }, &gap);
        assert!(pre.contains("--before 2024-01-01 is earlier than"), "{pre}");
        assert_eq!(day(-86_400), "1969-12-31");
    }

    #[test]
    fn only_this_machine_gets_credentials_in_clear() {
        for host in [
            "127.0.0.1",
            "127.0.0.2",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "192.0.2.1",
            "10.0.0.1",
            "mail.example.com",
            "localhost.example",
            "::2",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn the_fingerprint_key_is_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = fingerprint_key(dir.path()).unwrap();
        let path = dir.path().join("fingerprint.key");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        assert!(!dir.path().join("fingerprint.key.new").exists());
        let again = fingerprint_key(dir.path()).unwrap();
        assert_eq!(
            key.as_bytes(),
            again.as_bytes(),
            "the key is kept across runs"
        );
    }

    #[test]
    fn backoff_honours_hints_and_gives_up() {
        let hint = Duration::from_secs(2);
        let wait = backoff(0, 3, Some(hint)).unwrap();
        assert!(wait >= hint && wait <= hint + hint / 10, "{wait:?}");
        for attempt in 0..3 {
            let w = backoff(attempt, 3, None).unwrap();
            assert!(w <= Duration::from_secs(30), "{w:?}");
        }
        assert_eq!(backoff(3, 3, None), None);
    }

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let all = [
            Exit::Complete,
            Exit::Incomplete,
            Exit::TooManyBad,
            Exit::Quota,
            Exit::Login,
            Exit::Unreachable,
            Exit::Tls,
            Exit::State,
            Exit::FolderMap,
            Exit::Refused,
            Exit::Usage,
        ];
        let mut codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        // Every code is in the table of the module docs, and the --help text.
        let docs = include_str!("migrate.rs");
        for e in all {
            assert!(
                docs.contains(&format!("| {} |", e.code())),
                "{e:?} is not in the exit status table"
            );
        }
    }

    #[test]
    fn connection_errors_map_to_exit_codes() {
        let cases = [
            (
                ImapError::Login {
                    user: "u".into(),
                    reason: "no".into(),
                },
                Exit::Login,
            ),
            (
                ImapError::Tls {
                    addr: "h".into(),
                    reason: "x".into(),
                },
                Exit::Tls,
            ),
            (
                ImapError::Connect {
                    addr: "h".into(),
                    reason: "refused".into(),
                },
                Exit::Unreachable,
            ),
            (
                ImapError::Url {
                    url: "x".into(),
                    reason: "y".into(),
                },
                Exit::Usage,
            ),
            (
                ImapError::Protocol {
                    command: "LIST".into(),
                    reason: "unexpected".into(),
                },
                Exit::Refused,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(imap_exit(&e), code, "{e}");
        }
    }
}
