//! Properties of the parsers on generated input.

use imapmig_dns::dkim::DkimKey;
use imapmig_dns::dmarc::DmarcRecord;
use imapmig_dns::spf::SpfRecord;
use imapmig_dns::{DomainName, RecordType, Resolver, ZoneResolver};
use proptest::prelude::*;

/// SPF-like text: the right words in random order, with random damage.
fn spf_text() -> impl Strategy<Value = String> {
    let term = prop_oneof![
        Just("all".to_owned()),
        Just("a".to_owned()),
        Just("mx//64".to_owned()),
        Just("ptr".to_owned()),
        "ip4:[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,2})?",
        "include:[a-z]{1,8}\\.(com|test|%\\{d2\\})",
        "exists:%\\{[slodiphv][0-9]{0,2}r?[.-]?\\}\\.[a-z]{2,5}",
        "redirect=[a-z]{1,6}\\.example",
        "[a-z]{1,5}=[ -~]{0,6}",
        "[ -~]{1,6}",
    ];
    let qualified = ("[-+~?]?", term).prop_map(|(q, t)| format!("{q}{t}"));
    prop::collection::vec(qualified, 0..12).prop_map(|terms| {
        let mut s = "v=spf1".to_owned();
        for t in terms {
            s.push(' ');
            s.push_str(&t);
        }
        s
    })
}

proptest! {
    #[test]
    fn prop_spf_printed_records_parse_to_themselves(text in spf_text()) {
        if let Ok(record) = SpfRecord::parse(&text) {
            let shown = record.to_string();
            let again = SpfRecord::parse(&shown);
            prop_assert!(again.is_ok(), "{shown}");
            prop_assert_eq!(again.map(|r| r.to_string()).unwrap_or_default(), shown);
        }
    }

    #[test]
    fn prop_spf_errors_point_inside_the_record(text in spf_text()) {
        if let Err(imapmig_dns::Error::SpfSyntax { position, .. }) = SpfRecord::parse(&text) {
            prop_assert!(position <= text.len());
        }
    }

    #[test]
    fn prop_record_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = SpfRecord::parse_bytes(&bytes);
        let _ = DmarcRecord::parse(&bytes);
        if let Ok(k) = DkimKey::parse(&bytes) {
            let _ = k.rsa_bits();
        }
    }

    #[test]
    fn prop_zone_answers_what_it_holds(
        hosts in prop::collection::btree_map("[a-z_][a-z0-9-]{0,10}", any::<[u8; 4]>(), 1..20),
    ) {
        let text: String = hosts
            .iter()
            .map(|(h, ip)| format!("{h} 60 A {}.{}.{}.{}\n", ip[0], ip[1], ip[2], ip[3]))
            .collect();
        let zone = ZoneResolver::from_zone_text("example.test", &text);
        prop_assert!(zone.is_ok(), "{text}");
        let zone = zone.unwrap_or_default();
        for (h, ip) in &hosts {
            let name = DomainName::parse(&format!("{h}.example.test"));
            prop_assert!(name.is_ok());
            let l = zone.lookup(&name.unwrap_or_else(|_| DomainName::root()), RecordType::A);
            prop_assert!(l.is_ok());
            let l = l.unwrap_or_else(|_| imapmig_dns::Lookup::empty(imapmig_dns::Outcome::NxDomain));
            prop_assert_eq!(l.records.len(), 1);
            prop_assert_eq!(l.records[0].data.to_string(), format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]));
        }
    }
}
