//! Loading a state file from arbitrary bytes: never panics, and whatever
//! loads saves and loads back to the same state.
#![no_main]

use imapmig_core::store::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((key, state)) = decode(data) {
        let again = encode(&key, &state);
        let (key2, state2) = decode(&again).expect("an encoded state decodes");
        assert_eq!(key, key2);
        assert_eq!(state, state2);
    }
});
