//! Primus (Wald et al., 2025), the transformer nnU-Net 2.8 recommends, as a run-time plugin:
//! loaded with `--plugin`, never linked into `nnunet`.
//!
//! Registers the networks `primus-{s,b,m,l}` (3D only, one output): an 8³ patch embedding, an
//! EVA encoder with absolute and rotary position embeddings, and a transposed-convolution patch
//! decoder, configured as nnU-Net 2.8's `nnUNet_Primus_{S,B,M,L}_Trainer` builds them. The
//! plans' patch size comes from the host (`NetworkSpec::patch_size`), or the option
//! `{"patch_size": [z, y, x]}` where the host does not know it; `drop_path_rate`
//! (default 0.2, the trainers') sets stochastic depth, active only while training.
//!
//! Also registers the trainer preset `primus`: nnU-Net 2.8's Primus training (AdamW 3e-4,
//! weight decay 5e-2, betas (0.9, 0.98), 50 warm-up epochs then poly, gradient norm 1, no deep
//! supervision; see `trainer`).

mod eva;
mod model;
mod patch;
mod rope;
mod trainer;
mod variant;

use nnunet_core::{Plugin, Registry, Result};
use variant::{PrimusOptions, VARIANTS, network_name};

struct PrimusPlugin;

impl Plugin for PrimusPlugin {
    fn name(&self) -> &'static str {
        "primus"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for variant in VARIANTS {
            let name = network_name(&variant);
            let description = format!(
                "Primus-{}: EVA transformer, width {}, depth {}, {} heads, 8³ patches, 3D \
                 (options: patch_size (default: the plans'), drop_path_rate)",
                variant.letter.to_uppercase(),
                variant.embed_dim,
                variant.depth,
                variant.heads
            );
            registry.add_network(&name.clone(), &description, move |path, spec| {
                let options = PrimusOptions::parse(&name, &spec.options, &spec.patch_size)?;
                let net = model::Primus::new(&name, path, spec, &variant, &options)?;
                Ok(Box::new(net))
            })?;
        }
        registry.add_trainer(
            "primus",
            "nnU-Net 2.8's Primus training: AdamW lr 3e-4, weight decay 5e-2, betas (0.9, 0.98), \
             linear warm-up over 50 epochs then poly 0.9, gradient norm 1, no deep supervision \
             (option: warmup_epochs)",
            |options| Ok(Box::new(trainer::PrimusTrainer::new(options)?)),
        )
    }
}

nnunet_core::export_plugin!(PrimusPlugin);
