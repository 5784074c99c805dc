//! Inputs that once made a fuzz target fail (see `tests/data/fuzz-regressions/README.md`).

use std::path::Path;

use imapmig_mime::{Verdict, classify, repair};

#[test]
fn fuzz_regressions_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut ran = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let c = classify(&bytes);
        let repaired = repair(&bytes);
        if c.verdict == Verdict::Ok {
            assert!(!repaired.changed(), "{}", path.display());
        }
        assert!(
            !repair(&repaired.bytes).changed(),
            "{}: repair is not idempotent",
            path.display()
        );
        ran += 1;
    }
    assert!(ran > 0);
}
