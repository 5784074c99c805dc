//! A Gmail-like source (testkit's virtual `[Gmail]/All Mail`): All Mail is not copied as a
//! folder, so no message arrives twice through it, and mail that lives only in All Mail
//! (archived, no label) is still placed, once, in the archive folder.

use super::*;

#[test]
fn gmail_all_mail_gives_no_duplicates_and_archived_mail_is_placed() {
    let (Some(gmail), Some(dst)) = (server(Layout::Gmail), server(Layout::Slash)) else {
        return;
    };
    let inbox = messages("gm-inbox", 6);
    let mut work = messages("gm-work", 4);
    // A message with two labels shows in both folders, as on Gmail.
    work.push(inbox[0].clone());
    let sent = messages("gm-sent", 3);
    let archived = messages("gm-archived", 5);
    seed(&gmail, "INBOX", &inbox);
    seed(&gmail, "Work", &work);
    seed(&gmail, "[Gmail]/Sent Mail", &sent);
    let refs: Vec<&[u8]> = archived.iter().map(Vec::as_slice).collect();
    gmail.seed_archived(&refs);
    assert_eq!(
        gmail.messages("[Gmail]/All Mail").len(),
        6 + 5 + 3 + 5,
        "testkit's All Mail"
    );

    let state = tempfile::tempdir().unwrap();
    let out = migrate(&gmail, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    let (copied, present, skipped, failed) = totals(&out);
    assert_eq!((copied, present, skipped, failed), (6 + 5 + 3 + 5, 0, 0, 0));

    let folders = dst.folders();
    assert!(
        !folders.iter().any(|f| f.contains("All Mail")),
        "All Mail must not be copied: {folders:?}"
    );
    assert_holds_exactly(&dst, "INBOX", &inbox);
    assert_holds_exactly(&dst, "Work", &work);
    let sent_folder = folders
        .iter()
        .find(|f| f.contains("Sent"))
        .unwrap_or_else(|| panic!("no sent folder: {folders:?}"));
    assert_holds_exactly(&dst, sent_folder, &sent);
    let archive = folders
        .iter()
        .find(|f| f.contains("Archive"))
        .unwrap_or_else(|| panic!("no archive folder: {folders:?}"));
    assert_holds_exactly(&dst, archive, &archived);
    let total: usize = folders.iter().map(|f| dst.messages(f).len()).sum();
    assert_eq!(
        total,
        6 + 5 + 3 + 5,
        "every message once per source folder, none twice: {folders:?}"
    );

    // Rerun: nothing new, the archive is not filled again.
    let out = migrate(&gmail, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out).0, 0);
    assert_holds_exactly(&dst, archive, &archived);
}
