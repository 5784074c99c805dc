//! Flag sync: a flag changed on the source between passes reaches the target, and with
//! CONDSTORE on both sides (Dovecot) only the changed message is compared and stored.

use super::*;

/// `(uid, flags line, modseq)` of every message in `folder`, from `UID FETCH (FLAGS MODSEQ)`.
fn flags_and_modseqs(d: &Dovecot, folder: &str) -> BTreeMap<u32, (String, u64)> {
    let mut s = d.session();
    s.command(&format!("SELECT {folder} (CONDSTORE)"));
    let reply =
        String::from_utf8_lossy(&s.command("UID FETCH 1:* (UID FLAGS MODSEQ)")).into_owned();
    s.command("LOGOUT");
    let mut out = BTreeMap::new();
    for line in reply
        .lines()
        .filter(|l| l.starts_with("* ") && l.contains("FETCH"))
    {
        let after = |key: &str| {
            let i = line.find(key).map(|i| i + key.len())?;
            let rest = &line[i..];
            Some(rest[..rest.find([' ', ')']).unwrap_or(rest.len())].to_owned())
        };
        let uid: u32 = after("UID ").unwrap().parse().unwrap();
        let modseq: u64 = after("MODSEQ (").unwrap().parse().unwrap();
        let flags = line
            .find("FLAGS (")
            .map(|i| {
                let rest = &line[i + 7..];
                rest[..rest.find(')').unwrap()].to_owned()
            })
            .unwrap();
        out.insert(uid, (flags, modseq));
    }
    out
}

/// The `flags compared C synced S (...)` line of the run's output.
fn flags_line(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find(|l| l.contains(": flags compared "))
        .unwrap_or_else(|| panic!("no flags line in:\n{stdout}"))
        .to_owned()
}

#[test]
fn condstore_syncs_only_flags_changed_since_the_last_pass() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let msgs = messages("cs", 6);
    seed(&src, "INBOX", &msgs);
    let state = tempfile::tempdir().unwrap();

    // The first pass has no saved HIGHESTMODSEQ: it compares every flag.
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (6, 0, 0, 0));
    assert!(
        flags_line(&out).ends_with("(full compare)"),
        "{}",
        flags_line(&out)
    );

    // A rerun with nothing changed compares nothing.
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, 6, 0, 0));
    let line = flags_line(&out);
    assert!(
        line.contains("flags compared 0 synced 0 (changed since modseq "),
        "{line}"
    );

    // Flag one source message (Message-ID <cs.2@...>) and remember the target's MODSEQs.
    let mut s = src.session();
    s.command("SELECT INBOX");
    let reply =
        String::from_utf8_lossy(&s.command("UID SEARCH HEADER Message-ID cs.2@")).into_owned();
    let uid: u32 = reply
        .lines()
        .find_map(|l| l.strip_prefix("* SEARCH "))
        .and_then(|u| u.trim().parse().ok())
        .unwrap_or_else(|| panic!("no search hit: {reply}"));
    s.command(&format!("UID STORE {uid} +FLAGS (\\Flagged $Important)"));
    s.command("LOGOUT");
    let before = flags_and_modseqs(&dst, "INBOX");
    assert_eq!(before.len(), 6);
    assert!(before.values().all(|(f, _)| !f.contains("\\Flagged")));

    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, 6, 0, 0));
    let line = flags_line(&out);
    assert!(
        line.contains("flags compared 1 synced 1 (changed since modseq "),
        "{line}"
    );

    // On the target: exactly that message gained the flags; every other one is untouched
    // (its MODSEQ did not move).
    let after = flags_and_modseqs(&dst, "INBOX");
    let changed: Vec<u32> = before
        .iter()
        .filter(|(u, (_, m))| after[*u].1 != *m)
        .map(|(u, _)| *u)
        .collect();
    assert_eq!(changed.len(), 1, "before {before:?}\nafter {after:?}");
    let (flags, _) = &after[&changed[0]];
    assert!(
        flags.contains("\\Flagged") && flags.contains("$Important"),
        "{flags}"
    );
    let mut t = dst.session();
    t.command("SELECT INBOX");
    let header = t.command(&format!(
        "UID FETCH {} BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]",
        changed[0]
    ));
    t.command("LOGOUT");
    assert!(
        String::from_utf8_lossy(&header).contains("<cs.2@example.com>"),
        "{}",
        String::from_utf8_lossy(&header)
    );
    assert_holds_exactly(&dst, "INBOX", &msgs);

    // The new HIGHESTMODSEQ was recorded after the update: the next pass compares nothing.
    let out = migrate(&src, &dst, state.path(), &[]);
    assert_exit(&out, 0);
    let line = flags_line(&out);
    assert!(
        line.contains("flags compared 0 synced 0 (changed since modseq "),
        "{line}"
    );
}
