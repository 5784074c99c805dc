//! Properties of a single plan over random states and observations: every
//! source message lands in exactly one list, no target message is claimed
//! twice, lists are sorted, and planning is deterministic.

use std::collections::BTreeSet;

use imapmig_core::{
    Fingerprint, FolderState, FolderStatus, Observation, ObservedMessage, Plan, Policy, SkipReason,
    Stage, Uid, UidValidity, UnidentifiedPolicy, plan_pass,
};
use proptest::prelude::*;

fn uid(n: u32) -> Uid {
    Uid::try_from(n).unwrap()
}

/// (uid, fingerprint: 0 = none, small so that duplicates happen)
fn messages() -> impl Strategy<Value = Vec<(u32, u8, Option<i64>)>> {
    prop::collection::vec((1u32..60, 0u8..12, prop::option::of(0i64..2000)), 0..40)
}

fn observation(validity: u32, msgs: &[(u32, u8, Option<i64>)]) -> Observation {
    let messages = msgs
        .iter()
        .map(|&(u, fp, date)| {
            let mut m = ObservedMessage::new(uid(u), u64::from(u));
            if fp != 0 {
                m.fingerprint = Some(Fingerprint::from(u128::from(fp)));
            }
            m.internal_date = date;
            m
        })
        .collect();
    Observation::new(
        FolderStatus::new(UidValidity::try_from(validity).unwrap(), msgs.len() as u32),
        messages,
    )
}

#[derive(Debug, Clone)]
enum Record {
    Copied(u32, Option<u32>, u8),
    Intent(u32, u8),
    Skipped(u32, u8),
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(
        prop_oneof![
            (1u32..60, prop::option::of(1u32..60), 0u8..12)
                .prop_map(|(s, t, f)| Record::Copied(s, t, f)),
            (1u32..60, 0u8..12).prop_map(|(s, f)| Record::Intent(s, f)),
            (1u32..60, 0u8..12).prop_map(|(s, f)| Record::Skipped(s, f)),
        ],
        0..30,
    )
}

fn fp(f: u8) -> Option<Fingerprint> {
    (f != 0).then(|| Fingerprint::from(u128::from(f)))
}

fn check_plan(plan: &Plan, source: &Observation, target: &Observation) {
    let mut seen = BTreeSet::new();
    let lists: [Vec<Uid>; 6] = [
        plan.copy.iter().map(|m| m.uid).collect(),
        plan.present.iter().map(|p| p.source).collect(),
        plan.unidentified.clone(),
        plan.deferred.clone(),
        plan.skipped.clone(),
        plan.held.clone(),
    ];
    for list in &lists {
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats: {list:?}"
        );
        for u in list {
            assert!(seen.insert(*u), "{u} in two lists: {plan:?}");
        }
    }
    let observed: BTreeSet<Uid> = source.messages().iter().map(|m| m.uid).collect();
    assert_eq!(seen, observed, "every source message in exactly one list");
    let targets: Vec<Uid> = plan.present.iter().filter_map(|p| p.target).collect();
    let distinct: BTreeSet<Uid> = targets.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        targets.len(),
        "a target message claimed twice"
    );
    for t in &targets {
        assert!(
            target.message(*t).is_some(),
            "claimed target {t} not observed"
        );
    }
    let unmatched = target.messages().len() - distinct.len();
    assert_eq!(plan.target_unmatched as usize, unmatched);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn prop_plans_partition_and_are_deterministic(
        recs in records(),
        old in (1u32..4, 1u32..4),
        now in (1u32..4, 1u32..4),
        src in messages(),
        tgt in messages(),
        stage in prop_oneof![Just(Stage::Final), Just(Stage::PreStage { before: 1000 }), Just(Stage::Delta { since: 1000 })],
        hold in any::<bool>(),
        min in prop_oneof![Just(0.0), Just(0.5), Just(1.0)],
    ) {
        let mut state = FolderState::new();
        let empty_s = observation(old.0, &[]);
        let empty_t = observation(old.1, &[]);
        state.begin_pass(&empty_s, &empty_t, &Stage::Final, &Policy::default());
        for r in &recs {
            match *r {
                Record::Copied(s, t, f) => state.record_copied(uid(s), t.map(uid), fp(f), 1),
                Record::Intent(s, f) => state.record_intent(uid(s), fp(f), 1),
                Record::Skipped(s, f) => state.record_skipped(uid(s), fp(f), 1, SkipReason::Corrupt, "x"),
            }
        }
        let source = observation(now.0, &src);
        let target = observation(now.1, &tgt);
        let policy = Policy {
            unidentified: if hold { UnidentifiedPolicy::Hold } else { UnidentifiedPolicy::Copy },
            min_reset_confirmation: min,
            ..Policy::default()
        };
        let plan = plan_pass(&state, &source, &target, &stage, &policy);
        check_plan(&plan, &source, &target);
        prop_assert_eq!(&plan, &plan_pass(&state, &source, &target, &stage, &policy));
        // Applying it and planning again with nothing changed copies
        // nothing new: what was to be copied is still to be copied.
        let mut applied = state.clone();
        let again = applied.begin_pass(&source, &target, &stage, &policy);
        prop_assert_eq!(&again, &plan);
        if plan.is_applicable() {
            let second = plan_pass(&applied, &source, &target, &stage, &policy);
            check_plan(&second, &source, &target);
            let first: BTreeSet<Uid> = plan.copy.iter().map(|m| m.uid).collect();
            let next: BTreeSet<Uid> = second.copy.iter().map(|m| m.uid).collect();
            prop_assert!(next.is_subset(&first), "a replan copies something new: {:?} vs {:?}", first, next);
        } else {
            prop_assert_eq!(&applied, &state);
            prop_assert!(plan.copy.is_empty());
        }
    }
}
