//! Tests of the `folders` part of the `imapmig` command.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::process::Output;

use crate::command::imapmig_with_stdin;

const SEED_RULES: &str = r"# The seed's rule table.
^INBOX\.Sent$        -> Sent Items
^INBOX\.Trash$       -> Deleted Items
^\[Gmail\]/Trash$    -> Deleted Items
^\[Gmail\]/All Mail$ -> [SKIP]
";

fn run(args: &[&str], stdin: &str) -> Output {
    imapmig_with_stdin(args, stdin.as_bytes())
}

fn rules_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("rules.txt");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn seed_rules_courier_source() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(&dir, SEED_RULES);
    let out = run(
        &[
            "folders",
            "map",
            "--source-sep",
            ".",
            "--source-prefix",
            "INBOX.",
            "--target-sep",
            "/",
            "--rules",
            &rules,
        ],
        "INBOX\nINBOX.Sent\nINBOX.Trash\nINBOX.Work.Projects\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "INBOX\tINBOX\nINBOX.Sent\tSent Items\nINBOX.Trash\tDeleted Items\nINBOX.Work.Projects\tWork/Projects\n"
    );
}

#[test]
fn seed_rules_gmail_source() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(&dir, SEED_RULES);
    let out = run(
        &[
            "folders",
            "map",
            "--source-sep",
            "/",
            "--target-sep",
            ".",
            "--target-prefix",
            "INBOX.",
            "--rules",
            &rules,
            "--gmail",
        ],
        "INBOX\n[Gmail]/Trash\n[Gmail]/All Mail\n[Gmail]/Sent Mail\n[Gmail]/Starred\nWork/Écoles\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "INBOX\tINBOX\n[Gmail]/Trash\tINBOX.Deleted Items\n[Gmail]/All Mail\t[SKIP]\n\
         [Gmail]/Sent Mail\tINBOX.Sent Mail\n[Gmail]/Starred\t[SKIP]\nWork/Écoles\tINBOX.Work.Écoles\n"
    );
}

#[test]
fn collision_exits_2_naming_both() {
    let out = run(
        &["folders", "map", "--source-sep", "/", "--target-sep", "."],
        "a.b\na_b\nc\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("\"a.b\"") && err.contains("\"a_b\""), "{err}");
}

#[test]
fn case_insensitive_target_collides() {
    let args = ["folders", "map", "--source-sep", "/", "--target-sep", "/"];
    let out = run(&args, "Work\nwork\n");
    assert_eq!(out.status.code(), Some(0));
    let out = run(
        &[&args[..], &["--profile", "exchange"]].concat(),
        "Work\nwork\n",
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lookalike_escape_and_explain() {
    let out = run(
        &[
            "folders",
            "map",
            "--source-sep",
            "/",
            "--target-sep",
            ".",
            "--escape",
            "lookalike",
            "--explain",
        ],
        "Releases v1.2\n",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "Releases v1.2\tReleases v1\u{2024}2\tdefault; delimiter escaped (\"Releases v1.2\" -> \"Releases v1\u{2024}2\")\n"
    );
}

#[test]
fn special_use_follows_target_folders() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "INBOX\nSent Items\nDeleted Items\nJunk Email\n").unwrap();
    let out = run(
        &[
            "folders",
            "map",
            "--source-sep",
            "/",
            "--target-sep",
            "/",
            "--gmail",
            "--target-folders",
            target.to_str().unwrap(),
        ],
        "[Gmail]/Sent Mail\n[Gmail]/Spam\n[Gmail]/Bin\n",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "[Gmail]/Sent Mail\tSent Items\n[Gmail]/Spam\tJunk Email\n[Gmail]/Bin\tDeleted Items\n"
    );
}

#[test]
fn bad_rules_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_file(&dir, "^ok$ -> x\n^(broken -> y\n");
    let out = run(
        &[
            "folders",
            "map",
            "--source-sep",
            "/",
            "--target-sep",
            ".",
            "--rules",
            &rules,
        ],
        "x\n",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("rules line 2, column 1"), "{err}");
}
