//! Shared by the Primus and STU-Net tests: loading a plugin from target/plugins and the network
//! spec of a 3D plan with given strides (`pool_op_kernel_sizes`).

use nnunet_core::tch::nn;
use nnunet_core::{Network, NetworkSpec, Registry};
use nnunet_tests::plugin_path;
use serde_json::{Value, json};

pub fn registry(lib_name: &str) -> Registry {
    let mut registry = Registry::empty();
    registry.load_plugin(&plugin_path(lib_name)).unwrap();
    registry
}

/// Hippocampus' 3d_fullres strides (nnU-Net v2's plans in tests/../shared/data).
pub const HIPPOCAMPUS_STRIDES: [[i64; 3]; 4] = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]];

/// A 3D plan's spec with `strides`, deep supervision on.
pub fn spec(
    strides: &[[i64; 3]],
    in_channels: i64,
    num_outputs: i64,
    options: Value,
) -> NetworkSpec {
    let n = strides.len();
    let architecture = serde_json::from_value(json!({
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": n, "features_per_stage": (0..n).map(|i| 32 << i).collect::<Vec<_>>(),
            "conv_op": "torch.nn.modules.conv.Conv3d", "kernel_sizes": vec![[3, 3, 3]; n],
            "strides": strides, "n_conv_per_stage": vec![2; n],
            "n_conv_per_stage_decoder": vec![2; n - 1], "conv_bias": true,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-5, "affine": true}, "dropout_op": null,
            "dropout_op_kwargs": null, "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": true}
        }
    }))
    .unwrap();
    NetworkSpec {
        spatial_dims: 3,
        in_channels,
        num_outputs,
        architecture,
        deep_supervision: true,
        options,
    }
}

pub fn build(
    registry: &Registry,
    name: &str,
    vs: &nn::VarStore,
    spec: &NetworkSpec,
) -> nnunet_core::Result<Box<dyn Network>> {
    registry.build_network(name, &(vs.root() / "network"), spec)
}

/// Trainable parameters in `vs`.
#[allow(dead_code)] // not every test binary counts parameters
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
