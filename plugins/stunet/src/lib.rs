//! STU-Net (Huang et al., 2023; uni-medical/STU-Net), the scalable U-Net that nnU-Net Revisited
//! compares, as a run-time plugin: loaded with `--plugin`, never linked into `nnunet`.
//!
//! Registers the networks `stunet-s`, `stunet-b`, `stunet-l` and `stunet-h` (3D, five
//! deep-supervision heads), built as the reference's nnU-Net 2.2 trainers `STUNetTrainer_small`
//! / `_base` / `_large` / `_huge` build them from a plan: residual blocks with 3³ kernels
//! (1, 1, 2, 3 per stage), widths 16, 32, 64 or 96 · (1, 2, 4, 8, 16, 16), strides from the
//! plans. The reference trainer's other settings (lr 1e-2, 1000 epochs) are nnU-Net's
//! defaults, so there is no trainer preset.

mod blocks;
mod model;
mod plan;

use nnunet_core::{Plugin, Registry, Result};
use plan::{VARIANTS, check_options, network_name, widths};

struct StuNetPlugin;

impl Plugin for StuNetPlugin {
    fn name(&self) -> &'static str {
        "stunet"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for variant in VARIANTS {
            let name = network_name(&variant);
            let description = format!(
                "STU-Net-{}: residual U-Net, widths {:?}, {} block(s) per stage, strides from the \
                 plans, 3D, deep supervision (no options)",
                variant.letter.to_uppercase(),
                widths(&variant),
                variant.depth
            );
            registry.add_network(&name.clone(), &description, move |path, spec| {
                check_options(&name, &spec.options)?;
                Ok(Box::new(model::StuNet::new(&name, path, spec, &variant)?))
            })?;
        }
        Ok(())
    }
}

nnunet_core::export_plugin!(StuNetPlugin);
