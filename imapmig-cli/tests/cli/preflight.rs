//! Tests of the `preflight` part of the `imapmig` command.
//!
//! The facts about the shipped sample come from `scripts/gen-sample.py`,
//! which prints them when it writes `imapmig-cli/sample/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

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
        ("Imported", "10"),
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
            .any(|l| l.trim() == "total: 25 folders, 931 messages, 2.4 MiB (2487211 bytes)"),
        "{inventory:#?}"
    );
    // Everything but All Mail, Important and Starred (451 + 14 + 4 messages),
    // plus the 14 archived-only messages found in All Mail alone.
    assert!(
        inventory
            .iter()
            .any(|l| l.trim() == "to migrate: 476 messages, 1.2 MiB (1258720 bytes): the folders the map copies and the archived-only mail"),
        "{inventory:#?}"
    );
    // The whale: Archive/2019 against the other folders, and the mailbox
    // against the demonstration quota of 1 MiB.
    assert!(
        inventory.iter().any(|l| l
            .trim()
            .starts_with("largest folder to migrate: Archive/2019 (201 messages, 720.6 KiB, 58% of the mail to migrate, ")),
        "{inventory:#?}"
    );
    assert!(inventory.iter().any(|l| l.starts_with(
        "quota: 1.0 MiB (1048576 bytes) per mailbox, the sample's demonstration quota"
    )));
    assert!(
        inventory.iter().any(|l| l.ends_with(
            "imapmig-cli/sample: whale: needs 1258720 bytes, 1048576 available -> refused before copying: raise the quota or move mail elsewhere"
        )),
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

/// The workspace root, where README.md is.
fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

/// The lines of the first fenced block after the heading `heading`.
fn fenced_after<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "no heading {heading:?}");
    lines
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect()
}

#[test]
fn readme_quick_start_is_the_two_commands() {
    let readme = readme();
    let commands = fenced_after(&readme, "## Quick start");
    assert_eq!(
        commands,
        [
            "cargo run --release -p imapmig-cli -- preflight",
            "scripts/test"
        ]
    );
    // The second command is the test script, which must be there and runnable.
    let script = workspace().join("scripts/test");
    let mode = std::fs::metadata(&script)
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()))
        .permissions();
    use std::os::unix::fs::PermissionsExt;
    assert!(mode.mode() & 0o111 != 0, "scripts/test is not executable");
}

#[test]
fn readme_crate_table_is_the_workspace() {
    let readme = readme();
    let root = workspace();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members: Vec<&str> = manifest
        .split("members = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "{members:?}");
    let mut rows = 0;
    for member in &members {
        let cargo = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
        let description = cargo
            .lines()
            .find_map(|l| l.strip_prefix("description = \""))
            .and_then(|d| d.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{member} has no description"));
        let row = format!("| [`{member}`]({member}) | {description} |");
        assert!(
            readme.lines().any(|l| l == row),
            "README lacks the row {row}"
        );
        rows += 1;
    }
    let table_rows = readme.lines().filter(|l| l.starts_with("| [`")).count();
    assert_eq!(
        table_rows, rows,
        "the crate table lists a crate that is not a member"
    );
}

#[test]
fn readme_command_forms_are_accepted_by_the_binary() {
    let readme = readme();
    let forms = fenced_after(&readme, "## The `imapmig` command");
    let mut checked = 0;
    for form in forms.iter().filter(|l| l.starts_with("imapmig ")) {
        let words: Vec<&str> = form.split_whitespace().collect();
        let subcommand: Vec<&str> = words[1..]
            .iter()
            .take_while(|w| {
                w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !w.starts_with('-')
            })
            .copied()
            .collect();
        let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
            .args(&subcommand)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "imapmig {subcommand:?} --help failed"
        );
        let help = String::from_utf8_lossy(&output.stdout);
        for option in words.iter().filter_map(|w| {
            let w = w.trim_start_matches('[');
            w.starts_with("--").then(|| w.trim_end_matches([']', '.']))
        }) {
            assert!(
                help.contains(option),
                "imapmig {subcommand:?} has no {option}:\n{help}"
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "no command form in the README");
}

#[test]
fn readme_links_point_at_files_that_exist() {
    let readme = readme();
    let mut checked = 0;
    for piece in readme.split("](").skip(1) {
        let target = piece.split(')').next().unwrap();
        if target.contains("://") || target.starts_with('#') {
            continue;
        }
        assert!(
            workspace().join(target).exists(),
            "README links to missing {target}"
        );
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn sample_duplicates_find_labels_redelivery_and_shared_ids() {
    let report = stdout(&preflight(&[]));
    let duplicates = section(&report, "Duplicates");
    let line = |prefix: &str| {
        duplicates
            .iter()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in {duplicates:#?}"))
            .trim()
    };
    // 931 messages: the generator wrote 465 distinct messages as 921 Maildir
    // files, and 10 into the mbox. One of the Maildir ones is a re-delivered
    // copy of another (only Received headers differ), so 474 are unique.
    assert!(
        line("messages: ").starts_with("messages: 931 unique: 474 duplicates: 457"),
        "{duplicates:#?}"
    );
    // The Q3 roadmap, labelled INBOX, Work/Projects/2024, Important and
    // Starred, is stored as identical bytes in five folders.
    let roadmap = line("5 copies of ");
    assert!(
        roadmap.ends_with(
            ": INBOX, Work/Projects/2024, [Gmail]/All Mail, [Gmail]/Important, [Gmail]/Starred"
        ),
        "{roadmap}"
    );
    assert!(roadmap.contains("namprd11.prod.outlook.com>"), "{roadmap}");
    let redelivered = line("re-delivered: ");
    assert!(
        redelivered.ends_with(" in INBOX, Lists/rust-users, [Gmail]/All Mail"),
        "{redelivered}"
    );
    assert!(line("436 groups of copies: 435 of identical bytes").contains("1 differing only"));
    // Two different monitoring alerts share one Message-ID: never merged.
    assert_eq!(
        line("one Message-ID, "),
        "one Message-ID, 2 different messages (kept apart, never merged): <alert@monitor.fabrikam.example>"
    );
    // 4 messages without Message-ID and the empty file, each also in All Mail.
    assert!(line("messages whose Message-ID").ends_with(": 10 without Message-ID"));
}

#[test]
fn sample_corrupt_items_have_their_codes_and_go_to_the_skip_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("skipped.csv");
    let report = stdout(&preflight(&["--skip-csv", csv.to_str().unwrap()]));
    let corrupt = section(&report, "Corrupt items");
    let has = |line: &str| corrupt.iter().any(|l| l.trim() == line);
    // The generator damaged four messages beyond repair, each also in All Mail.
    let summary = corrupt
        .iter()
        .find(|l| l.trim().starts_with("931 messages: "))
        .unwrap();
    assert!(summary.ends_with(", 8 corrupt"), "{summary}");
    for (file, code) in [
        (
            "Archive/2019/cur/1569844800.M456P0.sample:2,S",
            "close-boundary-missing",
        ),
        ("Archive/2019/cur/1577836740.M464P0.sample:2,", "empty"),
        ("cur/1698916500.M457P0.sample:2,S", "invalid-base64"),
        (
            "Work/Projects/2024/cur/1719846000.M463P0.sample:2,S",
            "calendar-malformed",
        ),
        (
            "[Gmail]/All Mail/cur/1569844800.M456P0.sample:2,S",
            "close-boundary-missing",
        ),
    ] {
        assert!(
            has(&format!("{file}\tcorrupt\t{code}")),
            "{file} {code}: {corrupt:#?}"
        );
    }
    // Damaged but repairable: bare LF line ends, the mbox From line in the headers.
    assert!(
        has("cur/1708416000.M455P0.sample:2,S\trepairable\tbare-lf"),
        "{corrupt:#?}"
    );
    assert!(has(
        "Archive/2018/cur/1545678000.M461P0.sample:2,S\trepairable\tenvelope-from-line"
    ));
    assert!(has(
        "bad-item tolerance (default, 50 at most): within the bad-item threshold"
    ));
    assert!(
        corrupt
            .iter()
            .any(|l| l.starts_with("skipped-items CSV: 8 corrupt messages written to "))
    );

    let rows = imapmig_core::tolerance::read_skip_log(std::fs::File::open(&csv).unwrap()).unwrap();
    assert_eq!(rows.len(), 8);
    let truncated = rows
        .iter()
        .find(|r| r.folder == "Archive/2019" && r.detail.starts_with("close-boundary-missing ("))
        .unwrap();
    assert_eq!(truncated.reason, imapmig_core::SkipReason::Corrupt);
    assert!(
        truncated
            .message_id
            .as_deref()
            .unwrap()
            .ends_with(".namprd11.prod.outlook.com>")
    );
    assert!(
        truncated
            .detail
            .ends_with("/Archive/2019/cur/1569844800.M456P0.sample:2,S)")
    );
    let empty = rows
        .iter()
        .find(|r| r.detail.starts_with("empty ("))
        .unwrap();
    assert_eq!((empty.size, empty.message_id.as_deref()), (0, None));
}

#[test]
fn corrupt_mail_in_user_paths_is_found_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bob");
    let good = b"From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\n";
    write(&root.join("cur/1.host:2,S"), good);
    write(
        &root.join("Old/cur/1.host:2,S"),
        b"From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <2@example.org>\r\n\
          Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nstart of a part",
    );
    write(&root.join("Old/cur/2.host:2,S"), good);
    let csv = dir.path().join("skip.csv");
    let report = stdout(&preflight(&[
        root.to_str().unwrap(),
        "--skip-csv",
        csv.to_str().unwrap(),
    ]));
    let corrupt = section(&report, "Corrupt items");
    assert!(
        corrupt
            .iter()
            .any(|l| l.trim() == "3 messages: 2 ok, 0 repairable, 1 corrupt"),
        "{corrupt:#?}"
    );
    assert!(
        corrupt
            .iter()
            .any(|l| l.trim() == "Old/cur/1.host:2,S\tcorrupt\tclose-boundary-missing")
    );
    let rows = imapmig_core::tolerance::read_skip_log(std::fs::File::open(&csv).unwrap()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].folder.as_str(), rows[0].source_uid.get()),
        ("Old", 1)
    );
    assert_eq!(rows[0].message_id.as_deref(), Some("<2@example.org>"));
}

/// The (target, messages, reason) of a source folder's line in the folder map.
fn mapped<'a>(map: &[&'a str], source: &str) -> (&'a str, &'a str, &'a str) {
    let line = map
        .iter()
        .map(|l| l.trim_start())
        .find(|l| l.starts_with(&format!("{source} ")) && l.contains(" -> "))
        .unwrap_or_else(|| panic!("no folder {source:?} in {map:#?}"));
    let rest = line.split_once(" -> ").unwrap().1.trim_start();
    let (target, rest) = rest.split_once("  ").unwrap();
    let (count, reason) = rest.trim_start().split_once(" messages  ").unwrap();
    (target.trim_end(), count, reason)
}

#[test]
fn sample_folder_map_skips_gmail_views_and_reports_the_collision() {
    let report = stdout(&preflight(&[]));
    let map = section(&report, "Folder map");
    assert_eq!(
        map[0],
        "target: \".\" between levels, prefix \"INBOX.\", generic profile (--target-sep, --target-prefix, --profile, --rules FILE)"
    );
    assert_eq!(mapped(&map, "INBOX"), ("INBOX", "46", "(default)"));
    assert_eq!(
        mapped(&map, "Work/Projects/2024"),
        ("INBOX.Work.Projects.2024", "19", "(default)")
    );
    assert_eq!(mapped(&map, "Écoles").0, "INBOX.Écoles");
    assert_eq!(mapped(&map, "日本").0, "INBOX.日本");
    assert_eq!(
        mapped(&map, "Releases v1.2"),
        (
            "INBOX.Releases v1_2",
            "5",
            "(default; delimiter escaped (\"Releases v1.2\" -> \"Releases v1_2\"))"
        )
    );
    assert_eq!(mapped(&map, "a.b").0, "INBOX.a_b");
    assert_eq!(mapped(&map, "a/b").0, "INBOX.a.b");
    assert_eq!(mapped(&map, "Imported").0, "INBOX.Imported");
    assert_eq!(mapped(&map, "[Gmail]/All Mail").0, "[SKIP]");
    assert_eq!(mapped(&map, "[Gmail]/Important").0, "[SKIP]");
    assert_eq!(mapped(&map, "[Gmail]/Starred").0, "[SKIP]");
    assert_eq!(
        mapped(&map, "[Gmail]/Trash"),
        ("INBOX.Trash", "6", "(special-use \\Trash)")
    );
    // The 14 archived messages the generator gave no label still get a home.
    assert!(map.iter().any(|l| l.trim()
        == "14 archived-only messages (in All Mail and in no copied folder) -> INBOX.Archive"));
    // A "Sent Mail" label left by an earlier migration meets Gmail's Sent Mail.
    assert!(
        map.iter().any(|l| l
            .trim()
            .starts_with("COLLISION: Sent Mail and [Gmail]/Sent Mail -> INBOX.Sent Mail")),
        "{map:#?}"
    );
}

#[test]
fn rules_and_a_slash_target_change_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(
        &rules,
        "# keep the old label apart\n^Sent Mail$ -> Old/Sent Mail\n^Newsletters$ -> [SKIP]\n",
    )
    .unwrap();
    let report = stdout(&preflight(&[
        "--target-sep",
        "/",
        "--target-prefix",
        "",
        "--rules",
        rules.to_str().unwrap(),
    ]));
    let map = section(&report, "Folder map");
    assert_eq!(
        mapped(&map, "Sent Mail"),
        ("Old/Sent Mail", "3", "(rule line 2)")
    );
    assert_eq!(
        mapped(&map, "Newsletters"),
        ("[SKIP]", "24", "(rule line 3)")
    );
    assert_eq!(mapped(&map, "a.b").0, "a.b");
    assert_eq!(mapped(&map, "Work/Projects/2024").0, "Work/Projects/2024");
    assert!(
        map.iter().any(|l| l.trim() == "collisions: none"),
        "{map:#?}"
    );
    // Gmail keeps every message in All Mail: the skipped newsletters are found
    // there in no copied folder, so they are placed with the archived mail.
    assert!(
        map.iter().any(|l| l.trim()
            == "38 archived-only messages (in All Mail and in no copied folder) -> Archive"),
        "{map:#?}"
    );
    let inventory = section(&report, "Inventory");
    assert!(
        inventory
            .iter()
            .any(|l| l.trim().starts_with("to migrate: 476 messages, ")),
        "{inventory:#?}"
    );

    std::fs::write(&rules, "^(unclosed -> x\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["preflight", "--rules", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rules line 1, column 1"), "{stderr}");
}

#[test]
fn quota_option_judges_the_mailbox() {
    let report = stdout(&preflight(&["--quota", "2Mi"]));
    let inventory = section(&report, "Inventory");
    assert!(
        inventory
            .iter()
            .any(|l| l.trim() == "quota: 2.0 MiB (2097152 bytes) per mailbox, as given")
    );
    assert!(
        inventory
            .iter()
            .any(|l| l.ends_with("imapmig-cli/sample: fits")),
        "{inventory:#?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    write(
        &small.join("cur/1.host:2,S"),
        b"Subject: a\r\n\r\nhello\r\n",
    );
    let report = stdout(&preflight(&[small.to_str().unwrap()]));
    assert!(
        report.contains("\nquota: none given (--quota BYTES"),
        "{report}"
    );
    let report = stdout(&preflight(&[small.to_str().unwrap(), "--quota", "10"]));
    assert!(
        report.contains(": whale: needs 21 bytes, 10 available -> refused before copying"),
        "{report}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["preflight", "--quota", "ten"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
}

#[test]
fn summary_and_strict_exit_status() {
    let report = stdout(&preflight(&[]));
    let summary = section(&report, "Summary");
    assert_eq!(
        summary,
        [
            "blocking: 1 mailbox(es) over the quota (whale); 1 folder collision(s) in the folder map",
            "warnings: 8 corrupt message(s) would be skipped and logged; 5 X500 proxy address(es) to add before the cutover",
            "verdict: not ready: fix the blocking items before migrating",
        ]
    );
    let strict = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_imapmig"))
            .arg("preflight")
            .args(args)
            .arg("--strict")
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(strict(&[]), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    write(
        &clean.join("cur/1.host:2,S"),
        b"From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\n",
    );
    assert_eq!(strict(&[clean.to_str().unwrap()]), Some(0));
    let report = stdout(&preflight(&[clean.to_str().unwrap()]));
    assert!(
        section(&report, "Exchange X500 proxy addresses")[0]
            .starts_with("no IMCEAEX address or X.500 DN in 1 distinct messages"),
        "{report}"
    );
    write(&clean.join("Broken/cur/2.host:2,S"), b"");
    assert_eq!(strict(&[clean.to_str().unwrap()]), Some(1));
}

#[test]
fn sample_exchange_identities_become_x500_proxies() {
    let report = stdout(&preflight(&[]));
    let exchange = section(&report, "Exchange X500 proxy addresses");
    assert!(exchange[0].starts_with("5 old LegacyExchangeDN values in 474 distinct messages;"));
    // jdoe is in 3 messages he sent, in Cc of others, in an NDR body, in a
    // message of the whale, in a sent reply (7 distinct messages, each also
    // in All Mail, where copies are not counted again) and, as a raw X.500
    // DN in a To field, in a message of the mbox.
    for line in [
        "X500:/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=jdoe\t8\tDoe, John",
        // +2E and +5F escapes decoded: a '.' and a '_'.
        "X500:/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=ROBERT.BROWN_EXT\t4\tBrown, Robert",
        "X500:/O=FABRIKAM/OU=FIRST ORGANIZATION/CN=RECIPIENTS/CN=MLEE\t1\tLee, Min",
        // Seen only as a raw X.500 DN in a From field.
        "X500:/O=FABRIKAM/OU=FIRST ORGANIZATION/CN=RECIPIENTS/CN=KWONG\t1\tWong, Kai",
    ] {
        assert!(exchange.contains(&line), "{line}: {exchange:#?}");
    }
    assert!(exchange.iter().any(|l| l.trim()
        == r#"Set-Mailbox -Identity "jdoe@<new domain>" -EmailAddresses @{add="X500:/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=jdoe"}"#));
}

/// The zone of the sample account's domain, as a real Knot server serves it:
/// the new provider's MX, the old host's MX left behind with a day-long TTL.
const ZONE: &str = "$TTL 300
@           SOA ns hostmaster 1 3600 600 86400 300
@           NS  ns
ns          A   127.0.0.1
@           86400 MX 10 mx.new-provider
@           86400 MX 20 mx.old-host
mx.new-provider A 192.0.2.10
mx.old-host     A 198.51.100.20
@           TXT \"v=spf1 mx -all\"
_dmarc      TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc@mail.test\"
";

#[test]
fn domain_adds_the_dns_cutover_report_from_a_real_server() {
    let Some(knot) = testkit::Knot::start(&[("mail.test", ZONE)]) else {
        return;
    };
    let server = knot.addr().to_string();
    let report = stdout(&preflight(&[
        "--domain",
        "mail.test",
        "--server",
        &server,
        "--expect-mx",
        "mx.new-provider.mail.test",
    ]));
    let dns = section(&report, "DNS cutover");
    assert_eq!(dns[0], "domain: mail.test");
    assert_eq!(dns[1], "verdict: blocking", "{dns:#?}");
    assert!(
        dns.contains(&"mx: 10 mx.new-provider.mail.test ttl 86400"),
        "{dns:#?}"
    );
    assert!(
        dns.iter()
            .any(|l| l.contains("mx-leftover: MX 20 mx.old-host.mail.test")),
        "{dns:#?}"
    );
    // The domain names the new mailboxes in the X500 commands.
    assert!(
        report.contains(r#"Set-Mailbox -Identity "jdoe@mail.test" "#),
        "{report}"
    );
    let summary = section(&report, "Summary");
    assert!(
        summary[0].ends_with("; the DNS cutover report has blocking findings"),
        "{summary:#?}"
    );
    // No DKIM key under any common selector: a warning naming the option.
    assert!(
        dns.iter().any(|l| l.starts_with("warning  dkim-none-found: no DKIM key for mail.test under the common selectors (default, google, selector1,")
            && l.ends_with("name the new provider's with --dkim-selector S")),
        "{dns:#?}"
    );
    assert!(
        dns.iter()
            .any(|l| l.starts_with("dkim selectors: default, google, ")
                && l.ends_with(": none holds a key")),
        "{dns:#?}"
    );
    drop(knot);

    for args in [
        &["preflight", "--server", "127.0.0.1:53"][..],
        &["preflight", "--dkim-selector", "s1"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?} needs --domain");
    }
}

/// A 2048-bit RSA DKIM key (the one of imapmig-dns's Knot test zone).
const DKIM_KEY: &str = "\"v=DKIM1; k=rsa; \" \
\"p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqpCcZYcu14hU9MX0WfAlEQkg3EtZHvELiJyaySwdtJ94ccjEbLfskU1wx2B1vkubirhaw41G35xiXmPoYxFWLc6/r8VtF8lFYR+Ik+CWut\" \
\"939gW5SkBWHQy1dkH4OxCSwMe/whgz9hRWIUV7eKQbyyH7MLYyo35Alw2RxbG0TlydojQPiS9VbBCccUk0aTHujL3wIcwQrGAGp7rQc+mBdc77M9W1GwAvj1ZZQBdQqmerHCKyYPjOBfzIA/1By0+Z\" \
\"tM9mK1EBcIhBq/T8uJHc9fdc1Uf2hLx/6ZdiGb7EOSC+YnZr1KVuLHvWWpRSQ31cufmUNSKHKN1K8Ev6W26dfwIDAQAB\"";

#[test]
fn dkim_is_found_under_a_common_selector_and_a_given_one_must_exist() {
    // The new provider's MX only, SPF, DMARC and a DKIM key under `s1`.
    let zone = format!(
        "$TTL 300
@           SOA ns hostmaster 1 3600 600 86400 300
@           NS  ns
ns          A   127.0.0.1
@           MX 10 mx.new-provider
mx.new-provider A 192.0.2.10
@           TXT \"v=spf1 mx -all\"
_dmarc      TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc@mail.test\"
s1._domainkey TXT ( {DKIM_KEY} )
"
    );
    let Some(knot) = testkit::Knot::start(&[("mail.test", &zone)]) else {
        return;
    };
    let server = knot.addr().to_string();
    let base = [
        "--domain",
        "mail.test",
        "--server",
        &server,
        "--expect-mx",
        "mx.new-provider.mail.test",
    ];

    // No selector given: the common ones are tried and `s1` is found.
    let report = stdout(&preflight(&base));
    let dns = section(&report, "DNS cutover");
    assert_eq!(dns[1], "verdict: ready", "{dns:#?}");
    assert!(
        dns.contains(&"dkim: s1._domainkey.mail.test rsa 2048 bits"),
        "{dns:#?}"
    );
    assert_eq!(
        dns.iter().filter(|l| l.starts_with("dkim: ")).count(),
        1,
        "only the selector holding a key is reported: {dns:#?}"
    );
    assert!(
        dns.iter().any(
            |l| l.starts_with("dkim selectors: default, google, ") && l.ends_with(": found s1")
        ),
        "{dns:#?}"
    );
    // No finding about DKIM: the selectors without a record are not reported.
    assert!(!dns.iter().any(|l| l.contains(": no DKIM key")), "{dns:#?}");

    // A selector given must hold a key: `other` does not, `s1` does.
    let mut args = base.to_vec();
    args.extend(["--dkim-selector", "other", "--dkim-selector", "s1"]);
    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .arg("preflight")
        .args(&args)
        .arg("--strict")
        .output()
        .unwrap();
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{report}");
    let dns = section(&report, "DNS cutover");
    assert_eq!(dns[1], "verdict: blocking", "{dns:#?}");
    assert!(
        dns.contains(&"dkim: other._domainkey.mail.test unusable"),
        "{dns:#?}"
    );
    assert!(
        dns.contains(&"dkim: s1._domainkey.mail.test rsa 2048 bits"),
        "{dns:#?}"
    );
    assert!(
        dns.contains(&"blocking dkim-missing: no DKIM key at other._domainkey.mail.test"),
        "{dns:#?}"
    );
    assert!(
        dns.contains(&"dkim selectors: other, s1 (as given)"),
        "{dns:#?}"
    );
    let summary = section(&report, "Summary");
    assert!(
        summary[0].contains("the DNS cutover report has blocking findings"),
        "{summary:#?}"
    );
}

#[test]
fn without_a_sample_preflight_says_what_to_do() {
    // What an installed binary meets: the checkout it was built from is gone.
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("imapmig-cli/sample");
    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .arg("preflight")
        .env("IMAPMIG_SAMPLE", &gone)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(output.stdout.is_empty());
    for words in [
        "no sample mailbox here: ",
        &gone.display().to_string(),
        "give the PATH of a Maildir tree, Maildir or mbox file",
        "or run it from a checkout (cargo run --release -p imapmig-cli -- preflight)",
    ] {
        assert!(stderr.contains(words), "{words:?} not in {stderr}");
    }

    // IMAPMIG_SAMPLE names the sample: a Maildir with one message.
    write(
        &gone.join("cur/1.host:2,S"),
        b"From: a@example.org\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\n",
    );
    std::fs::create_dir_all(gone.join("new")).unwrap();
    std::fs::create_dir_all(gone.join("tmp")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .arg("preflight")
        .env("IMAPMIG_SAMPLE", &gone)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout(&output);
    let title = format!(
        "imapmig preflight on the sample mailbox of the repository ({})",
        gone.display()
    );
    assert_eq!(report.lines().next(), Some(title.as_str()));
    assert_eq!(folder_row(&section(&report, "Inventory"), "INBOX")[0], "1");
}

#[test]
fn maildir_plus_plus_names_are_decoded_and_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("courier");
    let mail = b"From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\n";
    write(&root.join("cur/1.host:2,S"), mail);
    write(&root.join(".Sent.2024/cur/2.host:2,S"), mail);
    // Maildir++ keeps names in modified UTF-7: "&AMk-coles" is "Écoles".
    write(&root.join(".&AMk-coles/cur/3.host:2,S"), mail);
    let report = stdout(&preflight(&[
        root.to_str().unwrap(),
        "--target-sep",
        "/",
        "--target-prefix",
        "",
    ]));
    let map = section(&report, "Folder map");
    assert_eq!(mapped(&map, "Sent.2024").0, "Sent/2024", "{map:#?}");
    assert_eq!(mapped(&map, "Écoles"), ("Écoles", "1", "(default)"));
    assert_eq!(mapped(&map, "INBOX").0, "INBOX");
    // One message in three folders: two copies.
    let duplicates = section(&report, "Duplicates");
    assert!(
        duplicates
            .iter()
            .any(|l| l.trim().starts_with("messages: 3 unique: 1 duplicates: 2"))
    );
}

#[test]
fn readme_report_lines_are_what_preflight_prints() {
    let readme = readme();
    let excerpt = fenced_after(&readme, "Lines of the report on the sample:");
    assert!(excerpt.len() >= 5, "{excerpt:#?}");
    let report = stdout(&preflight(&[]));
    for line in excerpt {
        assert!(
            report.lines().any(|l| l == line),
            "README shows a line preflight does not print: {line:?}"
        );
    }
}

#[test]
fn readme_conformance_suites_exist() {
    let readme = readme();
    let root = std::env::var_os("IMAPMIG_CONFORMANCE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/conformance"));
    if !root.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "conformance suites missing at {}",
            root.display()
        );
        eprintln!("conformance suites not at {}: not checked", root.display());
        return;
    }
    let mut checked = 0;
    for row in readme.lines().filter(|l| l.trim_start().starts_with("| `")) {
        let first = row.trim_start().split('|').nth(1).unwrap();
        for path in first.split('`').skip(1).step_by(2) {
            assert!(
                root.join(path).exists(),
                "README names a missing suite {path}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked} suites checked");
}

#[test]
fn a_message_file_is_a_mailbox_and_a_bad_domain_stops_before_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.eml");
    write(&file, b"From: a@example.org\nSubject: lf only\n\nbody\n");
    let report = stdout(&preflight(&[file.to_str().unwrap()]));
    let corrupt = section(&report, "Corrupt items");
    assert!(
        corrupt.iter().any(|l| l.trim()
            == format!(
                "{}\trepairable\tbare-lf,missing-date,missing-message-id",
                file.display()
            )),
        "{corrupt:#?}"
    );
    assert_eq!(folder_row(&section(&report, "Inventory"), "INBOX")[0], "1");

    let output = Command::new(env!("CARGO_BIN_EXE_imapmig"))
        .args(["preflight", "--domain", "bad domain..test"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(output.stdout.is_empty(), "no half report");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--domain \"bad domain..test\""));
}

#[test]
fn an_exchange_profile_sends_roles_to_exchange_folders() {
    let report = stdout(&preflight(&[
        "--profile",
        "exchange",
        "--target-sep",
        "/",
        "--target-prefix",
        "",
    ]));
    let map = section(&report, "Folder map");
    assert!(map[0].contains(", exchange profile ("), "{}", map[0]);
    assert_eq!(mapped(&map, "[Gmail]/Trash").0, "Deleted Items", "{map:#?}");
    assert_eq!(mapped(&map, "[Gmail]/Spam").0, "Junk Email");
    assert_eq!(mapped(&map, "a.b").0, "a.b");
    // Gmail's own folders own their roles; a user label named like a role
    // folder ("Entwürfe" is German for drafts, "Sent Mail") keeps its name
    // instead of colliding with them.
    assert_eq!(
        mapped(&map, "[Gmail]/Drafts"),
        ("Drafts", "3", "(special-use \\Drafts)")
    );
    assert_eq!(mapped(&map, "[Gmail]/Sent Mail").0, "Sent Items");
    assert_eq!(mapped(&map, "Entwürfe"), ("Entwürfe", "4", "(default)"));
    assert_eq!(mapped(&map, "Sent Mail"), ("Sent Mail", "3", "(default)"));
    assert!(!map.iter().any(|l| l.contains("COLLISION")), "{map:#?}");
}
