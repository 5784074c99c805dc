use std::thread;
use std::time::Duration;

use imapmig_core::{Fingerprint, FolderState, SkipReason, StateStore, StoreKey, Uid};
use imapmig_pg::{Error, MailboxId, MailboxRow, Outcome};

fn uid(n: u32) -> Uid {
    Uid::try_from(n).expect("uid")
}

/// A state with copied, skipped and in-flight messages.
fn sample_state(copied: u32) -> FolderState {
    let mut state = FolderState::new();
    for n in 1..=copied {
        state.record_copied(
            uid(n),
            Some(uid(n + 100)),
            Some(Fingerprint::from(u128::from(n) * 0x9e37_79b9)),
            u64::from(n) * 1000,
        );
    }
    state.record_skipped(
        uid(copied + 1),
        None,
        50_000_000,
        SkipReason::TooLarge,
        "larger than the target's 35 MB \"limit\"",
    );
    state.record_intent(uid(copied + 2), Some(Fingerprint::from(7_u128)), 321);
    state
}

#[test]
fn states_round_trip_and_damage_is_an_error() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let ids = db
        .enqueue(&[
            MailboxRow::new("imap://ann@old.test", "imap://ann@new.test"),
            MailboxRow::new("imap://bob@old.test", "imap://bob@new.test"),
        ])
        .expect("enqueue")
        .ids;
    let store = db.state_store(ids[0]);
    assert_eq!(store.mailbox(), ids[0]);
    assert_eq!(store.fence(), None);
    let inbox = StoreKey::for_folder_pair("ann@old", "INBOX", "ann@new", "INBOX");
    let sent = StoreKey::new("Sent").expect("key");
    assert_eq!(store.load(&inbox).expect("load"), None);

    let state = sample_state(40);
    store.save(&inbox, &state).expect("save");
    assert_eq!(store.load(&inbox).expect("load"), Some(state.clone()));
    let bigger = sample_state(400);
    store.save(&inbox, &bigger).expect("save over");
    assert_eq!(store.load(&inbox).expect("load"), Some(bigger));
    store.save(&sent, &state).expect("save sent");
    let mut keys = vec![inbox.clone(), sent.clone()];
    keys.sort();
    assert_eq!(store.keys().expect("keys"), keys);
    // Keys are scoped by mailbox.
    let other = db.state_store(ids[1]);
    assert_eq!(other.load(&inbox).expect("load"), None);
    assert!(other.keys().expect("keys").is_empty());

    // One flipped byte: the checksum catches it, never an empty state.
    server.psql(
        "postgres",
        "UPDATE imapmig_folder_states \
         SET state = set_byte(state, octet_length(state) - 4, get_byte(state, octet_length(state) - 4) # 1) \
         WHERE store_key = 'Sent'",
    );
    match store.load(&sent) {
        Err(imapmig_core::Error::CorruptState { path, .. }) => {
            assert!(
                path.to_string_lossy()
                    .ends_with(&format!("#mailbox={}", ids[0])),
                "{path:?}"
            );
        }
        other => panic!("expected CorruptState, got {other:?}"),
    }
    // A state stored under another key than it names.
    server.psql(
        "postgres",
        &format!(
            "INSERT INTO imapmig_folder_states (mailbox_id, store_key, state) \
             SELECT mailbox_id, 'Elsewhere', state FROM imapmig_folder_states \
             WHERE mailbox_id = {} AND store_key = '{}'",
            ids[0], inbox
        ),
    );
    let elsewhere = StoreKey::new("Elsewhere").expect("key");
    assert!(matches!(
        store.load(&elsewhere),
        Err(imapmig_core::Error::KeyMismatch { .. })
    ));

    // Over the limit: not read.
    let small = db.state_store(ids[0]).with_max_state_bytes(100);
    let err = small.load(&inbox).expect_err("too large");
    assert!(
        matches!(
            Error::from_core(&err),
            Some(Error::StateTooLarge { limit: 100, .. })
        ),
        "{err:?}"
    );

    // A mailbox that does not exist.
    let ghost = db.state_store(MailboxId::new(9999));
    let err = ghost.save(&inbox, &state).expect_err("no such mailbox");
    assert!(
        matches!(Error::from_core(&err), Some(Error::UnknownMailbox { .. })),
        "{err:?}"
    );
}

#[test]
fn a_stale_lease_cannot_overwrite_the_new_owners_state() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    let b_db = imapmig_pg::Database::connect(&server.url()).expect("connect b");
    db.enqueue(&[MailboxRow::new(
        "imap://ann@old.test",
        "imap://ann@new.test",
    )])
    .expect("enqueue");
    let key = StoreKey::new("INBOX").expect("key");

    let mut a = db
        .claim_next("worker-a", Duration::from_secs(1))
        .expect("claim")
        .expect("a mailbox");
    let a_store = db.fenced_store(&a);
    assert_eq!(a_store.fence(), Some(a.token));
    a_store
        .save(&key, &sample_state(10))
        .expect("a saves while it holds the lease");
    db.renew(&mut a).expect("a renews while it holds the lease");

    // While a's lease is live, b gets nothing.
    assert!(
        b_db.claim_next("worker-b", Duration::from_secs(60))
            .expect("claim")
            .is_none()
    );

    // a stalls past its lease; b takes the mailbox over and resumes.
    thread::sleep(Duration::from_millis(1500));
    let b = b_db
        .claim_next("worker-b", Duration::from_secs(60))
        .expect("claim")
        .expect("the expired mailbox");
    assert_eq!(b.id(), a.id());
    assert!(b.token > a.token);
    assert_eq!(b.taken_over_from.as_deref(), Some("worker-a"));
    assert_eq!(b.mailbox.attempts, 2);
    let b_store = b_db.fenced_store(&b);
    let resumed = b_store.load(&key).expect("load").expect("a's state");
    assert_eq!(resumed, sample_state(10));
    b_store.save(&key, &sample_state(20)).expect("b saves");

    // a wakes up: every write is refused, nothing changes.
    let err = a_store.save(&key, &sample_state(11)).expect_err("fenced");
    assert!(
        matches!(Error::from_core(&err), Some(Error::LeaseLost { token, .. }) if *token == a.token),
        "{err:?}"
    );
    assert!(db.renew(&mut a).expect_err("lost").is_lease_lost());
    assert!(
        db.finish(&a, &super::result(Outcome::Done, 1, 1))
            .expect_err("lost")
            .is_lease_lost()
    );
    assert!(db.release(&a).expect_err("lost").is_lease_lost());
    assert_eq!(b_store.load(&key).expect("load"), Some(sample_state(20)));

    b_db.finish(&b, &super::result(Outcome::Done, 20, 2000))
        .expect("b finishes");
    // Finished: even b's token no longer writes.
    let err = b_store.save(&key, &sample_state(21)).expect_err("finished");
    assert!(matches!(
        Error::from_core(&err),
        Some(Error::LeaseLost { .. })
    ));
    let mailbox = db.mailbox(b.id()).expect("read").expect("exists");
    assert_eq!(mailbox.status, imapmig_pg::Status::Done);
    assert_eq!(mailbox.worker.as_deref(), Some("worker-b"));
    // An unfenced store still reads the final state.
    assert_eq!(
        db.state_store(b.id()).load(&key).expect("load"),
        Some(sample_state(20))
    );
}

/// imapmig-core's engine runs inside async tasks: the store must work, and
/// be dropped, there (the `postgres` crate alone would panic: its runtime
/// cannot start inside another).
#[test]
fn works_and_drops_inside_an_async_runtime() {
    let Some(server) = testkit::Postgres::start() else {
        return;
    };
    let url = server.url();
    for flavor in ["current_thread", "multi_thread"] {
        let runtime = match flavor {
            "current_thread" => tokio::runtime::Builder::new_current_thread().build(),
            _ => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build(),
        }
        .expect("runtime");
        let url = url.clone();
        let loaded = runtime.block_on(async move {
            let db = imapmig_pg::Database::connect(&url).expect("connect");
            db.migrate().expect("migrate");
            let source = format!("imap://{flavor}@old.test");
            db.enqueue(&[MailboxRow::new(source, "imap://x@new.test")])
                .expect("enqueue");
            let claim = db
                .claim_next(flavor, Duration::from_secs(60))
                .expect("claim")
                .expect("mailbox");
            let store = db.fenced_store(&claim);
            let key = StoreKey::new("INBOX").expect("key");
            store.save(&key, &sample_state(3)).expect("save");
            let loaded = store.load(&key).expect("load");
            drop(store);
            drop(db);
            loaded
        });
        assert_eq!(loaded, Some(sample_state(3)), "{flavor}");
    }
}
