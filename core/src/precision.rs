//! Numeric precision of a network at inference: the user's choice (`--precision`) and what it
//! resolves to on a device.
//!
//! nnU-Net predicts on a GPU under fp16 autocast and on a CPU in float32. We do the same on a
//! GPU, but on a CPU with native bfloat16 arithmetic (Intel AMX or AVX512-BF16; oneDNN runs
//! the convolutions on it) `auto` runs the network's weights and activations in bfloat16, which
//! is about twice as fast; the logits are accumulated in float32 as before. docs/inference.md
//! gives the measured speed and how far the segmentations move (they agree with float32 at a
//! Dice of 0.99+). `fp32` restores nnU-Net's CPU arithmetic exactly.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tch::Device;

/// A user's precision choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// CUDA: fp16 autocast (nnU-Net's). CPU: bfloat16 where the CPU computes it natively,
    /// else float32.
    #[default]
    Auto,
    /// Float32 throughout, on any device.
    Fp32,
    /// Weights and activations in bfloat16, on any device.
    Bf16,
    /// fp16 autocast (CUDA only).
    Amp,
}

/// The arithmetic a network runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Float32,
    /// The network's parameters are cast to bfloat16 and so is its input; outputs are cast
    /// back to float32.
    BFloat16,
    /// CUDA fp16 autocast, parameters stay float32.
    CudaAutocast,
}

impl Precision {
    /// The tensor kind a network's parameters and input take.
    pub fn parameter_kind(self) -> tch::Kind {
        match self {
            Precision::BFloat16 => tch::Kind::BFloat16,
            Precision::Float32 | Precision::CudaAutocast => tch::Kind::Float,
        }
    }

    /// `--precision auto`: fp16 autocast on CUDA; bfloat16 on a CPU that computes it natively;
    /// float32 otherwise.
    pub fn auto(device: Device) -> Precision {
        if device.is_cuda() {
            Precision::CudaAutocast
        } else if cpu_has_native_bf16() {
            Precision::BFloat16
        } else {
            Precision::Float32
        }
    }
}

impl FromStr for PrecisionChoice {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PrecisionChoice::Auto),
            "fp32" | "float32" => Ok(PrecisionChoice::Fp32),
            "bf16" | "bfloat16" => Ok(PrecisionChoice::Bf16),
            "amp" | "fp16" => Ok(PrecisionChoice::Amp),
            other => Err(crate::Error::Invalid(format!(
                "unknown precision {other:?}: use auto, fp32, bf16 or amp"
            ))),
        }
    }
}

impl fmt::Display for PrecisionChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrecisionChoice::Auto => "auto",
            PrecisionChoice::Fp32 => "fp32",
            PrecisionChoice::Bf16 => "bf16",
            PrecisionChoice::Amp => "amp",
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Float32 => "float32",
            Precision::BFloat16 => "bfloat16",
            Precision::CudaAutocast => "fp16 autocast",
        })
    }
}

impl PrecisionChoice {
    /// What this choice means on `device`; `amp` on a CPU is an error.
    pub fn resolve(self, device: Device) -> crate::Result<Precision> {
        let cuda = device.is_cuda();
        match self {
            PrecisionChoice::Fp32 => Ok(Precision::Float32),
            PrecisionChoice::Bf16 => Ok(Precision::BFloat16),
            PrecisionChoice::Amp if cuda => Ok(Precision::CudaAutocast),
            PrecisionChoice::Amp => Err(crate::Error::Invalid(
                "--precision amp is fp16 autocast, which needs a CUDA device; \
                 use auto, fp32 or bf16 on a CPU"
                    .into(),
            )),
            PrecisionChoice::Auto => Ok(Precision::auto(device)),
        }
    }
}

/// Whether this CPU computes bfloat16 natively (AVX512-BF16; every CPU with AMX has it too).
/// Without it PyTorch emulates bfloat16 and is slower than float32.
pub fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_resolve() {
        assert_eq!(
            "BF16".parse::<PrecisionChoice>().unwrap(),
            PrecisionChoice::Bf16
        );
        assert!("fp8".parse::<PrecisionChoice>().is_err());
        let cpu = Device::Cpu;
        assert_eq!(
            PrecisionChoice::Fp32.resolve(cpu).unwrap(),
            Precision::Float32
        );
        assert_eq!(
            PrecisionChoice::Bf16.resolve(cpu).unwrap(),
            Precision::BFloat16
        );
        assert!(PrecisionChoice::Amp.resolve(cpu).is_err());
        let auto = PrecisionChoice::Auto.resolve(cpu).unwrap();
        let expected = if cpu_has_native_bf16() {
            Precision::BFloat16
        } else {
            Precision::Float32
        };
        assert_eq!(auto, expected);
        assert_eq!(
            PrecisionChoice::Auto.resolve(Device::Cuda(0)).unwrap(),
            Precision::CudaAutocast
        );
    }
}
