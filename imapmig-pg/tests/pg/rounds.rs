//! Rounds (delta passes): a later round queues finished mailboxes again,
//! keeps their folder states and last results, never steals a running
//! mailbox, and an earlier round is refused.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use imapmig_core::{FolderState, StateStore, StoreKey, Uid};
use imapmig_pg::{Database, Error, MailboxRow, Outcome, Status};

const MINUTE: Duration = Duration::from_secs(60);

fn row(n: u64) -> MailboxRow {
    MailboxRow::new(
        format!("imaps://round{n}@old.test:993"),
        format!("imaps://round{n}@new.test:993"),
    )
    .with_size(1000 * (n + 1), 10)
}

/// Claims and finishes every free mailbox, the first one found failed.
fn finish_all(db: &Database, copied: u64) {
    let mut first = true;
    while let Some(claim) = db.claim_next("w", MINUTE).expect("claim") {
        let outcome = if first {
            Outcome::Failed
        } else {
            Outcome::Done
        };
        first = false;
        db.finish(&claim, &super::result(outcome, copied, copied * 100))
            .expect("finish");
    }
}

#[test]
fn a_later_round_requeues_keeps_states_and_results_and_an_earlier_one_is_refused() {
    let Some((_server, db)) = super::migrated() else {
        return;
    };
    let rows: Vec<MailboxRow> = (0..3).map(row).collect();
    let ids = db.enqueue(&rows).expect("enqueue").ids;
    // A folder state saved during round 1.
    let key = StoreKey::new("INBOX").expect("key");
    let mut state = FolderState::new();
    state.record_copied(Uid::try_from(7).expect("uid"), None, None, 1000);
    let claim = db.claim_next("w", MINUTE).expect("claim").expect("mailbox");
    assert_eq!(claim.mailbox.round, 1);
    let with_state = claim.id();
    db.fenced_store(&claim).save(&key, &state).expect("save");
    db.finish(&claim, &super::result(Outcome::Done, 40, 4000))
        .expect("finish");
    finish_all(&db, 5);
    let before = db.fleet_summary().expect("summary");
    assert_eq!((before.round, before.behind, before.done), (1, 0, 2));

    // Round 2 for the last two mailboxes only (the one with a state among
    // them: the largest, claimed first).
    assert_eq!(with_state, ids[2]);
    let delta = db.enqueue_round(&rows[1..], 2).expect("round 2");
    assert_eq!((delta.added, delta.raised), (0, 2));
    assert_eq!(delta.ids, ids[1..]);
    for id in &ids[1..] {
        let m = db.mailbox(*id).expect("read").expect("exists");
        assert_eq!((m.status, m.round, m.attempts), (Status::Queued, 2, 0));
        assert_eq!(m.result, None, "the result columns are cleared");
        let history = db.round_results(*id).expect("history");
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(history[0].0, 1);
    }
    let first = db.round_results(with_state).expect("history");
    assert_eq!((first[0].1.outcome, first[0].1.copied), (Outcome::Done, 40));
    let untouched = db.mailbox(ids[0]).expect("read").expect("exists");
    assert_eq!(untouched.round, 1);
    assert!(untouched.result.is_some());
    let summary = db.fleet_summary().expect("summary");
    assert_eq!(
        (summary.round, summary.behind, summary.queued),
        (2, 1, 2),
        "{summary:?}"
    );

    // The same round again changes nothing.
    let again = db.enqueue_round(&rows[1..], 2).expect("round 2 again");
    assert_eq!((again.added, again.raised), (0, 0));

    // The new round resumes from the saved folder state.
    let claim = db.claim_next("w", MINUTE).expect("claim").expect("mailbox");
    assert_eq!((claim.mailbox.round, claim.mailbox.attempts), (2, 1));
    if claim.id() == with_state {
        let loaded = db.fenced_store(&claim).load(&key).expect("load");
        assert_eq!(loaded.map(|s| s.copied().count()), Some(1));
    }
    db.finish(&claim, &super::result(Outcome::Done, 1, 100))
        .expect("finish");
    let loaded = db.claim_next("w", MINUTE).expect("claim").expect("mailbox");
    if loaded.id() == with_state {
        let state = db.fenced_store(&loaded).load(&key).expect("load");
        assert_eq!(state.map(|s| s.copied().count()), Some(1));
    }
    db.finish(&loaded, &super::result(Outcome::Done, 1, 100))
        .expect("finish");

    // Round 1 after round 2: refused, and nothing changes (the third
    // mailbox, still at round 1, stays as it was).
    let err = db
        .enqueue_round(&rows, 1)
        .expect_err("round 1 after round 2");
    assert!(
        matches!(
            err,
            Error::RoundBehind {
                current: 2,
                asked: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("round 2"), "{err}");
    let err = db.enqueue(&rows[..1]).map(|e| e.raised);
    assert_eq!(err.ok(), Some(0), "round 1 for a round-1 mailbox is fine");
    assert!(matches!(
        db.enqueue_round(&rows, 0),
        Err(Error::InvalidValue { what: "round", .. })
    ));
    let m = db.mailbox(ids[0]).expect("read").expect("exists");
    assert_eq!((m.round, m.status), (1, Status::Done));
    // A new mailbox enqueued in round 3 starts at round 3.
    let late = db.enqueue_round(&[row(9)], 3).expect("round 3");
    assert_eq!((late.added, late.raised), (1, 0));
    let m = db.mailbox(late.ids[0]).expect("read").expect("exists");
    assert_eq!((m.round, m.status), (3, Status::Queued));
}

#[test]
fn a_mailbox_running_in_an_older_round_is_not_stolen_and_requeued_when_it_finishes() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let other = Database::connect(&server.url()).expect("connect");
    let rows = [row(1)];
    db.enqueue(&rows).expect("enqueue");
    let old = db
        .claim_next("round-1-worker", MINUTE)
        .expect("claim")
        .expect("mailbox");
    let raised = other.enqueue_round(&rows, 2).expect("round 2");
    assert_eq!(raised.raised, 1);
    let m = db.mailbox(old.id()).expect("read").expect("exists");
    assert_eq!((m.status, m.round), (Status::Running, 2));
    assert!(
        other
            .claim_next("round-2-worker", MINUTE)
            .expect("claim")
            .is_none(),
        "its lease holds: not taken"
    );
    let summary = db.fleet_summary().expect("summary");
    assert_eq!(summary.running_mailboxes.len(), 1);
    assert_eq!(summary.running_mailboxes[0].round, 2);

    // Its worker finishes: the result is round 1's, the mailbox waits for
    // round 2.
    db.finish(&old, &super::result(Outcome::Done, 12, 1200))
        .expect("finish");
    let m = db.mailbox(old.id()).expect("read").expect("exists");
    assert_eq!((m.status, m.round, m.result), (Status::Queued, 2, None));
    let history = db.round_results(old.id()).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].0, history[0].1.copied), (1, 12));

    // A worker of round 1 still running leaves it to round 2's workers.
    assert!(
        db.claim_next_in_round("round-1-worker", MINUTE, 1)
            .expect("claim")
            .is_none()
    );
    let new = other
        .claim_next_in_round("round-2-worker", MINUTE, 2)
        .expect("claim")
        .expect("queued for round 2");
    assert_eq!(new.mailbox.round, 2);
    other
        .finish(&new, &super::result(Outcome::Done, 3, 300))
        .expect("finish");
    let m = db.mailbox(old.id()).expect("read").expect("exists");
    assert_eq!(m.status, Status::Done);
    assert_eq!(m.result.map(|r| r.copied), Some(3));
}

#[test]
fn three_workers_enqueueing_a_round_at_once_raise_each_mailbox_once() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let rows: Vec<MailboxRow> = (0..30).map(row).collect();
    db.enqueue(&rows).expect("enqueue");
    finish_all(&db, 2);
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (barrier, url, rows) = (Arc::clone(&barrier), server.url(), rows.clone());
            thread::spawn(move || {
                let db = Database::connect(&url).expect("connect");
                barrier.wait();
                db.enqueue_round(&rows, 2).expect("enqueue round 2")
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();
    let raised: u64 = results.iter().map(|e| e.raised).sum();
    assert_eq!(raised, 30, "{results:?}");
    assert!(
        results
            .iter()
            .all(|e| e.added == 0 && e.ids == results[0].ids)
    );
    for m in db.mailboxes().expect("list") {
        assert_eq!((m.status, m.round, m.attempts), (Status::Queued, 2, 0));
        let history = db.round_results(m.id).expect("history");
        assert_eq!(history.len(), 1, "one round-1 result each");
        assert_eq!(history[0].0, 1);
    }
    let summary = db.fleet_summary().expect("summary");
    assert_eq!((summary.round, summary.behind, summary.queued), (2, 0, 30));
}
