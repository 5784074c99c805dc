//! Fingerprinting arbitrary bytes: never panics, the header strategy's
//! one-pass reader equals its general path, the strategies agree with each
//! other, and CRLF versus LF never changes a fingerprint.
#![no_main]

use imapmig_dedupe::{FingerprintKey, Fingerprinter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = Fingerprinter::new(&FingerprintKey::from_bytes([7; 32]));
    // The one-pass reader and its fast paths equal the general path, for
    // the default fields and for a list with a transport field.
    let custom = Fingerprinter::with_fields(
        &FingerprintKey::from_bytes([7; 32]),
        &["Received", "subject", "X-Mailer", "message-id"],
    )
    .expect("valid field names");
    for fingerprinter in [&f, &custom] {
        assert_eq!(
            fingerprinter.headers(data),
            fingerprinter.headers_by_general_path(data, None)
        );
        assert_eq!(
            fingerprinter.headers_with_size(data, 77),
            fingerprinter.headers_by_general_path(data, Some(77))
        );
    }
    let all = f.message(data);
    assert_eq!(all.content, Some(f.content(data)));
    assert_eq!(all.headers, f.headers(data));
    assert_eq!(f.header_block(data).headers, all.headers);
    // Line-ending invariance holds for input whose every CR ends a line.
    let lone_cr = data
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && data.get(i + 1) != Some(&b'\n'));
    if !lone_cr {
        let mut lf = Vec::with_capacity(data.len());
        for (i, &b) in data.iter().enumerate() {
            if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
                lf.push(b);
            }
        }
        assert_eq!(f.content(&lf), f.content(data));
        assert_eq!(f.headers(&lf), f.headers(data));
    }
});
