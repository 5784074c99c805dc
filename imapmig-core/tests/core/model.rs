//! State-machine property: random sequences of deliveries, expunges,
//! UIDVALIDITY resets on either side, crashes between any two steps of the
//! copy protocol, and throttling or connection-loss replies, run through
//! plan / execute / record against an in-memory model of two servers.
//!
//! After a final pass the target must hold every source message exactly
//! once, except messages in the skip log with a reason; and never more
//! copies of a message than the source ever had.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use imapmig_core::store::{FileStore, Filesystem, MemoryStore, OsFilesystem, StateStore, StoreKey};
use imapmig_core::throttle::{Backoff, ReplyClass, classify};
use imapmig_core::tolerance::{SkipLog, SkipRecord, read_skip_log};
use imapmig_core::{
    FolderState, FolderStatus, Observation, ObservedMessage, Policy, SkipReason, Stage, Uid,
    UidValidity,
};
use proptest::prelude::*;
use rand::SeedableRng;

const CUTOFF: i64 = 1_000;

/// A message as the model servers hold it. `content` is the message's
/// identity: equal content, equal fingerprint (when it has one).
#[derive(Debug, Clone)]
struct Msg {
    content: u64,
    has_fp: bool,
    corrupt: bool,
    date: Option<i64>,
}

impl Msg {
    fn fingerprint(&self) -> Option<u128> {
        self.has_fp.then(|| {
            u128::from(self.content).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1
        })
    }
    fn size(&self) -> u64 {
        100 + self.content % 1000
    }
}

#[derive(Debug, Clone)]
struct Folder {
    validity: u32,
    next_uid: u32,
    msgs: BTreeMap<u32, Msg>,
}

impl Folder {
    fn new(validity: u32) -> Self {
        Folder {
            validity,
            next_uid: 1,
            msgs: BTreeMap::new(),
        }
    }

    fn append(&mut self, msg: Msg) -> u32 {
        let uid = self.next_uid;
        self.next_uid += 1;
        self.msgs.insert(uid, msg);
        uid
    }

    /// A new UIDVALIDITY: same messages, new UIDs.
    fn reset(&mut self) {
        self.validity += 1;
        let msgs = std::mem::take(&mut self.msgs);
        self.next_uid = 1;
        for m in msgs.into_values() {
            self.append(m);
        }
    }

    fn observe(&self) -> Observation {
        let status = FolderStatus {
            uid_validity: UidValidity::try_from(self.validity).unwrap(),
            uid_next: Uid::try_from(self.next_uid).ok(),
            highest_modseq: None,
            messages: self.msgs.len() as u32,
        };
        let messages = self
            .msgs
            .iter()
            .map(|(uid, m)| {
                let mut o = ObservedMessage::new(Uid::try_from(*uid).unwrap(), m.size());
                o.fingerprint = m.fingerprint().map(Into::into);
                o.internal_date = m.date;
                o
            })
            .collect();
        Observation::new(status, messages)
    }
}

/// How the target answers one APPEND.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Stored, `OK [APPENDUID ...]`.
    Ok,
    /// Stored, plain `OK` (no UIDPLUS).
    NoAppendUid,
    /// Not stored: Office 365's throttling reply.
    Throttled,
    /// Stored, then the connection dropped before the tagged OK.
    ByeAfterStore,
    /// Not stored, connection dropped.
    ByeBeforeStore,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::Ok),
        2 => Just(Fault::NoAppendUid),
        1 => Just(Fault::Throttled),
        1 => Just(Fault::ByeAfterStore),
        1 => Just(Fault::ByeBeforeStore),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Deliver {
        count: u8,
        has_fp: bool,
        corrupt: bool,
        date: Option<i64>,
    },
    /// Deliver again a message with the content of an existing one.
    Redeliver(usize),
    Expunge(usize),
    ResetSource,
    ResetTarget,
    Pass {
        stage: Stage,
        crash_at: Option<u16>,
        faults: Vec<Fault>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let stage = prop_oneof![
        Just(Stage::PreStage { before: CUTOFF }),
        Just(Stage::Delta { since: CUTOFF }),
        Just(Stage::Final),
    ];
    prop_oneof![
        4 => (1u8..6, prop::bool::weighted(0.85), prop::bool::weighted(0.08), prop::option::weighted(0.9, 0..2 * CUTOFF))
            .prop_map(|(count, has_fp, corrupt, date)| Op::Deliver { count, has_fp, corrupt, date }),
        1 => any::<usize>().prop_map(Op::Redeliver),
        2 => any::<usize>().prop_map(Op::Expunge),
        1 => Just(Op::ResetSource),
        1 => Just(Op::ResetTarget),
        5 => (stage, prop::option::weighted(0.5, 1u16..60), prop::collection::vec(fault(), 0..6))
            .prop_map(|(stage, crash_at, faults)| Op::Pass { stage, crash_at, faults }),
    ]
}

struct World {
    source: Folder,
    target: Folder,
    store: Box<dyn StateStore>,
    key: StoreKey,
    skip_log: SkipLog<Vec<u8>>,
    next_content: u64,
    /// How many source messages ever had each content.
    instances: BTreeMap<u64, usize>,
    rng: rand::rngs::StdRng,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Completed,
    Crashed,
    Stopped,
}

impl World {
    fn new(seed: u64) -> Self {
        World::with_store(seed, Box::new(MemoryStore::new()))
    }

    fn with_store(seed: u64, store: Box<dyn StateStore>) -> Self {
        World {
            source: Folder::new(100),
            target: Folder::new(500),
            store,
            key: StoreKey::for_folder_pair("a@old", "INBOX", "a@new", "INBOX"),
            skip_log: SkipLog::new(Vec::new()).unwrap(),
            next_content: 1,
            instances: BTreeMap::new(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    fn deliver(&mut self, msg: Msg) {
        *self.instances.entry(msg.content).or_default() += 1;
        self.source.append(msg);
    }

    fn log_skip(&mut self, uid: Uid, content: u64, size: u64, reason: SkipReason, detail: &str) {
        self.skip_log
            .write(&SkipRecord {
                folder: "INBOX".into(),
                source_uid: uid,
                message_id: Some(format!("<{content}@model>")),
                size,
                reason,
                detail: detail.into(),
                time: 1_700_000_000,
            })
            .unwrap();
    }

    /// One pass of the copy protocol, as a migrator runs it. `crash_at`
    /// kills the process after that many steps (the in-memory state is
    /// lost; only what was saved survives).
    fn pass(&mut self, stage: Stage, crash_at: Option<u16>, faults: &[Fault]) -> Outcome {
        let mut steps = 0u16;
        macro_rules! step {
            () => {
                steps += 1;
                if crash_at == Some(steps) {
                    return Outcome::Crashed;
                }
            };
        }
        // A store that fails (injected faults) stops the run like a crash.
        let Ok(loaded) = self.store.load(&self.key) else {
            return Outcome::Crashed;
        };
        let mut state: FolderState = loaded.unwrap_or_default();
        step!();
        let source = self.source.observe();
        let target = self.target.observe();
        let mut plan = state.begin_pass(&source, &target, &stage, &Policy::default());
        if std::env::var("MODEL_TRACE").is_ok() {
            eprintln!(
                "PASS {stage:?}\n source {:?}\n target {:?}\n plan {plan:?}",
                self.source.msgs, self.target.msgs
            );
        }
        if !plan.is_applicable() {
            // The operator reviews the reset report and accepts it.
            let accept = Policy {
                min_reset_confirmation: 0.0,
                ..Policy::default()
            };
            plan = state.begin_pass(&source, &target, &stage, &accept);
            assert!(plan.is_applicable());
        }
        step!();
        if self.store.save(&self.key, &state).is_err() {
            return Outcome::Crashed;
        }
        step!();
        let mut faults = faults.iter().copied().cycle();
        for m in &plan.copy {
            let msg = self.source.msgs[&m.uid.get()].clone();
            assert_eq!(m.fingerprint.map(u128::from), msg.fingerprint());
            state.record_intent(m.uid, m.fingerprint, m.size);
            step!();
            if self.store.save(&self.key, &state).is_err() {
                return Outcome::Crashed;
            }
            step!();
            let fault = faults.next().unwrap_or(Fault::Ok);
            let reply = if msg.corrupt {
                "a1 NO [CANNOT] Invalid message: bare NUL".to_owned()
            } else {
                match fault {
                    Fault::Ok => {
                        let t = self.target.append(msg.clone());
                        format!(
                            "a1 OK [APPENDUID {} {t}] Append completed.",
                            self.target.validity
                        )
                    }
                    Fault::NoAppendUid => {
                        self.target.append(msg.clone());
                        "a1 OK APPEND completed.".to_owned()
                    }
                    Fault::Throttled => {
                        "a1 NO Request is throttled. Suggested Backoff Time: 1500 milliseconds"
                            .to_owned()
                    }
                    Fault::ByeAfterStore => {
                        self.target.append(msg.clone());
                        "* BYE Connection closed. 14".to_owned()
                    }
                    Fault::ByeBeforeStore => "* BYE Connection closed. 14".to_owned(),
                }
            };
            match classify(&reply) {
                ReplyClass::Ok { .. } => {
                    let appended = reply
                        .split("[APPENDUID ")
                        .nth(1)
                        .and_then(|r| r.split([' ', ']']).nth(1))
                        .map(|t| t.parse::<Uid>().unwrap());
                    state.record_copied(m.uid, appended, m.fingerprint, m.size);
                }
                ReplyClass::Permanent => {
                    state.record_skipped(
                        m.uid,
                        m.fingerprint,
                        m.size,
                        SkipReason::Rejected,
                        &reply,
                    );
                    self.log_skip(m.uid, msg.content, m.size, SkipReason::Rejected, &reply);
                }
                throttled @ ReplyClass::Throttled { .. } => {
                    // Not stored: close the intent, back off, resume later.
                    let hint = throttled.retry_after();
                    assert_eq!(hint, Some(Duration::from_millis(1500)));
                    let wait = Backoff::default().delay(0, hint, &mut self.rng).unwrap();
                    assert!(wait >= Duration::from_millis(1500));
                    state.forget_intent(m.uid);
                    if self.store.save(&self.key, &state).is_err() {
                        return Outcome::Crashed;
                    }
                    return Outcome::Stopped;
                }
                ReplyClass::Unavailable => {
                    // Outcome unknown: the intent stays open.
                    return Outcome::Stopped;
                }
                other => panic!("unexpected reply class {other:?} for {reply:?}"),
            }
            step!();
            if self.store.save(&self.key, &state).is_err() {
                return Outcome::Crashed;
            }
            step!();
        }
        Outcome::Completed
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Deliver {
                count,
                has_fp,
                corrupt,
                date,
            } => {
                for _ in 0..*count {
                    let content = self.next_content;
                    self.next_content += 1;
                    self.deliver(Msg {
                        content,
                        has_fp: *has_fp,
                        corrupt: *corrupt,
                        date: *date,
                    });
                }
            }
            Op::Redeliver(i) => {
                if !self.source.msgs.is_empty() {
                    let m = self
                        .source
                        .msgs
                        .values()
                        .nth(i % self.source.msgs.len())
                        .cloned();
                    if let Some(m) = m {
                        self.deliver(m);
                    }
                }
            }
            Op::Expunge(i) => {
                if !self.source.msgs.is_empty() {
                    let uid = *self
                        .source
                        .msgs
                        .keys()
                        .nth(i % self.source.msgs.len())
                        .unwrap();
                    self.source.msgs.remove(&uid);
                }
            }
            Op::ResetSource => self.source.reset(),
            Op::ResetTarget => self.target.reset(),
            Op::Pass {
                stage,
                crash_at,
                faults,
            } => {
                self.pass(*stage, *crash_at, faults);
            }
        }
    }

    /// The final pass without faults, then the operator's verdict on what
    /// cannot be identified: skipped, with a reason, in the log.
    fn finish(&mut self) {
        assert_eq!(self.pass(Stage::Final, None, &[]), Outcome::Completed);
        let mut state = self.store.load(&self.key).unwrap().unwrap();
        let plan = state.begin_pass(
            &self.source.observe(),
            &self.target.observe(),
            &Stage::Final,
            &Policy::default(),
        );
        assert!(
            plan.copy.is_empty(),
            "a completed final pass leaves nothing to copy: {plan:?}"
        );
        assert!(plan.held.is_empty() && plan.deferred.is_empty());
        for uid in &plan.unidentified {
            let msg = self.source.msgs[&uid.get()].clone();
            state.record_skipped(
                *uid,
                None,
                msg.size(),
                SkipReason::Unidentified,
                "no fingerprint after a UIDVALIDITY change",
            );
            self.log_skip(
                *uid,
                msg.content,
                msg.size(),
                SkipReason::Unidentified,
                "unidentified",
            );
        }
        self.store.save(&self.key, &state).unwrap();
    }

    fn check(&self) {
        // Rows are flushed one by one: what the writer holds is the log.
        let rows = read_skip_log(&self.skip_log.get_ref()[..]).unwrap();
        let logged: BTreeSet<u64> = rows
            .iter()
            .map(|r| {
                assert!(!r.detail.is_empty());
                let id = r.message_id.as_deref().unwrap();
                id.trim_start_matches('<')
                    .trim_end_matches("@model>")
                    .parse()
                    .unwrap()
            })
            .collect();
        let mut on_target: BTreeMap<u64, usize> = BTreeMap::new();
        for m in self.target.msgs.values() {
            *on_target.entry(m.content).or_default() += 1;
        }
        let mut on_source: BTreeMap<u64, usize> = BTreeMap::new();
        for m in self.source.msgs.values() {
            *on_source.entry(m.content).or_default() += 1;
        }
        for (content, copies) in &on_target {
            let ever = self.instances.get(content).copied().unwrap_or(0);
            assert!(
                *copies <= ever,
                "content {content}: {copies} copies on the target, the source had {ever}"
            );
        }
        for (content, needed) in &on_source {
            if logged.contains(content) {
                continue;
            }
            let copies = on_target.get(content).copied().unwrap_or(0);
            assert!(
                copies >= *needed,
                "content {content}: {needed} on the source, {copies} on the target, not in the skip log"
            );
        }
    }
}

/// The real file system, failing the operations whose numbers are in
/// `fail` (a write fails after writing half the bytes) until `off` is set.
#[derive(Debug)]
struct FaultyFs {
    fail: BTreeSet<usize>,
    count: AtomicUsize,
    off: Arc<AtomicBool>,
}

impl FaultyFs {
    fn step(&self) -> io::Result<()> {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        if !self.off.load(Ordering::SeqCst) && self.fail.contains(&n) {
            Err(io::Error::other(format!("injected fault at operation {n}")))
        } else {
            Ok(())
        }
    }
}

impl Filesystem for FaultyFs {
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.step() {
            OsFilesystem.write(path, &bytes[..bytes.len() / 2])?;
            return Err(e);
        }
        OsFilesystem.write(path, bytes)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.step()?;
        OsFilesystem.sync_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step()?;
        OsFilesystem.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.step()?;
        OsFilesystem.sync_dir(dir)
    }
    fn read(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        self.step()?;
        OsFilesystem.read(path, limit)
    }
    fn append(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.step() {
            OsFilesystem.append(path, &bytes[..bytes.len() / 2])?;
            return Err(e);
        }
        OsFilesystem.append(path, bytes)
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    })]

    /// The same property with the crash-safe file store, its file
    /// operations failing at random points (each failure stops the run
    /// like a crash).
    #[test]
    fn prop_file_store_faults_lose_nothing(
        ops in prop::collection::vec(op(), 1..20),
        fail in prop::collection::btree_set(0usize..400, 0..12),
        seed in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let off = Arc::new(AtomicBool::new(false));
        let fs = FaultyFs { fail, count: AtomicUsize::new(0), off: off.clone() };
        let store = FileStore::with_filesystem(dir.path(), Box::new(fs));
        let mut world = World::with_store(seed, Box::new(store));
        for op in &ops {
            world.apply(op);
        }
        off.store(true, Ordering::SeqCst);
        world.finish();
        world.check();
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn prop_every_message_once_or_logged(ops in prop::collection::vec(op(), 1..30), seed in any::<u64>()) {
        let mut world = World::new(seed);
        for op in &ops {
            world.apply(op);
        }
        world.finish();
        world.check();
    }
}
