//! SPF records: the parser on arbitrary bytes, the printed form re-parsed,
//! and check_host() over a zone holding the record.

#![no_main]

use imapmig_dns::spf::{self, SpfQuery, SpfRecord, is_spf1};
use imapmig_dns::{DomainName, RData, Record, ZoneResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    // Most inputs would stop at the version tag; give them one.
    let data = if is_spf1(raw) {
        raw.to_vec()
    } else {
        [b"v=spf1 ", raw].concat()
    };
    let data = data.as_slice();
    if let Ok(record) = SpfRecord::parse_bytes(data) {
        let shown = record.to_string();
        let again = SpfRecord::parse(&shown).expect("a printed record parses");
        assert_eq!(again.to_string(), shown, "printing is stable");
    }
    let Ok(domain) = DomainName::parse("fuzz.test") else {
        return;
    };
    let mut zone = ZoneResolver::new();
    let parts: Vec<Vec<u8>> = data.chunks(255).map(<[u8]>::to_vec).collect();
    for name in ["fuzz.test", "a.fuzz.test"] {
        if let Ok(n) = DomainName::parse(name) {
            zone.insert(Record {
                name: n,
                ttl: 300,
                data: RData::Txt(parts.clone()),
            });
        }
    }
    let q = SpfQuery::new([192, 0, 2, 1].into(), "user@fuzz.test", "helo.fuzz.test");
    let out = spf::check_host(&zone, &q, domain.as_str());
    assert!(
        out.dns_terms <= q.limits.dns_terms + 1,
        "term limit enforced"
    );
    assert!(
        out.void_lookups <= q.limits.void_lookups + 1,
        "void limit enforced"
    );
});
