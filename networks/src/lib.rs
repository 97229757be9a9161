//! Networks: nnU-Net's `PlainConvUNet` and `ResidualEncoderUNet` (ResEnc), built from a plans
//! `architecture` block exactly as dynamic_network_architectures 0.4.4 builds them, in 2D and 3D.
//!
//! * per stage, convs of conv → InstanceNorm(eps, affine) → LeakyReLU(0.01) ([`layers`]);
//!   downsampling by the first conv's stride; ResEnc uses a stem plus ResNet-D basic blocks
//!   ([`encoder`]);
//! * decoder: transposed conv (kernel = stride), concatenated skip, convs, and a 1×1
//!   segmentation head per stage; deep supervision returns every head's output, highest
//!   resolution first, and is switchable ([`decoder`]);
//! * He initialisation (a = 1e-2) as nnU-Net's `InitWeights_He`, and ResEnc's zero-initialised
//!   last norm of each residual block;
//! * parameters named as PyTorch's `state_dict` keys (`encoder.stages.0.0.convs.0.conv.weight`,
//!   `decoder.seg_layers.2.bias`, …) under the path the constructor receives, so a safetensors
//!   export of a PyTorch network loads with `VarStore::load`.
//!
//! Both register through `inventory` as networks `PlainConvUNet` and `ResidualEncoderUNet`;
//! [`network_name_for`] maps a plans `network_class_name` to those names. [`summary`] holds what
//! `nnunet summary` prints.

pub mod config;
mod decoder;
mod encoder;
mod layers;
mod plans_spec;
pub mod summary;
mod unet;

pub use config::{UNetConfig, UNetKind};
pub use plans_spec::{network_spec_from_plans, num_outputs};
pub use summary::{
    Flops, NetworkSummary, StageInfo, conv_feature_map_size, flops_per_patch, summarize,
};
pub use unet::UNet;

use nnunet_core::{ArchitectureSpec, BuiltIn, Error, Plugin, Registry, Result};

/// The registered network name for a plans architecture block: the last component of its
/// `network_class_name` (`dynamic_network_architectures.architectures.unet.PlainConvUNet` →
/// `PlainConvUNet`).
pub fn network_name_for(architecture: &ArchitectureSpec) -> Result<String> {
    let class = architecture.network_class_name.trim();
    let name = class.rsplit('.').next().unwrap_or(class);
    if name.is_empty() {
        return Err(Error::Invalid(
            "plans architecture: network_class_name is empty".into(),
        ));
    }
    Ok(name.to_string())
}

struct Networks;

impl Plugin for Networks {
    fn name(&self) -> &'static str {
        env!("CARGO_PKG_NAME")
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for kind in [UNetKind::Plain, UNetKind::ResidualEncoder] {
            let description = match kind {
                UNetKind::Plain => {
                    "nnU-Net's default U-Net (dynamic_network_architectures PlainConvUNet)"
                }
                UNetKind::ResidualEncoder => {
                    "nnU-Net ResEnc: residual-encoder U-Net (ResidualEncoderUNet)"
                }
            };
            registry.add_network(kind.name(), description, move |path, spec| {
                Ok(Box::new(UNet::from_spec(kind, path, spec)?))
            })?;
        }
        Ok(())
    }
}

inventory::submit!(BuiltIn(&Networks));
