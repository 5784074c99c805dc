//! imapmig-core: planning a pass over a folder of 1,000,000 messages after
//! the source's UIDVALIDITY changed, so every pair is found again by
//! fingerprint.
//!
//! No crate plans IMAP passes, so the peer is the obvious std approach on
//! the same input: a `HashMap<u128, Vec<u32>>` from fingerprint to target
//! UIDs, claimed one by one (it only pairs; it plans nothing else).
//!
//! Memory: `unsafe` is forbidden here too, so there is no counting
//! allocator. Before the timed runs, one measurement run resets the
//! kernel's peak-RSS mark (`/proc/self/clear_refs`), plans once, and
//! reports `VmHWM` minus the RSS before planning: the planner's own peak,
//! inputs excluded. The inputs' size is printed beside it.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use imapmig_core::{
    FolderState, FolderStatus, Observation, ObservedMessage, Policy, Stage, Uid, UidValidity,
    plan_pass,
};

const N: u32 = 1_000_000;

fn fingerprint(i: u32) -> u128 {
    // A bijective mix so fingerprints look random and never collide.
    let x = u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    x ^ (x >> 64)
}

struct Input {
    state: FolderState,
    source: Observation,
    target: Observation,
}

/// A folder of `N` messages copied before, then the source was rebuilt:
/// new UIDVALIDITY, new UIDs (in another order), same mail; the target is
/// unchanged and observed with fingerprints. 1 % of the source is new.
fn input() -> Input {
    let uid = |n: u32| Uid::try_from(n).unwrap_or(Uid::new(std::num::NonZeroU32::MIN));
    let v =
        |n: u32| UidValidity::try_from(n).unwrap_or(UidValidity::new(std::num::NonZeroU32::MIN));
    let mut state = FolderState::new();
    let old_source = Observation::new(FolderStatus::new(v(1), 0), Vec::new());
    let old_target = Observation::new(FolderStatus::new(v(2), 0), Vec::new());
    state.begin_pass(&old_source, &old_target, &Stage::Final, &Policy::default());
    let mut target = Vec::with_capacity(N as usize);
    for i in 1..=N {
        let fp = fingerprint(i);
        state.record_copied(uid(i), Some(uid(i + 10)), Some(fp.into()), 4096);
        target.push(ObservedMessage::new(uid(i + 10), 4096).with_fingerprint(fp));
    }
    let extra = N / 100;
    let source = (1..=N + extra)
        .map(|i| {
            // New UIDs in a shuffled order relative to the old ones.
            let old = ((u64::from(i) * 7919) % u64::from(N + extra)) as u32 + 1;
            ObservedMessage::new(uid(i), 4096).with_fingerprint(fingerprint(old))
        })
        .collect();
    Input {
        state,
        source: Observation::new(FolderStatus::new(v(9), N + extra), source),
        target: Observation::new(FolderStatus::new(v(2), N), target),
    }
}

/// The peer: pair by fingerprint with a std hash map of vectors.
fn naive_pairs(source: &Observation, target: &Observation) -> (usize, usize) {
    let mut by_fp: HashMap<u128, Vec<Uid>> = HashMap::new();
    for m in target.messages() {
        if let Some(fp) = m.fingerprint {
            by_fp.entry(fp.get()).or_default().push(m.uid);
        }
    }
    let (mut paired, mut copy) = (0, 0);
    for m in source.messages() {
        match m.fingerprint.and_then(|fp| by_fp.get_mut(&fp.get())?.pop()) {
            Some(_) => paired += 1,
            None => copy += 1,
        }
    }
    (paired, copy)
}

/// CPU time of this thread in nanoseconds (`/proc/thread-self/schedstat`):
/// on a shared machine, wall time also counts other processes' turns.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One untimed run that reports the planner's peak memory and time.
fn memory_report(input: &Input) {
    let inputs = size_of::<ObservedMessage>()
        * (input.source.messages().len() + input.target.messages().len());
    let before = proc_status("VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let cpu = cpu_ns();
    let start = Instant::now();
    let plan = plan_pass(
        &input.state,
        &input.source,
        &input.target,
        &Stage::Final,
        &Policy::default(),
    );
    let elapsed = start.elapsed();
    let cpu = cpu_ns()
        .zip(cpu)
        .map(|(b, a)| Duration::from_nanos(b.saturating_sub(a)));
    let peak = proc_status("VmHWM:");
    let summary = plan.summary();
    println!(
        "core/plan_reset_1m: wall {elapsed:?}, cpu {cpu:?}; copy {} present {} reconciled {}",
        summary.copy, summary.present, summary.reconciled
    );
    match (reset, before, peak) {
        (true, Some(before), Some(peak)) => println!(
            "core/plan_reset_1m: planner peak memory {:.1} MB over the inputs \
             (VmHWM {:.1} MB, RSS before {:.1} MB; observations alone {:.1} MB)",
            peak.saturating_sub(before) as f64 / 1024.0,
            peak as f64 / 1024.0,
            before as f64 / 1024.0,
            inputs as f64 / 1e6,
        ),
        _ => println!("core/plan_reset_1m: peak memory not measurable here (no /proc)"),
    }
    drop(black_box(plan));
}

fn bench(c: &mut Criterion) {
    let input = input();
    memory_report(&input);
    let mut group = c.benchmark_group("core/plan_reset_1m");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("imapmig_core::plan_pass", |b| {
        b.iter(|| {
            plan_pass(
                black_box(&input.state),
                black_box(&input.source),
                black_box(&input.target),
                &Stage::Final,
                &Policy::default(),
            )
        })
    });
    group.bench_function("peer: std HashMap<u128, Vec<Uid>> pairing", |b| {
        b.iter(|| naive_pairs(black_box(&input.source), black_box(&input.target)))
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
