//! The 8-bit header repair over the corpus of `tests/data/encode-8bit/`:
//! each `NAME.eml` with its expectation in `NAME.expect` (see the README
//! there). mail-parser, an independent RFC 2047 decoder, reads the repaired
//! Subject and From display name back.

use std::path::PathBuf;

use imapmig_mime::{DefectKind, classify, encode_8bit_headers};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/encode-8bit")
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    encoded: Vec<String>,
    unencoded: Vec<String>,
    subject: Option<String>,
    from_name: Option<String>,
    codes_after: Vec<String>,
}

fn list(value: &str, sep: char) -> Vec<String> {
    if value == "-" {
        return Vec::new();
    }
    value.split(sep).map(|s| s.trim().to_owned()).collect()
}

fn load() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    entries.sort();
    for eml in entries {
        let name = eml.file_stem().unwrap().to_string_lossy().into_owned();
        let expect = std::fs::read_to_string(eml.with_extension("expect")).unwrap();
        let field = |key: &str| -> String {
            expect
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("{name}: no {key}"))
                .trim()
                .to_owned()
        };
        let optional = |v: String| (v != "-").then_some(v);
        cases.push(Case {
            bytes: std::fs::read(&eml).unwrap(),
            encoded: list(&field("encoded"), ','),
            unencoded: list(&field("unencoded"), ','),
            subject: optional(field("subject")),
            from_name: optional(field("from-name")),
            codes_after: list(&field("codes-after"), ','),
            name,
        });
    }
    cases
}

#[test]
fn corpus_encodes_8bit_headers() {
    let cases = load();
    assert!(cases.len() >= 8, "corpus missing");
    for case in cases {
        let name = &case.name;
        let r = encode_8bit_headers(&case.bytes);
        assert_eq!(r.encoded, case.encoded, "{name}: encoded fields");
        let unencoded: Vec<String> = r
            .unencoded
            .iter()
            .map(|u| format!("{} {}", u.field, u.reason))
            .collect();
        assert_eq!(unencoded, case.unencoded, "{name}: unencoded fields");
        assert_eq!(r.changed(), !case.encoded.is_empty(), "{name}");
        assert_eq!(r.after.codes(), case.codes_after, "{name}: codes after");
        // The header is 7-bit, except in the fields reported as left.
        let header_end = memchr::memmem::find(&r.bytes, b"\r\n\r\n")
            .or_else(|| memchr::memmem::find(&r.bytes, b"\n\n"))
            .unwrap();
        for line in r.bytes[..header_end].split(|&b| b == b'\n') {
            if !line.is_ascii() {
                let text = String::from_utf8_lossy(line);
                assert!(
                    r.unencoded.iter().any(|u| text.starts_with(&u.field)),
                    "{name}: 8-bit left in {text:?}"
                );
            }
            assert!(line.len() <= 998, "{name}: line too long");
        }
        for u in &r.unencoded {
            assert!(
                r.bytes[u.offset..].starts_with(u.field.as_bytes()),
                "{name}: offset"
            );
        }
        // An independent decoder gives back the original text.
        let parsed = mail_parser::MessageParser::default()
            .parse(&r.bytes)
            .unwrap_or_else(|| panic!("{name}: mail-parser cannot parse the repair"));
        if let Some(subject) = &case.subject {
            assert_eq!(parsed.subject(), Some(subject.as_str()), "{name}: Subject");
        }
        if let Some(from) = &case.from_name {
            let got = parsed.from().and_then(|a| a.first()).and_then(|a| a.name());
            assert_eq!(got, Some(from.as_str()), "{name}: From display name");
        }
        // Idempotent.
        let again = encode_8bit_headers(&r.bytes);
        assert!(!again.changed(), "{name}: not idempotent");
        // Raw UTF-8 is not a defect, so only non-UTF-8 text is "fixed".
        let before = classify(&case.bytes);
        assert_eq!(
            r.fixed.contains(&DefectKind::EightBitHeader),
            before.has(DefectKind::EightBitHeader) && !r.after.has(DefectKind::EightBitHeader),
            "{name}: fixed"
        );
    }
}
