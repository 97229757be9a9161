//! MedNeXt v1 (Roy et al., 2023) as a run-time plugin: loaded with `--plugin`, never linked into
//! `nnunet`.
//!
//! Registers the networks `mednext-{s,b,m,l}-k{3,5}` (2D or 3D, additive skips, five
//! deep-supervision heads) and the trainer preset `mednext` (AdamW, lr 1e-3, weight decay 3e-5,
//! poly 0.9). A k5 network initialised from a trained k3 checkpoint (UpKern) is the network
//! option `{"upkern_from": "<checkpoint>.safetensors"}`. Gradient checkpointing (the
//! reference's option for M and L) is not available in tch; the option `"checkpointing": true`
//! is refused with that reason.

mod layers;
mod model;
mod scope;
mod trainer;
mod upkern;
mod variant;

use nnunet_core::{Plugin, Registry, Result};
use variant::{KERNELS, MedNeXtOptions, VARIANTS, network_name};

struct MedNeXtPlugin;

impl Plugin for MedNeXtPlugin {
    fn name(&self) -> &'static str {
        "mednext"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for variant in VARIANTS {
            for kernel in KERNELS {
                let name = network_name(&variant, kernel);
                let description = format!(
                    "MedNeXt v1 {} with {kernel}-wide depthwise kernels (options: upkern_from, checkpointing)",
                    variant.letter.to_uppercase()
                );
                registry.add_network(&name.clone(), &description, move |path, spec| {
                    let options = MedNeXtOptions::parse(&name, &spec.options)?;
                    let net = model::MedNeXt::new(path, spec, &variant, kernel, &options)?;
                    Ok(Box::new(net))
                })?;
            }
        }
        registry.add_trainer(
            "mednext",
            "MedNeXt's defaults: AdamW, lr 1e-3, weight decay 3e-5, poly 0.9",
            |options| Ok(Box::new(trainer::MedNeXtTrainer::new(options)?)),
        )
    }
}

nnunet_core::export_plugin!(MedNeXtPlugin);
