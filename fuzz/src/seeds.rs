//! Where the seed corpus comes from: `../shared/data` beside the repository. Missing data fails
//! the run (a fuzz target without its seeds would pass while testing nothing).

use std::path::{Path, PathBuf};

/// `../shared/data`, or a panic saying where it was looked for.
pub fn shared_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    dir.canonicalize().unwrap_or_else(|e| {
        panic!(
            "the fuzz seed corpus is read from {} ({e}); put the shared data there",
            dir.display()
        )
    })
}

/// The contents of `files` under `root` (each must exist).
pub fn read_all(root: &Path, files: &[&str]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|f| {
            let path = root.join(f);
            std::fs::read(&path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()))
        })
        .collect()
}
