//! Loading an index from arbitrary bytes: never panics, never allocates
//! beyond what the input holds, and what loads saves back to an equal index.
#![no_main]

use imapmig_dedupe::Index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = Index::from_bytes(data) {
        let again = Index::from_bytes(&index.to_bytes()).ok();
        assert_eq!(again.as_ref().map(Index::len), Some(index.len()));
    }
});
