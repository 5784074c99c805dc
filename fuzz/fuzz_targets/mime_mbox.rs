//! mbox splitting on arbitrary bytes: never panics, and no message is
//! longer than the input.
#![no_main]

use imapmig_mime::source::mbox_messages;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut total = 0;
    for message in mbox_messages(data) {
        assert!(message.len() <= data.len());
        total += message.len();
    }
    assert!(total <= data.len());
});
