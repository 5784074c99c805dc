//! imapmig-pg against a real PostgreSQL started by testkit: schema
//! migrations, folder states, fencing, claims and the fleet summary.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod queue;
mod rounds;
mod schema;
mod store;

use imapmig_pg::{Database, MailboxResult, Outcome};
use testkit::Postgres;

/// A fresh server and a migrated connection to it; `None` (a loud skip)
/// only when PostgreSQL is missing and CI is not `true`.
fn migrated() -> Option<(Postgres, Database)> {
    let server = Postgres::start()?;
    eprintln!("postgres started in {:?}", server.started_in());
    let db = Database::connect(&server.url()).expect("connect");
    db.migrate().expect("migrate");
    Some((server, db))
}

/// A result with these counts.
fn result(outcome: Outcome, copied: u64, bytes: u64) -> MailboxResult {
    MailboxResult {
        outcome,
        exit_class: match outcome {
            Outcome::Done => "complete".to_owned(),
            Outcome::Failed => "quota".to_owned(),
        },
        exit_code: match outcome {
            Outcome::Done => 0,
            Outcome::Failed => 3,
        },
        copied,
        present: 1,
        skipped: 2,
        failed: 0,
        bytes,
        duration: std::time::Duration::from_millis(1500),
        reason: match outcome {
            Outcome::Done => None,
            Outcome::Failed => Some("target over quota".to_owned()),
        },
    }
}
