//! The opt-in RFC 2047 repair of raw 8-bit header text (`encode_8bit_headers`, used by
//! `imapmig migrate --repair-8bit-headers`) on arbitrary bytes: never panics, is idempotent,
//! leaves the body alone, and every field it says it left unencoded is inside the output.
#![no_main]

use imapmig_mime::encode_8bit_headers;
use libfuzzer_sys::fuzz_target;

/// Where the header block ends: after the first empty line, else the whole input.
fn header_end(m: &[u8]) -> usize {
    let mut at = 0;
    while let Some(nl) = m[at..].iter().position(|&b| b == b'\n') {
        let end = at + nl + 1;
        if &m[at..end] == b"\n" || &m[at..end] == b"\r\n" {
            return end;
        }
        at = end;
    }
    m.len()
}

fuzz_target!(|data: &[u8]| {
    let r = encode_8bit_headers(data);
    if !r.changed() {
        assert!(r.encoded.is_empty(), "encoded {:?} without a change", r.encoded);
    } else {
        // Only the header changes: the body after the first empty line is the input's.
        let body_in = &data[header_end(data)..];
        let out = &r.bytes[..];
        assert_eq!(&out[header_end(out)..], body_in, "the body changed");
    }
    for u in &r.unencoded {
        assert!(u.offset <= r.bytes.len(), "{u} is outside the output");
    }
    let again = encode_8bit_headers(&r.bytes);
    assert!(!again.changed(), "the 8-bit header repair is not idempotent");
});
