//! Helpers for the end-to-end tests in `tests/tests/`: where the built plugins and the shared
//! real data are.

pub mod reference;

use std::path::PathBuf;

/// The cargo profile folder these tests run from (`target/release`), found from the test binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The path of a plugin file that `scripts/build-plugins.sh` built out of tree and put in
/// `target/plugins/`, e.g. `plugin_path("nnunet_plugin_tversky")`.
///
/// Panics with the command to run when it is missing: `scripts/test.sh` builds every plugin
/// before running the tests.
pub fn plugin_path(lib_name: &str) -> PathBuf {
    let dir = target_dir()
        .parent()
        .map(|t| t.join("plugins"))
        .expect("target/<profile>");
    let path = dir.join(format!("lib{lib_name}.so"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first (`scripts/build-plugins.sh`, which \
         scripts/test.sh runs)",
        path.display()
    );
    path
}

/// The release `nnunet` binary beside the tests (`cargo build --release -p nnunet-cli`).
pub fn nnunet_binary() -> PathBuf {
    let path = target_dir().join("nnunet");
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p nnunet-cli",
        path.display()
    );
    path
}

/// `../shared/data` beside the repository, or `None` after a counted skip (a failure under
/// NNUNET_REQUIRE_SHARED_DATA=1).
pub fn shared_data() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "")
}
