//! Properties of modified UTF-7.

use imapmig_folders::{MailboxName, mutf7};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn prop_round_trip(s in any::<String>()) {
        let enc = mutf7::encode(&s);
        prop_assert!(enc.bytes().all(|b| (0x20..0x7f).contains(&b)));
        prop_assert_eq!(mutf7::decode(enc.as_bytes()).unwrap(), s);
    }

    #[test]
    fn prop_round_trip_ascii_heavy(s in "[ -~&\u{7f}\t\u{e4}\u{1f600}\u{53f0}]{0,40}") {
        prop_assert_eq!(mutf7::decode(mutf7::encode(&s).as_bytes()).unwrap(), s);
    }

    #[test]
    fn prop_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = mutf7::decode(&bytes);
    }

    #[test]
    fn prop_decode_accepts_only_canonical(s in "[A-Za-z0-9+,&-]{0,24}") {
        // Whatever decodes must encode back to the same bytes (strictness).
        if let Ok(text) = mutf7::decode(s.as_bytes()) {
            prop_assert_eq!(mutf7::encode(&text), s);
        }
    }

    #[test]
    fn prop_mailbox_name_keeps_wire(bytes in proptest::collection::vec(1u8..=255, 0..48)) {
        if let Ok(name) = MailboxName::from_wire(bytes.clone()) {
            prop_assert_eq!(name.wire(), &bytes[..]);
        } else {
            prop_assert!(bytes.contains(&b'\r') || bytes.contains(&b'\n'));
        }
    }
}
