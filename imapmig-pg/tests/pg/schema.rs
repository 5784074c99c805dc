use std::sync::{Arc, Barrier};
use std::thread;

use imapmig_pg::{Database, Error, SCHEMA_VERSION};
use testkit::Postgres;

#[test]
fn migrations_apply_once_and_are_idempotent() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let db = Database::connect(&server.url()).expect("connect");
    assert_eq!(db.schema_version().expect("version"), 0);
    let first = db.migrate().expect("migrate");
    assert_eq!((first.from, first.to), (0, SCHEMA_VERSION));
    assert_eq!(first.applied, u32::try_from(SCHEMA_VERSION).unwrap());
    let again = db.migrate().expect("migrate again");
    assert_eq!(
        (again.from, again.to, again.applied),
        (SCHEMA_VERSION, SCHEMA_VERSION, 0)
    );
    assert_eq!(db.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(
        server.psql(
            "postgres",
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM imapmig_schema"
        ),
        "1,2,3,4"
    );
    let tables = server.psql(
        "postgres",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'imapmig%'",
    );
    assert_eq!(
        tables,
        "imapmig_folder_states,imapmig_leases,imapmig_mailboxes,imapmig_round_results,\
         imapmig_schema,imapmig_shared"
    );
}

#[test]
fn migration_4_puts_existing_mailboxes_at_round_1() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let db = Database::connect(&server.url()).expect("connect");
    db.migrate().expect("migrate");
    // Back to a version-3 database holding a finished mailbox.
    server.psql(
        "postgres",
        "DROP TABLE imapmig_round_results; ALTER TABLE imapmig_mailboxes DROP COLUMN round; \
         DELETE FROM imapmig_schema WHERE version = 4; \
         INSERT INTO imapmig_mailboxes (source_url, target_url, status, exit_class, copied) \
         VALUES ('imap://old@a.test', 'imap://new@b.test', 'done', 'complete', 9)",
    );
    assert_eq!(db.schema_version().expect("version"), 3);
    let upgraded = db.migrate().expect("migrate to 4");
    assert_eq!((upgraded.from, upgraded.to, upgraded.applied), (3, 4, 1));
    let mailboxes = db.mailboxes().expect("list");
    assert_eq!(mailboxes.len(), 1);
    assert_eq!(mailboxes[0].round, 1);
    assert_eq!(mailboxes[0].result.as_ref().map(|r| r.copied), Some(9));
}

#[test]
fn concurrent_migrations_apply_each_step_once() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let workers = 4;
    let barrier = Arc::new(Barrier::new(workers));
    let url = server.url();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let url = url.clone();
            thread::spawn(move || {
                let db = Database::connect(&url).expect("connect");
                barrier.wait();
                db.migrate().expect("migrate")
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let applied: u32 = results.iter().map(|m| m.applied).sum();
    assert_eq!(
        applied,
        u32::try_from(SCHEMA_VERSION).unwrap(),
        "{results:?}"
    );
    assert!(
        results.iter().all(|m| m.to == SCHEMA_VERSION),
        "{results:?}"
    );
    assert_eq!(
        server.psql("postgres", "SELECT count(*) FROM imapmig_schema"),
        SCHEMA_VERSION.to_string()
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let Some((server, db)) = super::migrated() else {
        return;
    };
    server.psql(
        "postgres",
        "INSERT INTO imapmig_schema (version) VALUES (99)",
    );
    match db.migrate() {
        Err(Error::FutureSchema {
            found: 99,
            supported,
        }) => {
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected FutureSchema, got {other:?}"),
    }
}

#[test]
fn connection_errors_never_show_the_password() {
    // Port 1 on loopback: nothing listens there.
    let url = "postgres://migrator:hunter2@127.0.0.1:1/imapmig?connect_timeout=2";
    let err = Database::connect(url).expect_err("nothing listens on port 1");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("migrator:***@127.0.0.1:1"), "{shown}");

    let err = Database::connect("postgres://u:hunter2@h:notaport/db").expect_err("bad port");
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[test]
fn debug_shows_the_url_without_password() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let url = server.url().replace("postgres@", "postgres:hunter2@");
    // Trust authentication ignores the password.
    let db = Database::connect(&url).expect("connect");
    let debug = format!("{db:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("postgres:***@127.0.0.1"), "{debug}");
    assert_eq!(db.url(), url.replace("hunter2", "***"));
}
