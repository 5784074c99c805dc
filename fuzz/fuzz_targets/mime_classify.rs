//! Classification and repair of arbitrary bytes: never panics, keeps its
//! structural promises, and repair is idempotent and leaves `ok` alone.
#![no_main]

use imapmig_mime::{Limits, Verdict, classify_with, repair_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits so the fuzzer reaches them with small inputs.
    let mut limits = Limits::default();
    limits.max_depth = 8;
    limits.max_parts = 64;
    limits.max_header_fields = 64;
    limits.max_header_bytes = 4096;
    let c = classify_with(data, &limits);
    let worst = c.defects.iter().map(|d| d.kind.severity()).max();
    assert_eq!(c.verdict == Verdict::Ok, worst.is_none());
    for d in &c.defects {
        assert!(d.range.start <= d.range.end && d.range.end <= data.len());
        assert!(c.parts.is_empty() || d.part < c.parts.len());
    }
    for (i, p) in c.parts.iter().enumerate() {
        assert!(p.range.end <= data.len() && p.body.end <= p.range.end);
        assert!(p.depth <= limits.max_depth + 1);
        assert!(p.parent.is_none_or(|parent| parent < i));
    }
    assert!(c.parts.len() <= limits.max_parts);
    let repaired = repair_with(data, &limits);
    if c.verdict == Verdict::Ok {
        assert!(!repaired.changed());
    }
    let again = repair_with(&repaired.bytes, &limits);
    assert!(!again.changed(), "repair is not idempotent");
});
