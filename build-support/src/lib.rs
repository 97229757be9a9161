//! Build-script helper shared by every crate that links a binary, test or cdylib against libtorch.
//!
//! rustc links with `--as-needed`, which drops `libtorch_cuda.so` because no symbol of ours names
//! it; `tch::Cuda::is_available()` is then false on a GPU machine. [`link_libtorch`] re-adds
//! `-ltorch` under `--no-as-needed` and an rpath to the torch `lib/` folder, so no binary needs
//! `LD_LIBRARY_PATH`. Call it from a `build.rs` of a crate that has `torch-sys` as a *direct*
//! dependency: only then does cargo hand that build script `DEP_TCH_LIBTORCH_LIB`.

use std::env;
use std::path::{Path, PathBuf};

/// Emits the link arguments for libtorch; returns the torch `lib/` folder it used.
///
/// Panics (failing the build with the message) when `DEP_TCH_LIBTORCH_LIB` is absent, which means
/// the calling crate forgot its direct `torch-sys` dependency.
pub fn link_libtorch() -> String {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_else(|_| {
        panic!(
            "DEP_TCH_LIBTORCH_LIB is not set: add `torch-sys.workspace = true` to the \
             [dependencies] of {}",
            env::var("CARGO_PKG_NAME").unwrap_or_default()
        )
    });
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-L{lib}");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
    lib
}

/// The torch package folder above its `lib/` folder `lib` (as [`link_libtorch`] returns it),
/// links resolved: C++ shims find the headers in its `include/`, and the nvidia wheels lie
/// beside its real location (`.libtorch` is a link into the wheel).
pub fn torch_root(lib: &str) -> PathBuf {
    let root = Path::new(lib)
        .parent()
        .expect("the torch lib folder has a parent")
        .to_path_buf();
    std::fs::canonicalize(&root).unwrap_or(root)
}
