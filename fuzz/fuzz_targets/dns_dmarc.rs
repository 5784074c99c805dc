//! DMARC records on arbitrary bytes.

#![no_main]

use imapmig_dns::dmarc::DmarcRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match DmarcRecord::parse(data) {
        Ok(r) => {
            assert!(r.pct <= 100);
            assert!(
                !r.policy_missing || !r.rua.is_empty(),
                "p= missing only with rua="
            );
        }
        Err(imapmig_dns::Error::DmarcSyntax { position, .. }) => {
            assert!(
                position <= data.len().max(16_384),
                "position inside the input"
            );
        }
        Err(e) => panic!("unexpected error kind {e:?}"),
    }
});
