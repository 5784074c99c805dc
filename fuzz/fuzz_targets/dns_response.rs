//! Arbitrary DNS responses: decoding and the response checks, and zone text.

#![no_main]

use imapmig_dns::wire::{Response, decode_response};
use imapmig_dns::{DomainName, RecordType, ZoneResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(name) = DomainName::parse("sel._domainkey.example.test") else {
        return;
    };
    let id = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    for rtype in [RecordType::Txt, RecordType::Mx, RecordType::A] {
        if let Ok(Response::Answer(lookup)) = decode_response(id, &name, rtype, data) {
            // Only records on the path from the question survive the checks.
            if let Some(first) = lookup.records.first() {
                assert_eq!(first.name, name);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ZoneResolver::from_zone_text("example.test", text);
    }
});
