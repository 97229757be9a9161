//! `nnunet doctor`: what this installation can run on.

use anyhow::Result;
use nnunet_core::device::runtime_libtorch;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{BuildFingerprint, DeviceReport};

pub fn run() -> Result<()> {
    let build = BuildFingerprint::current();
    println!("nnunet-rs {}", env!("CARGO_PKG_VERSION"));
    match runtime_libtorch() {
        Some((version, path)) => println!("libtorch {version} (loaded from {})", path.display()),
        None => println!("libtorch {} (build-time version)", build.libtorch_version),
    }
    println!("tch {}", build.tch_version);
    println!(
        "plugin ABI {} (plugins must match it and libtorch {})",
        nnunet_core::plugin::ABI_VERSION,
        nnunet_core::plugin::LIBTORCH_VERSION
    );
    println!(
        "build: rustc {} ({}), {}, {} profile",
        build.rustc_release, build.rustc_commit, build.target, build.profile
    );
    let report = DeviceReport::probe();
    println!(
        "CUDA available: {}{}",
        if report.cuda_available { "yes" } else { "no" },
        match (&report.cuda_driver_version, report.cuda_available) {
            (Some(v), _) => format!(" (driver API {v}, {} device(s))", report.cuda_device_count),
            (None, false) => " (no NVIDIA driver found)".to_string(),
            (None, true) => String::new(),
        }
    );
    for gpu in &report.gpus {
        println!(
            "  GPU {}: {}, {:.1} GiB",
            gpu.index,
            gpu.name,
            gpu.total_memory_bytes as f64 / (1u64 << 30) as f64
        );
    }
    println!(
        "cuDNN: {}{}",
        report.cudnn_version.as_deref().unwrap_or("not found"),
        if report.cudnn_available {
            ", usable"
        } else {
            ", not usable without CUDA"
        }
    );
    println!("CPU threads (libtorch intra-op): {}", report.cpu_threads);
    println!(
        "CPU bfloat16: {} (predict --precision auto on the CPU: {})",
        if nnunet_core::precision::cpu_has_native_bf16() {
            "native"
        } else {
            "emulated"
        },
        nnunet_core::Precision::auto(nnunet_core::tch::Device::Cpu)
    );
    for (var, value) in NnunetPaths::from_env().entries() {
        match value {
            Some(path) if path.is_dir() => println!("{var} = {} (exists)", path.display()),
            Some(path) => println!("{var} = {} (does not exist)", path.display()),
            None => println!("{var} is not set"),
        }
    }
    Ok(())
}
