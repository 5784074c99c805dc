//! Message-ID parsing: never panics, and a parsed id is a fixed point of
//! normalisation (printing it and parsing it again gives the same id).
#![no_main]

use imapmig_dedupe::message_id::parse_msg_ids;
use imapmig_dedupe::{MessageId, MessageIdStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = MessageIdStatus::from_field_values(&[data]);
    if let Ok(ids) = parse_msg_ids(data) {
        for id in ids {
            let printed = id.to_string();
            let again = MessageId::parse(&printed);
            assert_eq!(again.ok().as_ref(), Some(&id), "{printed}");
            let _ = id.weakness();
        }
    }
});
