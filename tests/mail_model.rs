//! The model (`src/mail/`) stays a leaf, as its module doc promises: its sources name nothing
//! of ours but the model itself, and nothing that does IO, reads the clock or names the
//! executor.

#![allow(clippy::expect_used)]

use std::path::Path;

#[test]
fn the_model_depends_on_nothing_of_ours_and_does_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/mail");
    let forbidden = [
        "std::fs",
        "std::net",
        "std::io",
        "std::time",
        "std::thread",
        "glommio",
        "super::super",
    ];
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("src/mail") {
        let path = entry.expect("directory entry").path();
        let text = std::fs::read_to_string(&path).expect("source file");
        files += 1;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let at = format!("{}:{}: {line}", path.display(), n + 1);
            let ours = code
                .match_indices("crate::")
                .any(|(i, _)| !code[i..].starts_with("crate::mail"));
            assert!(!ours, "names a module of ours: {at}");
            for word in forbidden {
                assert!(!code.contains(word), "names {word}: {at}");
            }
        }
    }
    assert!(files >= 6, "found {files} files in {}", dir.display());
}
