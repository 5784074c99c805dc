//! Tests of the `mime` part of the `imapmig` command: `mime classify` on a
//! message file, a Maildir, an mbox and a tree built here, and `mime repair`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::fs;
use std::path::Path;

use crate::command::{imapmig, lines};

const OK: &str = "From: Kim <kim@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <ok@example.org>\r\nSubject: fine\r\n\r\nHello\r\n";
const NO_DATE: &str =
    "From: Kim <kim@example.org>\r\nMessage-ID: <nodate@example.org>\r\n\r\nHello\r\n";
const TRUNCATED: &str = "From: Kim <kim@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <t@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0x\r\nJVB";

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn classify_file_maildir_and_mbox() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let file = root.join("one.eml");
    write(&file, OK.as_bytes());
    let maildir = root.join("Maildir");
    write(&maildir.join("cur/1700000000.1.host:2,S"), OK.as_bytes());
    write(
        &maildir.join("cur/1700000001.2.host:2,"),
        NO_DATE.as_bytes(),
    );
    write(&maildir.join("new/1700000002.3.host"), TRUNCATED.as_bytes());
    fs::create_dir_all(maildir.join("tmp")).unwrap();
    let mbox = root.join("inbox.mbox");
    // LF line ends as mbox files have them; the second body quotes a From line.
    let mbox_text = format!(
        "From kim@example.org Mon Jan  1 10:00:00 2024\n{}\nFrom kim@example.org Mon Jan  1 10:00:01 2024\nFrom: Kim <kim@example.org>\nDate: Mon, 1 Jan 2024 10:00:01 +0000\nMessage-ID: <q@example.org>\n\n>From the start\n\nFrom kim@example.org Mon Jan  1 10:00:02 2024\nSubject: orphan\n\nno from, no date\n",
        OK.replace("\r\n", "\n")
    );
    write(&mbox, mbox_text.as_bytes());

    let out = imapmig(&[
        "mime",
        "classify",
        file.to_str().unwrap(),
        maildir.to_str().unwrap(),
        mbox.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = maildir.display();
    let b = mbox.display();
    assert_eq!(
        lines(&out),
        vec![
            format!("{}\tok\t-", file.display()),
            format!("{m}/cur/1700000000.1.host:2,S\tok\t-"),
            format!("{m}/cur/1700000001.2.host:2,\trepairable\tmissing-date"),
            format!("{m}/new/1700000002.3.host\tcorrupt\tclose-boundary-missing,invalid-base64"),
            format!("{b}#1\trepairable\tbare-lf"),
            format!("{b}#2\trepairable\tbare-lf"),
            format!("{b}#3\trepairable\tbare-lf,missing-from,missing-date,missing-message-id"),
        ]
    );
    for line in lines(&out) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "{line}");
    }
}

#[test]
fn classify_tree_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("cur/1"), OK.as_bytes());
    write(&root.join(".Archive/cur/1"), TRUNCATED.as_bytes());
    write(&root.join("dovecot-uidlist"), b"3 V1 N2\n");
    let out = imapmig(&[
        "mime",
        "classify",
        "--tree",
        "--explain",
        root.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = lines(&out);
    let r = root.display();
    assert_eq!(
        text[0],
        format!("{r}/.Archive/cur/1\tcorrupt\tclose-boundary-missing,invalid-base64")
    );
    assert!(
        text[1].starts_with("  close-boundary-missing\tpart 0 (multipart/mixed)\tbytes "),
        "{}",
        text[1]
    );
    assert!(
        text[2].starts_with("  invalid-base64\tpart 1 (application/pdf)\tbytes "),
        "{}",
        text[2]
    );
    assert_eq!(text[3], format!("{r}/cur/1\tok\t-"));
    assert_eq!(text.len(), 4);
}

#[test]
fn unreadable_path_exits_1_and_still_classifies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.eml");
    write(&file, NO_DATE.as_bytes());
    let missing = dir.path().join("missing");
    let out = imapmig(&[
        "mime",
        "classify",
        missing.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lines(&out),
        vec![format!("{}\trepairable\tmissing-date", file.display())]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn repair_writes_the_repaired_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lf.eml");
    write(
        &file,
        format!(
            "From x Mon Jan  1 00:00:00 2024\n{}",
            OK.replace("\r\n", "\n")
        )
        .as_bytes(),
    );
    let out = imapmig(&["mime", "repair", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(out.stdout, OK.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fixed: bare-lf,envelope-from-line\tnow: ok\t-"),
        "{stderr}"
    );
}
