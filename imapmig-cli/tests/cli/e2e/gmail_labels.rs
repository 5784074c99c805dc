//! A Gmail source that offers X-GM-EXT-1 (testkit's `GmailFront`, an emulation, before a
//! Gmail-layout Dovecot): migrate reads each message once, from `[Gmail]/All Mail`, with its
//! X-GM-MSGID and X-GM-LABELS, and places it by label. Default policy: one copy in the first
//! folder label's folder (INBOX first), the other labels as keywords, unlabelled mail in the
//! archive folder; `--gmail-labels per-label`: a copy per label. Spam (not in All Mail, as on
//! Gmail) is copied from its own folder. Reruns copy nothing; a killed run resumes without a
//! duplicate.

use std::collections::BTreeMap;
use std::time::Duration;

use testkit::{GmailFront, RawImap};

use super::*;

const RUN_LIMIT: Duration = Duration::from_secs(180);

/// One source message: its bytes and the source folders (labels) it is seeded into.
#[derive(Debug, Clone)]
struct Mail {
    bytes: Vec<u8>,
    folders: Vec<&'static str>,
}

/// A message shaped like real mail: some without Message-ID, and every one but those with a
/// Message-ID and a single folder carrying testkit's identity header (the front matches
/// copies across folders by it, as Gmail by X-GM-MSGID).
fn mail(tag: &str, i: usize, folders: &[&'static str]) -> Mail {
    let id = if i.is_multiple_of(3) {
        String::new()
    } else {
        format!("Message-ID: <{tag}.{i}@example.com>\r\n")
    };
    let text = format!(
        "From: Person {p} <person{p}@example.com>\r\nTo: test@example.org\r\n\
         Subject: {tag} {i}\r\nDate: Tue, 14 Nov 2023 {:02}:{:02}:00 +0000\r\n{id}\r\n\
         Message {i} of {tag}.\r\n",
        (i / 60) % 24,
        i % 60,
        p = i % 7,
    );
    let bytes = if id.is_empty() || folders.len() > 1 {
        GmailFront::with_gm_id(&format!("{tag}-{i}"), text.as_bytes())
    } else {
        text.into_bytes()
    };
    Mail {
        bytes,
        folders: folders.to_vec(),
    }
}

/// The corpus: `scale` messages per kind of labelling.
fn corpus(tag: &str, scale: usize) -> Vec<Mail> {
    let kinds: &[&[&'static str]] = &[
        &["INBOX"],
        &["INBOX", "Work"],
        &["Work"],
        &["Work", "Work/Projects"],
        &["INBOX", "Work", "Work/Projects"],
        &["[Gmail]/Sent Mail"],
        &["[Gmail]/Sent Mail", "Work"],
        &[],
        &["[Gmail]/Spam"],
    ];
    let mut out = Vec::new();
    let mut i = 0;
    for folders in kinds {
        for _ in 0..scale {
            out.push(mail(tag, i, folders));
            i += 1;
        }
    }
    out
}

/// Seeds every folder (and the archive for unlabelled mail), INTERNALDATEs running backwards
/// against the UIDs.
fn seed_gmail(src: &Dovecot, corpus: &[Mail]) {
    let mut by_folder: BTreeMap<&str, Vec<(&[u8], i64)>> = BTreeMap::new();
    let mut archived: Vec<&[u8]> = Vec::new();
    for (i, m) in corpus.iter().enumerate() {
        let date = 1_700_000_000 - 86_400 * i as i64;
        if m.folders.is_empty() {
            archived.push(&m.bytes);
        }
        for f in &m.folders {
            by_folder.entry(f).or_default().push((&m.bytes, date));
        }
    }
    for (folder, msgs) in &by_folder {
        src.seed_dated(folder, msgs);
    }
    src.seed_archived(&archived);
}

fn source_url(front: &GmailFront, src: &Dovecot) -> String {
    format!("imap://{}@127.0.0.1:{}", src.user(), front.port())
}

fn run(front: &GmailFront, src: &Dovecot, dst: &Dovecot, state: &Path, extra: &[&str]) -> Output {
    output_within(
        migrate_command_urls(&source_url(front, src), &url(dst), state, extra),
        RUN_LIMIT,
    )
}

/// The target folder whose name contains `part`.
fn folder_like(dst: &Dovecot, part: &str) -> String {
    let folders = dst.folders();
    folders
        .iter()
        .find(|f| f.contains(part))
        .cloned()
        .unwrap_or_else(|| panic!("no target folder like {part:?}: {folders:?}"))
}

/// What each target folder must hold: with `per_label` a copy per folder label, else one copy
/// in the first (INBOX first, then Sent, then the user labels in order).
fn expected(dst: &Dovecot, corpus: &[Mail], per_label: bool) -> BTreeMap<String, Vec<Vec<u8>>> {
    let target = |source: &str| match source {
        "[Gmail]/Sent Mail" => folder_like(dst, "Sent"),
        "[Gmail]/Spam" => folder_like(dst, "Spam"),
        other => other.to_owned(),
    };
    let mut want: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for name in ["INBOX", "Work", "Work/Projects"] {
        want.insert(name.to_owned(), Vec::new());
    }
    for m in corpus {
        let mut order = m.folders.clone();
        order.sort_by_key(|f| match *f {
            "INBOX" => 0,
            "[Gmail]/Sent Mail" | "[Gmail]/Spam" => 1,
            _ => 2,
        });
        let places: Vec<String> = match (order.first(), per_label) {
            (None, _) => vec![folder_like(dst, "Archive")],
            (Some(first), false) => vec![target(first)],
            (Some(_), true) => order.iter().map(|f| target(f)).collect(),
        };
        for p in places {
            want.entry(p).or_default().push(m.bytes.clone());
        }
    }
    want
}

fn assert_placed(dst: &Dovecot, want: &BTreeMap<String, Vec<Vec<u8>>>) {
    for (folder, msgs) in want {
        assert_holds_exactly(dst, folder, msgs);
    }
    let total: usize = dst.folders().iter().map(|f| dst.messages(f).len()).sum();
    let wanted: usize = want.values().map(Vec::len).sum();
    assert_eq!(
        total,
        wanted,
        "nothing else on the target: {:?}",
        dst.folders()
    );
}

/// UIDs of `folder` on the target that carry `keyword`.
fn with_keyword(dst: &Dovecot, folder: &str, keyword: &str) -> usize {
    let mut imap: RawImap = dst.session();
    imap.command(&format!("EXAMINE {}", testkit::quote_mailbox(folder)));
    let reply = imap.command(&format!("UID SEARCH KEYWORD {keyword}"));
    let text = String::from_utf8_lossy(&reply);
    let line = text
        .lines()
        .find(|l| l.starts_with("* SEARCH"))
        .unwrap_or("");
    line.split_whitespace().skip(2).count()
}

#[test]
fn gmail_labels_place_each_message_once_with_keywords_and_reruns_copy_nothing() {
    let (Some(src), Some(dst)) = (server(Layout::Gmail), server(Layout::Slash)) else {
        return;
    };
    let corpus = corpus("gl", 3);
    seed_gmail(&src, &corpus);
    let front = GmailFront::start(&src);
    let state = tempfile::tempdir().unwrap();

    let out = run(&front, &src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert!(
        front.labelled_responses() > 0,
        "the labels were never fetched"
    );
    let distinct = corpus.len() as u64;
    assert_eq!(totals(&out), (distinct, 0, 0, 0));
    assert_placed(&dst, &expected(&dst, &corpus, false));
    // The labels not used as the folder are keywords: INBOX+Work (3) and INBOX+Work+Projects
    // (3) in INBOX, Sent+Work (3) in Sent; Work+Projects (3) in Work.
    assert_eq!(with_keyword(&dst, "INBOX", "Work"), 6);
    assert_eq!(with_keyword(&dst, "INBOX", "Work/Projects"), 3);
    assert_eq!(with_keyword(&dst, "Work", "Work/Projects"), 3);
    assert_eq!(with_keyword(&dst, &folder_like(&dst, "Sent"), "Work"), 3);
    assert!(dst.messages("Work/Projects").is_empty());

    // Rerun: nothing is copied again.
    let out = run(&front, &src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 0);
    assert_placed(&dst, &expected(&dst, &corpus, false));
}

#[test]
fn gmail_labels_per_label_gives_a_copy_per_label() {
    let (Some(src), Some(dst)) = (server(Layout::Gmail), server(Layout::Slash)) else {
        return;
    };
    let corpus = corpus("gp", 2);
    seed_gmail(&src, &corpus);
    let front = GmailFront::start(&src);
    let state = tempfile::tempdir().unwrap();
    let extra = ["--gmail-labels", "per-label"];

    let out = run(&front, &src, &dst, state.path(), &extra);
    assert_exit(&out, 0);
    assert!(
        front.labelled_responses() > 0,
        "the labels were never fetched"
    );
    let copies: usize = corpus.iter().map(|m| m.folders.len().max(1)).sum();
    assert_eq!(totals(&out), (copies as u64, 0, 0, 0));
    assert_placed(&dst, &expected(&dst, &corpus, true));

    let out = run(&front, &src, &dst, state.path(), &extra);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 0);
    assert_placed(&dst, &expected(&dst, &corpus, true));
}

#[test]
fn gmail_labels_killed_halfway_then_rerun_gives_no_duplicate_and_nothing_missing() {
    let (Some(src), Some(dst)) = (server(Layout::Gmail), server(Layout::Slash)) else {
        return;
    };
    let corpus = corpus("gk", 80);
    seed_gmail(&src, &corpus);
    let front = GmailFront::start(&src);
    let state = tempfile::tempdir().unwrap();
    let half = corpus.len() as u64 / 2;
    let cmd = migrate_command_urls(&source_url(&front, &src), &url(&dst), state.path(), &[]);
    let end = run_until_stored(cmd, &dst, half, RUN_LIMIT);
    assert!(
        matches!(end, RunEnd::Killed(n) if n < corpus.len() as u64),
        "the kill must land mid-copy: {end:?}"
    );
    let out = run(&front, &src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert!(
        reported_duplicates(&out).is_empty(),
        "{:?}",
        reported_duplicates(&out)
    );
    assert_placed(&dst, &expected(&dst, &corpus, false));
}

#[test]
fn gmail_labels_survive_fetches_cut_short_as_gmail_does() {
    let (Some(src), Some(dst)) = (server(Layout::Gmail), server(Layout::Slash)) else {
        return;
    };
    let corpus = corpus("gf", 2);
    seed_gmail(&src, &corpus);
    let front = GmailFront::start(&src);
    // Every UID FETCH (the X-GM-LABELS one included) ends `NO Some messages could not be
    // FETCHed` after 4 answers.
    let proxy = testkit::FaultProxy::start(front.addr());
    proxy.set(testkit::Fault::FetchNoAfter { responses: 4 });
    let state = tempfile::tempdir().unwrap();
    let source = format!("imap://{}@127.0.0.1:{}", src.user(), proxy.port());
    let out = output_within(
        migrate_command_urls(
            &source,
            &url(&dst),
            state.path(),
            &["--retries", "40", "--io-timeout", "20"],
        ),
        RUN_LIMIT,
    );
    assert_exit(&out, 0);
    assert!(proxy.counts().fetch_no > 0, "{:?}", proxy.counts());
    assert_eq!(totals(&out), (corpus.len() as u64, 0, 0, 0));
    assert_placed(&dst, &expected(&dst, &corpus, false));
}
