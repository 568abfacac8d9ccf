//! Replays every fuzz corpus (`tests/fuzz/corpus/<target>/`) through the same invariant
//! checks the fuzz targets run (`ringpost::fuzzing`), on the stable toolchain: a finding,
//! once added to its corpus, stays fixed. Fuzzing itself runs outside the test suite:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz TARGET`.

#![allow(clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn every_corpus_entry_keeps_its_target_s_invariant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    let mut replayed = 0;
    for (name, check) in ringpost::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        entries.sort();
        assert!(!entries.is_empty(), "no corpus for {name}");
        for path in entries {
            let data = std::fs::read(&path).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} breaks the invariant",
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= ringpost::fuzzing::TARGETS.len());
}
