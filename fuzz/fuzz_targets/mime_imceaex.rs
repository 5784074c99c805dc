//! The Exchange decoders on arbitrary input: `decode_imceaex` never panics
//! and a decoded DN encodes back to an address that decodes to itself;
//! `scan` never panics and every sighting points inside the message.
#![no_main]

use imapmig_mime::exchange::{self, LegacyExchangeDn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(dn) = exchange::decode_imceaex(text) {
            let encoded = exchange::encode_imceaex(&dn, "example.com");
            assert_eq!(exchange::decode_imceaex(&encoded).ok().as_ref(), Some(&dn));
            assert!(dn.to_x500().starts_with("X500:/"));
        }
        if let Ok(dn) = LegacyExchangeDn::parse(text) {
            let encoded = exchange::encode_imceaex(&dn, "example.com");
            assert_eq!(exchange::decode_imceaex(&encoded).ok().as_ref(), Some(&dn));
        }
    }
    for sighting in exchange::scan(data) {
        assert!(sighting.range.end <= data.len());
    }
});
