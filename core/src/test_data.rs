//! Where the tests of every crate find the real data beside the repository (`../shared/data`)
//! and nnU-Net's own Python, and what happens when they are absent:
//!
//! * normally the test is skipped: it prints `SKIPPED: <test>: <reason>` and appends that line to
//!   the file named by [`SKIP_LOG_VAR`] (scripts/test.sh counts them into one summary line);
//! * with [`REQUIRE_VAR`]` = 1` (CI: scripts/test.sh sets it) the test fails instead, so nothing
//!   passes silently for want of its data.
//!
//! Not used by the pipeline itself.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Set to `1` to make a missing `../shared/data` (or nnU-Net venv) fail the tests that need it.
pub const REQUIRE_VAR: &str = "NNUNET_REQUIRE_SHARED_DATA";
/// A file every skip is appended to, one `SKIPPED: …` line each.
pub const SKIP_LOG_VAR: &str = "NNUNET_SKIP_LOG";
/// The python of an nnU-Net 2.8.1 venv (scripts/peer_venv.sh prints one).
pub const PEER_PYTHON_VAR: &str = "NNUNET_PEER_PYTHON";
/// The marker that starts every skip line.
pub const SKIP_MARKER: &str = "SKIPPED:";

fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Records a skip for want of `reason`, or panics when [`REQUIRE_VAR`] is set.
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    if required() {
        panic!("{test}: {reason} ({REQUIRE_VAR}=1 makes this a failure, not a skip)");
    }
    let line = format!("{SKIP_MARKER} {test}: {reason}");
    eprintln!("{line}");
    if let Ok(log) = std::env::var(SKIP_LOG_VAR) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// The repository root above a crate's `manifest_dir` (the folder holding `Cargo.lock`).
fn repository_root(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// `../shared/data/<relative>` beside the repository holding the crate at `manifest_dir` (pass
/// `env!("CARGO_MANIFEST_DIR")`), canonicalised; `None` after [`skip`] when it is absent.
pub fn shared_data(manifest_dir: &str, relative: &str) -> Option<PathBuf> {
    let data = repository_root(Path::new(manifest_dir)).join("../shared/data");
    let path = data.join(relative);
    match path.canonicalize() {
        Ok(path) => Some(path),
        Err(_) => {
            skip(&format!("{} is absent", path.display()));
            None
        }
    }
}

/// The python of nnU-Net's venv from [`PEER_PYTHON_VAR`]; `None` after [`skip`] when it is
/// unset or not a file.
pub fn peer_python() -> Option<PathBuf> {
    match std::env::var_os(PEER_PYTHON_VAR).map(PathBuf::from) {
        Some(python) if python.is_file() => Some(python),
        Some(python) => {
            skip(&format!(
                "{PEER_PYTHON_VAR}={} is not a file (scripts/peer_venv.sh prints one)",
                python.display()
            ));
            None
        }
        None => {
            skip(&format!(
                "{PEER_PYTHON_VAR} is not set (scripts/test.sh sets it from scripts/peer_venv.sh)"
            ));
            None
        }
    }
}
