//! encode then decode of any string gives the string back; the encoding is printable ASCII.
#![no_main]

use imapmig_folders::mutf7;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: String| {
    let encoded = mutf7::encode(&text);
    assert!(encoded.bytes().all(|b| (0x20..0x7f).contains(&b)));
    assert_eq!(
        mutf7::decode(encoded.as_bytes()).as_deref(),
        Ok(text.as_str())
    );
});
