//! The LIST/NAMESPACE, X-GM-LABELS and rules parsers never panic, and
//! names survive a print-then-parse round trip.

use imapmig_folders::{ListEntry, Listing, MailboxName, Namespaces, Rules, parse_labels};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn prop_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = Listing::parse(&bytes);
        let _ = ListEntry::parse(&bytes);
        let _ = Namespaces::parse(&bytes);
        let _ = parse_labels(&bytes);
        let _ = Rules::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn prop_list_structure_never_panics(s in r#"\* (LIST|LSUB|NAMESPACE) [()\\"{}0-9 A-Za-z/.NIL+\r\n]{0,40}"#) {
        let _ = Listing::parse(s.as_bytes());
    }

    #[test]
    fn prop_astring_round_trip(bytes in proptest::collection::vec(1u8..=255, 0..40), delim in "[./]") {
        prop_assume!(!bytes.contains(&b'\r') && !bytes.contains(&b'\n'));
        let name = MailboxName::from_wire(bytes.clone()).unwrap();
        let mut line = format!("* LIST (\\HasNoChildren) \"{delim}\" ").into_bytes();
        line.extend_from_slice(&name.to_astring());
        line.extend_from_slice(b"\r\n");
        let entry = ListEntry::parse(&line).unwrap();
        prop_assert_eq!(entry.name().wire(), &bytes[..]);
    }
}
