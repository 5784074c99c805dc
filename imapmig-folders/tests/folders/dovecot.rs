//! Against real Dovecot servers (testkit): LIST and NAMESPACE from each
//! server, a folder tree mapped from a slash server to a dot/`INBOX.` one
//! and back without loss or collision, a collision refused, and Gmail's
//! archived-only mail placed.

use std::collections::BTreeMap;

use imapmig_folders::{
    CreateKind, Decision, DelimiterEscape, GmailPolicy, Listing, MailboxName, Mapper, Reason,
    SpecialUse,
};
use testkit::{Dovecot, Layout, RawImap};

/// NAMESPACE, `LIST "" ""` and `LIST "" "*"` as the server answers them.
fn listing(server: &Dovecot) -> Listing {
    let mut imap = server.session();
    let mut raw = imap.command("NAMESPACE");
    raw.extend(imap.command("LIST \"\" \"\""));
    raw.extend(imap.command("LIST \"\" \"*\""));
    imap.command("LOGOUT");
    Listing::parse(&raw).unwrap()
}

fn command_ok(imap: &mut RawImap, verb: &str, name: &MailboxName) {
    let mut cmd = format!("{verb} ").into_bytes();
    cmd.extend_from_slice(&name.to_astring());
    let reply = imap.command_bytes(&cmd);
    let tagged = format!("{} OK", imap.last_tag());
    assert!(
        String::from_utf8_lossy(&reply).contains(&tagged),
        "{verb} {name:?}: {}",
        String::from_utf8_lossy(&reply)
    );
}

fn message(id: &str) -> Vec<u8> {
    format!("Message-ID: <{id}@folders.test>\r\nSubject: {id}\r\nFrom: a@folders.test\r\n\r\nbody of {id}\r\n")
        .into_bytes()
}

fn message_id(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap_or_else(|| panic!("no Message-ID in {text}"))
        .trim()
        .to_owned()
}

/// Message-IDs per selectable folder (decoded names), as the server has them.
fn contents(server: &Dovecot) -> BTreeMap<String, Vec<String>> {
    listing(server)
        .entries()
        .iter()
        .filter(|e| e.is_selectable())
        .map(|e| {
            let name = e.name().as_str().to_owned();
            let mut ids: Vec<String> = server
                .messages(&name)
                .iter()
                .map(|m| message_id(m))
                .collect();
            ids.sort();
            (name, ids)
        })
        .collect()
}

/// Maps `from`'s folders onto `to`, creates them there in the plan's
/// order over IMAP (CREATE with the encoded name), and copies every message.
fn migrate(from: &Dovecot, to: &Dovecot) -> imapmig_folders::FolderPlan {
    let source = listing(from);
    let target = listing(to);
    let plan = Mapper::from_listings(&source, &target)
        .unwrap()
        .escape(DelimiterEscape::Lookalike)
        .plan(&source)
        .unwrap();
    plan.check().unwrap();
    let mut imap = to.session();
    for (name, kind) in plan.creation_order() {
        assert_eq!(
            kind,
            CreateKind::Mailbox,
            "{name:?}: the tree has no bare parents"
        );
        command_ok(&mut imap, "CREATE", &name);
    }
    for e in plan.entries() {
        let Decision::Copy(target) = &e.decision else {
            continue;
        };
        // The encoded name selects the folder that CREATE made.
        command_ok(&mut imap, "SELECT", target);
        let messages = from.messages(e.source.as_str());
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        if !refs.is_empty() {
            to.seed(target.as_str(), &refs);
        }
    }
    imap.command("LOGOUT");
    plan
}

#[test]
fn slash_to_dot_and_back_without_loss() {
    let Some(a) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let Some(b) = Dovecot::start(Layout::DotInbox) else {
        return;
    };
    let Some(c) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let tree = [
        "Work",
        "Work/Projects",
        "Écoles",
        "台北",
        "台北/日本語",
        "Releases v1.2",
        "Sent",
        "Trash",
        "Rock & Roll",
    ];
    for name in tree {
        a.create_folder(name);
    }
    a.seed("INBOX", &[&message("inbox-1")]);
    for (i, name) in tree.iter().enumerate() {
        a.seed(
            name,
            &[&message(&format!("m{i}-a")), &message(&format!("m{i}-b"))],
        );
    }
    let a_listing = listing(&a);
    let sent = a_listing
        .entries()
        .iter()
        .find(|e| e.name().as_str() == "Sent")
        .unwrap();
    assert_eq!(
        SpecialUse::from_attributes(sent.attributes()),
        Some(SpecialUse::Sent)
    );
    let before = contents(&a);
    assert_eq!(before.len(), tree.len() + 1);

    let there = migrate(&a, &b);
    let t = |s: &str| there.target_of(s).unwrap().as_str().to_owned();
    assert_eq!(t("Work/Projects"), "INBOX.Work.Projects");
    assert_eq!(t("台北/日本語"), "INBOX.台北.日本語");
    assert_eq!(t("Releases v1.2"), "INBOX.Releases v1\u{2024}2");
    assert_eq!(
        there.target_of("Écoles").unwrap().wire(),
        b"INBOX.&AMk-coles"
    );
    // The target shows no \Sent folder yet: the role is known, the name is translated.
    assert_eq!(there.get("Sent").unwrap().role, Some(SpecialUse::Sent));
    assert_eq!(there.get("Sent").unwrap().reason, Reason::Default);
    let middle = contents(&b);
    for e in there.entries() {
        let target = e.target().unwrap().as_str();
        assert_eq!(
            middle[target],
            before[e.source.as_str()],
            "{} -> {target}",
            e.source
        );
    }
    assert_eq!(middle.len(), before.len());

    let back = migrate(&b, &c);
    let after = contents(&c);
    assert_eq!(
        after, before,
        "round trip slash -> dot -> slash changed folders or messages"
    );
    assert!(back.entries().iter().all(|e| e.target().is_some()));
}

#[test]
fn dot_source_maps_onto_slash_target() {
    let Some(a) = Dovecot::start(Layout::DotInbox) else {
        return;
    };
    let Some(b) = Dovecot::start(Layout::Slash) else {
        return;
    };
    for name in [
        "INBOX.Work",
        "INBOX.Work.Projects",
        "INBOX.Sent",
        "INBOX.Ünïcödé",
    ] {
        a.create_folder(name);
        a.seed(name, &[&message(&format!("{name}-1"))]);
    }
    let plan = migrate(&a, &b);
    let t = |s: &str| plan.target_of(s).unwrap().as_str().to_owned();
    assert_eq!(t("INBOX.Work.Projects"), "Work/Projects");
    assert_eq!(t("INBOX.Sent"), "Sent");
    assert_eq!(t("INBOX"), "INBOX");
    let got = contents(&b);
    assert_eq!(
        got["Work/Projects"],
        vec!["<INBOX.Work.Projects-1@folders.test>".to_owned()]
    );
    assert_eq!(got["Ünïcödé"].len(), 1);
}

#[test]
fn collision_is_refused_before_copying() {
    let Some(a) = Dovecot::start(Layout::Slash) else {
        return;
    };
    let Some(b) = Dovecot::start(Layout::DotInbox) else {
        return;
    };
    a.create_folder("v1.2");
    a.create_folder("v1_2");
    let source = listing(&a);
    let plan = Mapper::from_listings(&source, &listing(&b))
        .unwrap()
        .plan(&source)
        .unwrap();
    let Err(imapmig_folders::Error::Collision {
        first,
        second,
        target,
    }) = plan.check()
    else {
        panic!("collision not refused: {plan}");
    };
    let mut pair = [first, second];
    pair.sort();
    assert_eq!(pair, ["v1.2", "v1_2"]);
    assert_eq!(target, "INBOX.v1_2");
    // The lossless escape keeps them apart.
    let plan = Mapper::from_listings(&source, &listing(&b))
        .unwrap()
        .escape(DelimiterEscape::Lookalike)
        .plan(&source)
        .unwrap();
    assert!(plan.check().is_ok());
}

#[test]
fn gmail_archived_only_mail_gets_a_placement() {
    let Some(g) = Dovecot::start(Layout::Gmail) else {
        return;
    };
    let Some(t) = Dovecot::start(Layout::DotInbox) else {
        return;
    };
    t.create_folder("INBOX.Sent");
    g.create_folder("Receipts");
    g.seed("INBOX", &[&message("in-1")]);
    g.seed("Receipts", &[&message("rc-1")]);
    g.seed("[Gmail]/Sent Mail", &[&message("sent-1")]);
    g.seed_archived(&[&message("arch-1"), &message("arch-2")]);

    let source = listing(&g);
    let plan = Mapper::from_listings(&source, &listing(&t))
        .unwrap()
        .gmail(GmailPolicy::default())
        .plan(&source)
        .unwrap();
    plan.check().unwrap();
    assert_eq!(
        plan.get("[Gmail]/All Mail").unwrap().reason,
        Reason::AllMail
    );
    assert_eq!(plan.get("[Gmail]").unwrap().decision, Decision::Skip);
    assert_eq!(
        plan.target_of("[Gmail]/Sent Mail").unwrap().as_str(),
        "INBOX.Sent"
    );
    let archive = plan.archive_target().unwrap().clone();
    assert_eq!(archive.as_str(), "INBOX.Archive");

    // Without X-GM-EXT-1: record which folders each message is seen in.
    let mut detector = plan.archive_detector();
    for e in source.entries().iter().filter(|e| e.is_selectable()) {
        for m in g.messages(e.name().as_str()) {
            detector.record(e.name().as_str(), &message_id(&m));
        }
    }
    assert_eq!(
        detector.archived_only(),
        ["<arch-1@folders.test>", "<arch-2@folders.test>"]
    );

    // Copy: every copied folder, then archived-only mail from All Mail.
    let mut imap = t.session();
    for (name, _) in plan.creation_order() {
        command_ok(&mut imap, "CREATE", &name);
    }
    imap.command("LOGOUT");
    for e in plan.entries() {
        let Some(target) = e.target() else { continue };
        let msgs = g.messages(e.source.as_str());
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        if !refs.is_empty() {
            t.seed(target.as_str(), &refs);
        }
    }
    let all_mail = g.messages("[Gmail]/All Mail");
    let archived: Vec<&[u8]> = all_mail
        .iter()
        .filter(|m| detector.is_archived_only(&message_id(m)))
        .map(Vec::as_slice)
        .collect();
    t.seed(archive.as_str(), &archived);

    // Nothing of All Mail is lost, and nothing is copied twice.
    let mut on_target: Vec<String> = contents(&t).into_values().flatten().collect();
    on_target.sort();
    let mut in_all_mail: Vec<String> = all_mail.iter().map(|m| message_id(m)).collect();
    in_all_mail.sort();
    for id in &in_all_mail {
        assert!(on_target.contains(id), "{id} lost");
    }
    assert_eq!(
        on_target.len(),
        in_all_mail.len(),
        "duplicates on the target: {on_target:?}"
    );
}
