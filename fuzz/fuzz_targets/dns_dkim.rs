//! DKIM key records on arbitrary bytes, and arbitrary bytes as the DER key
//! inside a well-formed record.

#![no_main]

use imapmig_dns::dkim::DkimKey;
use libfuzzer_sys::fuzz_target;

/// Standard base64, so the fuzzer's bytes reach the DER reader.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = DkimKey::parse(data) {
        let _ = key.rsa_bits();
    }
    let record = format!("v=DKIM1; k=rsa; p={}", base64(data));
    let key = DkimKey::parse(record.as_bytes()).expect("a well-formed record parses");
    assert_eq!(key.public_key, data);
    if let Ok(Some(bits)) = key.rsa_bits() {
        assert!(bits as usize <= data.len() * 8, "modulus fits in the key");
    }
});
