//! Compute devices: choosing CPU or CUDA, and describing what this machine offers (`nnunet doctor`).
//!
//! tch reports whether CUDA works but not the GPUs' names or memory, nor cuDNN's version; those
//! come from the CUDA driver API (`libcuda.so.1`) and cuDNN (`libcudnn.so.9`) opened with
//! libloading. No crate wraps these few calls without pulling in the whole CUDA toolkit, so they
//! are written here.

use serde::{Deserialize, Serialize};
use std::ffi::{c_char, c_int, c_uint};
use std::fmt;
use std::str::FromStr;
use tch::Device;

/// A user's device choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            other => Err(crate::Error::Invalid(format!(
                "unknown device {other:?}: use cpu, cuda or auto"
            ))),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        })
    }
}

impl DeviceChoice {
    /// The tch device, or an error when CUDA is asked for and absent.
    pub fn resolve(self) -> crate::Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => Err(crate::Error::Invalid(
                "--device cuda was asked for, but libtorch sees no CUDA device \
                 (run `nnunet doctor`)"
                    .into(),
            )),
        }
    }
}

/// The device a `--device` value names: `auto`, `cpu`, `cuda` (the first GPU), or `cuda:N`
/// (the N-th GPU libtorch sees, so `CUDA_VISIBLE_DEVICES` applies).
pub fn parse_device(value: &str) -> crate::Result<Device> {
    let lower = value.to_ascii_lowercase();
    let Some(index) = lower.strip_prefix("cuda:") else {
        return lower.parse::<DeviceChoice>()?.resolve();
    };
    let index: usize = index.parse().map_err(|_| {
        crate::Error::Invalid(format!("device {value:?}: the GPU index must be a number"))
    })?;
    let count = tch::Cuda::device_count().max(0) as usize;
    if index >= count {
        return Err(crate::Error::Invalid(format!(
            "device {value:?}: libtorch sees {count} CUDA device(s) (CUDA_VISIBLE_DEVICES \
             applies; run `nnunet doctor`)"
        )));
    }
    Ok(Device::Cuda(index))
}

/// One GPU as the CUDA driver describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuInfo {
    pub index: usize,
    pub name: String,
    pub total_memory_bytes: u64,
}

/// What `nnunet doctor` reports about compute.
#[derive(Clone, Debug)]
pub struct DeviceReport {
    pub cuda_available: bool,
    pub cuda_device_count: usize,
    pub cudnn_available: bool,
    pub cudnn_version: Option<String>,
    pub cuda_driver_version: Option<String>,
    pub gpus: Vec<GpuInfo>,
    pub cpu_threads: i32,
}

impl DeviceReport {
    /// Probes libtorch, and the CUDA driver and cuDNN where present.
    pub fn probe() -> Self {
        let cuda_available = tch::Cuda::is_available();
        let cuda_device_count = if cuda_available {
            usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
        } else {
            0
        };
        let driver = cuda_driver_info();
        DeviceReport {
            cuda_available,
            cuda_device_count,
            cudnn_available: cuda_available && tch::Cuda::cudnn_is_available(),
            cudnn_version: cudnn_version(),
            cuda_driver_version: driver.as_ref().map(|d| d.0.clone()),
            gpus: driver.map(|d| d.1).unwrap_or_default(),
            cpu_threads: tch::get_num_threads(),
        }
    }
}

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuDriverGetVersion = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuDeviceTotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;

/// (driver version, GPUs) from the CUDA driver API, or None without a driver.
fn cuda_driver_info() -> Option<(String, Vec<GpuInfo>)> {
    // SAFETY: the CUDA driver API functions below have these C signatures (cuda.h); the library
    // is kept loaded (forgotten) because libtorch may share it.
    unsafe {
        let lib = libloading::Library::new("libcuda.so.1").ok()?;
        let init: libloading::Symbol<CuInit> = lib.get(b"cuInit").ok()?;
        if init(0) != 0 {
            std::mem::forget(lib);
            return None;
        }
        let get_version: libloading::Symbol<CuDriverGetVersion> =
            lib.get(b"cuDriverGetVersion").ok()?;
        let count_fn: libloading::Symbol<CuDeviceGetCount> = lib.get(b"cuDeviceGetCount").ok()?;
        let get: libloading::Symbol<CuDeviceGet> = lib.get(b"cuDeviceGet").ok()?;
        let name_fn: libloading::Symbol<CuDeviceGetName> = lib.get(b"cuDeviceGetName").ok()?;
        let mem_fn: libloading::Symbol<CuDeviceTotalMem> = lib.get(b"cuDeviceTotalMem_v2").ok()?;
        let mut version = 0;
        get_version(&mut version);
        let mut count = 0;
        count_fn(&mut count);
        let mut gpus = Vec::new();
        for index in 0..count {
            let mut device = 0;
            if get(&mut device, index) != 0 {
                continue;
            }
            let mut buf = [0 as c_char; 256];
            name_fn(buf.as_mut_ptr(), buf.len() as c_int, device);
            let name = std::ffi::CStr::from_ptr(buf.as_ptr())
                .to_string_lossy()
                .into_owned();
            let mut bytes = 0usize;
            mem_fn(&mut bytes, device);
            gpus.push(GpuInfo {
                index: index as usize,
                name,
                total_memory_bytes: bytes as u64,
            });
        }
        std::mem::forget(lib);
        Some((
            format!("{}.{}", version / 1000, (version % 1000) / 10),
            gpus,
        ))
    }
}

/// cuDNN's version as `major.minor.patch`, if its library can be opened.
fn cudnn_version() -> Option<String> {
    type GetVersion = unsafe extern "C" fn() -> usize;
    // libtorch_cuda links cuDNN by soname and its RUNPATH finds it; opening by soname returns the
    // copy already loaded, or finds none on CPU-only installs.
    let candidates = [
        "libcudnn.so.9".to_string(),
        format!(
            "{}/../../nvidia/cudnn/lib/libcudnn.so.9",
            crate::plugin::BuildFingerprint::current().libtorch_lib
        ),
    ];
    for candidate in candidates {
        // SAFETY: cudnnGetVersion takes no arguments and returns size_t (cudnn.h).
        unsafe {
            if let Ok(lib) = libloading::Library::new(&candidate) {
                if let Ok(get) = lib.get::<GetVersion>(b"cudnnGetVersion") {
                    let v = get();
                    std::mem::forget(lib);
                    return Some(format!("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100));
                }
                std::mem::forget(lib);
            }
        }
    }
    None
}

/// The libtorch version of the library actually loaded into this process, read from the
/// `version.py` beside the mapped `libtorch_cpu.so`, with that library's path.
pub fn runtime_libtorch() -> Option<(String, std::path::PathBuf)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let lib = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))?;
    let lib = std::path::PathBuf::from(lib);
    let version_py = lib.parent()?.parent()?.join("version.py");
    let text = std::fs::read_to_string(version_py).ok()?;
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("__version__ = "))?
        .trim()
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string();
    Some((version, lib))
}
