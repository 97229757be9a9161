//! Shared by the MONAI-network tests: the plugin's registry, a network spec, and building a
//! network under `network.` as the trainer does.

#![allow(dead_code)]

use nnunet_core::tch::nn;
use nnunet_core::{Network, NetworkSpec, Registry, Result};
use nnunet_tests::plugin_path;
use serde_json::{Value, json};

pub fn registry() -> Registry {
    let mut registry = Registry::empty();
    registry
        .load_plugin(&plugin_path("nnunet_plugin_monai"))
        .unwrap();
    registry
}

/// `in_channels` → `num_outputs` at the plans' `patch` (its length gives the dimensions), deep
/// supervision on (as the trainer asks).
pub fn spec(in_channels: i64, num_outputs: i64, patch: &[i64], options: Value) -> NetworkSpec {
    // The plans' U-Net block; the MONAI networks read only the spec's other fields.
    let architecture = serde_json::from_value(json!({
        "network_class_name": "MONAI",
        "arch_kwargs": {
            "n_stages": 1, "features_per_stage": [32], "conv_op": "", "kernel_sizes": [],
            "strides": [], "n_conv_per_stage_decoder": [], "conv_bias": true, "norm_op": "",
            "norm_op_kwargs": {}, "dropout_op": null, "dropout_op_kwargs": null, "nonlin": "",
            "nonlin_kwargs": null
        }
    }))
    .unwrap();
    NetworkSpec {
        spatial_dims: patch.len(),
        in_channels,
        num_outputs,
        architecture,
        deep_supervision: true,
        options,
        patch_size: patch.to_vec(),
    }
}

pub fn build(
    registry: &Registry,
    name: &str,
    vs: &nn::VarStore,
    spec: &NetworkSpec,
) -> Result<Box<dyn Network>> {
    registry.build_network(name, &(vs.root() / "network"), spec)
}

/// Number of parameters in `vs`.
pub fn count(vs: &nn::VarStore) -> i64 {
    vs.variables().values().map(|t| t.numel() as i64).sum()
}
