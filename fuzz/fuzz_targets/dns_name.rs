//! Domain-name parsing (`DomainName::parse`) on arbitrary text: never panics;
//! a parsed name stays within the RFC 1035 limits, prints and re-parses to an
//! equal name with the same labels.
#![no_main]

use imapmig_dns::{DomainName, MAX_LABEL_LEN, MAX_NAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(name) = DomainName::parse(text) else {
        return;
    };
    let printed = name.to_string();
    assert!(printed.len() <= MAX_NAME_LEN + 1);
    let again = DomainName::parse(&printed).expect("a printed name re-parses");
    assert_eq!(again, name);
    assert_eq!(again.labels().count(), name.labels().count());
    assert!(
        name.labels()
            .all(|l| !l.is_empty() && l.len() <= MAX_LABEL_LEN)
    );
});
