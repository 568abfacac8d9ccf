//! The layers hold, read from the sources (DESIGN.md, layers; PLATFORM.md §14): only the
//! runtime (`src/runtime/`) and the store's one IO file (`src/store/io.rs`) name
//! glommio, the store imports nothing of the runtime, and the placement map imports nothing
//! of ours. Every file is read, so a new one is checked too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as a path relative to `src/` with `/` separators.
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(src())
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn only_the_runtime_and_the_store_io_file_name_glommio() {
    let naming: Vec<String> = rust_files(&src())
        .into_iter()
        .filter(|(_, text)| text.contains("glommio"))
        .map(|(name, _)| name)
        .filter(|name| !(name.starts_with("runtime/") || name == "store/io.rs"))
        .collect();
    assert_eq!(naming, Vec::<String>::new());
}

#[test]
fn the_store_imports_nothing_of_the_runtime() {
    let reaching: Vec<String> = rust_files(&src().join("store"))
        .into_iter()
        .filter(|(_, text)| text.contains("crate::runtime") || text.contains("crate::runtime::net"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(reaching, Vec::<String>::new());
}

#[test]
fn placement_imports_nothing_of_ours() {
    let text = std::fs::read_to_string(src().join("placement.rs")).unwrap();
    // A leaf: no path into the rest of the crate (its tests' `use super::*` stays inside).
    assert!(!text.contains("crate::"), "placement.rs names crate::");
    assert!(!text.contains("glommio"), "placement.rs names glommio");
}
