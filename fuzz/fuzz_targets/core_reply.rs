//! The reply classifier on arbitrary text: never panics; a parsed reply's
//! parts are pieces of the line; a hint is never over a day.
#![no_main]

use std::time::Duration;

use imapmig_core::throttle::{classify, parse_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let class = classify(&line);
    if let Some(hint) = class.retry_after() {
        assert!(hint <= Duration::from_secs(86_400));
    }
    if let Some(reply) = parse_reply(&line) {
        assert!(line.contains(reply.text));
        if let Some(code) = reply.code_text {
            assert!(line.contains(code));
        }
    }
});
