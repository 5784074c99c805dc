//! `mutf7/vectors.json` from the shared conformance suite, every case.

use std::path::PathBuf;

use imapmig_folders::mutf7;
use serde_json::Value;

/// The conformance directory: `IMAPMIG_CONFORMANCE`, else `../shared/conformance`
/// relative to the workspace root. `None` (a skip) only outside CI.
pub(crate) fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("IMAPMIG_CONFORMANCE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "conformance suite missing at {} (set IMAPMIG_CONFORMANCE)",
        dir.display()
    );
    eprintln!(
        "conformance suite missing at {}: skipped outside CI",
        dir.display()
    );
    None
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Checks one `{utf8, mutf7}` case; returns 1.
fn check_case(case: &Value) -> usize {
    let utf8 = case.get("utf8").and_then(Value::as_str);
    let encoded = case.get("mutf7").and_then(Value::as_str);
    match (utf8, encoded) {
        (Some(u), Some(m)) => {
            assert_eq!(mutf7::encode(u), m, "encode {u:?}");
            assert_eq!(mutf7::decode(m.as_bytes()).unwrap(), u, "decode {m:?}");
        }
        (None, Some(m)) => assert!(
            mutf7::decode(m.as_bytes()).is_err(),
            "decode must fail: {m:?}"
        ),
        (None, None) => {
            let raw = hex(case["utf8_hex"].as_str().unwrap());
            assert!(
                mutf7::encode_bytes(&raw).is_err(),
                "encode must fail: {raw:?}"
            );
        }
        (Some(u), None) => panic!("case with utf8 {u:?} and no mutf7"),
    }
    1
}

#[test]
fn mutf7_vectors_all_pass() {
    let Some(dir) = conformance_dir() else { return };
    let text = std::fs::read_to_string(dir.join("mutf7/vectors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut ran = 0;
    for source in doc["sources"].as_array().unwrap() {
        for key in ["cases", "by_example"] {
            for case in source
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                ran += check_case(case);
            }
        }
        for (key, group) in source.as_object().unwrap() {
            if !key.starts_with("generated") {
                continue;
            }
            for invalid in group
                .get("mutf7_invalid")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let m = invalid.as_str().unwrap();
                assert!(
                    mutf7::decode(m.as_bytes()).is_err(),
                    "{key}: decode must fail: {m:?}"
                );
                ran += 1;
            }
            for c in group
                .get("chars")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let c = c.as_str().unwrap();
                assert_eq!(mutf7::encode(c), c, "{key}: {c:?} must encode to itself");
                assert_eq!(mutf7::decode(c.as_bytes()).unwrap(), c);
                ran += 1;
            }
        }
    }
    // 3 RFC + 8 Dovecot examples + 512 + 32 + 95 invalid + 94 self-coding.
    assert!(ran >= 744, "ran only {ran} vectors");
}
