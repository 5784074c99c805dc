//! The classification corpus in `tests/data/classify/` (format in its README).

use std::fs;
use std::path::{Path, PathBuf};

use imapmig_mime::{Classification, DefectKind, Verdict, classify};

/// One corpus case: a message and what classifying it must give.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) verdict: Verdict,
    pub(crate) codes: Vec<DefectKind>,
    pub(crate) both_variants: bool,
}

pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/classify")
}

fn parse_verdict(text: &str) -> Verdict {
    match text {
        "ok" => Verdict::Ok,
        "repairable" => Verdict::Repairable,
        "corrupt" => Verdict::Corrupt,
        other => panic!("unknown verdict {other:?}"),
    }
}

pub(crate) fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    entries.sort();
    for path in entries {
        let expect_path = path.with_extension("expect");
        let expect = fs::read_to_string(&expect_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
        let (mut verdict, mut codes, mut variants) = (None, None, None);
        for line in expect.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(':').expect("key: value");
            let value = value.trim();
            match key {
                "verdict" => verdict = Some(parse_verdict(value)),
                "codes" if value == "-" => codes = Some(Vec::new()),
                "codes" => {
                    codes = Some(
                        value
                            .split(',')
                            .map(|c| c.trim().parse::<DefectKind>().unwrap())
                            .collect(),
                    );
                }
                "variants" => variants = Some(value == "both"),
                other => panic!("{}: unknown key {other}", expect_path.display()),
            }
        }
        cases.push(Case {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            bytes: fs::read(&path).unwrap(),
            verdict: verdict.expect("verdict"),
            codes: codes.expect("codes"),
            both_variants: variants.expect("variants"),
        });
    }
    cases
}

/// Every LF not preceded by CR becomes CRLF.
pub(crate) fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

/// The variants of a case to classify, with their expected verdict and codes.
pub(crate) fn variants(case: &Case) -> Vec<(String, Vec<u8>, Verdict, Vec<DefectKind>)> {
    if !case.both_variants {
        return vec![(
            case.name.clone(),
            case.bytes.clone(),
            case.verdict,
            case.codes.clone(),
        )];
    }
    let mut lf_codes = case.codes.clone();
    lf_codes.push(DefectKind::BareLf);
    lf_codes.sort();
    vec![
        (
            format!("{} (CRLF)", case.name),
            to_crlf(&case.bytes),
            case.verdict,
            case.codes.clone(),
        ),
        (
            format!("{} (LF)", case.name),
            case.bytes.clone(),
            case.verdict.max(Verdict::Repairable),
            lf_codes,
        ),
    ]
}

/// Structural invariants every classification keeps.
pub(crate) fn check_invariants(name: &str, bytes: &[u8], c: &Classification) {
    for d in &c.defects {
        assert!(
            d.range.start <= d.range.end && d.range.end <= bytes.len(),
            "{name}: defect {} range {:?} outside the message",
            d.code(),
            d.range
        );
        assert!(d.count >= 1, "{name}: defect count");
        assert!(
            c.parts.is_empty() && d.part == 0 || d.part < c.parts.len(),
            "{name}: defect part {} of {}",
            d.part,
            c.parts.len()
        );
    }
    let mut sorted = c.defects.clone();
    sorted.sort_by_key(|d| (d.kind, d.part, d.range.start));
    assert_eq!(sorted, c.defects, "{name}: defects not sorted");
    for (i, p) in c.parts.iter().enumerate() {
        assert!(p.range.end <= bytes.len(), "{name}: part {i} range");
        assert!(p.header.start >= p.range.start && p.header.end <= p.range.end);
        assert!(p.body.start >= p.range.start && p.body.end <= p.range.end);
        if let Some(parent) = p.parent {
            assert!(parent < i, "{name}: parent after child");
            let outer = &c.parts[parent];
            assert!(
                outer.range.start <= p.range.start && p.range.end <= outer.range.end,
                "{name}: part {i} not inside its parent"
            );
            assert_eq!(p.depth, outer.depth + 1, "{name}: depth of part {i}");
        } else {
            assert_eq!(i, 0, "{name}: only the message has no parent");
        }
    }
    let worst = c.defects.iter().map(|d| d.kind.severity()).max();
    let verdict = match worst {
        None => Verdict::Ok,
        Some(imapmig_mime::Severity::Repairable) => Verdict::Repairable,
        Some(imapmig_mime::Severity::Corrupt) => Verdict::Corrupt,
    };
    assert_eq!(
        verdict, c.verdict,
        "{name}: verdict is not the worst severity"
    );
}

#[test]
fn corpus_verdicts_and_codes() {
    let cases = load_cases();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in &cases {
        for (name, bytes, verdict, codes) in variants(case) {
            let c = classify(&bytes);
            check_invariants(&name, &bytes, &c);
            let want: Vec<&str> = codes.iter().map(|k| k.code()).collect();
            if c.verdict != verdict || c.codes() != want {
                failures.push(format!(
                    "{name}: want {verdict} {want:?}, got {} {:?} {:#?}",
                    c.verdict,
                    c.codes(),
                    c.defects
                ));
            }
            ran += 1;
        }
    }
    assert!(ran > 0, "no corpus case ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_the_vocabulary_and_clean_controls_are_clean() {
    let cases = load_cases();
    assert!(!cases.is_empty());
    for kind in DefectKind::ALL {
        if kind == DefectKind::ParserPanic {
            // Only a bug in mail-parser triggers it; the barrier has a unit test.
            continue;
        }
        assert!(
            cases.iter().any(|c| c.codes.contains(&kind)),
            "no corpus case expects {kind}"
        );
    }
    let clean: Vec<&Case> = cases
        .iter()
        .filter(|c| c.name.starts_with("clean-"))
        .collect();
    assert!(clean.len() >= 6, "clean controls: {}", clean.len());
    for case in clean {
        assert!(
            case.both_variants,
            "{}: clean controls run as CRLF",
            case.name
        );
        let c = classify(&to_crlf(&case.bytes));
        assert!(c.defects.is_empty(), "{}: {:?}", case.name, c.codes());
        assert!(!c.parts.is_empty());
    }
}

#[test]
fn corpus_repairs() {
    use imapmig_mime::repair;
    let fixable = [
        DefectKind::NulByte,
        DefectKind::BareLf,
        DefectKind::EnvelopeFromLine,
        DefectKind::FirstLineContinuation,
        DefectKind::MissingHeaderBodySeparator,
    ];
    let mut ran = 0;
    for case in load_cases() {
        for (name, bytes, verdict, codes) in variants(&case) {
            let repaired = repair(&bytes);
            if verdict == Verdict::Ok {
                assert!(!repaired.changed(), "{name}: an ok message was changed");
            }
            for kind in &repaired.fixed {
                assert!(codes.contains(kind), "{name}: fixed {kind} it did not have");
                assert!(!repaired.after.has(*kind), "{name}: {kind} still there");
            }
            if !codes.is_empty() && codes.iter().all(|k| fixable.contains(k)) {
                assert_eq!(
                    repaired.after.verdict,
                    Verdict::Ok,
                    "{name}: left {:?}",
                    repaired.after.codes()
                );
                assert_eq!(repaired.fixed, codes, "{name}");
            }
            // Codes that cannot be repaired stay.
            for kind in codes.iter().filter(|k| !fixable.contains(k)) {
                if *kind != DefectKind::LineTooLong {
                    assert!(repaired.after.has(*kind), "{name}: {kind} vanished");
                }
            }
            let again = repair(&repaired.bytes);
            assert!(!again.changed(), "{name}: repair is not idempotent");
            ran += 1;
        }
    }
    assert!(ran > 0);
}
