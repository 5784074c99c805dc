//! The reply classifier against real server replies (tests/data/replies).

use std::time::Duration;

use imapmig_core::throttle::{ReplyClass, classify};

fn expected(name: &str, hint: Option<Duration>) -> ReplyClass {
    match name {
        "ok" => ReplyClass::Ok { slow_down: false },
        "ok-slow-down" => ReplyClass::Ok { slow_down: true },
        "throttled" => ReplyClass::Throttled { retry_after: hint },
        "over-quota" => ReplyClass::OverQuota,
        "connection-limit" => ReplyClass::ConnectionLimit,
        "unavailable" => ReplyClass::Unavailable,
        "try-create" => ReplyClass::TryCreate,
        "auth-failed" => ReplyClass::AuthFailed,
        "permanent" => ReplyClass::Permanent,
        other => panic!("unknown class {other:?} in replies.tsv"),
    }
}

#[test]
fn real_replies_are_classified() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/replies/replies.tsv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut cases = 0;
    let mut providers = std::collections::BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        assert_eq!(fields.len(), 4, "line {}: {line:?}", n + 1);
        let hint = match fields[2] {
            "-" => None,
            ms => Some(Duration::from_millis(ms.parse().unwrap())),
        };
        let want = expected(fields[1], hint);
        let got = classify(fields[3]);
        assert_eq!(got, want, "line {}: {}", n + 1, fields[3]);
        // With CRLF, as read off the wire, the verdict is the same.
        assert_eq!(classify(&format!("{}\r\n", fields[3])), want);
        providers.insert(fields[0]);
        cases += 1;
    }
    assert!(cases > 30, "only {cases} cases ran");
    for p in ["office365", "gmail", "dovecot", "cyrus", "exchange"] {
        assert!(providers.contains(p), "no {p} replies");
    }
}
