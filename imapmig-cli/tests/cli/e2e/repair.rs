//! Repair-then-APPEND: a target that refuses what Cyrus, Exchange or Gmail refuse (here an
//! mbox `From ` envelope line at the top of a message, which Dovecot serves back unchanged)
//! gets the repaired message on the second try; what cannot be repaired goes to the skip log.

use testkit::{AppendRule, Fault, FaultProxy};

use super::*;

#[test]
fn refused_messages_are_repaired_and_appended_or_skipped_with_a_reason() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let clean = messages("repair-clean", 3);
    let envelope = b"From kim@example.org Mon Jan  1 10:00:00 2024\r\n";
    let repairable: Vec<Vec<u8>> = (0..2)
        .map(|i| [&envelope[..], &message("repair-mbox", i)].concat())
        .collect();
    // A multipart without a boundary is corrupt: no repair, skipped.
    let corrupt = [
        &envelope[..],
        b"From: kim@example.org\r\nSubject: broken\r\nMessage-ID: <broken@example.org>\r\n\
          Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n",
    ]
    .concat();
    let mut all = clean.clone();
    all.extend(repairable.iter().cloned());
    all.push(corrupt.clone());
    seed(&src, "INBOX", &all);
    // Dovecot keeps the envelope line: the migrator fetches it as planted.
    assert!(
        mail(&src, "INBOX")
            .iter()
            .filter(|m| m.starts_with(b"From "))
            .count()
            == 3
    );

    let proxy = FaultProxy::start(dst.addr());
    proxy.set(Fault::RejectAppend {
        rule: AppendRule::EnvelopeFromLine,
    });
    let target = format!("imap://test@127.0.0.1:{}", proxy.port());
    let state = tempfile::tempdir().unwrap();
    let skips = state.path().join("skips.csv");
    let out = migrate_command_urls(
        &url(&src),
        &target,
        state.path(),
        &["--max-bad", "5", "--skip-log", skips.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (5, 0, 1, 0));
    // The proxy refused the three with the envelope line; the repaired two then passed.
    assert_eq!(proxy.counts().appends_rejected, 3);

    // The target holds the clean ones and each repaired one exactly once, without the line.
    let mut expected = clean.clone();
    expected.extend(repairable.iter().map(|m| m[envelope.len()..].to_vec()));
    assert_holds_exactly(&dst, "INBOX", &expected);
    assert!(!mail(&dst, "INBOX").iter().any(|m| m.starts_with(b"From ")));

    let csv = std::fs::read_to_string(&skips).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(
        rows[0].starts_with("INBOX,")
            && rows[0].contains("<broken@example.org>")
            && rows[0].contains(",corrupt,")
            && rows[0].contains("mbox From line")
            && rows[0].contains("no-boundary"),
        "{}",
        rows[0]
    );

    // A second run finds everything settled: nothing copied again.
    let out = migrate_command_urls(
        &url(&src),
        &target,
        state.path(),
        &["--max-bad", "5", "--skip-log", skips.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_exit(&out, 0);
    let (copied, _, _, failed) = totals(&out);
    assert_eq!((copied, failed), (0, 0));
    assert_holds_exactly(&dst, "INBOX", &expected);
}
