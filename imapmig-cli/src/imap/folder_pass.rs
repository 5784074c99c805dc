//! One pass over one folder pair: observe both sides, plan with imapmig-core, stream the
//! missing bodies from the source into pipelined APPENDs on the target, repair or skip what
//! the target refuses, sync flags, and verify.
//!
//! Memory stays bounded whatever the folder size: per message only its observation (UID,
//! size, date, flags, a 128-bit fingerprint) is kept; bodies flow through a channel bounded
//! in bytes ([`BODY_BUDGET`]), one message at a time from each FETCH response.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use imapmig_core::{
    FolderState, FolderStatus, Observation, ObservedMessage, Plan, Policy, SkipReason, Stage, Uid,
    UidValidity,
};
use tokio::sync::{Semaphore, mpsc};

use super::ImapError;
use super::session::{AppendItem, Appended, Connection, MessageMeta};
use imapmig_core::throttle::ReplyClass;

/// Bytes of message bodies in flight between the source and the target, at most (a message
/// larger than this still goes through, alone).
pub(crate) const BODY_BUDGET: usize = 32 << 20;
/// Messages per pipelined APPEND batch (one state save before and after each).
pub(crate) const APPEND_BATCH: usize = 64;
/// Messages per intent window: their intents are saved together before any is appended, and
/// the state is saved once per window (not per message), so fsync does not bound the rate.
const WINDOW: usize = 512;
/// How long the target side waits for more bodies to fill a pipelined batch.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);
/// UIDs per body FETCH command.
const FETCH_CHUNK: usize = 256;
/// UIDs per metadata FETCH command.
const META_CHUNK: u32 = 5000;

/// What the pass needs from the run around it.
pub(crate) struct PassContext {
    /// Header fields for fingerprints.
    pub(crate) fingerprint_fields: Vec<String>,
    /// Turns the header fields into a fingerprint.
    pub(crate) fingerprinter: imapmig_dedupe::Fingerprinter,
    /// Which messages this run moves.
    pub(crate) stage: Stage,
    /// Planning policy.
    pub(crate) policy: Policy,
    /// Plan and report only.
    pub(crate) dry_run: bool,
    /// Sink for skips (CSV) and bad-item accounting.
    pub(crate) skips: Arc<dyn SkipSink>,
    /// Progress: messages copied.
    pub(crate) on_copied: Arc<dyn Fn(u64) + Send + Sync>,
    /// Progress: messages planned.
    pub(crate) on_planned: Arc<dyn Fn(u64) + Send + Sync>,
}

/// Where skipped messages go; returns an error when the bad-item threshold is exceeded.
pub(crate) trait SkipSink: Send + Sync {
    /// Logs one skip.
    fn skip(
        &self,
        folder: &str,
        uid: Uid,
        message_id: Option<String>,
        size: u64,
        reason: SkipReason,
        detail: &str,
    ) -> Result<(), PassError>;
    /// Counts messages asked for (for the fraction limit).
    fn asked(&self, n: u64);
}

/// A persistent home for one pair's [`FolderState`].
pub(crate) trait StateSlot: Send + Sync {
    /// Loads the state (empty when new).
    fn load(&self) -> Result<FolderState, PassError>;
    /// Saves it durably.
    fn save(&self, state: &FolderState) -> Result<(), PassError>;
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PassError {
    /// A server problem (maybe transient: see [`ImapError::is_transient`]).
    #[error(transparent)]
    Imap(#[from] ImapError),
    /// A target APPEND was refused with a throttling or temporary code.
    #[error("target is throttling: {0}")]
    Throttled(String),
    /// The target is full.
    #[error("target over quota: {0}")]
    OverQuota(String),
    /// Too many bad items.
    #[error("{0}")]
    TooManyBad(String),
    /// The state store failed.
    #[error("state: {0}")]
    State(String),
}

impl PassError {
    /// Whether reconnecting and running the pass again may help.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Imap(e) => e.is_transient(),
            Self::Throttled(_) => true,
            _ => false,
        }
    }

    /// The server's suggested wait, when it gave one.
    pub(crate) fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Imap(e) => e.reply_class().retry_after(),
            Self::Throttled(t) => {
                imapmig_core::throttle::classify(&format!("* NO {t}")).retry_after()
            }
            _ => None,
        }
    }
}

/// What flows from the source task to the target task.
enum Flow {
    /// The next window of source UIDs (intents to record before appending any of them).
    Window(Vec<u32>),
    /// One message body, with its share of the memory budget.
    Body(u32, bytes::Bytes, tokio::sync::OwnedSemaphorePermit),
}

/// The two folders of a pair, as the servers name them on the wire.
#[derive(Debug, Clone)]
pub(crate) struct PairNames {
    /// Source folder (wire form).
    pub(crate) source: String,
    /// Target folder (wire form).
    pub(crate) target: String,
    /// Human-readable source name, for logs and the skip log.
    pub(crate) display: String,
    /// Human-readable target name.
    pub(crate) target_display: String,
}

/// The outcome of one pass, counted over the messages the stage asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PassReport {
    /// Source messages in the folder.
    pub(crate) source_messages: u64,
    /// Target messages in the folder after the pass.
    pub(crate) target_messages: u64,
    /// Messages this stage asks for.
    pub(crate) asked: u64,
    /// APPENDed by this pass.
    pub(crate) copied: u64,
    /// Found on the target already.
    pub(crate) present: u64,
    /// In the skip log.
    pub(crate) skipped: u64,
    /// Neither on the target nor skipped.
    pub(crate) failed: u64,
    /// Messages the plan would copy (dry run).
    pub(crate) would_copy: u64,
    /// Flags changed on the target.
    pub(crate) flags_synced: u64,
    /// Source messages already copied whose flags this pass compared (all of them in a full
    /// compare; only those changed since the saved HIGHESTMODSEQ with CONDSTORE).
    pub(crate) flags_compared: u64,
    /// The saved source HIGHESTMODSEQ this pass compared flags from (CONDSTORE), if it did.
    pub(crate) flags_since: Option<u64>,
}

/// A fingerprint for one message's header fields.
pub(crate) fn fingerprint_of(ctx: &PassContext, header: &[u8]) -> u128 {
    ctx.fingerprinter.headers(header).as_u128()
}

/// Observes the selected folder: every message's UID, size, date, flags and fingerprint.
/// Only the observation is kept, never the header bytes.
pub(crate) async fn observe(
    conn: &mut Connection,
    ctx: &PassContext,
    status: FolderStatus,
    uid_next: Option<u32>,
) -> Result<(Observation, HashMap<u32, Option<String>>), ImapError> {
    let fields: Vec<&str> = ctx.fingerprint_fields.iter().map(String::as_str).collect();
    let mut messages = Vec::with_capacity(status.messages as usize);
    let mut ids = HashMap::new();
    if status.messages > 0 {
        // Chunks by UID range keep each response bounded on very large folders.
        let top = uid_next.unwrap_or(u32::MAX).max(2);
        let mut lo = 1u32;
        loop {
            let hi = lo.saturating_add(META_CHUNK - 1);
            let set = if hi >= top.saturating_sub(1) || uid_next.is_none() {
                format!("{lo}:*")
            } else {
                format!("{lo}:{hi}")
            };
            let metas = conn.fetch_meta(&set, &fields).await?;
            for m in metas {
                if m.uid < lo {
                    // `n:*` always returns the last message, even below n.
                    continue;
                }
                ids.insert(m.uid, message_id_of(&m.header));
                messages.push(observed(ctx, &m));
            }
            if set.ends_with('*') {
                break;
            }
            lo = hi + 1;
        }
    }
    Ok((
        Observation::new(status, messages.into_iter().flatten().collect()),
        ids,
    ))
}

fn observed(ctx: &PassContext, m: &MessageMeta) -> Option<ObservedMessage> {
    let uid = Uid::try_from(m.uid).ok()?;
    let mut o = ObservedMessage::new(uid, u64::from(m.size))
        .with_fingerprint(fingerprint_of(ctx, &m.header));
    if let Some(d) = m.internal_date {
        o = o.with_internal_date(d.timestamp());
    }
    let flags = m.flags.iter().filter_map(|f| f.parse().ok()).collect();
    Some(o.with_flags(flags))
}

/// The Message-ID field value, for the skip log.
fn message_id_of(header: &[u8]) -> Option<String> {
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
    status.highest_modseq = sel
        .highest_modseq
        .and_then(|m| imapmig_core::ModSeq::try_from(m).ok());
    Ok(status)
}

/// A subset filter on the source: only these fingerprints (Gmail's archived-only mail).
pub(crate) type SourceFilter = Option<Arc<dyn Fn(u128) -> bool + Send + Sync>>;

/// Runs one pass over `names` with fresh connections. `copied_so_far` accumulates APPENDs
/// across retries of the same pair, so the report counts each message once.
pub(crate) async fn run_pass(
    src: &mut Connection,
    dst: &mut Connection,
    names: &PairNames,
    ctx: &PassContext,
    slot: &dyn StateSlot,
    filter: &SourceFilter,
    copied_so_far: &AtomicU64,
) -> Result<PassReport, PassError> {
    // Observe the source (read-only).
    let sel = src.select(&names.source, true).await?;
    let sstatus = status_of(&sel)?;
    let (mut sobs, ids) = observe(src, ctx, sstatus.clone(), sel.uid_next).await?;
    if let Some(keep) = filter {
        let kept: Vec<ObservedMessage> = sobs
            .messages()
            .iter()
            .filter(|m| m.fingerprint.is_some_and(|f| keep(f.get())))
            .cloned()
            .collect();
        let mut st = sstatus;
        st.messages = u32::try_from(kept.len()).unwrap_or(u32::MAX);
        sobs = Observation::new(st, kept);
    }

    // Observe the target (created if missing, unless this is a dry run).
    let tobs = match (ctx.dry_run, dst.select(&names.target, ctx.dry_run).await) {
        (_, Ok(sel)) => observe(dst, ctx, status_of(&sel)?, sel.uid_next).await?.0,
        (true, Err(ImapError::No { .. })) => Observation::new(
            FolderStatus::new(UidValidity::new(std::num::NonZeroU32::MIN), 0),
            Vec::new(),
        ),
        (false, Err(ImapError::No { .. })) => {
            dst.create(&names.target).await?;
            let sel = dst.select(&names.target, false).await?;
            observe(dst, ctx, status_of(&sel)?, sel.uid_next).await?.0
        }
        (_, Err(e)) => return Err(e.into()),
    };

    let mut state = slot.load()?;
    // CONDSTORE: only the flags changed since the last pass are compared. The HIGHESTMODSEQ
    // planned with (and so saved before the flag updates) is the old one; the new one is
    // recorded once the updates are applied, so a crash in between compares again.
    let condstore = src.capabilities().condstore && dst.capabilities().condstore;
    let new_modseq = sobs.status().highest_modseq;
    let since = incremental_since(&state, sobs.status(), condstore && ctx.policy.sync_flags);
    let changed = match since {
        Some(m) => Some(src.fetch_changed_flags(m.get()).await?),
        None => None,
    };
    let (sobs, flags_compared) = flags_to_compare(sobs, &state, changed.as_deref(), since);

    let plan = if ctx.dry_run {
        imapmig_core::plan_pass(&state, &sobs, &tobs, &ctx.stage, &ctx.policy)
    } else {
        let plan = state.begin_pass(&sobs, &tobs, &ctx.stage, &ctx.policy);
        slot.save(&state)?;
        plan
    };
    (ctx.on_planned)(plan.copy.len() as u64);

    let mut report = PassReport {
        source_messages: sobs.messages().len() as u64,
        flags_compared,
        flags_since: since.map(imapmig_core::ModSeq::get),
        ..PassReport::default()
    };
    if ctx.dry_run {
        report.would_copy = plan.copy.len() as u64;
        return Ok(finish_report(report, &plan, &state, &sobs, &tobs, ctx, 0));
    }

    if plan.is_applicable() {
        copy_messages(
            src,
            dst,
            names,
            ctx,
            slot,
            &mut state,
            &plan,
            &ids,
            copied_so_far,
        )
        .await?;
        for change in &plan.flag_changes {
            let add: Vec<String> = change.add.iter().map(ToString::to_string).collect();
            let remove: Vec<String> = change.remove.iter().map(ToString::to_string).collect();
            dst.store_flags(change.target.get(), &add, &remove).await?;
            report.flags_synced += 1;
        }
        if ctx.policy.sync_flags && state.record_source_modseq(new_modseq) {
            slot.save(&state)?;
        }
    }

    // Verify from the target's own state: observe it again and match fingerprints.
    let sel = dst.select(&names.target, true).await?;
    let (tobs_after, _) = observe(dst, ctx, status_of(&sel)?, sel.uid_next).await?;
    Ok(finish_report(
        report,
        &plan,
        &state,
        &sobs,
        &tobs_after,
        ctx,
        copied_so_far.load(Ordering::Relaxed),
    ))
}

/// The saved source HIGHESTMODSEQ to fetch flag changes from, when both servers have
/// CONDSTORE, the state has one for the same UIDVALIDITY, and the server's has not gone back.
fn incremental_since(
    state: &FolderState,
    status: &FolderStatus,
    condstore: bool,
) -> Option<imapmig_core::ModSeq> {
    let mark = state.source_mark()?;
    let old = mark.highest_modseq?;
    let new = status.highest_modseq?;
    (condstore && mark.uid_validity == status.uid_validity && old <= new).then_some(old)
}

/// The source observation to plan with: with `changed` (CONDSTORE), messages already copied
/// keep flags only when they changed since `since` (then with their changed flags), so the
/// planner compares only those; new messages keep theirs. The status carries `since` (the
/// HIGHESTMODSEQ the flags are synced to), not the server's new one. Returns the
/// observation and how many copied messages' flags it compares.
fn flags_to_compare(
    sobs: Observation,
    state: &FolderState,
    changed: Option<&[(u32, Vec<String>)]>,
    since: Option<imapmig_core::ModSeq>,
) -> (Observation, u64) {
    let mut status = sobs.status().clone();
    status.highest_modseq = since;
    let changed: Option<HashMap<u32, &Vec<String>>> =
        changed.map(|c| c.iter().map(|(u, f)| (*u, f)).collect());
    let mut compared = 0u64;
    let messages = sobs
        .messages()
        .iter()
        .cloned()
        .map(|mut m| {
            if state.copied_message(m.uid).is_none() {
                return m;
            }
            if let Some(changed) = &changed {
                m.flags = changed
                    .get(&m.uid.get())
                    .map(|f| f.iter().filter_map(|f| f.parse().ok()).collect());
            }
            compared += u64::from(m.flags.is_some());
            m
        })
        .collect();
    (Observation::new(status, messages), compared)
}

/// Counts what the stage asked for against what the target holds now.
fn finish_report(
    mut report: PassReport,
    plan: &Plan,
    state: &FolderState,
    sobs: &Observation,
    tobs: &Observation,
    ctx: &PassContext,
    copied: u64,
) -> PassReport {
    let mut on_target: HashMap<u128, u64> = HashMap::new();
    for m in tobs.messages() {
        if let Some(f) = m.fingerprint {
            *on_target.entry(f.get()).or_default() += 1;
        }
    }
    report.target_messages = tobs.messages().len() as u64;
    let skipped: std::collections::HashSet<Uid> = state.skipped().map(|(u, _)| u).collect();
    let deferred: std::collections::HashSet<Uid> = plan.deferred.iter().copied().collect();
    let mut found = 0u64;
    for m in sobs.messages() {
        if deferred.contains(&m.uid)
            || !ctx.stage.includes(m.internal_date) && state.copied_message(m.uid).is_none()
        {
            continue;
        }
        report.asked += 1;
        if skipped.contains(&m.uid) {
            report.skipped += 1;
            continue;
        }
        let hit = m
            .fingerprint
            .and_then(|f| on_target.get_mut(&f.get()))
            .filter(|n| **n > 0);
        match hit {
            Some(n) => {
                *n -= 1;
                found += 1;
            }
            None if ctx.dry_run && plan.copy.iter().any(|c| c.uid == m.uid) => {}
            None => report.failed += 1,
        }
    }
    report.copied = copied.min(found);
    report.present = found - report.copied;
    report
}

/// Streams bodies from `src` and APPENDs them to `dst` in pipelined batches, with the
/// intent protocol of [`FolderState`] around each batch.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are distinct"
)]
async fn copy_messages(
    src: &mut Connection,
    dst: &mut Connection,
    names: &PairNames,
    ctx: &PassContext,
    slot: &dyn StateSlot,
    state: &mut FolderState,
    plan: &Plan,
    ids: &HashMap<u32, Option<String>>,
    copied_so_far: &AtomicU64,
) -> Result<(), PassError> {
    if plan.copy.is_empty() {
        return Ok(());
    }
    ctx.skips.asked(plan.copy.len() as u64);
    let by_uid: HashMap<u32, &ObservedMessage> =
        plan.copy.iter().map(|m| (m.uid.get(), m)).collect();
    let uids: Vec<u32> = plan.copy.iter().map(|m| m.uid.get()).collect();
    let budget = Arc::new(Semaphore::new(BODY_BUDGET));
    let (tx, mut rx) = mpsc::channel::<Flow>(APPEND_BATCH * 2);

    let producer = async move {
        for window in uids.chunks(WINDOW) {
            if tx.send(Flow::Window(window.to_vec())).await.is_err() {
                return Ok::<(), PassError>(());
            }
            for chunk in window.chunks(FETCH_CHUNK) {
                let mut fetch = src.fetch_bodies(chunk).await?;
                while let Some(item) = fetch.next(&budget).await {
                    let b = item?;
                    if tx.send(Flow::Body(b.uid, b.body, b.permit)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        drop(tx);
        Ok(())
    };

    let consumer = async move {
        let mut batch: Vec<(u32, bytes::Bytes, tokio::sync::OwnedSemaphorePermit)> =
            Vec::with_capacity(APPEND_BATCH);
        let mut pending_window = None;
        let mut closed = false;
        while !closed {
            batch.clear();
            // Gather what is ready, up to a batch, waiting briefly for stragglers so that a
            // slow source still gives the target pipelined batches.
            let deadline = tokio::time::Instant::now() + GATHER;
            while batch.len() < APPEND_BATCH && pending_window.is_none() {
                let next = if batch.is_empty() {
                    rx.recv().await
                } else {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(n) => n,
                        Err(_) => break,
                    }
                };
                match next {
                    Some(Flow::Body(uid, body, permit)) => batch.push((uid, body, permit)),
                    Some(Flow::Window(w)) => pending_window = Some(w),
                    None => {
                        closed = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                append_batch(
                    dst,
                    names,
                    ctx,
                    slot,
                    state,
                    &by_uid,
                    ids,
                    &batch,
                    copied_so_far,
                )
                .await?;
            }
            if let Some(window) = pending_window.take() {
                // One durable save per window: the copies of the last window and the intents
                // of the next, before any of its APPENDs is sent.
                for uid in window {
                    if let Some(m) = by_uid.get(&uid) {
                        state.record_intent(m.uid, m.fingerprint, m.size);
                    }
                }
                slot.save(state)?;
            }
        }
        slot.save(state)?;
        Ok::<(), PassError>(())
    };
    // Whichever side fails first ends the other (no send into a channel nobody reads).
    futures::future::try_join(producer, consumer).await?;
    Ok(())
}

/// One pipelined batch: record intents, save, APPEND all, record outcomes, save.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are distinct"
)]
async fn append_batch(
    dst: &mut Connection,
    names: &PairNames,
    ctx: &PassContext,
    slot: &dyn StateSlot,
    state: &mut FolderState,
    by_uid: &HashMap<u32, &ObservedMessage>,
    ids: &HashMap<u32, Option<String>>,
    batch: &[(u32, bytes::Bytes, tokio::sync::OwnedSemaphorePermit)],
    copied_so_far: &AtomicU64,
) -> Result<(), PassError> {
    let mut items = Vec::with_capacity(batch.len());
    let mut flags_store = Vec::with_capacity(batch.len());
    for (uid, _, _) in batch {
        let Some(m) = by_uid.get(uid) else { continue };
        let flags: Vec<String> = m
            .flags
            .iter()
            .flatten()
            .filter(|f| f.is_storable())
            .map(ToString::to_string)
            .collect();
        flags_store.push(flags);
    }
    let mut metas = Vec::with_capacity(batch.len());
    for (i, (uid, body, _)) in batch
        .iter()
        .filter(|(u, _, _)| by_uid.contains_key(u))
        .enumerate()
    {
        let m = by_uid[uid];
        metas.push(m);
        items.push(AppendItem {
            flags: &flags_store[i],
            internal_date: m
                .internal_date
                .and_then(|d| chrono::DateTime::from_timestamp(d, 0))
                .map(|d| d.fixed_offset()),
            body,
        });
    }
    let outcomes = dst.append_batch(&names.target, &items).await?;
    if let Some(pause) = dst.take_slowdown() {
        tokio::time::sleep(pause).await;
    }
    let mut throttled = None;
    for ((m, item), outcome) in metas.iter().zip(&items).zip(outcomes) {
        match outcome {
            Appended::Stored { uid, .. } => {
                state.record_copied(
                    m.uid,
                    uid.and_then(|u| Uid::try_from(u).ok()),
                    m.fingerprint,
                    m.size,
                );
                copied_so_far.fetch_add(1, Ordering::Relaxed);
                (ctx.on_copied)(1);
            }
            Appended::Refused(refusal) => {
                let text = refusal.code_and_text();
                match refusal.reply_class() {
                    ReplyClass::OverQuota => {
                        state.forget_intent(m.uid);
                        slot.save(state)?;
                        return Err(PassError::OverQuota(text));
                    }
                    class if class.is_retryable() => {
                        // The outcome is unknown (a proxy or a busy server may have stored it):
                        // the intent stays open and the next attempt settles it by fingerprint.
                        throttled = Some(text);
                        continue;
                    }
                    _ => state.forget_intent(m.uid),
                }
                let outcome = refused(
                    dst,
                    names,
                    ctx,
                    state,
                    m,
                    item,
                    &text,
                    ids.get(&m.uid.get()).cloned().flatten(),
                    copied_so_far,
                )
                .await;
                if let Err(e) = outcome {
                    // Keep what this batch settled (copies, skips) before stopping.
                    slot.save(state)?;
                    return Err(e);
                }
            }
        }
    }
    match throttled {
        Some(t) => {
            slot.save(state)?;
            Err(PassError::Throttled(t))
        }
        None => Ok(()),
    }
}

/// The target refused a message: classify it, repair and retry when safe, else skip it with
/// its reasons.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are distinct"
)]
async fn refused(
    dst: &mut Connection,
    names: &PairNames,
    ctx: &PassContext,
    state: &mut FolderState,
    m: &ObservedMessage,
    item: &AppendItem<'_>,
    text: &str,
    message_id: Option<String>,
    copied_so_far: &AtomicU64,
) -> Result<(), PassError> {
    let verdict = imapmig_mime::classify(item.body);
    let codes = verdict.codes();
    if verdict.verdict == imapmig_mime::Verdict::Repairable
        && let Some(repaired) = repair(item.body, &verdict)
    {
        {
            state.record_intent(m.uid, m.fingerprint, m.size);
            let again = AppendItem {
                body: &repaired,
                ..item.clone()
            };
            let outcome = dst.append_batch(&names.target, &[again]).await?;
            if let Some(Appended::Stored { uid, .. }) = outcome.first() {
                state.record_copied(
                    m.uid,
                    uid.and_then(|u| Uid::try_from(u).ok()),
                    m.fingerprint,
                    m.size,
                );
                copied_so_far.fetch_add(1, Ordering::Relaxed);
                (ctx.on_copied)(1);
                return Ok(());
            }
            state.forget_intent(m.uid);
        }
    }
    let reason = if verdict.verdict == imapmig_mime::Verdict::Corrupt {
        SkipReason::Corrupt
    } else {
        SkipReason::Rejected
    };
    let detail = format!(
        "{}; defects: {}",
        text.trim(),
        if codes.is_empty() {
            "-".to_owned()
        } else {
            codes.join(",")
        }
    );
    state.record_skipped(m.uid, m.fingerprint, m.size, reason, detail.clone());
    ctx.skips
        .skip(&names.display, m.uid, message_id, m.size, reason, &detail)
}

/// A repaired copy of a message the target refused, when imapmig-mime says the defects are
/// repairable.
fn repair(body: &[u8], c: &imapmig_mime::Classification) -> Option<Vec<u8>> {
    let repaired =
        imapmig_mime::repair_classified(body, c.clone(), &imapmig_mime::Limits::default());
    repaired.changed().then(|| repaired.bytes.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn obs(uv: u32, msgs: &[(u32, u128)]) -> Observation {
        let messages = msgs
            .iter()
            .map(|(u, f)| {
                ObservedMessage::new(Uid::try_from(*u).unwrap(), 10)
                    .with_fingerprint(*f)
                    .with_internal_date(1_000)
            })
            .collect::<Vec<_>>();
        Observation::new(
            FolderStatus::new(UidValidity::try_from(uv).unwrap(), messages.len() as u32),
            messages,
        )
    }

    struct NoSkips;
    impl SkipSink for NoSkips {
        fn skip(
            &self,
            _: &str,
            _: Uid,
            _: Option<String>,
            _: u64,
            _: SkipReason,
            _: &str,
        ) -> Result<(), PassError> {
            Ok(())
        }
        fn asked(&self, _: u64) {}
    }

    fn ctx(stage: Stage) -> PassContext {
        PassContext {
            fingerprint_fields: Vec::new(),
            fingerprinter: imapmig_dedupe::Fingerprinter::new(
                &imapmig_dedupe::FingerprintKey::from_bytes([7; 32]),
            ),
            stage,
            policy: Policy::default(),
            dry_run: false,
            skips: Arc::new(NoSkips),
            on_copied: Arc::new(|_| {}),
            on_planned: Arc::new(|_| {}),
        }
    }

    #[test]
    fn report_counts_from_the_target_listing() {
        // Source: three messages, two with the same fingerprint; the target holds one copy of
        // each distinct fingerprint plus one of the pair: one message is missing.
        let source = obs(1, &[(1, 0xa), (2, 0xb), (3, 0xb)]);
        let target = obs(9, &[(1, 0xa), (2, 0xb)]);
        let mut state = FolderState::new();
        let c = ctx(Stage::Final);
        let plan = state.begin_pass(&source, &obs(9, &[]), &c.stage, &c.policy);
        let r = finish_report(
            PassReport::default(),
            &plan,
            &state,
            &source,
            &target,
            &c,
            1,
        );
        assert_eq!(
            (r.asked, r.copied, r.present, r.skipped, r.failed),
            (3, 1, 1, 0, 1)
        );
        // A skipped message counts as settled, not failed.
        state.record_skipped(
            Uid::try_from(3).unwrap(),
            None,
            10,
            SkipReason::Corrupt,
            "empty",
        );
        let r = finish_report(
            PassReport::default(),
            &plan,
            &state,
            &source,
            &target,
            &c,
            2,
        );
        assert_eq!(
            (r.asked, r.copied, r.present, r.skipped, r.failed),
            (3, 2, 0, 1, 0)
        );
    }

    #[test]
    fn staging_leaves_later_mail_out_of_the_count() {
        let source = obs(1, &[(1, 0xa), (2, 0xb)]);
        let c = ctx(Stage::PreStage { before: 500 });
        let mut state = FolderState::new();
        let plan = state.begin_pass(&source, &obs(9, &[]), &c.stage, &c.policy);
        let r = finish_report(
            PassReport::default(),
            &plan,
            &state,
            &source,
            &obs(9, &[]),
            &c,
            0,
        );
        assert_eq!(
            (r.asked, r.failed),
            (0, 0),
            "both are newer than the cutoff"
        );
    }

    /// `obs` with a HIGHESTMODSEQ and `\Seen` on every message.
    fn seen_with_modseq(uv: u32, msgs: &[(u32, u128)], modseq: Option<u64>) -> Observation {
        let o = obs(uv, msgs);
        let mut status = o.status().clone();
        status.highest_modseq = modseq.map(|m| imapmig_core::ModSeq::try_from(m).unwrap());
        let seen: imapmig_core::Flag = "\\Seen".parse().unwrap();
        let messages = o
            .messages()
            .iter()
            .cloned()
            .map(|m| m.with_flags(vec![seen.clone()]))
            .collect();
        Observation::new(status, messages)
    }

    /// A state after one pass that found source UIDs 1 and 2 on the target, at modseq 50.
    fn state_at_50() -> FolderState {
        let mut state = FolderState::new();
        let c = ctx(Stage::Final);
        state.begin_pass(
            &seen_with_modseq(1, &[(1, 0xa), (2, 0xb)], Some(50)),
            &seen_with_modseq(9, &[(1, 0xa), (2, 0xb)], None),
            &c.stage,
            &c.policy,
        );
        state
    }

    #[test]
    fn incremental_since_table() {
        let state = state_at_50();
        // (both have CONDSTORE, source UIDVALIDITY, source HIGHESTMODSEQ now) -> since
        let cases: &[(bool, u32, Option<u64>, Option<u64>)] = &[
            (true, 1, Some(60), Some(50)),
            (true, 1, Some(50), Some(50)),
            (false, 1, Some(60), None),
            (true, 2, Some(60), None),
            (true, 1, Some(40), None),
            (true, 1, None, None),
        ];
        for &(condstore, uv, now, want) in cases {
            let o = seen_with_modseq(uv, &[], now);
            assert_eq!(
                incremental_since(&state, o.status(), condstore).map(imapmig_core::ModSeq::get),
                want,
                "{condstore} {uv} {now:?}"
            );
        }
        let o = seen_with_modseq(1, &[], Some(60));
        assert_eq!(
            incremental_since(&FolderState::new(), o.status(), true),
            None
        );
    }

    #[test]
    fn only_changed_copied_messages_are_compared_and_the_modseq_is_recorded_after() {
        let mut state = state_at_50();
        assert_eq!(state.copied_count(), 2);
        let sobs = seen_with_modseq(1, &[(1, 0xa), (2, 0xb), (3, 0xc)], Some(70));
        let since = imapmig_core::ModSeq::try_from(50).ok();
        let changed = [(2, vec!["\\Flagged".to_owned()])];
        let (o, compared) = flags_to_compare(sobs.clone(), &state, Some(&changed), since);
        let flags = |u: u32| {
            o.message(Uid::try_from(u).unwrap())
                .unwrap()
                .flags
                .as_ref()
                .map(|f| f.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(compared, 1);
        assert_eq!(flags(1), None, "unchanged since 50: not compared");
        assert_eq!(
            flags(2),
            Some(vec!["\\Flagged".to_owned()]),
            "changed: its new flags"
        );
        assert_eq!(
            flags(3),
            Some(vec!["\\Seen".to_owned()]),
            "new: flags for the APPEND"
        );
        assert_eq!(
            o.status().highest_modseq,
            since,
            "planned with the old modseq"
        );

        let (full, compared) = flags_to_compare(sobs, &state, None, None);
        assert_eq!(compared, 2);
        assert!(full.messages().iter().all(|m| m.flags.is_some()));
        assert_eq!(full.status().highest_modseq, None);

        // Recording the new modseq changes the source mark and nothing else.
        let before = state.clone();
        let seventy = imapmig_core::ModSeq::try_from(70).ok();
        assert!(state.record_source_modseq(seventy));
        assert_eq!(state.source_mark().unwrap().highest_modseq, seventy);
        assert_eq!(state.target_mark(), before.target_mark());
        assert_eq!(
            state.copied().collect::<Vec<_>>(),
            before.copied().collect::<Vec<_>>()
        );
        assert!(!state.record_source_modseq(seventy));
        assert!(!FolderState::new().record_source_modseq(seventy));
    }
}
