//! SwinUNETR, UNETR and SegResNet as in MONAI 1.6, as a run-time plugin: loaded with
//! `--plugin`, never linked into `nnunet`.
//!
//! Registers the networks `SwinUNETR`, `UNETR` and `SegResNet` (2D or 3D), each built from the
//! plans' patch size, input channels and classes the way MONAI's constructor arguments would be
//! set for that patch, with MONAI's state-dict names. None has deep supervision in MONAI: each
//! returns one output whether deep supervision is on or off (the trainer then weights that one
//! output 1). Plans they cannot serve are refused with the reason: SwinUNETR needs a patch
//! divisible by 32, UNETR by 16, SegResNet by 2^(levels − 1) (8 by default).

mod layers;
mod options;
mod segresnet;
mod swin;
mod swin_unetr;
mod unetr;

use nnunet_core::{Plugin, Registry, Result};

struct MonaiPlugin;

impl Plugin for MonaiPlugin {
    fn name(&self) -> &'static str {
        "monai"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        registry.add_network(
            swin_unetr::NAME,
            "SwinUNETR (MONAI 1.6; options: feature_size 48, depths, num_heads, window_size 7; patch divisible by 32)",
            |path, spec| Ok(Box::new(swin_unetr::SwinUnetr::new(path, spec)?)),
        )?;
        registry.add_network(
            unetr::NAME,
            "UNETR (MONAI 1.6; options: feature_size 16, hidden_size 768, mlp_dim 3072, num_heads 12; patch divisible by 16)",
            |path, spec| Ok(Box::new(unetr::Unetr::new(path, spec)?)),
        )?;
        registry.add_network(
            segresnet::NAME,
            "SegResNet (MONAI 1.6; options: init_filters 16, blocks_down [1,2,2,4], blocks_up [1,1,1])",
            |path, spec| Ok(Box::new(segresnet::SegResNet::new(path, spec)?)),
        )
    }
}

nnunet_core::export_plugin!(MonaiPlugin);
