//! The IMAP driver of imapmig-core's migration [`Engine`]: one folder pair, over one
//! connection to each server.
//!
//! Everything that decides (what to copy, when to save, what a refusal means, what the
//! target must hold at the end) lives in the engine; this module only waits: it observes
//! folders, streams bodies from the source into APPENDs on the target, writes skips to the
//! CSV log, stores flags, saves the state, sleeps when told to, and reconnects when a
//! connection fails. After a reconnection the engine goes on from its state, so a source
//! that cuts every connection after a few messages still completes in one run.
//!
//! # Identity
//!
//! A message is known by a keyed fingerprint of its identifying header fields
//! (`Message-ID`, `Date`, `From`, `To`, `Cc`, `Subject`) plus its RFC822.SIZE. Where that
//! fingerprint repeats in either folder, the bodies are compared: if they differ (mail
//! without Message-ID sent twice with the same headers), every message of that group, on
//! both sides, is known by the fingerprint of its whole content instead, so two different
//! messages are never one identity; if they are identical, the group keeps the header
//! fingerprint, and two identical messages stay two copies of one identity.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use imapmig_core::engine::{
    Action, Classified, Config, CopyItem, Engine, Event, Report, SkipEntry, StopReason,
};
use imapmig_core::{
    Flag, FolderState, FolderStatus, ModSeq, Observation, ObservedMessage, SkipReason, Uid,
    UidValidity,
};
use tokio::sync::{Semaphore, mpsc};

use super::ImapError;
use super::pace::{Pacer, human, utc};
use super::session::{AppendItem, Appended, Connection, MessageMeta};
use imapmig_core::progress::ProgressEvent;

/// Bytes of message bodies held at once between the source and the target (a larger message
/// still goes through, alone).
pub(crate) const BODY_BUDGET: usize = 64 << 20;
/// APPENDs pipelined in one round trip.
const APPEND_PIPELINE: usize = 32;
/// How long the target side waits for more bodies to fill a pipelined round.
const GATHER: Duration = Duration::from_millis(5);
/// UIDs per metadata FETCH command.
const META_CHUNK: u32 = 5000;
/// How long the target folder must stay unchanged before a pass with open intents observes
/// it (late APPENDs of a killed run or a dropped connection are still landing before that).
const SETTLE_STABLE: Duration = Duration::from_millis(1500);
/// How often the target is looked at while settling.
const SETTLE_STEP: Duration = Duration::from_millis(250);
/// The longest wait for the target to settle.
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// UIDs per body FETCH when computing content fingerprints.
const CONTENT_CHUNK: usize = 64;

/// Where skipped messages go. The CSV row is flushed before this returns `Ok`; an error when
/// the bad-item threshold is exceeded comes back as [`SkipOutcome::ThresholdExceeded`] after
/// the row is written.
pub(crate) trait SkipSink: Send + Sync {
    /// Logs one skip durably.
    fn skip(&self, row: &SkipRow<'_>) -> Result<SkipOutcome, String>;
    /// Counts messages asked for (for the fraction limit).
    fn asked(&self, n: u64);
}

/// One skip, for the CSV log.
#[derive(Debug, Clone)]
pub(crate) struct SkipRow<'a> {
    /// The source folder, for people.
    pub(crate) folder: &'a str,
    /// The source UID.
    pub(crate) uid: Uid,
    /// Its Message-ID, if it has one.
    pub(crate) message_id: Option<String>,
    /// RFC822.SIZE.
    pub(crate) size: u64,
    /// Why.
    pub(crate) reason: SkipReason,
    /// The server's words and the defect codes.
    pub(crate) detail: &'a str,
}

/// What logging a skip did to the bad-item threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkipOutcome {
    /// Still within the threshold.
    Within,
    /// The threshold is exceeded: the run stops once the state is saved.
    ThresholdExceeded(String),
}

/// A persistent home for one pair's [`FolderState`].
pub(crate) trait StateSlot: Send + Sync {
    /// Loads the state (empty when new).
    fn load(&self) -> Result<FolderState, String>;
    /// Saves it durably.
    fn save(&self, state: &FolderState) -> Result<(), String>;
}

/// Opens logged-in connections for a pair (with the run's own retry policy).
pub(crate) trait Connector: Send + Sync {
    /// A connection to the source.
    fn source(&self) -> impl Future<Output = Result<Connection, ImapError>>;
    /// A connection to the target.
    fn target(&self) -> impl Future<Output = Result<Connection, ImapError>>;
    /// How long to wait before attempt `attempt` (from 0) after a failure without progress;
    /// `None` when the retries are used up.
    fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Option<Duration>;
}

/// The two folders of a pair, as the servers name them on the wire.
#[derive(Debug, Clone)]
pub(crate) struct PairNames {
    /// Source folder: the exact bytes the server listed (8-bit ones too).
    pub(crate) source: Vec<u8>,
    /// Target folder: the exact bytes to send.
    pub(crate) target: Vec<u8>,
    /// Human-readable source name, for logs and the skip log ([`super::display_name`]).
    pub(crate) display: String,
    /// Human-readable target name.
    pub(crate) target_display: String,
}

/// What the pair needs from the run around it.
pub(crate) struct PairContext {
    /// Turns header fields and contents into fingerprints.
    pub(crate) fingerprinter: imapmig_dedupe::Fingerprinter,
    /// The engine's configuration (stage, policy, batch sizes); `condstore` and
    /// `max_message_size` are filled in per pair from the servers' capabilities.
    pub(crate) engine: Config,
    /// A largest message size set by the operator.
    pub(crate) max_message_size: Option<u64>,
    /// Plan and report only.
    pub(crate) dry_run: bool,
    /// Delete extra copies this run appended, when byte-identical to the copy kept.
    pub(crate) remove_own_duplicates: bool,
    /// RFC 2047-encode raw 8-bit header text before APPEND (`--repair-8bit-headers`, or a
    /// target that munges it).
    pub(crate) repair_8bit_headers: bool,
    /// Sink for skips (CSV) and bad-item accounting.
    pub(crate) skips: Arc<dyn SkipSink>,
    /// The run's pace (rates, transfer budgets) and progress, shared by the pairs.
    pub(crate) pacer: Arc<Pacer>,
    /// Progress: messages copied.
    pub(crate) on_copied: Arc<dyn Fn(u64) + Send + Sync>,
    /// Progress: messages planned.
    pub(crate) on_planned: Arc<dyn Fn(u64) + Send + Sync>,
}

/// Only some of the source folder's messages; `None` for all of them.
pub(crate) type SourceFilter = Option<Arc<Filter>>;

/// Which source messages a pair copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    /// These header fingerprints: Gmail's archived-only mail on a source without X-GM-EXT-1.
    Headers(HashSet<u128>),
    /// These UIDs, each with keywords added to its own flags: a group of Gmail's All Mail
    /// placed by X-GM-LABELS (the keywords carry the labels not used as the folder).
    Uids(HashMap<u32, Vec<String>>),
}

impl Filter {
    /// Whether the message with this UID and header fingerprint is copied.
    fn keeps(&self, uid: u32, header: u128) -> bool {
        match self {
            Filter::Headers(set) => set.contains(&header),
            Filter::Uids(map) => map.contains_key(&uid),
        }
    }

    /// Keywords to add to the message's flags.
    fn keywords(&self, uid: u32) -> &[String] {
        match self {
            Filter::Headers(_) => &[],
            Filter::Uids(map) => map.get(&uid).map_or(&[], Vec::as_slice),
        }
    }
}

/// A pair's result: the engine's report and what the driver knows of the messages.
#[derive(Debug, Clone)]
pub(crate) struct PairOutcome {
    /// The engine's report (counts from the verification).
    pub(crate) report: Report,
    /// Message-IDs of source messages by UID (for reports), for the messages in the report's
    /// lists only.
    pub(crate) message_ids: HashMap<u32, String>,
    /// Dry run: what would be copied.
    pub(crate) would_copy: u64,
    /// The saved source HIGHESTMODSEQ the last observation compared flags from (CONDSTORE);
    /// `None` for a full compare.
    pub(crate) flags_since: Option<u64>,
    /// Extra copies removed with `--remove-own-duplicates` (target UIDs).
    pub(crate) removed: Vec<u32>,
}

/// Why a pair stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PairError {
    /// A server problem that retries did not cure.
    #[error(transparent)]
    Imap(#[from] ImapError),
    /// The target kept throttling.
    #[error("target is throttling: {0}")]
    Throttled(String),
    /// The target is full.
    #[error("target over quota: {0}")]
    OverQuota(String),
    /// Too many bad items.
    #[error("{0}")]
    TooManyBad(String),
    /// The state store or the skip log failed.
    #[error("state: {0}")]
    State(String),
    /// A UIDVALIDITY change could not be confirmed.
    #[error(
        "UIDVALIDITY changed and only {confirmed} of {expected} recorded messages were found again; \
         nothing was copied. Check that the folder is the same mailbox, then run again with \
         --accept-reset to copy by fingerprint (never a message twice)"
    )]
    ResetUnconfirmed {
        /// Pairs found again.
        confirmed: u32,
        /// Pairs recorded before.
        expected: u32,
    },
    /// The engine was driven out of protocol (a bug).
    #[error("migration engine: {0}")]
    Engine(String),
}

/// A pair that stopped, with what its state recorded.
#[derive(Debug)]
pub(crate) struct Interrupted {
    /// Why.
    pub(crate) error: PairError,
    /// APPENDed by this run.
    pub(crate) copied_now: u64,
    /// Recorded as copied in the state (this run and earlier ones).
    pub(crate) recorded: u64,
    /// Recorded as skipped.
    pub(crate) skipped: u64,
}

/// What the driver knows of one observed message beyond the engine's [`ObservedMessage`].
#[derive(Debug, Clone)]
struct Known {
    /// The Message-ID field's value.
    message_id: Option<String>,
}

/// The target as observed.
#[derive(Debug, Clone)]
struct Seen {
    observation: Observation,
}

/// The driver's working state for one pair.
struct Driver<'a, C: Connector> {
    names: &'a PairNames,
    ctx: &'a PairContext,
    connector: &'a C,
    slot: &'a dyn StateSlot,
    filter: &'a SourceFilter,
    src: Option<Connection>,
    dst: Option<Connection>,
    /// Header fingerprints that repeat on either side: their bodies are compared.
    colliding: HashSet<u128>,
    /// Header fingerprints shared by messages with different bodies: those messages are
    /// known by content.
    mixed: HashSet<u128>,
    /// The target observed together with the source, handed to the engine on ObserveTarget.
    target_cache: Option<Seen>,
    /// Source messages as last observed.
    source_known: HashMap<u32, Known>,
    budget: Arc<Semaphore>,
    copied_now: u64,
    /// A bad-item threshold was exceeded: stop after the next save.
    stop_after_save: Option<String>,
    /// Backoffs in a row asked by the engine (for the delay).
    backoffs: u32,
    /// CONDSTORE: the HIGHESTMODSEQ the last source observation took flag changes from.
    flags_since: Option<ModSeq>,
    /// The progress bar knows the plan's size.
    planned: bool,
    /// The target was seen to stop growing since the connections were (re)opened.
    settled: bool,
    /// The target as the verification saw it.
    last_verified: Option<Observation>,
}

/// Runs one folder pair to the end: observe, copy, verify. Connections are opened (and
/// reopened after failures) through `connector`; retries count attempts without progress.
pub(crate) async fn run_pair<C: Connector>(
    names: &PairNames,
    ctx: &PairContext,
    connector: &C,
    slot: &dyn StateSlot,
    filter: &SourceFilter,
) -> Result<PairOutcome, Interrupted> {
    let state = match slot.load() {
        Ok(s) => s,
        Err(e) => {
            return Err(Interrupted {
                error: PairError::State(e),
                copied_now: 0,
                recorded: 0,
                skipped: 0,
            });
        }
    };
    let mut d = Driver {
        names,
        ctx,
        connector,
        slot,
        filter,
        src: None,
        dst: None,
        colliding: HashSet::new(),
        mixed: HashSet::new(),
        target_cache: None,
        source_known: HashMap::new(),
        budget: Arc::new(Semaphore::new(BODY_BUDGET)),
        copied_now: 0,
        stop_after_save: None,
        backoffs: 0,
        flags_since: None,
        planned: false,
        settled: false,
        last_verified: None,
    };
    if ctx.dry_run {
        return d.dry_run(state).await.map_err(|error| Interrupted {
            error,
            copied_now: 0,
            recorded: 0,
            skipped: 0,
        });
    }
    let mut engine: Option<Engine> = None;
    let mut state = Some(state);
    let mut failures = 0u32;
    let mut progress_at_failure = 0u64;
    loop {
        let result = d.connect_and_run(&mut engine, &mut state).await;
        let engine_ref = engine.as_ref();
        let progress = engine_ref.map_or(0, Engine::progress);
        match result {
            Ok(mut report) => {
                let mut removed = Vec::new();
                if ctx.remove_own_duplicates
                    && !report.duplicates.is_empty()
                    && let (Some(dst), Some(seen)) = (d.dst.as_mut(), d.last_verified.as_ref())
                {
                    match remove_own_duplicates(dst, &names.target, seen, &report.duplicates).await
                    {
                        Ok(gone) => removed = gone,
                        Err(e) => eprintln!("{}: removing duplicates: {e}", names.display),
                    }
                    report
                        .duplicates
                        .retain(|dup| dup.target_uids.iter().any(|u| !removed.contains(&u.get())));
                    report.target_messages =
                        report.target_messages.saturating_sub(removed.len() as u64);
                }
                d.logout().await;
                let message_ids = d.message_ids(&report);
                return Ok(PairOutcome {
                    report,
                    message_ids,
                    would_copy: 0,
                    flags_since: d.flags_since.map(ModSeq::get),
                    removed,
                });
            }
            Err(e) if is_transient(&e) => {
                // Retries count attempts without progress: a source that cuts every
                // connection after a few messages still gets through.
                if progress > progress_at_failure {
                    failures = 0;
                    progress_at_failure = progress;
                }
                let hint = match &e {
                    PairError::Imap(i) => i.reply_class().retry_after(),
                    _ => None,
                };
                match connector.backoff(failures, hint) {
                    Some(wait) => {
                        failures += 1;
                        eprintln!(
                            "{}: {e}; retry {failures} without progress in {:.1} s",
                            names.display,
                            wait.as_secs_f64()
                        );
                        // A refusal (throttling) leaves the connection usable: the same
                        // action is asked again. Anything else drops the connections; the
                        // engine then observes both sides again and goes on from its state.
                        if !matches!(e, PairError::Imap(ImapError::No { .. })) {
                            d.src = None;
                            d.dst = None;
                            d.target_cache = None;
                            d.settled = false;
                            if let Some(engine) = engine.as_mut() {
                                engine.reconnected();
                            }
                        }
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(d.interrupted(e, engine.as_ref())),
                }
            }
            Err(e) => {
                d.logout().await;
                return Err(d.interrupted(e, engine.as_ref()));
            }
        }
    }
}

/// Whether reconnecting and going on may help.
fn is_transient(e: &PairError) -> bool {
    match e {
        PairError::Imap(i) => i.is_transient(),
        _ => false,
    }
}

/// The Message-ID field value of a header block.
pub(crate) fn message_id_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    while let Some(line) = lines.next() {
        if let Some((name, value)) = line.split_once(':')
            && !name.starts_with([' ', '\t'])
            && name.trim().eq_ignore_ascii_case("message-id")
        {
            // The value may be folded onto continuation lines.
            let mut v = value.trim().to_owned();
            while let Some(next) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                v.push_str(next.trim());
            }
            return (!v.is_empty()).then_some(v);
        }
    }
    None
}

/// Folder status from a SELECT/EXAMINE answer.
pub(crate) fn status_of(sel: &super::session::Selected) -> Result<FolderStatus, ImapError> {
    let uid_validity =
        UidValidity::try_from(sel.uid_validity).map_err(|_| ImapError::Protocol {
            command: "SELECT".into(),
            reason: "no UIDVALIDITY".into(),
        })?;
    let mut status = FolderStatus::new(uid_validity, sel.exists);
    status.uid_next = sel.uid_next.and_then(|u| Uid::try_from(u).ok());
    status.highest_modseq = sel.highest_modseq.and_then(|m| ModSeq::try_from(m).ok());
    Ok(status)
}

/// Every message's metadata in the selected folder, in UID chunks so that each response
/// stays bounded on very large folders. A FETCH that the server ends with NO or BAD after
/// part of its answers (Gmail's `Some messages could not be FETCHed`) is asked again from
/// after the last UID that arrived, as long as that makes progress.
pub(crate) async fn fetch_all_meta(
    conn: &mut Connection,
    status: &FolderStatus,
) -> Result<Vec<MessageMeta>, ImapError> {
    let fields: Vec<&str> = imapmig_dedupe::fingerprint::HEADER_FIELDS.to_vec();
    let mut out: Vec<MessageMeta> = Vec::with_capacity(status.messages as usize);
    if status.messages == 0 {
        return Ok(out);
    }
    let top = status.uid_next.map_or(u32::MAX, Uid::get).max(2);
    let mut lo = 1u32;
    loop {
        let hi = lo.saturating_add(META_CHUNK - 1);
        let last = hi >= top.saturating_sub(1) || status.uid_next.is_none();
        let set = if last {
            format!("{lo}:*")
        } else {
            format!("{lo}:{hi}")
        };
        let (metas, refused) = conn.fetch_meta_partial(&set, &fields).await?;
        let mut highest = None;
        for m in metas {
            // `n:*` always returns the last message, even below n.
            if m.uid >= lo {
                highest = highest.max(Some(m.uid));
                out.push(m);
            }
        }
        if let Some(refusal) = refused {
            match highest {
                Some(u) if u < u32::MAX => {
                    lo = u + 1;
                    continue;
                }
                _ => return Err(refusal),
            }
        }
        if last {
            break;
        }
        lo = hi + 1;
    }
    out.sort_unstable_by_key(|m| m.uid);
    out.dedup_by_key(|m| m.uid);
    if (out.len() as u64) < u64::from(status.messages) {
        eprintln!(
            "warning: the server reported {} messages but sent metadata for {}",
            status.messages,
            out.len()
        );
    }
    Ok(out)
}

/// The metadata of these UIDs (sorted) of the selected folder, a few hundred per command so
/// that each command line stays short. A FETCH ended by NO or BAD after part of its answers is
/// asked again for the rest while that makes progress; a UID the server no longer has is
/// left out.
pub(crate) async fn fetch_meta_of(
    conn: &mut Connection,
    uids: &[u32],
) -> Result<Vec<MessageMeta>, ImapError> {
    const UIDS_PER_FETCH: usize = 500;
    let fields: Vec<&str> = imapmig_dedupe::fingerprint::HEADER_FIELDS.to_vec();
    let mut out: Vec<MessageMeta> = Vec::with_capacity(uids.len());
    for chunk in uids.chunks(UIDS_PER_FETCH) {
        let mut pending: Vec<u32> = chunk.to_vec();
        while !pending.is_empty() {
            let set = super::session::uid_set(&pending);
            let (metas, refused) = conn.fetch_meta_partial(&set, &fields).await?;
            let got: HashSet<u32> = metas
                .iter()
                .map(|m| m.uid)
                .filter(|u| pending.binary_search(u).is_ok())
                .collect();
            out.extend(metas.into_iter().filter(|m| got.contains(&m.uid)));
            match refused {
                None => break,
                Some(e) if got.is_empty() => return Err(e),
                Some(_) => pending.retain(|u| !got.contains(u)),
            }
        }
    }
    out.sort_unstable_by_key(|m| m.uid);
    out.dedup_by_key(|m| m.uid);
    Ok(out)
}

impl<C: Connector> Driver<'_, C> {
    async fn src(&mut self) -> Result<&mut Connection, ImapError> {
        if self.src.is_none() {
            self.src = Some(self.connector.source().await?);
        }
        self.src.as_mut().ok_or_else(|| ImapError::Protocol {
            command: "connect".into(),
            reason: "no source connection".into(),
        })
    }

    async fn dst(&mut self) -> Result<&mut Connection, ImapError> {
        if self.dst.is_none() {
            self.dst = Some(self.connector.target().await?);
        }
        self.dst.as_mut().ok_or_else(|| ImapError::Protocol {
            command: "connect".into(),
            reason: "no target connection".into(),
        })
    }

    async fn logout(&mut self) {
        if let Some(c) = self.src.take() {
            c.logout().await;
        }
        if let Some(c) = self.dst.take() {
            c.logout().await;
        }
    }

    fn interrupted(&self, error: PairError, engine: Option<&Engine>) -> Interrupted {
        let state = engine
            .map(|e| e.state().clone())
            .or_else(|| self.slot.load().ok())
            .unwrap_or_default();
        Interrupted {
            error,
            copied_now: self.copied_now,
            recorded: state.copied_count() as u64,
            skipped: state.skipped().count() as u64,
        }
    }

    fn message_ids(&self, report: &Report) -> HashMap<u32, String> {
        let wanted = report
            .not_copied
            .iter()
            .map(|n| n.source)
            .chain(report.duplicates.iter().flat_map(|d| d.source_uids.clone()));
        wanted
            .filter_map(|u| {
                let id = self.source_known.get(&u.get())?.message_id.clone()?;
                Some((u.get(), id))
            })
            .collect()
    }

    /// Connects (when needed), builds the engine on first use with the servers'
    /// capabilities, and runs it until it is done or something fails.
    async fn connect_and_run(
        &mut self,
        engine: &mut Option<Engine>,
        state: &mut Option<FolderState>,
    ) -> Result<Report, PairError> {
        self.src().await?;
        self.dst().await?;
        if engine.is_none() {
            let (s, t) = match (&self.src, &self.dst) {
                (Some(s), Some(t)) => (s.capabilities().clone(), t.capabilities().clone()),
                _ => return Err(PairError::Engine("connections missing".into())),
            };
            let mut config = self.ctx.engine.clone();
            config.condstore = s.condstore && t.condstore;
            config.max_message_size = match (t.append_limit, self.ctx.max_message_size) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            *engine = Some(Engine::new(state.take().unwrap_or_default(), config));
        }
        let Some(engine) = engine.as_mut() else {
            return Err(PairError::Engine("engine missing".into()));
        };
        loop {
            let action = engine.next_action();
            match action {
                Action::ObserveSource {
                    flags_changed_since,
                } => {
                    self.flags_since = flags_changed_since;
                    let seen = self.observe_both(engine, flags_changed_since).await?;
                    self.feed(engine, Event::SourceObserved(seen))?;
                }
                Action::ObserveTarget => {
                    let seen = match self.target_cache.take() {
                        Some(t) => t,
                        None => self.observe_target(false).await?,
                    };
                    self.feed(engine, Event::TargetObserved(seen.observation))?;
                    if !self.planned
                        && let Some(plan) = engine.report().plan
                    {
                        self.planned = true;
                        (self.ctx.on_planned)(plan.copy as u64);
                        self.ctx.pacer.record(ProgressEvent::FolderPlanned {
                            folder: &self.names.display,
                            messages: plan.copy as u64,
                            bytes: plan.copy_bytes,
                        });
                    }
                }
                Action::Save => {
                    let event = match self.slot.save(engine.state()) {
                        Ok(()) => Event::Saved,
                        Err(e) => Event::SaveFailed(e),
                    };
                    self.feed(engine, event)?;
                    if let Some(why) = self.stop_after_save.take() {
                        return Err(PairError::TooManyBad(why));
                    }
                }
                Action::Copy(items) => {
                    self.ctx.skips.asked(items.len() as u64);
                    self.copy(engine, items).await?;
                }
                Action::Classify { source, reply } => {
                    let verdict = self.classify(source).await?;
                    let _ = reply;
                    self.feed(engine, Event::Classified { source, verdict })?;
                }
                Action::LogSkip(entry) => {
                    self.log_skip(&entry)?;
                    self.ctx.pacer.record(ProgressEvent::Skipped {
                        folder: &self.names.display,
                        bytes: entry.size,
                    });
                    self.feed(
                        engine,
                        Event::SkipLogged {
                            source: entry.source,
                        },
                    )?;
                }
                Action::StoreFlags(changes) => {
                    let dst = self.dst().await?;
                    let mut failed = None;
                    for change in &changes {
                        let add: Vec<String> = change.add.iter().map(ToString::to_string).collect();
                        let remove: Vec<String> =
                            change.remove.iter().map(ToString::to_string).collect();
                        match dst.store_flags(change.target.get(), &add, &remove).await {
                            Ok(()) => {}
                            Err(e @ ImapError::No { .. }) => failed = Some(e.to_string()),
                            Err(e) => return Err(e.into()),
                        }
                    }
                    let event = match failed {
                        None => Event::FlagsStored,
                        Some(text) => Event::FlagsFailed(text),
                    };
                    self.feed(engine, event)?;
                }
                Action::Backoff { hint, reason } => {
                    let wait = self
                        .connector
                        .backoff(self.backoffs.min(30), hint)
                        .unwrap_or(Duration::from_secs(30));
                    self.backoffs += 1;
                    self.ctx.pacer.record(ProgressEvent::Throttled {
                        class: imapmig_core::throttle::ReplyClass::Throttled { retry_after: hint },
                        wait,
                    });
                    eprintln!(
                        "{}: target throttling ({reason}); waiting {:.1} s",
                        self.names.display,
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                }
                Action::Verify => {
                    let seen = self.observe_target(true).await?;
                    self.last_verified = Some(seen.observation.clone());
                    self.feed(engine, Event::TargetObserved(seen.observation))?;
                }
                Action::Done => {
                    self.ctx.pacer.record(ProgressEvent::FolderDone {
                        folder: &self.names.display,
                    });
                    return Ok(engine.report().clone());
                }
                Action::Stop(reason) => return Err(stop_error(reason)),
                other => {
                    return Err(PairError::Engine(format!("unknown action {other:?}")));
                }
            }
        }
    }

    fn feed(&mut self, engine: &mut Engine, event: Event) -> Result<(), PairError> {
        if matches!(event, Event::Copied { .. }) {
            self.backoffs = 0;
        }
        engine
            .handle(event)
            .map_err(|e| PairError::Engine(e.to_string()))
    }

    fn log_skip(&mut self, entry: &SkipEntry) -> Result<(), PairError> {
        let message_id = self
            .source_known
            .get(&entry.source.get())
            .and_then(|k| k.message_id.clone());
        eprintln!(
            "skipped: {} uid {}: {}: {}",
            self.names.display, entry.source, entry.reason, entry.detail
        );
        let row = SkipRow {
            folder: &self.names.display,
            uid: entry.source,
            message_id,
            size: entry.size,
            reason: entry.reason,
            detail: &entry.detail,
        };
        match self.ctx.skips.skip(&row) {
            Ok(SkipOutcome::Within) => Ok(()),
            Ok(SkipOutcome::ThresholdExceeded(why)) => {
                self.stop_after_save = Some(why);
                Ok(())
            }
            Err(e) => Err(PairError::State(format!("skip log: {e}"))),
        }
    }

    /// Observes the source (read-only) and, for fingerprint collisions, the target too; the
    /// target's observation is kept for the engine's next ObserveTarget.
    async fn observe_both(
        &mut self,
        engine: &Engine,
        flags_changed_since: Option<ModSeq>,
    ) -> Result<Observation, PairError> {
        let source_name = self.names.source.clone();
        let filter = self.filter;
        let src = self.src().await?;
        let sel = src.select(&source_name, true).await?;
        let status = status_of(&sel)?;
        let metas = match filter.as_deref() {
            // A group of Gmail's All Mail: only its own messages are read, so the groups
            // together read All Mail about once.
            Some(Filter::Uids(keep)) => {
                let mut uids: Vec<u32> = keep.keys().copied().collect();
                uids.sort_unstable();
                fetch_meta_of(src, &uids).await?
            }
            _ => fetch_all_meta(src, &status).await?,
        };
        let changed: Option<HashMap<u32, Vec<String>>> = match flags_changed_since {
            Some(m) => Some(
                src.fetch_changed_flags(m.get())
                    .await?
                    .into_iter()
                    .collect(),
            ),
            None => None,
        };
        if engine.state().open_intents().next().is_some() && !self.settled {
            self.settle_target().await?;
        }
        let target_metas = self.target_metas(false).await?;
        // Header fingerprints that collide on either side, this pass.
        for h in colliding(&self.header_fps(&metas))
            .into_iter()
            .chain(colliding(&self.header_fps(&target_metas.1)))
        {
            self.colliding.insert(h);
        }
        // Where a header fingerprint repeats, the bodies decide: a group whose bodies differ
        // (mail without Message-ID sent twice with the same headers) is known by content on
        // both sides; a group of identical messages keeps the header fingerprint, so its
        // copies keep their identity however many of them have landed.
        let colliding = self.colliding.clone();
        let content = self.content_fps(true, &metas, &colliding).await?;
        let target_content = self.content_fps(false, &target_metas.1, &colliding).await?;
        let mut bodies: HashMap<u128, HashSet<u128>> = HashMap::new();
        for (m, c) in metas
            .iter()
            .filter_map(|m| Some((m, content.get(&m.uid)?)))
            .chain(
                target_metas
                    .1
                    .iter()
                    .filter_map(|m| Some((m, target_content.get(&m.uid)?))),
            )
        {
            bodies.entry(self.header_fp(m)).or_default().insert(*c);
        }
        for (h, set) in bodies {
            if set.len() > 1 {
                self.mixed.insert(h);
            }
        }
        let mut known = HashMap::with_capacity(metas.len());
        let mut unkept_labels: HashSet<String> = HashSet::new();
        let mut messages = Vec::with_capacity(metas.len());
        for m in &metas {
            let header = self.header_fp(m);
            if let Some(keep) = self.filter.as_ref()
                && !keep.keeps(m.uid, header)
            {
                continue;
            }
            let Ok(uid) = Uid::try_from(m.uid) else {
                continue;
            };
            let fp = match content.get(&m.uid) {
                Some(c) if self.mixed.contains(&header) => *c,
                _ => header,
            };
            let mut o = ObservedMessage::new(uid, u64::from(m.size)).with_fingerprint(fp);
            if let Some(d) = m.internal_date {
                o = o.with_internal_date(d.timestamp());
            }
            let flags_of =
                |f: &[String]| -> Vec<Flag> { f.iter().filter_map(|f| f.parse().ok()).collect() };
            o.flags = match &changed {
                // CONDSTORE: a copied message's flags only when they changed since.
                Some(changed) if engine.state().copied_message(uid).is_some() => {
                    changed.get(&m.uid).map(|f| flags_of(f))
                }
                _ => Some(flags_of(&m.flags)),
            };
            // Gmail labels kept as keywords are part of the message's source flags, so flag
            // sync keeps them on the target.
            if let (Some(flags), Some(keep)) = (o.flags.as_mut(), self.filter.as_ref()) {
                for k in keep.keywords(m.uid) {
                    match k.parse::<Flag>() {
                        Ok(f) if !flags.contains(&f) => flags.push(f),
                        Ok(_) => {}
                        // Said once per label and pass: the messages are copied, without it.
                        Err(e) => {
                            if unkept_labels.insert(k.clone()) {
                                eprintln!(
                                    "{}: Gmail label {k:?} cannot be an IMAP keyword ({e}); its \
                                     messages are copied without it",
                                    self.names.display
                                );
                            }
                        }
                    }
                }
            }
            known.insert(
                m.uid,
                Known {
                    message_id: message_id_of(&m.header),
                },
            );
            messages.push(o);
        }
        let mut status = status;
        status.messages = u32::try_from(messages.len()).unwrap_or(u32::MAX);
        self.source_known = known;
        let target = self.seen(target_metas.0, &target_metas.1, &target_content);
        self.target_cache = Some(target);
        Ok(Observation::new(status, messages))
    }

    /// The header fingerprint, taken over the fields as the copy will hold them (see
    /// [`identity_form`]): RFC 2047-encoded when `--repair-8bit-headers` is on, then with
    /// any raw 8-bit byte as Cyrus would store it, so that a copy keeps its source's
    /// fingerprint (and size) and is found again without its recorded UID.
    fn header_fp(&self, m: &MessageMeta) -> u128 {
        let form = identity_form(&m.header, self.ctx.repair_8bit_headers);
        let size = (u64::from(m.size) + form.len() as u64).saturating_sub(m.header.len() as u64);
        self.ctx
            .fingerprinter
            .headers_with_size(&form, size)
            .as_u128()
    }

    fn header_fps(&self, metas: &[MessageMeta]) -> Vec<u128> {
        metas.iter().map(|m| self.header_fp(m)).collect()
    }

    /// Waits until the target folder stops growing. After a crash or a dropped connection,
    /// APPENDs that were already on their way (pipelined, or in the server's input buffer)
    /// are still being stored for a moment; observing before they land would make their
    /// open intents look lost and copy them again. UIDNEXT and EXISTS must stay the same for
    /// [`SETTLE_STABLE`] (checked every [`SETTLE_STEP`], for at most [`SETTLE_MAX`]).
    async fn settle_target(&mut self) -> Result<(), PairError> {
        let name = self.names.target.clone();
        let dst = self.dst().await?;
        let started = tokio::time::Instant::now();
        let mut last = None;
        let mut stable_since = started;
        loop {
            let now = match dst.select(&name, true).await {
                Ok(sel) => (sel.uid_next, sel.exists),
                // Not there yet: nothing can be landing in it.
                Err(ImapError::No { .. }) => break,
                Err(e) => return Err(e.into()),
            };
            let at = tokio::time::Instant::now();
            if last != Some(now) {
                last = Some(now);
                stable_since = at;
            } else if at - stable_since >= SETTLE_STABLE {
                break;
            }
            if at - started >= SETTLE_MAX {
                eprintln!(
                    "{}: the target folder was still growing after {} s; going on",
                    self.names.display,
                    SETTLE_MAX.as_secs()
                );
                break;
            }
            tokio::time::sleep(SETTLE_STEP).await;
        }
        self.settled = true;
        Ok(())
    }

    /// The target folder selected read-write (created when missing) or, for verification,
    /// read-only; with its messages' metadata.
    async fn target_metas(
        &mut self,
        verify: bool,
    ) -> Result<(FolderStatus, Vec<MessageMeta>), PairError> {
        let name = self.names.target.clone();
        let dry_run = self.ctx.dry_run;
        let dst = self.dst().await?;
        let sel = match dst.select(&name, verify || dry_run).await {
            Ok(sel) => sel,
            // A dry run creates nothing: a missing target folder is an empty one.
            Err(ImapError::No { .. }) if dry_run => {
                let status = FolderStatus::new(UidValidity::new(std::num::NonZeroU32::MIN), 0);
                return Ok((status, Vec::new()));
            }
            Err(ImapError::No { .. }) if !verify => {
                dst.create(&name).await?;
                dst.select(&name, false).await?
            }
            Err(e) => return Err(e.into()),
        };
        let status = status_of(&sel)?;
        let metas = fetch_all_meta(dst, &status).await?;
        Ok((status, metas))
    }

    async fn observe_target(&mut self, verify: bool) -> Result<Seen, PairError> {
        let (status, metas) = self.target_metas(verify).await?;
        self.target_seen(status, &metas).await
    }

    /// The target's observation: messages whose header fingerprint is in a group with
    /// different bodies are known by content.
    async fn target_seen(
        &mut self,
        status: FolderStatus,
        metas: &[MessageMeta],
    ) -> Result<Seen, PairError> {
        let mixed = self.mixed.clone();
        let content = self.content_fps(false, metas, &mixed).await?;
        Ok(self.seen(status, metas, &content))
    }

    /// The target's observation from its metadata and the content fingerprints fetched.
    fn seen(
        &self,
        status: FolderStatus,
        metas: &[MessageMeta],
        content: &HashMap<u32, u128>,
    ) -> Seen {
        let mut messages = Vec::with_capacity(metas.len());
        for m in metas {
            let Ok(uid) = Uid::try_from(m.uid) else {
                continue;
            };
            let header = self.header_fp(m);
            let fp = match content.get(&m.uid) {
                Some(c) if self.mixed.contains(&header) => *c,
                _ => header,
            };
            let mut o = ObservedMessage::new(uid, u64::from(m.size))
                .with_fingerprint(fp)
                .with_flags(m.flags.iter().filter_map(|f| f.parse().ok()).collect());
            if let Some(d) = m.internal_date {
                o = o.with_internal_date(d.timestamp());
            }
            messages.push(o);
        }
        Seen {
            observation: Observation::new(status, messages),
        }
    }

    /// Content fingerprints of the messages (of the selected folder on one side) whose header
    /// fingerprint collides.
    async fn content_fps(
        &mut self,
        source: bool,
        metas: &[MessageMeta],
        headers: &HashSet<u128>,
    ) -> Result<HashMap<u32, u128>, PairError> {
        let uids: Vec<u32> = metas
            .iter()
            .filter(|m| headers.contains(&self.header_fp(m)))
            .map(|m| m.uid)
            .collect();
        let mut out = HashMap::with_capacity(uids.len());
        if uids.is_empty() {
            return Ok(out);
        }
        let budget = self.budget.clone();
        let fingerprinter = self.ctx.fingerprinter.clone();
        let repair = self.ctx.repair_8bit_headers;
        let conn = if source {
            self.src().await?
        } else {
            self.dst().await?
        };
        for chunk in uids.chunks(CONTENT_CHUNK) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                let mut fetch = conn.fetch_bodies(&pending).await?;
                let mut got = 0usize;
                let mut refused = None;
                while let Some(item) = fetch.next(&budget).await {
                    match item {
                        Ok(body) => {
                            got += 1;
                            let form = identity_form(&body.body, repair);
                            out.insert(body.uid, fingerprinter.content(&form).as_u128());
                        }
                        // Gmail's `NO Some messages could not be FETCHed` after part of the
                        // answers: the rest is asked again while that makes progress.
                        Err(e @ ImapError::No { .. }) if !e.is_transient() => refused = Some(e),
                        Err(e) => return Err(e.into()),
                    }
                }
                match refused {
                    None => break,
                    Some(e) if got == 0 => return Err(e.into()),
                    Some(_) => pending = fetch.missing(),
                }
            }
        }
        Ok(out)
    }

    /// Classifies a message the target refused, fetching its body again.
    async fn classify(&mut self, source: Uid) -> Result<Classified, PairError> {
        let budget = self.budget.clone();
        let eight_bit = self.ctx.repair_8bit_headers;
        let src = self.src().await?;
        let mut fetch = src.fetch_bodies(&[source.get()]).await?;
        let mut body = None;
        while let Some(item) = fetch.next(&budget).await {
            match item {
                Ok(b) => body = Some(b),
                Err(ImapError::No { .. }) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let Some(body) = body else {
            return Ok(Classified::Clean);
        };
        let verdict = imapmig_mime::classify(&body.body);
        let codes: Vec<String> = verdict.codes().iter().map(|c| (*c).to_owned()).collect();
        Ok(match verdict.verdict {
            imapmig_mime::Verdict::Corrupt => Classified::Corrupt { codes },
            imapmig_mime::Verdict::Repairable if repaired(&body.body, eight_bit).is_some() => {
                Classified::Repairable { codes }
            }
            imapmig_mime::Verdict::Repairable => Classified::Corrupt { codes },
            _ => Classified::Clean,
        })
    }

    /// Streams the batch's bodies from the source into pipelined APPENDs on the target and
    /// tells the engine each outcome as it comes. What the source did not return is asked
    /// again while that makes progress, then reported as not fetched.
    async fn copy(&mut self, engine: &mut Engine, items: Vec<CopyItem>) -> Result<(), PairError> {
        self.pace(&items).await;
        self.src().await?;
        self.dst().await?;
        let by_uid: HashMap<u32, CopyItem> =
            items.iter().map(|i| (i.source.get(), i.clone())).collect();
        let mut pending: Vec<u32> = items.iter().map(|i| i.source.get()).collect();
        let target = self.names.target.clone();
        let target_display = self.names.target_display.clone();
        while !pending.is_empty() {
            let (Some(src), Some(dst)) = (self.src.as_mut(), self.dst.as_mut()) else {
                return Err(PairError::Engine("connections missing".into()));
            };
            let budget = self.budget.clone();
            let (tx, rx) = mpsc::channel::<super::session::FetchedBody>(APPEND_PIPELINE * 2);
            let asked = pending.clone();
            let producer = async move {
                let mut fetch = src.fetch_bodies(&asked).await?;
                let mut outcome: Result<(), ImapError> = Ok(());
                while let Some(item) = fetch.next(&budget).await {
                    match item {
                        Ok(body) => {
                            if tx.send(body).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            outcome = Err(e);
                            break;
                        }
                    }
                }
                let missing = fetch.missing();
                drop(tx);
                Ok::<_, ImapError>((outcome, missing))
            };
            let mut events: Vec<Event> = Vec::new();
            let mut copied = 0u64;
            let on_copied = self.ctx.on_copied.clone();
            let eight_bit = self.ctx.repair_8bit_headers;
            let consumer = async {
                // The receiver lives in this future: when the target fails, it is dropped
                // with it, so the source side stops instead of waiting to send forever.
                let mut rx = rx;
                let mut round = Vec::with_capacity(APPEND_PIPELINE);
                loop {
                    round.clear();
                    let Some(first) = rx.recv().await else { break };
                    round.push(first);
                    let deadline = tokio::time::Instant::now() + GATHER;
                    while round.len() < APPEND_PIPELINE {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(b)) => round.push(b),
                            _ => break,
                        }
                    }
                    if eight_bit {
                        for body in &mut round {
                            if let Some(source) = Uid::try_from(body.uid).ok()
                                && let Some(encoded) =
                                    encoded_8bit(&body.body, &target_display, source)
                            {
                                body.body = encoded.into();
                            }
                        }
                    }
                    append_round(
                        dst,
                        &target,
                        &by_uid,
                        &round,
                        &mut events,
                        &mut copied,
                        &on_copied,
                    )
                    .await?;
                    // The bodies are on the target: their memory goes back to the budget.
                    for body in round.drain(..) {
                        drop(body.permit);
                    }
                }
                Ok::<(), ImapError>(())
            };
            let (fetched, appended) = futures::join!(producer, consumer);
            self.copied_now += copied;
            let returned = events.len();
            for event in events {
                if let Event::Copied { source, .. } = &event {
                    self.ctx.pacer.record(ProgressEvent::Copied {
                        folder: &self.names.display,
                        bytes: by_uid.get(&source.get()).map_or(0, |i| i.size),
                    });
                }
                self.feed(engine, event)?;
            }
            appended?;
            let (fetch_outcome, missing) = fetched?;
            match fetch_outcome {
                Ok(()) => {}
                // Throttled: the same batch is asked again after the backoff (the engine
                // lists what still has no outcome); never "not fetched".
                Err(e @ ImapError::No { .. }) if e.is_transient() => return Err(e.into()),
                Err(ImapError::No { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            // Gmail's `OK [THROTTLED]`: the server asks for a slower pace.
            let slowdown = [self.src.as_mut(), self.dst.as_mut()]
                .into_iter()
                .flatten()
                .filter_map(Connection::take_slowdown)
                .max();
            if let Some(pause) = slowdown {
                eprintln!(
                    "{}: the server asks to slow down; pausing {:.1} s",
                    self.names.display,
                    pause.as_secs_f64()
                );
                tokio::time::sleep(pause).await;
            }
            if missing.is_empty() {
                break;
            }
            if returned == 0 {
                // Asked again and nothing came: the source does not have them (expunged, or
                // it refuses to serve them).
                for uid in missing {
                    if let Ok(source) = Uid::try_from(uid) {
                        self.feed(engine, Event::NotFetched { source })?;
                    }
                }
                break;
            }
            pending = missing;
        }
        Ok(())
    }

    /// Waits as long as the run's pace asks before this batch is fetched: message and byte
    /// rates, and the transfer budget (saying until when, with core's ETA).
    async fn pace(&mut self, items: &[CopyItem]) {
        let bytes: u64 = items.iter().map(|i| i.size).sum();
        let pause = self.ctx.pacer.take(items.len() as u64, bytes);
        if pause.wait.is_zero() {
            return;
        }
        if let Some(until) = pause.budget_until {
            let limits = self.ctx.pacer.limits();
            let eta = self
                .ctx
                .pacer
                .eta()
                .map_or_else(|| "unknown".to_owned(), human);
            eprintln!(
                "{}: transfer budget of {} bytes per {} used up; waiting until {} (ETA {eta})",
                self.names.display,
                limits.limits.bytes_per_day.unwrap_or(0),
                human(limits.window),
                utc(until),
            );
        }
        self.ctx.pacer.record(ProgressEvent::Throttled {
            class: imapmig_core::throttle::ReplyClass::Throttled {
                retry_after: Some(pause.wait),
            },
            wait: pause.wait,
        });
        tokio::time::sleep(pause.wait).await;
    }

    /// Dry run: observe both sides and plan without changing anything.
    async fn dry_run(&mut self, state: FolderState) -> Result<PairOutcome, PairError> {
        let engine = Engine::new(state.clone(), self.ctx.engine.clone());
        let source = self.observe_both(&engine, None).await?;
        let target = match self.target_cache.take() {
            Some(t) => t,
            None => self.observe_target(true).await?,
        };
        let plan = imapmig_core::plan_pass(
            &state,
            &source,
            &target.observation,
            &self.ctx.engine.stage,
            &self.ctx.engine.policy,
        );
        self.logout().await;
        let report = Report {
            source_messages: source.messages().len() as u64,
            target_messages: target.observation.messages().len() as u64,
            present: plan.present.len() as u64,
            skipped: plan.skipped.len() as u64,
            plan: Some(plan.summary()),
            ..Report::default()
        };
        Ok(PairOutcome {
            report,
            message_ids: HashMap::new(),
            would_copy: plan.copy.len() as u64,
            flags_since: None,
            removed: Vec::new(),
        })
    }
}

/// Deletes the extra copies of `duplicates` (which this run appended, as the engine's
/// verification found them) from `folder` on the target, each only when it is byte for byte
/// the same as a copy that stays. Returns the target UIDs removed.
pub(crate) async fn remove_own_duplicates(
    dst: &mut Connection,
    folder: &[u8],
    target: &Observation,
    duplicates: &[imapmig_core::engine::Duplicate],
) -> Result<Vec<u32>, ImapError> {
    dst.select(folder, false).await?;
    let budget = Arc::new(Semaphore::new(BODY_BUDGET));
    let mut remove = Vec::new();
    for dup in duplicates {
        let extra: HashSet<Uid> = dup.target_uids.iter().copied().collect();
        let Some(kept) = target
            .messages()
            .iter()
            .find(|m| m.fingerprint == Some(dup.fingerprint) && !extra.contains(&m.uid))
        else {
            continue;
        };
        let mut uids: Vec<u32> = vec![kept.uid.get()];
        uids.extend(dup.target_uids.iter().map(|u| u.get()));
        let mut bodies: HashMap<u32, bytes::Bytes> = HashMap::new();
        let mut fetch = dst.fetch_bodies(&uids).await?;
        while let Some(item) = fetch.next(&budget).await {
            let b = item?;
            bodies.insert(b.uid, b.body);
        }
        drop(fetch);
        let Some(keep) = bodies.get(&kept.uid.get()) else {
            continue;
        };
        for u in &dup.target_uids {
            if bodies.get(&u.get()) == Some(keep) {
                remove.push(u.get());
            }
        }
    }
    remove.sort_unstable();
    remove.dedup();
    dst.uid_expunge(&remove).await?;
    Ok(remove)
}

/// One pipelined round of APPENDs; outcomes become engine events.
async fn append_round(
    dst: &mut Connection,
    target: &[u8],
    by_uid: &HashMap<u32, CopyItem>,
    round: &[super::session::FetchedBody],
    events: &mut Vec<Event>,
    copied: &mut u64,
    on_copied: &Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<(), ImapError> {
    let mut flags: Vec<Vec<String>> = Vec::with_capacity(round.len());
    let mut bodies: Vec<Option<Vec<u8>>> = Vec::with_capacity(round.len());
    let mut uids = Vec::with_capacity(round.len());
    for body in round {
        let Some(item) = by_uid.get(&body.uid) else {
            continue;
        };
        flags.push(
            item.flags
                .iter()
                .filter(|f| f.is_storable())
                .map(ToString::to_string)
                .collect(),
        );
        // A repaired copy is the only time a body is copied in memory.
        // (With --repair-8bit-headers the body's header is encoded already.)
        bodies.push(if item.repair {
            Some(repaired(&body.body, false).unwrap_or_else(|| body.body.to_vec()))
        } else {
            None
        });
        uids.push((item, body));
    }
    let appends: Vec<AppendItem<'_>> = uids
        .iter()
        .zip(&flags)
        .zip(&bodies)
        .map(|(((item, body), flags), repaired)| AppendItem {
            flags,
            internal_date: item
                .internal_date
                .and_then(|d| chrono::DateTime::from_timestamp(d, 0))
                .map(|d| d.fixed_offset()),
            body: repaired.as_deref().unwrap_or(&body.body),
        })
        .collect();
    if appends.is_empty() {
        return Ok(());
    }
    let outcomes = dst.append_batch(target, &appends).await?;
    for ((item, _), outcome) in uids.iter().zip(outcomes) {
        match outcome {
            Appended::Stored { uid, .. } => {
                *copied += 1;
                on_copied(1);
                events.push(Event::Copied {
                    source: item.source,
                    target: uid.and_then(|u| Uid::try_from(u).ok()),
                });
            }
            Appended::Refused(refusal) => events.push(Event::Refused {
                source: item.source,
                reply: refusal.to_string(),
            }),
        }
    }
    Ok(())
}

/// A repaired copy of a message, when imapmig-mime can repair it (with `eight_bit`, its raw
/// 8-bit header text RFC 2047-encoded too).
fn repaired(body: &[u8], eight_bit: bool) -> Option<Vec<u8>> {
    let c = imapmig_mime::classify(body);
    if c.verdict != imapmig_mime::Verdict::Repairable {
        return None;
    }
    let r = if eight_bit {
        let options = imapmig_mime::RepairOptions::default().with_eight_bit_headers(true);
        imapmig_mime::repair_with_options(body, &imapmig_mime::Limits::default(), options)
    } else {
        imapmig_mime::repair_classified(body, c, &imapmig_mime::Limits::default())
    };
    r.changed().then(|| r.bytes.into_owned())
}

/// A copy of a message with its raw 8-bit header text RFC 2047-encoded (imapmig-mime's
/// opt-in repair), when it has any. Fields that cannot be encoded safely (an 8-bit
/// Message-ID or address, text in an unknown charset) stay as they are and are reported on
/// stderr: the target may change them (Cyrus stores them as `X`), and the copy is still
/// verified by its APPENDUID.
fn encoded_8bit(body: &[u8], target: &str, source: Uid) -> Option<Vec<u8>> {
    let r = imapmig_mime::encode_8bit_headers(body);
    if !r.unencoded.is_empty() {
        let left: Vec<String> = r
            .unencoded
            .iter()
            .map(|u| format!("{} ({})", u.field, u.reason))
            .collect();
        eprintln!(
            "8-bit header kept: {target} from source uid {source}: {} cannot be RFC 2047-encoded",
            left.join(", ")
        );
    }
    r.changed().then(|| r.bytes.into_owned())
}

/// A message (or its header block) in the form its identity is taken from: with
/// `repair`, the header RFC 2047-encoded exactly as the copy is sent (see
/// [`encoded_8bit`]); then every raw 8-bit byte left in the header as `X`, which is what
/// Cyrus stores by default (`munge8bit`), one `X` per byte so the size is kept; the body
/// as it is. A message and its copy, repaired or munged by
/// Cyrus, have the same form, so a target UIDVALIDITY change or `--accept-reset` finds the
/// copy instead of sending the message again.
fn identity_form(message: &[u8], repair: bool) -> std::borrow::Cow<'_, [u8]> {
    let header_len = header_end(message);
    if message[..header_len].is_ascii() {
        return std::borrow::Cow::Borrowed(message);
    }
    let repaired = if repair {
        let r = imapmig_mime::encode_8bit_headers(message);
        if r.changed() {
            Some(r.bytes.into_owned())
        } else {
            None
        }
    } else {
        None
    };
    let bytes: &[u8] = repaired.as_deref().unwrap_or(message);
    let header_len = header_end(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend(
        bytes[..header_len]
            .iter()
            .map(|&b| if b.is_ascii() { b } else { b'X' }),
    );
    out.extend_from_slice(&bytes[header_len..]);
    std::borrow::Cow::Owned(out)
}

/// Where the header block ends: after the first empty line (CRLF or LF), else the whole
/// input.
fn header_end(message: &[u8]) -> usize {
    let mut at = 0;
    while let Some(nl) = memchr::memchr(b'\n', &message[at..]) {
        let line_end = at + nl + 1;
        let line = &message[at..line_end];
        if line == b"\n" || line == b"\r\n" {
            return line_end;
        }
        at = line_end;
    }
    message.len()
}

/// Header fingerprints that occur more than once.
fn colliding(fps: &[u128]) -> Vec<u128> {
    let mut sorted = fps.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<u128> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    out.dedup();
    out
}

fn stop_error(reason: StopReason) -> PairError {
    match reason {
        StopReason::OverQuota(text) => PairError::OverQuota(text),
        StopReason::ResetUnconfirmed(r) => PairError::ResetUnconfirmed {
            confirmed: r.confirmed,
            expected: r.old_pairs,
        },
        StopReason::SaveFailed(text) => PairError::State(text),
        StopReason::Throttled(text) => PairError::Throttled(text),
        other => PairError::Engine(format!("stopped: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_header_bytes_read_as_cyrus_stores_them() {
        let raw = "Subject: Grüße\r\nMessage-ID: <größe@exämple.com>\r\n".as_bytes();
        let munged = identity_form(raw, false);
        assert_eq!(
            &*munged,
            b"Subject: GrXXXXe\r\nMessage-ID: <grXXXXe@exXXmple.com>\r\n"
        );
        assert_eq!(munged.len(), raw.len());
        assert_eq!(
            identity_form(&munged, false),
            munged,
            "a Cyrus copy reads the same"
        );
        let ascii = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n";
        assert!(matches!(
            identity_form(ascii, false),
            std::borrow::Cow::Borrowed(_)
        ));
        // The body's bytes are never read as X: two bodies that differ only there stay two.
        let a = identity_form("Subject: ü\r\n\r\né\r\n".as_bytes(), false);
        let b = identity_form("Subject: ü\r\n\r\nè\r\n".as_bytes(), false);
        assert_ne!(a, b);
        assert!(a.starts_with(b"Subject: XX\r\n\r\n"));
    }

    #[test]
    fn a_repaired_copy_has_the_identity_of_its_source() {
        let message = "From: Jörg Müller <jm@example.org>\r\nSubject: Grüße aus Köln\r\nMessage-ID: <grüße@example.org>\r\n\r\nHallo\r\n".as_bytes();
        let header = &message[..message.len() - "Hallo\r\n".len()];
        // What is sent to the target (and what Cyrus then stores: the Message-ID cannot be
        // encoded, its 8-bit bytes become X).
        let sent = encoded_8bit(message, "INBOX", Uid::try_from(1).unwrap()).unwrap();
        assert!(sent.len() != message.len());
        let stored: Vec<u8> = {
            let end = header_end(&sent);
            sent[..end]
                .iter()
                .map(|&b| if b.is_ascii() { b } else { b'X' })
                .chain(sent[end..].iter().copied())
                .collect()
        };
        let source = identity_form(message, true);
        assert_eq!(&*identity_form(&sent, true), &*source);
        assert_eq!(&*identity_form(&stored, true), &*source);
        // From the header block alone (what the metadata FETCH returns), the same header and
        // the same size change.
        let from_header = identity_form(header, true);
        assert_eq!(&*from_header, &source[..header_end(&source)]);
        assert_eq!(
            from_header.len() as i64 - header.len() as i64,
            source.len() as i64 - message.len() as i64
        );
        // Without the repair the source keeps its own form (only X for 8-bit bytes).
        assert_ne!(&*identity_form(message, false), &*source);
    }

    #[test]
    fn message_id_table() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"Message-ID: <a@b>\r\nSubject: x\r\n\r\n", Some("<a@b>")),
            (b"Subject: x\r\nmessage-id:   <c@d>  \r\n", Some("<c@d>")),
            (b"Message-ID:\r\n <folded@x>\r\n\r\n", Some("<folded@x>")),
            (b"Subject: Message-ID: <no@x>\r\n", None),
            (b"Message-ID: \r\n\r\n", None),
            (b"", None),
        ];
        for (header, want) in cases {
            assert_eq!(
                message_id_of(header).as_deref(),
                *want,
                "{:?}",
                String::from_utf8_lossy(header)
            );
        }
    }

    /// Only the listed extra copies that are byte-identical to a copy that stays are
    /// deleted; a listed copy with other bytes, and every other message, stays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn own_duplicates_are_removed_only_when_byte_identical() {
        let Some(d) = testkit::Dovecot::start(testkit::Layout::Slash) else {
            return;
        };
        let a = b"From: a@example.com\r\nSubject: twice\r\n\r\nsame body\r\n".to_vec();
        let a_other = b"From: a@example.com\r\nSubject: twice\r\n\r\nother body\r\n".to_vec();
        let b = b"From: b@example.com\r\nSubject: once\r\n\r\nbody\r\n".to_vec();
        d.seed("INBOX", &[&a, &a, &a_other, &b]);
        let ep: super::super::Endpoint = format!("imap://test@127.0.0.1:{}", d.port())
            .parse()
            .unwrap();
        let cred = super::super::Credential::Password(super::super::secret::Secret::new(
            d.password().to_owned(),
        ));
        let mut conn = Connection::open(&ep, &cred, Duration::from_secs(10))
            .await
            .unwrap();
        let uid = |n: u32| Uid::try_from(n).unwrap();
        let status = FolderStatus::new(UidValidity::try_from(1).unwrap(), 4);
        // uids 1-3 share a fingerprint (as header fingerprints would); 4 is another message.
        let observed = Observation::new(
            status,
            (1..=4)
                .map(|n| {
                    ObservedMessage::new(uid(n), 10).with_fingerprint(if n < 4 { 7u128 } else { 9 })
                })
                .collect(),
        );
        let dups = vec![imapmig_core::engine::Duplicate {
            fingerprint: 7u128.into(),
            target_uids: vec![uid(2), uid(3)],
            source_uids: vec![uid(11)],
        }];
        let removed = remove_own_duplicates(&mut conn, b"INBOX", &observed, &dups)
            .await
            .unwrap();
        assert_eq!(removed, vec![2]);
        conn.logout().await;
        let mut left = d.messages("INBOX");
        left.sort();
        let mut want = vec![a, a_other, b];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn collisions_are_the_repeated_fingerprints() {
        assert_eq!(colliding(&[3, 1, 2, 3, 1, 3]), vec![1, 3]);
        assert!(colliding(&[1, 2, 3]).is_empty());
        assert!(colliding(&[]).is_empty());
    }
}
