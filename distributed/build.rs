//! Compiles `cpp/shim.cpp` against the c10d headers of the torch that torch-sys links
//! (`<libtorch>/include`), with `cpp/gloo_decl` for the few gloo names ProcessGroupGloo.hpp
//! declares (the wheel has gloo inside libtorch_cpu.so but not its headers). With the `nccl`
//! feature it also compiles ProcessGroupNCCL, which needs the CUDA headers and nccl.h.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let lib = nnunet_build::link_libtorch();
    let root = nnunet_build::torch_root(&lib);
    let include = root.join("include");
    println!("cargo:rerun-if-changed=cpp");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("cpp/shim.cpp")
        .include("cpp/gloo_decl")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false);
    if env::var_os("CARGO_FEATURE_NCCL").is_some() {
        build.define("NNDDP_NCCL", None);
        for dir in nccl_includes(&root) {
            build.include(dir);
        }
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
    }
    build.compile("nnddp");
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

/// The CUDA and NCCL include folders: NNUNET_CUDA_INCLUDE / NNUNET_NCCL_INCLUDE (each a
/// `:`-separated list), then the nvidia wheels installed beside torch
/// (`site-packages/nvidia/*/include`: cu13 and nccl; `crt/` and `nv/` come from the
/// nvidia-cuda-crt and nvidia-cuda-cccl wheels, see docs/cluster.md).
fn nccl_includes(torch_root: &Path) -> Vec<PathBuf> {
    println!("cargo:rerun-if-env-changed=NNUNET_CUDA_INCLUDE");
    println!("cargo:rerun-if-env-changed=NNUNET_NCCL_INCLUDE");
    let mut dirs: Vec<PathBuf> = ["NNUNET_CUDA_INCLUDE", "NNUNET_NCCL_INCLUDE"]
        .iter()
        .filter_map(env::var_os)
        .flat_map(|list| env::split_paths(&list).collect::<Vec<_>>())
        .collect();
    if let Some(site) = torch_root.parent()
        && let Ok(entries) = std::fs::read_dir(site.join("nvidia"))
    {
        for entry in entries.flatten() {
            let dir = entry.path().join("include");
            if dir.is_dir() {
                dirs.push(dir);
            }
        }
    }
    dirs
}
