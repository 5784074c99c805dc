//! Rules-file parsing and mapping of arbitrary text: never panics, errors
//! name a line inside the input.
#![no_main]

use imapmig_folders::{Error, Hierarchy, Mapper, Rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rules_text, names) = text
        .split_once('\u{0}')
        .unwrap_or((&text, "INBOX\nINBOX.a.b\nx/y"));
    match Rules::parse(rules_text) {
        Ok(rules) => {
            let (Ok(source), Ok(target)) = (
                Hierarchy::new(Some('.'), "INBOX."),
                Hierarchy::new(Some('/'), ""),
            ) else {
                return;
            };
            if let Ok(plan) = Mapper::new(source, target)
                .rules(rules)
                .plan_names(names.lines())
            {
                let _ = plan.creation_order();
                let _ = plan.check();
            }
        }
        Err(Error::Rule { line, .. }) => {
            assert!(line >= 1 && line <= rules_text.lines().count().max(1))
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
});
