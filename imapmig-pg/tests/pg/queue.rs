use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use imapmig_pg::{Database, Error, MailboxId, MailboxRow, Outcome, Status};

const MINUTE: Duration = Duration::from_secs(60);

fn row(n: u64, size: u64) -> MailboxRow {
    MailboxRow::new(
        format!("imaps://user{n}@old.test:993"),
        format!("imaps://user{n}@new.test:993"),
    )
    .with_size(size, size / 100)
}

#[test]
fn enqueue_is_idempotent_and_refuses_passwords() {
    let Some((_server, db)) = super::migrated() else {
        return;
    };
    let rows: Vec<MailboxRow> = (0..5).map(|n| row(n, 1000 * n)).collect();
    let first = db.enqueue(&rows).expect("enqueue");
    assert_eq!(first.added, 5);
    let again = db.enqueue(&rows).expect("enqueue again");
    assert_eq!(again.added, 0);
    assert_eq!(again.ids, first.ids);
    // A size learnt later updates a queued mailbox.
    let bigger = [row(0, 9_999)];
    assert_eq!(db.enqueue(&bigger).expect("enqueue").ids[0], first.ids[0]);
    let all = db.mailboxes().expect("list");
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].size_bytes, 9_999);
    assert_eq!(all[0].status, Status::Queued);
    assert_eq!(all[0].attempts, 0);
    assert_eq!(all[0].result, None);

    let secret = [MailboxRow::new(
        "imap://ann:hunter2@old.test",
        "imap://ann@new.test",
    )];
    let err = db.enqueue(&secret).expect_err("a password in a URL");
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                what: "source url",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    assert_eq!(db.mailboxes().expect("list").len(), 5, "nothing enqueued");
}

#[test]
fn largest_mailbox_is_claimed_first() {
    let Some((_server, db)) = super::migrated() else {
        return;
    };
    let ids = db
        .enqueue(&[row(1, 5), row(2, 100), row(3, 50), row(4, 100), row(5, 0)])
        .expect("enqueue")
        .ids;
    let mut order = Vec::new();
    while let Some(claim) = db.claim_next("w", MINUTE).expect("claim") {
        assert_eq!(claim.mailbox.status, Status::Running);
        assert_eq!(claim.mailbox.attempts, 1);
        assert_eq!(claim.taken_over_from, None);
        order.push(claim.id());
    }
    // Ties by id.
    assert_eq!(order, [ids[1], ids[3], ids[2], ids[0], ids[4]]);
}

#[test]
fn two_workers_never_hold_the_same_mailbox() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let ids = db
        .enqueue(&(0..20).map(|n| row(n, 10 * (n % 7))).collect::<Vec<_>>())
        .expect("enqueue")
        .ids;
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|name| {
            let barrier = Arc::clone(&barrier);
            let url = server.url();
            thread::spawn(move || {
                let db = Database::connect(&url).expect("connect");
                barrier.wait();
                // Hold every claim until nothing is left, so that both
                // hold leases at once, then finish them all.
                let mut claims = Vec::new();
                while let Some(claim) = db.claim_next(name, MINUTE).expect("claim") {
                    claims.push(claim);
                }
                for claim in &claims {
                    db.finish(claim, &super::result(Outcome::Done, 1, 10))
                        .expect("finish");
                }
                claims.into_iter().map(|c| c.id()).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut holders: BTreeMap<MailboxId, usize> = BTreeMap::new();
    let mut per_worker = Vec::new();
    for worker in workers {
        let claimed = worker.join().expect("worker");
        per_worker.push(claimed.len());
        for id in claimed {
            *holders.entry(id).or_default() += 1;
        }
    }
    eprintln!("claims per worker: {per_worker:?}");
    assert_eq!(holders.len(), 20, "every mailbox claimed");
    assert!(holders.values().all(|&n| n == 1), "{holders:?}");
    assert_eq!(holders.keys().copied().collect::<Vec<_>>(), ids);
    let summary = db.fleet_summary().expect("summary");
    assert_eq!((summary.done, summary.mailboxes), (20, 20));
}

#[test]
fn many_workers_racing_claim_each_mailbox_once() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    db.enqueue(&(0..60).map(|n| row(n, n)).collect::<Vec<_>>())
        .expect("enqueue");
    let barrier = Arc::new(Barrier::new(6));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let barrier = Arc::clone(&barrier);
            let url = server.url();
            thread::spawn(move || {
                let db = Database::connect(&url).expect("connect");
                barrier.wait();
                let mut claimed = Vec::new();
                while let Some(claim) = db.claim_next(&format!("w{w}"), MINUTE).expect("claim") {
                    claimed.push(claim.id());
                    db.finish(&claim, &super::result(Outcome::Done, 0, 0))
                        .expect("finish");
                }
                claimed
            })
        })
        .collect();
    let mut all: Vec<MailboxId> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!((total, all.len()), (60, 60));
}

#[test]
fn an_expired_lease_is_taken_over_and_a_released_mailbox_requeued() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let other = Database::connect(&server.url()).expect("connect");
    db.enqueue(&[row(1, 10), row(2, 5)]).expect("enqueue");
    let dead = db
        .claim_next("dead-worker", Duration::from_secs(1))
        .expect("claim")
        .expect("mailbox");
    // The live worker gets the next one while the lease holds.
    let live = other
        .claim_next("live", MINUTE)
        .expect("claim")
        .expect("mailbox");
    assert_ne!(live.id(), dead.id());
    assert!(other.claim_next("live", MINUTE).expect("claim").is_none());
    thread::sleep(Duration::from_millis(1500));
    let resumed = other
        .claim_next("live", MINUTE)
        .expect("claim")
        .expect("the dead worker's mailbox");
    assert_eq!(resumed.id(), dead.id());
    assert_eq!(resumed.taken_over_from.as_deref(), Some("dead-worker"));

    // Released: queued again, for anyone.
    other.release(&resumed).expect("release");
    let mailbox = db.mailbox(resumed.id()).expect("read").expect("exists");
    assert_eq!((mailbox.status, mailbox.attempts), (Status::Queued, 2));
    let again = db
        .claim_next("third", MINUTE)
        .expect("claim")
        .expect("mailbox");
    assert_eq!((again.id(), again.mailbox.attempts), (dead.id(), 3));
    assert_eq!(again.taken_over_from, None);

    // A lease renewed in time is not taken over.
    let mut short = again;
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(50));
        db.renew(&mut short).expect("renew");
    }
    assert!(other.claim_next("live", MINUTE).expect("claim").is_none());
}

#[test]
fn fleet_summary_counts_by_status() {
    let Some((_server, db)) = super::migrated() else {
        return;
    };
    db.enqueue(&[
        row(1, 5000),
        row(2, 4000),
        row(3, 3000),
        row(4, 2000),
        row(5, 1000),
    ])
    .expect("enqueue");
    let done = db.claim_next("w1", MINUTE).expect("claim").expect("1");
    db.finish(&done, &super::result(Outcome::Done, 50, 4800))
        .expect("finish");
    let failed = db.claim_next("w1", MINUTE).expect("claim").expect("2");
    db.finish(&failed, &super::result(Outcome::Failed, 3, 300))
        .expect("finish");
    let _running = db.claim_next("w2", MINUTE).expect("claim").expect("3");
    let _stalled = db
        .claim_next("w3", Duration::from_millis(100))
        .expect("claim")
        .expect("4");
    thread::sleep(Duration::from_millis(300));

    let summary = db.fleet_summary().expect("summary");
    assert_eq!(
        summary.to_string(),
        "mailboxes: 5 queued: 1 running: 1 stalled: 1 done: 1 failed: 1"
    );
    assert_eq!(summary.workers, ["w2"]);
    assert_eq!((summary.messages_done, summary.messages_total), (50, 150));
    assert_eq!((summary.bytes_done, summary.bytes_total), (5000, 15000));
    assert_eq!(summary.bytes_copied, 5100);
    assert_eq!(summary.messages_copied, 53);
    let running: Vec<(&str, bool)> = summary
        .running_mailboxes
        .iter()
        .map(|r| (r.worker.as_str(), r.expires_in.is_some()))
        .collect();
    assert_eq!(running, [("w2", true), ("w3", false)]);
    assert!(
        summary.running_mailboxes[1].lease_age >= Duration::from_millis(300),
        "{:?}",
        summary.running_mailboxes
    );
    assert!(summary.elapsed >= Duration::from_millis(300));
    // 10,000 of 15,000 bytes left at the pace of 5,100 copied so far.
    let rate = summary.bytes_per_second().expect("a rate");
    let eta = summary.eta().expect("an eta").as_secs_f64();
    assert!((eta - 10_000.0 / rate).abs() < 1e-3, "{eta} {rate}");

    let failed_row = db.mailbox(failed.id()).expect("read").expect("exists");
    let result = failed_row.result.expect("a result");
    assert_eq!(result, super::result(Outcome::Failed, 3, 300));
    assert_eq!(db.requeue_failed().expect("requeue"), 1);
    let summary = db.fleet_summary().expect("summary");
    assert_eq!((summary.queued, summary.failed), (2, 0));
}

#[test]
fn bad_arguments_are_refused() {
    let Some((_server, db)) = super::migrated() else {
        return;
    };
    assert!(matches!(
        db.claim_next("", MINUTE),
        Err(Error::InvalidValue { what: "worker", .. })
    ));
    assert!(matches!(
        db.claim_next("w", Duration::ZERO),
        Err(Error::InvalidValue {
            what: "lease ttl",
            ..
        })
    ));
    assert!(matches!(
        db.enqueue(&[row(1, u64::MAX)]),
        Err(Error::InvalidValue { what: "size", .. })
    ));
    assert_eq!(db.mailbox(MailboxId::new(42)).expect("read"), None);
}

#[test]
fn a_lease_keeper_holds_the_lease_and_notices_its_loss() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let other = Database::connect(&server.url()).expect("connect");
    db.enqueue(&[row(1, 10)]).expect("enqueue");
    // Long enough that a loaded machine still renews in time.
    let ttl = Duration::from_secs(1);
    let claim = db.claim_next("kept", ttl).expect("claim").expect("mailbox");
    let keeper = db.keep_renewed(&claim).expect("keeper");
    // Three ttls later the lease still holds.
    thread::sleep(ttl * 3);
    assert!(!keeper.is_lost());
    assert!(other.claim_next("thief", MINUTE).expect("claim").is_none());
    keeper.stop().expect("renewed throughout");

    // Unrenewed, it expires and is taken over; a keeper started for the
    // old claim finds the lease lost at its first renewal.
    thread::sleep(ttl * 2);
    let taken = other
        .claim_next("thief", MINUTE)
        .expect("claim")
        .expect("taken over");
    assert_eq!(taken.id(), claim.id());
    let late = db.keep_renewed(&claim).expect("keeper");
    thread::sleep(ttl);
    assert!(late.is_lost());
    let err = late.stop().expect_err("lost");
    assert!(err.is_lease_lost(), "{err:?}");
    // The new owner's keeper is unaffected and stops cleanly on drop.
    let theirs = other.keep_renewed(&taken).expect("keeper");
    assert!(!theirs.is_lost());
    drop(theirs);
    other
        .finish(&taken, &super::result(Outcome::Done, 1, 1))
        .expect("finish");
}

#[test]
fn a_shared_value_is_made_once_whoever_races_for_it() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let url = server.url();
    let barrier = Arc::new(Barrier::new(4));
    let got: Vec<Vec<u8>> = (0..4u8)
        .map(|i| {
            let (url, barrier) = (url.clone(), barrier.clone());
            thread::spawn(move || {
                let db = Database::connect(&url).expect("connect");
                barrier.wait();
                db.shared_value("fingerprint_key", &[i; 32])
                    .expect("shared")
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert!(got.iter().all(|v| *v == got[0]), "{got:?}");
    assert_eq!(got[0].len(), 32);
    assert_eq!(
        db.shared_value("fingerprint_key", &[9; 32]).expect("again"),
        got[0],
        "a later candidate never replaces the value"
    );
    assert!(matches!(
        db.shared_value("", b"x"),
        Err(Error::InvalidValue { .. })
    ));
}
