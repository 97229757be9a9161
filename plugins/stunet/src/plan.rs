//! The STU-Net sizes and how a plan becomes an STU-Net, as the reference's nnU-Net 2.2 trainers
//! (`STUNetTrainer_small`, `_base`, `_large`, `_huge` in uni-medical/STU-Net) build it: six
//! stages of widths `w·(1, 2, 4, 8, 16, 16)` (w = 16, 32, 64, 96) with 1, 1, 2, 3 residual
//! blocks each, 3³ kernels everywhere whatever the plans say, and strides
//! taken from the plans' `pool_op_kernel_sizes[1:]` (nnU-Net v2's `arch_kwargs.strides`), cut
//! to five and padded with `[1, 1, 1]` to five.

use nnunet_core::registry::Options;
use nnunet_core::{Error, NetworkSpec, Result};

/// One STU-Net size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// `s`, `b`, `l` or `h`.
    pub letter: &'static str,
    /// Width of the first stage.
    pub width: i64,
    /// Residual blocks per stage.
    pub depth: usize,
}

pub const VARIANTS: [Variant; 4] = [
    Variant {
        letter: "s",
        width: 16,
        depth: 1,
    },
    Variant {
        letter: "b",
        width: 32,
        depth: 1,
    },
    Variant {
        letter: "l",
        width: 64,
        depth: 2,
    },
    Variant {
        letter: "h",
        width: 96,
        depth: 3,
    },
];

/// Stages (resolutions) of every STU-Net.
pub const STAGES: usize = 6;
/// Stage widths in units of the first stage's.
const WIDTH_FACTORS: [i64; STAGES] = [1, 2, 4, 8, 16, 16];

/// The registered name, e.g. `stunet-s`.
pub fn network_name(variant: &Variant) -> String {
    format!("stunet-{}", variant.letter)
}

/// The channel widths of the six stages.
pub fn widths(variant: &Variant) -> [i64; STAGES] {
    WIDTH_FACTORS.map(|f| f * variant.width)
}

/// The five strides between the stages from the plans, or why the plans cannot be served.
pub fn strides(network: &str, spec: &NetworkSpec) -> Result<Vec<[i64; 3]>> {
    let refuse = |why: String| Err(Error::Invalid(format!("{network}: {why}")));
    if spec.spatial_dims != 3 {
        return refuse(format!(
            "STU-Net is 3D only (the reference builds Conv3d layers); these plans are {}D",
            spec.spatial_dims
        ));
    }
    let plans = &spec.architecture.arch_kwargs.strides;
    let mut strides = Vec::new();
    for stride in plans.iter().skip(1).take(STAGES - 1) {
        match stride.as_slice() {
            &[z, y, x] if z >= 1 && y >= 1 && x >= 1 => strides.push([z, y, x]),
            _ => {
                return refuse(format!(
                    "the plans' strides {plans:?} must be three positive integers per stage"
                ));
            }
        }
    }
    strides.resize(STAGES - 1, [1, 1, 1]);
    Ok(strides)
}

/// STU-Net takes no options; anything but `null` or `{}` is refused by name.
pub fn check_options(network: &str, options: &Options) -> Result<()> {
    match options.as_object() {
        None if options.is_null() => Ok(()),
        Some(map) if map.is_empty() => Ok(()),
        Some(map) => Err(Error::Invalid(format!(
            "{network}: unknown option(s) {:?} (STU-Net takes none: its widths, depths and 3³ \
             kernels are fixed per size, its strides come from the plans)",
            map.keys().collect::<Vec<_>>()
        ))),
        None => Err(Error::Invalid(format!(
            "{network}: options must be a JSON object, got {options}"
        ))),
    }
}
