//! Staged passes never leave a gap: for any messages (INTERNALDATE missing, before 1970, far
//! in the future, equal to a cutoff) and any sequence of pre-stages and deltas, the stages
//! that [`StageCutoffs::gap`] accepts, recorded in the state as they complete, cover every
//! message once a pre-stage and a delta have both run; a final pass then copies whatever is
//! left, and no message is ever copied twice.

use std::collections::BTreeMap;

use imapmig_core::{
    Fingerprint, FolderState, FolderStatus, Observation, ObservedMessage, Policy, Stage,
    StageCutoffs, Uid, UidValidity,
};
use proptest::prelude::*;

/// Dates that matter: unknown, before 1970, around a few cutoffs, far future.
const MARKS: [i64; 6] = [
    -2_208_988_800,
    0,
    1_000_000_000,
    1_700_000_000,
    1_700_086_400,
    253_402_300_799,
];

fn date() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        prop::sample::select(MARKS.to_vec()).prop_map(Some),
        (prop::sample::select(MARKS.to_vec()), -2i64..=2).prop_map(|(m, d)| Some(m + d)),
        (i64::MIN / 2..i64::MAX / 2).prop_map(Some),
    ]
}

fn cutoff() -> impl Strategy<Value = i64> {
    prop_oneof![
        prop::sample::select(MARKS.to_vec()),
        (prop::sample::select(MARKS.to_vec()), -1i64..=1).prop_map(|(m, d)| m + d),
    ]
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        cutoff().prop_map(|before| Stage::PreStage { before }),
        cutoff().prop_map(|since| Stage::Delta { since }),
    ]
}

fn uid(n: u32) -> Uid {
    Uid::try_from(n).unwrap()
}

fn source(dates: &[Option<i64>]) -> Observation {
    let messages = dates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut m = ObservedMessage::new(uid(i as u32 + 1), 100 + i as u64);
            m.fingerprint = Some(Fingerprint::from(i as u128 + 1));
            m.internal_date = *d;
            m
        })
        .collect();
    Observation::new(
        FolderStatus::new(UidValidity::try_from(7).unwrap(), dates.len() as u32),
        messages,
    )
}

/// The target as a list of (target uid, fingerprint) copies.
fn target(copies: &[(u32, u128)]) -> Observation {
    let messages = copies
        .iter()
        .map(|&(u, fp)| {
            let mut m = ObservedMessage::new(uid(u), 100);
            m.fingerprint = Some(Fingerprint::from(fp));
            m
        })
        .collect();
    Observation::new(
        FolderStatus::new(UidValidity::try_from(9).unwrap(), copies.len() as u32),
        messages,
    )
}

/// Runs one pass to completion: every planned copy lands, and the stage is recorded.
fn pass(
    state: &mut FolderState,
    src: &Observation,
    copies: &mut Vec<(u32, u128)>,
    stage: &Stage,
) -> Vec<u32> {
    let plan = state.begin_pass(src, &target(copies), stage, &Policy::default());
    let mut copied = Vec::new();
    for m in &plan.copy {
        let target_uid = copies.len() as u32 + 1;
        state.record_copied(m.uid, Some(uid(target_uid)), m.fingerprint, m.size);
        copies.push((target_uid, m.fingerprint.unwrap().get()));
        copied.push(m.uid.get());
    }
    state.record_stage(stage);
    copied
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn accepted_stages_and_a_final_pass_cover_every_message_once(
        dates in prop::collection::vec(date(), 0..30),
        stages in prop::collection::vec(stage(), 0..8),
    ) {
        let src = source(&dates);
        let mut state = FolderState::new();
        let mut copies: Vec<(u32, u128)> = Vec::new();
        let mut times: BTreeMap<u32, usize> = BTreeMap::new();
        for stage in &stages {
            let before = state.stage_cutoffs();
            if let Some(gap) = before.gap(stage) {
                // A refusal names a real gap between the stage asked for and a saved
                // cutoff: a pre-stage cutoff earlier than a delta's.
                prop_assert!(gap.before < gap.since, "{gap:?} for {stage:?}");
                match *stage {
                    Stage::Delta { since } => {
                        prop_assert_eq!((Some(gap.before), gap.since), (before.before, since));
                    }
                    Stage::PreStage { before: b } => {
                        prop_assert_eq!((gap.before, Some(gap.since)), (b, before.since));
                    }
                    Stage::Final => prop_assert!(false, "a final pass is never refused"),
                }
                continue;
            }
            for u in pass(&mut state, &src, &mut copies, stage) {
                *times.entry(u).or_default() += 1;
            }
            let cutoffs = state.stage_cutoffs();
            for (i, d) in dates.iter().enumerate() {
                let u = i as u32 + 1;
                // Whatever the recorded stages cover is on the target ...
                if cutoffs.covers(*d) {
                    prop_assert_eq!(times.get(&u), Some(&1), "uid {} date {:?} {:?}", u, d, cutoffs);
                }
                // ... and a pre-stage plus a delta leave nothing out, whatever the date.
                if let StageCutoffs { before: Some(_), since: Some(_) } = cutoffs {
                    prop_assert!(cutoffs.covers(*d), "uid {} date {:?} not covered by {:?}", u, d, cutoffs);
                }
            }
        }
        // The final pass copies everything still missing; nothing is copied twice.
        for u in pass(&mut state, &src, &mut copies, &Stage::Final) {
            *times.entry(u).or_default() += 1;
        }
        prop_assert_eq!(times.len(), dates.len());
        prop_assert!(times.values().all(|n| *n == 1), "{times:?}");
        prop_assert_eq!(copies.len(), dates.len());
        // And a pass after that copies nothing.
        prop_assert!(pass(&mut state, &src, &mut copies, &Stage::Final).is_empty());
    }
}

#[test]
fn a_delta_later_than_the_pre_stage_is_refused_and_an_equal_one_is_not() {
    let mut cutoffs = StageCutoffs::default();
    assert_eq!(
        cutoffs.gap(&Stage::Delta { since: 50 }),
        None,
        "no pre-stage yet"
    );
    cutoffs.record(&Stage::PreStage { before: 100 });
    assert!(cutoffs.gap(&Stage::Delta { since: 101 }).is_some());
    assert_eq!(cutoffs.gap(&Stage::Delta { since: 100 }), None);
    assert_eq!(cutoffs.gap(&Stage::PreStage { before: 10 }), None);
    cutoffs.record(&Stage::Delta { since: 100 });
    // A pre-stage earlier than the delta's cutoff would leave 10..100 to no stage.
    let gap = cutoffs.gap(&Stage::PreStage { before: 10 }).unwrap();
    assert_eq!((gap.before, gap.since), (10, 100));
    assert!(gap.to_string().contains("10") && gap.to_string().contains("100"));
    assert_eq!(cutoffs.gap(&Stage::Final), None);
}
