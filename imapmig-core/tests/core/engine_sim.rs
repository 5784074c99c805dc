//! Crash safety of the migration engine, by simulation.
//!
//! A deterministic in-memory model of two IMAP folders (UIDVALIDITY,
//! UIDNEXT, HIGHESTMODSEQ, messages as an identity, a header key, a size,
//! an INTERNALDATE and flags; a target with or without UIDPLUS that
//! throttles, refuses, runs over quota; a source that fails to return some
//! bodies) is driven by a test driver through [`Engine`], with the saved
//! state as the only durable memory.
//!
//! The driver fingerprints like the real one: a header fingerprint (header
//! key + size), and a content fingerprint for messages whose header
//! fingerprint is shared by different bodies on either side, identically on
//! both sides. (Counting identical messages as a collision would change a
//! message's fingerprint once its copy lands next to identical mail that
//! was there before: the simulation found that, see the report.)
//!
//! A run is crashed (new engine from the last *saved* state) or reconnected
//! ([`Engine::reconnected`]) at every action boundary, and inside every
//! Copy batch after each number of APPENDs that reached the target without
//! their events. Each run must end with every source message on the target
//! exactly once, except the skipped ones (in the skip log, at least once,
//! more only by a crash between the log write and the next save) and those
//! the report lists as not copied.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use imapmig_core::engine::{Action, Classified, Config, Engine, Event, Report, StopReason};
use imapmig_core::{
    Flag, FolderState, FolderStatus, ModSeq, Observation, ObservedMessage, Policy, SkipReason,
    Stage, Uid, UidValidity,
};
use proptest::prelude::*;

/// How a message behaves when copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    /// Refused; classified corrupt.
    Corrupt,
    /// Refused unless repaired; classified repairable.
    Repairable,
    /// Refused even when repaired.
    RepairFails,
    /// Refused; classified clean.
    Rejected,
    /// Over the configured maximum size.
    Huge,
    /// Observed small, found too large when fetched.
    Swollen,
    /// The source returns no body this many times, then does.
    Flaky(u8),
    /// The source never returns a body.
    Gone,
}

/// A message as a server holds it, without bytes. Equal `id`, equal
/// message (true duplicates); equal `header` and size with different `id`:
/// equal headers, different bodies.
#[derive(Debug, Clone)]
struct Msg {
    id: u32,
    header: u32,
    size: u64,
    date: Option<i64>,
    kind: Kind,
}

const HUGE: u64 = 50_000;
const LIMIT: u64 = 10_000;

impl Msg {
    fn header_fp(&self) -> u128 {
        (u128::from(self.header) << 64) | u128::from(self.size)
    }
    fn content_fp(&self) -> u128 {
        (1u128 << 127) | u128::from(self.id)
    }
    fn fp(&self, colliding: &HashSet<u128>) -> u128 {
        let h = self.header_fp();
        if colliding.contains(&h) {
            self.content_fp()
        } else {
            h
        }
    }
}

#[derive(Debug, Clone)]
struct Stored {
    uid: u32,
    msg: Msg,
    flags: BTreeSet<String>,
    modseq: u64,
    fails_left: u8,
}

#[derive(Debug, Clone)]
struct Folder {
    validity: u32,
    next_uid: u32,
    modseq: u64,
    msgs: Vec<Stored>,
}

impl Folder {
    fn new(validity: u32) -> Self {
        Folder {
            validity,
            next_uid: 1,
            modseq: 1,
            msgs: Vec::new(),
        }
    }

    fn append(&mut self, msg: Msg, flags: BTreeSet<String>) -> u32 {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.modseq += 1;
        let fails_left = match msg.kind {
            Kind::Flaky(n) => n,
            _ => 0,
        };
        self.msgs.push(Stored {
            uid,
            msg,
            flags,
            modseq: self.modseq,
            fails_left,
        });
        uid
    }

    /// A new UIDVALIDITY: same messages, new UIDs.
    fn reset(&mut self) {
        self.validity += 1;
        self.next_uid = 1;
        for m in &mut self.msgs {
            m.uid = self.next_uid;
            self.next_uid += 1;
        }
    }

    fn get(&self, uid: Uid) -> Option<&Stored> {
        self.msgs.iter().find(|m| m.uid == uid.get())
    }

    /// Header fingerprints shared by messages with different bodies in
    /// this folder: the driver fetches the bodies of repeated header
    /// fingerprints and compares them. Identical messages (true duplicates,
    /// or a copy of mail that was there before) do not count: otherwise a
    /// copy would change the fingerprints of the next run.
    fn header_collisions(&self) -> Vec<u128> {
        let mut bodies: HashMap<u128, BTreeSet<u32>> = HashMap::new();
        for m in &self.msgs {
            bodies
                .entry(m.msg.header_fp())
                .or_default()
                .insert(m.msg.id);
        }
        bodies
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(h, _)| h)
            .collect()
    }

    fn status(&self) -> FolderStatus {
        let mut status = FolderStatus::new(
            UidValidity::try_from(self.validity).unwrap(),
            self.msgs.len() as u32,
        );
        status.uid_next = Uid::try_from(self.next_uid).ok();
        status.highest_modseq = ModSeq::try_from(self.modseq).ok();
        status
    }

    /// `copied(uid)` tells, under CHANGEDSINCE `since`, whose flags are
    /// reported only when changed.
    fn observe(
        &self,
        colliding: &HashSet<u128>,
        since: Option<ModSeq>,
        copied: &dyn Fn(Uid) -> bool,
    ) -> Observation {
        let messages = self
            .msgs
            .iter()
            .map(|m| {
                let uid = Uid::try_from(m.uid).unwrap();
                let mut o =
                    ObservedMessage::new(uid, m.msg.size).with_fingerprint(m.msg.fp(colliding));
                o.internal_date = m.msg.date;
                let flags = m.flags.iter().map(|f| f.parse::<Flag>().unwrap()).collect();
                o.flags = match since {
                    Some(s) if copied(uid) => (m.modseq > s.get()).then_some(flags),
                    _ => Some(flags),
                };
                o
            })
            .collect();
        Observation::new(self.status(), messages)
    }
}

/// The two servers and the durable memory of the driver.
#[derive(Debug, Clone)]
struct World {
    source: Folder,
    target: Folder,
    /// The last saved state: all that survives a crash.
    saved: FolderState,
    /// The skip log: (identity, reason).
    skip_rows: Vec<(u32, SkipReason)>,
    uidplus: bool,
    /// Most messages the target accepts, until the operator raises it.
    quota: Option<usize>,
    /// Every n-th APPEND is throttled (0: never).
    throttle_every: u32,
    /// The next n APPENDs are throttled.
    throttle_burst: u32,
    appends: u32,
    /// Identities that were on the target before the migration.
    preexisting: BTreeMap<u32, usize>,
    /// The engine adopts mail already on the target.
    adopt: bool,
    /// The target folder is deleted at this APPEND (answered [TRYCREATE])
    /// and recreated empty, with a new UIDVALIDITY, by the next observation.
    delete_target_at: Option<u32>,
}

impl World {
    fn new(source: Vec<(Msg, &[&str])>, target: Vec<Msg>, uidplus: bool) -> World {
        let mut s = Folder::new(7);
        for (m, flags) in source {
            s.append(m, flags.iter().map(|f| f.to_string()).collect());
        }
        let mut t = Folder::new(70);
        let mut preexisting = BTreeMap::new();
        for m in target {
            *preexisting.entry(m.id).or_default() += 1;
            t.append(m, BTreeSet::new());
        }
        World {
            source: s,
            target: t,
            saved: FolderState::new(),
            skip_rows: Vec::new(),
            uidplus,
            quota: None,
            throttle_every: 0,
            throttle_burst: 0,
            appends: 0,
            preexisting,
            adopt: true,
            delete_target_at: None,
        }
    }

    fn identity(&self, source: Uid) -> u32 {
        self.source.get(source).unwrap().msg.id
    }

    /// One APPEND of the batch: its event.
    fn copy_one(&mut self, item: &imapmig_core::engine::CopyItem) -> Event {
        let source = item.source;
        let Some(s) = self.source.msgs.iter_mut().find(|m| m.uid == source.get()) else {
            return Event::NotFetched { source };
        };
        match s.msg.kind {
            Kind::Gone => return Event::NotFetched { source },
            Kind::Flaky(_) if s.fails_left > 0 => {
                s.fails_left -= 1;
                return Event::NotFetched { source };
            }
            Kind::Swollen => {
                return Event::TooLarge { source, size: HUGE };
            }
            _ => {}
        }
        let msg = s.msg.clone();
        self.appends += 1;
        let refuse = |reply: &str| Event::Refused {
            source,
            reply: reply.to_owned(),
        };
        if self.delete_target_at == Some(self.appends) {
            self.target = Folder::new(self.target.validity + 1);
            return refuse("A7 NO [TRYCREATE] Mailbox does not exist");
        }
        if self.quota.is_some_and(|q| self.target.msgs.len() >= q) {
            return refuse("A7 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)");
        }
        if self.throttle_burst > 0 {
            self.throttle_burst -= 1;
            return refuse("A7 NO [THROTTLED] Request is throttled. Try again in 2 seconds");
        }
        if self.throttle_every > 0 && self.appends.is_multiple_of(self.throttle_every) {
            return refuse("A7 NO [THROTTLED] Too many requests");
        }
        let refused = match msg.kind {
            Kind::Corrupt | Kind::Rejected | Kind::RepairFails => true,
            Kind::Repairable => !item.repair,
            _ => false,
        };
        if refused {
            return refuse("A7 NO [PARSE] Invalid message");
        }
        let flags = item.flags.iter().map(ToString::to_string).collect();
        let uid = self.target.append(msg, flags);
        Event::Copied {
            source,
            target: self.uidplus.then(|| Uid::try_from(uid).unwrap()),
        }
    }

    fn verdict(&self, source: Uid) -> Classified {
        match self.source.get(source).map(|m| m.msg.kind) {
            Some(Kind::Repairable | Kind::RepairFails) => Classified::Repairable {
                codes: vec!["bare-lf".into()],
            },
            Some(Kind::Corrupt) => Classified::Corrupt {
                codes: vec!["truncated".into()],
            },
            _ => Classified::Clean,
        }
    }
}

/// A fault injected at one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fault {
    /// A crash (new engine from the saved state) or a lost connection.
    crash: bool,
    /// How much of the action's I/O happened before: 0 none, 1 all of a
    /// save / skip log write / flag store, j APPENDs of a Copy batch.
    done: usize,
}

/// What a test saw.
#[derive(Debug, Default)]
struct Stats {
    actions: usize,
    crashes: usize,
    reconnects: usize,
    /// Skip rows that a crash between the log write and the next save may
    /// have duplicated.
    skip_allowance: usize,
    stops: Vec<String>,
}

/// How far the I/O of an action can be done before a fault.
fn io_steps(action: &Action) -> usize {
    match action {
        Action::Copy(items) => items.len(),
        Action::Save | Action::LogSkip(_) | Action::StoreFlags(_) => 1,
        _ => 0,
    }
}

#[derive(Default)]
struct Driver {
    colliding: HashSet<u128>,
    skips_since_save: usize,
}

impl Driver {
    /// Performs an action; `limit` bounds its I/O (a fault); returns the
    /// events to feed.
    fn perform(
        &mut self,
        w: &mut World,
        engine: &Engine,
        action: &Action,
        limit: usize,
        order: bool,
    ) -> Vec<Event> {
        match action {
            Action::ObserveSource {
                flags_changed_since,
            } => {
                for h in w
                    .source
                    .header_collisions()
                    .into_iter()
                    .chain(w.target.header_collisions())
                {
                    self.colliding.insert(h);
                }
                let state = engine.state();
                let copied = |u: Uid| state.copied_message(u).is_some();
                vec![Event::SourceObserved(w.source.observe(
                    &self.colliding,
                    *flags_changed_since,
                    &copied,
                ))]
            }
            Action::ObserveTarget | Action::Verify => vec![Event::TargetObserved(
                w.target.observe(&self.colliding, None, &|_| false),
            )],
            Action::Save => {
                if limit > 0 {
                    w.saved = engine.state().clone();
                    self.skips_since_save = 0;
                }
                vec![Event::Saved]
            }
            Action::Copy(items) => {
                let mut events: Vec<Event> =
                    items.iter().take(limit).map(|i| w.copy_one(i)).collect();
                if order {
                    events.reverse();
                }
                events
            }
            Action::Classify { source, .. } => vec![Event::Classified {
                source: *source,
                verdict: w.verdict(*source),
            }],
            Action::LogSkip(entry) => {
                if limit > 0 {
                    let id = w.identity(entry.source);
                    w.skip_rows.push((id, entry.reason));
                    self.skips_since_save += 1;
                }
                vec![Event::SkipLogged {
                    source: entry.source,
                }]
            }
            Action::StoreFlags(changes) => {
                if limit > 0 {
                    for c in changes {
                        if let Some(t) = w.target.msgs.iter_mut().find(|m| m.uid == c.target.get())
                        {
                            for f in &c.add {
                                t.flags.insert(f.to_string());
                            }
                            for f in &c.remove {
                                t.flags.remove(&f.to_string());
                            }
                        }
                    }
                }
                vec![Event::FlagsStored]
            }
            _ => Vec::new(),
        }
    }
}

/// What happens to the world when a run restarts (after a crash or a stop).
type Restart<'a> = &'a mut dyn FnMut(&mut World, usize);

/// Runs engines until one is done: crashes and stops restart from the
/// saved state. `fault(k, action)` injects a fault at the k-th action.
fn episode(
    w: &mut World,
    config: &Config,
    fault: &mut dyn FnMut(usize, &Action) -> Option<Fault>,
    restart: Restart<'_>,
) -> (Report, Stats) {
    let mut stats = Stats::default();
    let mut runs = 0;
    'runs: loop {
        runs += 1;
        assert!(runs < 60, "no end after {runs} runs: {stats:?}");
        let mut engine = Engine::new(w.saved.clone(), config.clone());
        let mut driver = Driver::default();
        let mut last_progress = 0;
        loop {
            assert!(stats.actions < 20_000, "livelock: {stats:?}");
            let action = engine.next_action();
            if !matches!(action, Action::Backoff { .. }) {
                assert_eq!(engine.next_action(), action, "next_action is idempotent");
            }
            let k = stats.actions;
            stats.actions += 1;
            assert!(engine.progress() >= last_progress, "progress is monotonic");
            last_progress = engine.progress();
            match &action {
                Action::Done => return (engine.report().clone(), stats),
                Action::Stop(reason) => {
                    stats.stops.push(format!("{reason:?}"));
                    match reason {
                        StopReason::OverQuota(_) => w.quota = None,
                        StopReason::Throttled(_) => w.throttle_burst = 0,
                        other => panic!("unexpected stop {other:?}"),
                    }
                    stats.skip_allowance += driver.skips_since_save;
                    restart(w, runs);
                    continue 'runs;
                }
                _ => {}
            }
            let order = k % 2 == 1;
            if let Some(f) = fault(k, &action) {
                // A lost connection cannot lose the event of a local write
                // (a save, a skip log row): it comes before those.
                let local = matches!(action, Action::Save | Action::LogSkip(_));
                let done = if f.crash || !local {
                    f.done.min(io_steps(&action))
                } else {
                    0
                };
                // The I/O happened (partly); its events are lost.
                let _ = driver.perform(w, &engine, &action, done, order);
                if f.crash {
                    stats.crashes += 1;
                    stats.skip_allowance += driver.skips_since_save;
                    restart(w, runs);
                    continue 'runs;
                }
                stats.reconnects += 1;
                engine.reconnected();
                continue;
            }
            for event in driver.perform(w, &engine, &action, usize::MAX, order) {
                engine
                    .handle(event)
                    .unwrap_or_else(|e| panic!("{e} after {action:?}"));
            }
        }
    }
}

/// The target holds every source message exactly once, except the skipped
/// ones and those reported as not copied; nothing more; the skip log has
/// every skip; flags of recorded pairs match.
fn check(w: &World, report: &Report, stats: &Stats, adopt: bool) {
    let mut on_source: BTreeMap<u32, usize> = BTreeMap::new();
    for m in &w.source.msgs {
        *on_source.entry(m.msg.id).or_default() += 1;
    }
    let mut on_target: BTreeMap<u32, usize> = BTreeMap::new();
    for m in &w.target.msgs {
        *on_target.entry(m.msg.id).or_default() += 1;
    }
    let mut skipped: BTreeMap<u32, usize> = BTreeMap::new();
    for (uid, skip) in w.saved.skipped() {
        let m = w.source.get(uid).expect("a skip names a source message");
        *skipped.entry(m.msg.id).or_default() += 1;
        assert!(
            w.skip_rows
                .iter()
                .any(|(id, reason)| *id == m.msg.id && *reason == skip.reason),
            "skip of {uid} is in the log"
        );
    }
    let mut failed: BTreeMap<u32, usize> = BTreeMap::new();
    for n in &report.not_copied {
        *failed.entry(w.identity(n.source)).or_default() += 1;
    }
    let ids: BTreeSet<u32> = on_source.keys().chain(on_target.keys()).copied().collect();
    for id in ids {
        let want = on_source.get(&id).copied().unwrap_or(0)
            - skipped.get(&id).copied().unwrap_or(0)
            - failed.get(&id).copied().unwrap_or(0);
        let before = w.preexisting.get(&id).copied().unwrap_or(0);
        // Adopted mail that was there is the copy; otherwise it is extra.
        let want = if adopt {
            want.max(before)
        } else {
            want + before
        };
        let have = on_target.get(&id).copied().unwrap_or(0);
        assert_eq!(
            have, want,
            "identity {id}: {have} on the target, {want} expected; report {report:?}; stats {stats:?}"
        );
    }
    assert!(
        w.skip_rows.len() <= w.saved.skipped().count() + stats.skip_allowance,
        "skip rows {:?} for {} skips (+{} allowed by crashes) {stats:?} {:?}",
        w.skip_rows,
        w.saved.skipped().count(),
        stats.skip_allowance,
        w.saved.skipped().collect::<Vec<_>>()
    );
    assert!(report.verified);
    if adopt {
        assert!(report.duplicates.is_empty(), "{:?}", report.duplicates);
    }
    assert_eq!(
        report.asked,
        report.copied + report.present + report.skipped + report.failed,
        "{report:?}"
    );
    for n in &report.not_copied {
        let kind = w.source.get(n.source).unwrap().msg.kind;
        assert!(
            matches!(kind, Kind::Gone | Kind::Flaky(_)),
            "only a message without a body fails: {n:?}"
        );
    }
    assert_eq!(w.saved.open_intents().count(), 0, "no intent left open");
    {
        for (uid, c) in w.saved.copied() {
            let (Some(s), Some(t)) = (
                w.source.get(uid),
                c.target
                    .and_then(|t| w.target.msgs.iter().find(|m| m.uid == t.get())),
            ) else {
                continue;
            };
            assert_eq!(s.flags, t.flags, "flags of {uid}");
        }
    }
}

fn msg(id: u32, header: u32, size: u64, date: i64, kind: Kind) -> Msg {
    Msg {
        id,
        header,
        size,
        date: Some(date),
        kind,
    }
}

/// The fixed scenario: every kind of message and server behaviour.
fn scenario(uidplus: bool) -> World {
    let source: Vec<(Msg, &[&str])> = vec![
        (msg(1, 1, 100, 500, Kind::Normal), &["\\Seen"]),
        (msg(2, 2, 120, 300, Kind::Normal), &[]), // dates not in UID order
        (msg(1, 1, 100, 500, Kind::Normal), &["\\Seen"]), // a true duplicate
        (msg(40, 7, 200, 400, Kind::Normal), &[]), // equal headers, different bodies
        (msg(41, 7, 200, 410, Kind::Normal), &["$Label1"]),
        (msg(5, 5, 130, 100, Kind::Corrupt), &[]),
        (msg(6, 6, 140, 200, Kind::Repairable), &["\\Flagged"]),
        (msg(7, 8, 150, 250, Kind::RepairFails), &[]),
        (msg(8, 9, 160, 260, Kind::Rejected), &[]),
        (msg(9, 10, HUGE, 270, Kind::Huge), &[]),
        (msg(10, 11, 170, 280, Kind::Flaky(1)), &[]),
        (msg(11, 12, 180, 290, Kind::Gone), &[]),
        (msg(12, 13, 190, 600, Kind::Swollen), &[]),
        (
            msg(13, 14, 210, 700, Kind::Normal),
            &["\\Seen", "\\Answered"],
        ),
        (
            Msg {
                id: 14,
                header: 15,
                size: 220,
                date: None,
                kind: Kind::Normal,
            },
            &[],
        ),
        (msg(15, 16, 230, 50, Kind::Normal), &[]),
    ];
    // The target already has message 15 (adopted) and one of its own.
    let target = vec![
        msg(15, 16, 230, 50, Kind::Normal),
        msg(999, 99, 300, 1, Kind::Normal),
    ];
    let mut w = World::new(source, target, uidplus);
    w.quota = Some(8);
    w.throttle_every = 5;
    w
}

fn config(condstore: bool) -> Config {
    Config {
        batch_messages: 3,
        batch_bytes: 600,
        max_message_size: Some(LIMIT),
        condstore,
        max_stalls: 3,
        missing_retries: 2,
        ..Config::default()
    }
}

/// A restart as the fixed scenario does it: after the n-th fault, reset
/// the source or the target UIDVALIDITY, or change a flag on the source.
///
/// Without adoption, the target's UIDVALIDITY never changes: then the
/// migrator cannot tell identical mail that was on the target before from
/// its own copies (a documented limit of the plan).
fn fixed_restart(w: &mut World, n: usize) {
    match n % 4 {
        1 => w.source.reset(),
        2 if w.adopt => w.target.reset(),
        3 => {
            w.source.modseq += 1;
            let modseq = w.source.modseq;
            let m = &mut w.source.msgs[0];
            if !m.flags.remove("\\Flagged") {
                m.flags.insert("\\Flagged".into());
            }
            m.modseq = modseq;
        }
        _ => {}
    }
}

/// Every action boundary of the fixed scenario, crashed and reconnected,
/// with and without UIDPLUS and CONDSTORE.
#[test]
fn crash_at_every_action_boundary() {
    let mut explored = 0usize;
    for (uidplus, condstore, adopt) in [
        (true, true, true),
        (false, false, true),
        (true, false, false),
        (false, true, false),
    ] {
        let mut cfg = config(condstore);
        cfg.policy.adopt_existing = adopt;
        // The fault-free run: its actions are the crash points.
        let mut w = scenario(uidplus);
        w.adopt = adopt;
        let mut plan = Vec::new();
        let (report, stats) = episode(
            &mut w,
            &cfg,
            &mut |_, a| {
                plan.push(io_steps(a));
                None
            },
            &mut fixed_restart,
        );
        check(&w, &report, &stats, adopt);
        assert_eq!(report.skipped, 5, "{report:?}");
        assert_eq!(report.failed, 1, "{report:?}");
        assert!(!stats.stops.is_empty(), "the scenario runs over quota");
        for (k, steps) in plan.iter().enumerate() {
            for done in 0..=*steps {
                for crash in [true, false] {
                    let mut w = scenario(uidplus);
                    w.adopt = adopt;
                    let mut restarts = 0;
                    let (report, stats) = episode(
                        &mut w,
                        &cfg,
                        &mut |i, _| (i == k).then_some(Fault { crash, done }),
                        &mut |w, _| {
                            restarts += 1;
                            fixed_restart(w, restarts + k);
                        },
                    );
                    check(&w, &report, &stats, adopt);
                    explored += 1;
                }
            }
        }
    }
    println!("engine simulation: {explored} crash and reconnect points explored");
    assert!(explored > 300, "explored {explored}");
}

/// A fault and restart schedule for proptest.
#[derive(Debug, Clone)]
struct Schedule {
    faults: BTreeMap<usize, Fault>,
    /// What each restart does: 0 nothing, 1 source reset, 2 target reset,
    /// 3 a new message delivered, 4 a flag changed on the source.
    restarts: Vec<u8>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        8 => Just(Kind::Normal),
        1 => Just(Kind::Corrupt),
        1 => Just(Kind::Repairable),
        1 => Just(Kind::RepairFails),
        1 => Just(Kind::Rejected),
        1 => Just(Kind::Huge),
        1 => Just(Kind::Swollen),
        1 => (1u8..4).prop_map(Kind::Flaky),
        1 => Just(Kind::Gone),
    ]
}

fn message() -> impl Strategy<Value = (Msg, bool, bool)> {
    (
        0u32..12,
        0u32..6,
        prop::option::weighted(0.9, 0i64..1_000),
        kind(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, header, date, kind, seen, flagged)| {
            // Equal ids are identical messages; a small header space makes
            // equal headers with different bodies common.
            let size = if kind == Kind::Huge {
                HUGE
            } else {
                100 + u64::from(id % 3)
            };
            let kind = if kind == Kind::Huge {
                kind
            } else {
                kind_of(id, kind)
            };
            (
                Msg {
                    id,
                    header: if id % 2 == 0 { header } else { id + 100 },
                    size,
                    date,
                    kind,
                },
                seen,
                flagged,
            )
        })
}

/// Identical messages behave identically: the kind is a function of the
/// identity (the first draw decides).
fn kind_of(id: u32, drawn: Kind) -> Kind {
    match id % 5 {
        0 => drawn,
        _ => Kind::Normal,
    }
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        prop::collection::btree_map(
            0usize..120,
            (any::<bool>(), 0usize..4).prop_map(|(crash, done)| Fault { crash, done }),
            0..5,
        ),
        prop::collection::vec(0u8..5, 8),
    )
        .prop_map(|(faults, restarts)| Schedule { faults, restarts })
}

fn random_restart(w: &mut World, what: u8, seq: &mut u32) {
    match what {
        1 => w.source.reset(),
        2 if w.adopt => w.target.reset(),
        3 => {
            *seq += 1;
            let m = msg(
                200 + *seq,
                200 + *seq,
                150,
                900 - i64::from(*seq),
                Kind::Normal,
            );
            w.source.append(m, BTreeSet::new());
        }
        4 => {
            w.source.modseq += 1;
            let modseq = w.source.modseq;
            if let Some(m) = w.source.msgs.last_mut() {
                if !m.flags.remove("\\Seen") {
                    m.flags.insert("\\Seen".into());
                }
                m.modseq = modseq;
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    /// Random folders, random faults (several crashes and reconnects a
    /// run), random UIDVALIDITY resets, deliveries and flag changes
    /// between runs: every message once or accounted for.
    #[test]
    fn prop_random_crashes_lose_and_duplicate_nothing(
        source in prop::collection::vec(message(), 0..14),
        preexisting in prop::collection::vec(0usize..14, 0..3),
        uidplus in any::<bool>(),
        condstore in any::<bool>(),
        batch in 1usize..5,
        quota in prop::option::weighted(0.2, 0usize..10),
        throttle_every in prop_oneof![3 => Just(0u32), 1 => 2u32..6],
        throttle_burst in 0u32..6,
        schedule in schedule(),
        adopt in any::<bool>(),
    ) {
        // Identical messages get identical kinds and sizes.
        let mut first: HashMap<u32, Msg> = HashMap::new();
        let source: Vec<(Msg, Vec<&str>)> = source
            .into_iter()
            .map(|(m, seen, flagged)| {
                let m = first.entry(m.id).or_insert(m).clone();
                let mut flags = Vec::new();
                if seen { flags.push("\\Seen"); }
                if flagged { flags.push("\\Flagged"); }
                (m, flags)
            })
            .collect();
        let target: Vec<Msg> = preexisting
            .iter()
            .filter_map(|i| source.get(*i).map(|(m, _)| m.clone()))
            .filter(|m| m.kind == Kind::Normal)
            .collect();
        let source: Vec<(Msg, &[&str])> =
            source.iter().map(|(m, f)| (m.clone(), f.as_slice())).collect();
        let mut w = World::new(source, target, uidplus);
        w.adopt = adopt;
        w.quota = quota.map(|q| q + w.target.msgs.len());
        w.throttle_every = throttle_every;
        w.throttle_burst = throttle_burst;
        let mut cfg = Config { batch_messages: batch, batch_bytes: 350, ..config(condstore) };
        cfg.policy.adopt_existing = adopt;
        let mut seq = 0;
        let restarts = schedule.restarts.clone();
        let (report, stats) = episode(
            &mut w,
            &cfg,
            &mut |k, _| schedule.faults.get(&k).copied(),
            &mut |w, n| random_restart(w, restarts[n % restarts.len()], &mut seq),
        );
        check(&w, &report, &stats, adopt);
    }
}

/// A reconnect inside every Copy batch of a long folder: nothing twice.
#[test]
fn reconnect_inside_every_batch() {
    let source: Vec<(Msg, &[&str])> = (1..=40)
        .map(|i| {
            (
                msg(i, i, 100 + u64::from(i), i64::from(100 - i), Kind::Normal),
                &[][..],
            )
        })
        .collect();
    for (uidplus, adopt) in [(true, true), (false, true), (true, false), (false, false)] {
        let mut w = World::new(source.clone(), Vec::new(), uidplus);
        let mut copies = 0;
        let mut cfg = config(false);
        cfg.policy.adopt_existing = adopt;
        let (report, stats) = episode(
            &mut w,
            &cfg,
            &mut |_, a| match a {
                Action::Copy(items) if items.len() > 1 => {
                    copies += 1;
                    Some(Fault {
                        crash: false,
                        done: copies % items.len(),
                    })
                }
                _ => None,
            },
            &mut |_, _| {},
        );
        check(&w, &report, &stats, adopt);
        assert!(stats.reconnects > 5, "{stats:?}");
        assert_eq!(report.copied + report.present, 40);
    }
}

/// Protocol errors are typed and name the event and UID; the engine is
/// unchanged after one.
#[test]
fn events_out_of_protocol_are_errors() {
    let mut engine = Engine::new(FolderState::new(), Config::default());
    assert!(matches!(engine.next_action(), Action::ObserveSource { .. }));
    let err = engine
        .handle(Event::Copied {
            source: Uid::try_from(9).unwrap(),
            target: None,
        })
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Copied") && text.contains("uid 9"), "{text}");
    assert!(matches!(
        err,
        imapmig_core::Error::UnexpectedEvent {
            event: "Copied",
            ..
        }
    ));
    assert!(matches!(engine.next_action(), Action::ObserveSource { .. }));
}

/// An unconfirmed UIDVALIDITY reset stops before anything and leaves the
/// state untouched.
#[test]
fn unconfirmed_reset_stops_with_the_state_untouched() {
    let mut w = World::new(
        (1..=4)
            .map(|i| (msg(i, i, 100, 1, Kind::Normal), &[][..]))
            .collect(),
        Vec::new(),
        true,
    );
    let (report, stats) = episode(&mut w, &config(false), &mut |_, _| None, &mut |_, _| {});
    check(&w, &report, &stats, true);
    // The source is rebuilt with other identities (fingerprints changed).
    w.source.reset();
    for m in &mut w.source.msgs {
        m.msg.header += 50;
    }
    let before = w.saved.clone();
    let mut engine = Engine::new(w.saved.clone(), config(false));
    let mut driver = Driver::default();
    loop {
        let action = engine.next_action();
        if let Action::Stop(StopReason::ResetUnconfirmed(r)) = &action {
            assert!(r.source_changed && r.confirmed == 0);
            break;
        }
        assert!(
            !matches!(action, Action::Copy(_) | Action::Save),
            "{action:?}"
        );
        for e in driver.perform(&mut w, &engine, &action, usize::MAX, false) {
            engine.handle(e).unwrap();
        }
    }
    assert_eq!(engine.state(), &before);
}

/// A target that throttles without end stops the engine after
/// `max_stalls` backoffs, with the server's hint passed on.
#[test]
fn endless_throttling_stops_after_max_stalls() {
    let mut w = World::new(
        vec![(msg(1, 1, 100, 1, Kind::Normal), &[][..])],
        Vec::new(),
        true,
    );
    w.throttle_burst = u32::MAX;
    let mut engine = Engine::new(FolderState::new(), config(false));
    let mut driver = Driver::default();
    let mut backoffs = Vec::new();
    let reason = loop {
        let action = engine.next_action();
        match &action {
            Action::Stop(reason) => break reason.clone(),
            Action::Backoff { hint, .. } => backoffs.push(*hint),
            _ => {}
        }
        for e in driver.perform(&mut w, &engine, &action, usize::MAX, false) {
            engine.handle(e).unwrap();
        }
    };
    assert!(matches!(reason, StopReason::Throttled(ref t) if t.contains("THROTTLED")));
    assert_eq!(backoffs.len(), 3);
    assert!(
        backoffs
            .iter()
            .all(|h| *h == Some(std::time::Duration::from_secs(2)))
    );
    assert_eq!(engine.state().open_intents().count(), 0);
}

/// CONDSTORE: the new HIGHESTMODSEQ is recorded only after the flag
/// changes are stored; a crash in between compares them again.
#[test]
fn modseq_is_recorded_after_the_flags() {
    let mut w = World::new(
        vec![(msg(1, 1, 100, 1, Kind::Normal), &["\\Seen"][..])],
        Vec::new(),
        true,
    );
    let cfg = config(true);
    let (report, stats) = episode(&mut w, &cfg, &mut |_, _| None, &mut |_, _| {});
    check(&w, &report, &stats, true);
    let mark = w.saved.source_mark().unwrap().highest_modseq;
    // The flag changes on the source; crash right after StoreFlags was
    // sent (the target has the change, the engine never heard back).
    w.source.modseq += 1;
    w.source.msgs[0].flags.insert("\\Flagged".into());
    w.source.msgs[0].modseq = w.source.modseq;
    let mut since = Vec::new();
    let mut crashed = false;
    let (report, stats) = episode(
        &mut w,
        &cfg,
        &mut |_, a| {
            if let Action::ObserveSource {
                flags_changed_since,
            } = a
            {
                since.push(*flags_changed_since);
            }
            let crash = matches!(a, Action::StoreFlags(_)) && !crashed;
            crashed |= crash;
            crash.then_some(Fault {
                crash: true,
                done: 0,
            })
        },
        &mut |_, _| {},
    );
    check(&w, &report, &stats, true);
    assert_eq!(
        since,
        vec![mark, mark],
        "the second run asks since the old mark again"
    );
    assert_eq!(report.flags_synced, 1);
    assert_eq!(
        w.saved.source_mark().unwrap().highest_modseq,
        ModSeq::try_from(w.source.modseq).ok()
    );
    // Nothing changed since: no STORE, nothing compared.
    let (report, _) = episode(&mut w, &cfg, &mut |_, _| None, &mut |_, _| {});
    assert_eq!((report.flags_synced, report.flags_compared), (0, 0));
}

/// Duplicates this migrator appended are reported (here: a state that
/// forgot its copies, with adoption turned off); duplicates that were on
/// the target before are not.
#[test]
fn duplicates_on_the_target_are_reported() {
    let mut w = World::new(
        vec![
            (msg(1, 1, 100, 1, Kind::Normal), &[][..]),
            (msg(2, 2, 100, 1, Kind::Normal), &[][..]),
        ],
        Vec::new(),
        true,
    );
    let cfg = Config {
        policy: Policy {
            adopt_existing: false,
            ..Policy::default()
        },
        ..config(false)
    };
    let (report, stats) = episode(&mut w, &cfg, &mut |_, _| None, &mut |_, _| {});
    check(&w, &report, &stats, false);
    // The state is lost: without adoption, everything is copied again.
    w.saved = FolderState::new();
    let (report, _) = episode(&mut w, &cfg, &mut |_, _| None, &mut |_, _| {});
    assert_eq!(report.duplicates.len(), 2, "{report:?}");
    let d = &report.duplicates[0];
    assert_eq!(d.source_uids, vec![Uid::try_from(1).unwrap()]);
    assert_eq!(d.target_uids, vec![Uid::try_from(3).unwrap()]);

    // Without UIDPLUS: the copies above the target's highest UID before
    // the pass are this engine's.
    w.uidplus = false;
    w.saved = FolderState::new();
    let (report, _) = episode(&mut w, &cfg, &mut |_, _| None, &mut |_, _| {});
    let extra: Vec<Vec<Uid>> = report
        .duplicates
        .iter()
        .map(|d| d.target_uids.clone())
        .collect();
    let uid = |n| Uid::try_from(n).unwrap();
    assert_eq!(extra, vec![vec![uid(5)], vec![uid(6)]], "{report:?}");

    // Mail twice on the target before the migration is adopted once and
    // never reported.
    let mut w = World::new(
        vec![(msg(1, 1, 100, 1, Kind::Normal), &[][..])],
        vec![
            msg(1, 1, 100, 1, Kind::Normal),
            msg(1, 1, 100, 1, Kind::Normal),
        ],
        true,
    );
    let (report, stats) = episode(&mut w, &config(false), &mut |_, _| None, &mut |_, _| {});
    check(&w, &report, &stats, true);
    assert_eq!((report.present, report.copied), (1, 0));
}

/// Staged passes: a pre-stage copies only old mail, the final pass the
/// rest; a crash in the pre-stage changes nothing of that.
#[test]
fn staged_passes_copy_everything_once() {
    let source: Vec<(Msg, &[&str])> = (1..=12)
        .map(|i| {
            let date = if i % 3 == 0 {
                None
            } else {
                Some(i64::from(i) * 100)
            };
            (
                Msg {
                    id: i,
                    header: i,
                    size: 100,
                    date,
                    kind: Kind::Normal,
                },
                &[][..],
            )
        })
        .collect();
    for crash_at in [None, Some(5), Some(9)] {
        let mut w = World::new(source.clone(), Vec::new(), true);
        let pre = Config {
            stage: Stage::PreStage { before: 600 },
            ..config(false)
        };
        let (report, _) = episode(
            &mut w,
            &pre,
            &mut |k, _| {
                (Some(k) == crash_at).then_some(Fault {
                    crash: true,
                    done: 1,
                })
            },
            &mut |_, _| {},
        );
        // Dated before 600 and not a multiple of 3 (no date): 1, 2, 4, 5.
        assert_eq!(
            (report.asked, report.copied + report.present),
            (4, 4),
            "{report:?}"
        );
        assert_eq!(report.plan.map(|p| p.deferred), Some(8));
        assert_eq!(w.target.msgs.len(), 4);
        let (report, stats) = episode(&mut w, &config(false), &mut |_, _| None, &mut |_, _| {});
        check(&w, &report, &stats, true);
        assert_eq!((report.copied, report.present), (8, 4));
    }
}

/// A message without a fingerprint after a source UIDVALIDITY change is
/// held, never blindly copied again, and reported as not copied.
#[test]
fn unidentified_mail_is_held_and_reported() {
    let uid = |n: u32| Uid::try_from(n).unwrap();
    let status = |v: u32, n: u32| FolderStatus::new(UidValidity::try_from(v).unwrap(), n);
    let fp = |n: u32| ObservedMessage::new(uid(n), 100).with_fingerprint(u128::from(n));
    let run = |state: FolderState, source: Observation, target: Observation| {
        let mut engine = Engine::new(state, Config::default());
        let mut appended = 0;
        loop {
            match engine.next_action() {
                Action::ObserveSource { .. } => engine
                    .handle(Event::SourceObserved(source.clone()))
                    .unwrap(),
                Action::ObserveTarget | Action::Verify => engine
                    .handle(Event::TargetObserved(target.clone()))
                    .unwrap(),
                Action::Save => engine.handle(Event::Saved).unwrap(),
                Action::Copy(items) => {
                    for item in items {
                        appended += 1;
                        engine
                            .handle(Event::Copied {
                                source: item.source,
                                target: None,
                            })
                            .unwrap();
                    }
                }
                Action::Done => return (engine.state().clone(), engine.report().clone(), appended),
                other => panic!("{other:?}"),
            }
        }
    };
    let source = Observation::new(status(1, 2), vec![fp(1), fp(2)]);
    let target = Observation::new(status(9, 2), vec![fp(1), fp(2)]);
    let (state, report, appended) = run(FolderState::new(), source, target.clone());
    assert_eq!((appended, report.present), (0, 2));
    // The source is rebuilt and one message has no fingerprint this time.
    let source = Observation::new(status(2, 2), vec![fp(1), ObservedMessage::new(uid(2), 100)]);
    let (_, report, appended) = run(state, source, target);
    assert_eq!(appended, 0, "never a blind copy");
    assert_eq!(report.failed, 1);
    assert_eq!(report.not_copied.len(), 1);
    assert!(
        report.not_copied[0].reason.starts_with("held"),
        "{report:?}"
    );
}

/// The target folder is deleted in the middle of a batch: the engine
/// observes again and copies everything once more (the operator accepted
/// the target's reset); every message ends on the target once.
#[test]
fn a_target_folder_deleted_midway_is_filled_again() {
    let source: Vec<(Msg, &[&str])> = (1..=10)
        .map(|i| (msg(i, i, 100, 1, Kind::Normal), &[][..]))
        .collect();
    for uidplus in [true, false] {
        let mut w = World::new(source.clone(), Vec::new(), uidplus);
        w.delete_target_at = Some(5);
        let mut cfg = config(false);
        cfg.policy.min_reset_confirmation = 0.0;
        let (report, stats) = episode(&mut w, &cfg, &mut |_, _| None, &mut |_, _| {});
        check(&w, &report, &stats, true);
        assert_eq!(w.target.msgs.len(), 10);
        assert_eq!(report.copied, 10, "{report:?}");
        assert!(report.reset.is_some_and(|r| r.target_changed));
    }
    // A folder that keeps disappearing stops the engine.
    let mut engine = Engine::new(FolderState::new(), config(false));
    let mut w = World::new(source, Vec::new(), true);
    let mut driver = Driver::default();
    let reason = loop {
        let action = engine.next_action();
        if let Action::Stop(reason) = &action {
            break reason.clone();
        }
        if let Action::Copy(_) = action {
            w.delete_target_at = Some(w.appends + 1);
        }
        for e in driver.perform(&mut w, &engine, &action, usize::MAX, false) {
            engine.handle(e).unwrap();
        }
    };
    assert!(matches!(reason, StopReason::TargetMissing(ref r) if r.contains("TRYCREATE")));
}

/// A target that rewrites what it stores (Cyrus replaces raw 8-bit header bytes with `X`;
/// a repaired copy differs from its source too): with APPENDUID, the copy is verified by
/// its UID, so it is neither missing nor a duplicate, and a second pass copies nothing.
#[test]
fn copies_the_target_rewrote_are_verified_by_their_uid() {
    let source: Vec<ObservedMessage> = (1..=4u32)
        .map(|n| {
            ObservedMessage::new(Uid::try_from(n).unwrap(), 100).with_fingerprint(u128::from(n))
        })
        .collect();
    let observe = |messages: &[ObservedMessage], validity: u32| {
        Observation::new(
            FolderStatus::new(
                UidValidity::try_from(validity).unwrap(),
                messages.len() as u32,
            ),
            messages.to_vec(),
        )
    };
    let mut target: Vec<ObservedMessage> = Vec::new();
    let mut saved = FolderState::new();
    for pass in 0..2 {
        let mut engine = Engine::new(saved.clone(), Config::default());
        loop {
            match engine.next_action() {
                Action::ObserveSource { .. } => engine
                    .handle(Event::SourceObserved(observe(&source, 1)))
                    .unwrap(),
                Action::ObserveTarget | Action::Verify => engine
                    .handle(Event::TargetObserved(observe(&target, 9)))
                    .unwrap(),
                Action::Save => {
                    saved = engine.state().clone();
                    engine.handle(Event::Saved).unwrap();
                }
                Action::Copy(items) => {
                    for item in items {
                        let uid = Uid::try_from(target.len() as u32 + 1).unwrap();
                        // Stored altered: another fingerprint than the source's.
                        let rewritten = item.fingerprint.map(|f| f.get() ^ (0xff << 64));
                        let mut copy = ObservedMessage::new(uid, item.size);
                        copy.fingerprint = rewritten.map(Into::into);
                        target.push(copy);
                        engine
                            .handle(Event::Copied {
                                source: item.source,
                                target: Some(uid),
                            })
                            .unwrap();
                    }
                }
                Action::Done => break,
                other => panic!("not in this test: {other:?}"),
            }
        }
        let r = engine.report();
        assert_eq!(target.len(), 4, "pass {pass}: nothing copied twice");
        assert_eq!((r.failed, r.skipped), (0, 0), "pass {pass}: {r:?}");
        assert!(r.duplicates.is_empty(), "pass {pass}: {:?}", r.duplicates);
        assert!(r.not_copied.is_empty(), "pass {pass}: {:?}", r.not_copied);
        let want = if pass == 0 { (4, 0) } else { (0, 4) };
        assert_eq!((r.copied, r.present), want, "pass {pass}");
    }
}
