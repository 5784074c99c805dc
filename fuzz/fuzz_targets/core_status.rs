//! The STATUS parser on arbitrary bytes: never panics, errors point inside
//! the input, and a parsed response written back (mailbox as a literal)
//! parses to the same mailbox and items.
#![no_main]

use imapmig_core::Error;
use imapmig_core::inventory::parse_status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_status(data) {
        Ok(r) => {
            assert!(r.mailbox.len() <= data.len());
            let i = &r.items;
            let mut items = Vec::new();
            let mut push = |name: &str, v: Option<u64>| {
                if let Some(v) = v {
                    items.push(format!("{name} {v}"));
                }
            };
            push("MESSAGES", i.messages.map(u64::from));
            push("RECENT", i.recent.map(u64::from));
            push("UIDNEXT", i.uid_next.map(|u| u64::from(u.get())));
            push("UIDVALIDITY", i.uid_validity.map(|u| u64::from(u.get())));
            push("UNSEEN", i.unseen.map(u64::from));
            push("SIZE", i.size);
            push("HIGHESTMODSEQ", i.highest_modseq);
            push("DELETED", i.deleted.map(u64::from));
            push("DELETED-STORAGE", i.deleted_storage);
            let mut line = format!("* STATUS {{{}}}\r\n", r.mailbox.len()).into_bytes();
            line.extend_from_slice(&r.mailbox);
            line.extend_from_slice(format!(" ({})\r\n", items.join(" ")).as_bytes());
            let again = parse_status(&line).expect("a written-back STATUS parses");
            assert_eq!(again, r);
        }
        Err(Error::StatusSyntax { offset, .. }) => {
            assert!(offset <= data.len())
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
