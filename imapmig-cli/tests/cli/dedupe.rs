//! Tests of the `dedupe` part of the `imapmig` command.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

fn imapmig() -> Command {
    Command::new(env!("CARGO_BIN_EXE_imapmig"))
}

fn maildir(root: &Path) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
}

const REPORT: &str = "Message-ID: <q3-report.4711@example.org>\r\n\
Date: Mon, 1 Jul 2024 09:00:00 +0200\r\n\
From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\n\
To: team@example.org\r\n\
Subject: Q3 report\r\n\
\r\n\
Numbers attached.\r\n";

/// The same message re-delivered: more Received headers, LF line endings,
/// the subject re-encoded and folded.
const REPORT_REDELIVERED: &str = "Return-Path: <joerg@example.org>\n\
Received: from mx2.example.net by mx.example.org; Tue, 2 Jul 2024 10:00:00 +0000\n\
Received: from relay.example.org by mx2.example.net;\n\tTue, 2 Jul 2024 09:59:59 +0000\n\
Delivered-To: team@example.org\n\
Message-ID: <q3-report.4711@example.org>\n\
Date: Mon, 1 Jul 2024 09:00:00 +0200\n\
From: J\u{f6}rg <joerg@example.org>\n\
To: team@example.org\n\
Subject: =?UTF-8?B?UTMgcmVwb3J0?=\n\
\n\
Numbers attached.\n";

const LABELLED: &str = "Message-ID: <CA+gmail-xyz@mail.gmail.com>\r\n\
Date: Wed, 3 Jul 2024 12:00:00 +0000\r\n\
From: client@example.com\r\n\
To: me@example.org\r\n\
Subject: Contract\r\n\
X-Gmail-Labels: Work,Important\r\n\
\r\n\
Signed copy attached.\r\n";

/// A broken generator gives two different messages one Message-ID.
const SHARED_ID_1: &str = "Message-ID: <1@mailer.example.com>\r\n\
Date: Thu, 4 Jul 2024 08:00:00 +0000\r\n\
From: shop@example.com\r\nTo: me@example.org\r\nSubject: Your order\r\n\r\nOrder 1001 shipped.\r\n";
const SHARED_ID_2: &str = "Message-ID: <1@mailer.example.com>\r\n\
Date: Thu, 4 Jul 2024 08:00:00 +0000\r\n\
From: shop@example.com\r\nTo: me@example.org\r\nSubject: Your order\r\n\r\nOrder 1002 shipped.\r\n";

/// No Message-ID at all (drafts, old clients); same headers, different bodies.
const NO_ID_1: &str = "Date: Fri, 5 Jul 2024 08:00:00 +0000\r\nFrom: me@example.org\r\nSubject: note\r\n\r\nbuy milk\r\n";
const NO_ID_2: &str = "Date: Fri, 5 Jul 2024 08:00:00 +0000\r\nFrom: me@example.org\r\nSubject: note\r\n\r\ncall Ann\r\n";

/// Parses the groups of the listing: for each group, its file names.
fn groups(stdout: &str) -> BTreeSet<BTreeSet<String>> {
    let mut groups = BTreeSet::new();
    let mut current: Option<BTreeSet<String>> = None;
    for line in stdout.lines() {
        if line.starts_with("duplicate group ") {
            if let Some(group) = current.take() {
                groups.insert(group);
            }
            current = Some(BTreeSet::new());
        } else if let Some(rest) = line.strip_prefix("  ") {
            if let Some(group) = current.as_mut() {
                let path = rest.rsplit('\t').next().unwrap();
                let file = Path::new(path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                group.insert(file);
            }
        } else if let Some(group) = current.take() {
            groups.insert(group);
        }
    }
    if let Some(group) = current {
        groups.insert(group);
    }
    groups
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn scan_reports_exactly_the_true_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    maildir(&root);
    maildir(&root.join(".Work"));
    maildir(&root.join(".Important"));
    maildir(&root.join(".Archive"));
    let files: &[(&str, &str, &str)] = &[
        ("cur", "1.report:2,S", REPORT),
        ("new", "2.report-again", REPORT_REDELIVERED),
        (".Work/cur", "3.labelled:2,S", LABELLED),
        (".Important/cur", "4.labelled:2,S", LABELLED),
        ("cur", "5.shared-1:2,S", SHARED_ID_1),
        ("cur", "6.shared-2:2,S", SHARED_ID_2),
        ("cur", "7.no-id-1:2,S", NO_ID_1),
        ("cur", "8.no-id-2:2,S", NO_ID_2),
        (".Archive/cur", "9.no-id-1-copy:2,S", NO_ID_1),
    ];
    for (sub, name, text) in files {
        fs::write(root.join(sub).join(name), text).unwrap();
    }

    let output = imapmig()
        .args(["dedupe", "scan"])
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some("messages: 9 unique: 6 duplicates: 3"),
        "{stdout}"
    );
    let expected: BTreeSet<BTreeSet<String>> = [
        set(&["1.report:2,S", "2.report-again"]),
        set(&["4.labelled:2,S", "3.labelled:2,S"]),
        set(&["7.no-id-1:2,S", "9.no-id-1-copy:2,S"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(groups(&stdout), expected, "{stdout}");
    // The guard: one Message-ID, two different messages, both kept and named.
    assert!(
        stdout.contains(
            "same Message-ID <1@mailer.example.com> but different content (2 messages, all kept):"
        ),
        "{stdout}"
    );

    // Per folder, the Gmail copy under two labels is not a duplicate.
    let output = imapmig()
        .args(["dedupe", "scan", "--same-folder"])
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().last(),
        Some("messages: 9 unique: 8 duplicates: 1"),
        "{stdout}"
    );
    assert_eq!(
        groups(&stdout),
        [set(&["1.report:2,S", "2.report-again"])]
            .into_iter()
            .collect()
    );

    // Trusting the Message-ID alone merges the broken generator's messages.
    let output = imapmig()
        .args(["dedupe", "scan", "--by", "message-id"])
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().last(),
        Some("messages: 9 unique: 5 duplicates: 4"),
        "{stdout}"
    );
    assert!(
        groups(&stdout).contains(&set(&["5.shared-1:2,S", "6.shared-2:2,S"])),
        "{stdout}"
    );
}

#[test]
fn scan_mbox_and_message_files() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox.mbox");
    let lf = |s: &str| s.replace("\r\n", "\n");
    fs::write(
        &mbox,
        format!(
            "From a@example.org Mon Jul  1 09:00:00 2024\n{}\nFrom b@example.org Mon Jul  1 09:00:00 2024\n{}",
            lf(REPORT),
            lf(NO_ID_1)
        ),
    )
    .unwrap();
    let single = dir.path().join("report.eml");
    fs::write(&single, REPORT_REDELIVERED).unwrap();
    let output = imapmig()
        .args(["dedupe", "scan"])
        .arg(&mbox)
        .arg(&single)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    assert_eq!(
        stdout.lines().last(),
        Some("messages: 3 unique: 2 duplicates: 1"),
        "{stdout}"
    );
    assert_eq!(
        groups(&stdout),
        [set(&["inbox.mbox#1", "report.eml"])].into_iter().collect()
    );
}

#[test]
fn scan_missing_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = imapmig()
        .args(["dedupe", "scan"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "));
}
