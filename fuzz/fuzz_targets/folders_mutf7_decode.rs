//! Strict modified UTF-7 decoding of arbitrary bytes: never panics, and
//! whatever decodes encodes back to the same bytes.
#![no_main]

use imapmig_folders::mutf7;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = mutf7::decode(data) {
        assert_eq!(
            mutf7::encode(&text).as_bytes(),
            data,
            "decode accepted a non-canonical form"
        );
    }
});
