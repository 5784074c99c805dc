//! Reading a skipped-items log (`tolerance::read_skip_log`) from arbitrary
//! bytes: never panics; whatever reads back writes (through `SkipLog`) and
//! reads back to the same records.
#![no_main]

use imapmig_core::tolerance::{SkipLog, read_skip_log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = read_skip_log(data) else {
        return;
    };
    let mut log = SkipLog::new(Vec::new()).expect("writing to memory");
    for record in &records {
        log.write(record).expect("writing to memory");
    }
    assert_eq!(log.rows(), records.len() as u64);
    let written = log.into_inner().expect("writing to memory");
    let again = read_skip_log(written.as_slice()).expect("a written log reads back");
    assert_eq!(again, records);
});
