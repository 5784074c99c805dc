//! The data-driven Message-ID corpus (`tests/data/message_id/`, see its README).

use imapmig_dedupe::Error;
use imapmig_dedupe::message_id::parse_msg_ids;

fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn message_id_corpus() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/message_id/cases.tsv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut ran = 0;
    for (number, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (input, expected) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("line {}: no tab", number + 1));
        let input = unescape(input);
        let expected = String::from_utf8(unescape(expected)).unwrap();
        let got = match parse_msg_ids(&input) {
            Ok(ids) if ids.is_empty() => "-".to_owned(),
            Ok(ids) => ids
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            Err(Error::MessageId { offset, reason }) => format!("error {offset} {reason:?}"),
            Err(other) => panic!("line {}: {other}", number + 1),
        };
        assert_eq!(got, expected, "line {}", number + 1);
        ran += 1;
    }
    assert!(ran > 20, "only {ran} cases ran");
}
