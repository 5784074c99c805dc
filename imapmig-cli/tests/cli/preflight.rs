//! Tests of the `preflight` part of the `imapmig` command.
//!
//! The facts about the shipped sample come from `scripts/gen-sample.py`,
//! which prints them when it writes `imapmig-cli/sample/`.

use std::path::Path;
use std::process::{Command, Output};

fn preflight(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .arg("preflight")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "preflight {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The lines of one `== Title` section of the report.
fn section<'a>(report: &'a str, title: &str) -> Vec<&'a str> {
    let start = format!("== {title}");
    let mut lines = report.lines().skip_while(|l| !l.starts_with(&start));
    assert!(lines.next().is_some(), "no section {title:?} in:\n{report}");
    lines.take_while(|l| !l.starts_with("== ")).collect()
}

/// The (messages, size) columns of a folder's line in the inventory.
fn folder_row<'a>(inventory: &[&'a str], name: &str) -> Vec<&'a str> {
    let line = inventory
        .iter()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no folder {name:?} in {inventory:#?}"));
    line.trim_start()[name.len()..].split_whitespace().collect()
}

#[test]
fn sample_inventory_counts_every_folder() {
    let report = stdout(&preflight(&[]));
    assert!(report.starts_with("imapmig preflight on the sample mailbox"));
    let inventory = section(&report, "Inventory");
    let expected = [
        ("INBOX", "46"),
        ("Archive/2019", "201"),
        ("Work/Projects/2024", "19"),
        ("Écoles", "9"),
        ("Entwürfe", "4"),
        ("日本", "6"),
        ("Releases v1.2", "5"),
        ("a.b", "3"),
        ("a/b", "2"),
        ("Imported", "8"),
        ("[Gmail]/All Mail", "451"),
        ("[Gmail]/Sent Mail", "23"),
        ("[Gmail]/Spam", "8"),
        ("[Gmail]/Trash", "6"),
        ("[Gmail]/Starred", "4"),
    ];
    for (name, messages) in expected {
        assert_eq!(folder_row(&inventory, name)[0], messages, "{name}");
    }
    assert_eq!(folder_row(&inventory, "Imported").last(), Some(&"(mbox)"));
    assert!(
        inventory
            .iter()
            .any(|l| l.trim() == "total: 25 folders, 929 messages, 2.4 MiB (2485835 bytes)"),
        "{inventory:#?}"
    );
    // tmp/ and its .keep file are not mail; `[Gmail]` and `Lists` hold none.
    for absent in ["tmp", ".keep", "[Gmail] ", "Lists "] {
        assert!(
            !inventory.iter().any(|l| l.trim_start().starts_with(absent)),
            "{absent:?} listed as a folder"
        );
    }
}

#[test]
fn user_paths_are_read_instead_of_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("alice");
    write(&root.join("cur/1.host:2,S"), b"Subject: a\r\n\r\nhello\r\n");
    write(&root.join("new/2.host"), b"Subject: b\r\n\r\nworld!\r\n");
    write(&root.join("tmp/3.host"), b"Subject: in delivery\r\n\r\n");
    write(
        &root.join("Reports/2024/cur/4.host:2,"),
        b"Subject: c\r\n\r\nx\r\n",
    );
    let mbox = dir.path().join("old.mbox");
    write(
        &mbox,
        b"From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\n1\n\nFrom b@example.org Mon Jan  1 00:00:00 2024\nSubject: two\n\n2\n",
    );
    let report = stdout(&preflight(&[
        root.to_str().unwrap(),
        mbox.to_str().unwrap(),
    ]));
    assert!(!report.contains("sample"), "{report}");
    let inventory = section(&report, "Inventory");
    // Sizes are the bytes of the messages: 21 + 22 in INBOX, 17 in Reports/2024.
    assert_eq!(folder_row(&inventory, "INBOX")[..3], ["2", "43", "B"]);
    assert_eq!(
        folder_row(&inventory, "Reports/2024")[..3],
        ["1", "17", "B"]
    );
    assert!(
        inventory
            .iter()
            .any(|l| l.trim() == "total: 2 folders, 3 messages, 60 B (60 bytes)")
    );
    // The mbox is a mailbox of its own, whose one folder is its INBOX; the
    // mbox separator lines and the empty line before each are not message bytes.
    assert!(
        inventory
            .iter()
            .any(|l| l.trim() == format!("mailbox {}", mbox.display()))
    );
    assert!(
        inventory
            .iter()
            .any(|l| l.trim() == "total: 1 folders, 2 messages, 32 B (32 bytes)")
    );
}

#[test]
fn a_path_without_mail_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["preflight", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holds no mail folder"), "{stderr}");
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}
