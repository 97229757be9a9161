//! Compiles `cpp/counter.cpp` against the ATen headers of the torch that torch-sys links
//! (`<libtorch>/include`).

fn main() {
    let lib = nnunet_build::link_libtorch();
    let root = nnunet_build::torch_root(&lib);
    println!("cargo:rerun-if-changed=cpp");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("cpp/counter.cpp")
        .include(root.join("include"))
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        // libtorch is built with NDEBUG, and RecordFunction's layout depends on it (a debug
        // field): without it our reads of its members are off.
        .define("NDEBUG", None)
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .compile("nnflops");
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
