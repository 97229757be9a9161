//! Shared by the MedNeXt tests: the plugin's registry and the network spec the reference
//! parameter counts use.

use nnunet_core::tch::nn;
use nnunet_core::{Network, NetworkSpec, Registry};
use nnunet_tests::plugin_path;
use serde_json::{Value, json};

pub fn registry() -> Registry {
    let mut registry = Registry::empty();
    registry
        .load_plugin(&plugin_path("nnunet_plugin_mednext"))
        .unwrap();
    registry
}

/// One input channel, three classes, deep supervision on (the reference counts' setting).
pub fn spec(spatial_dims: usize, options: Value) -> NetworkSpec {
    let architecture = serde_json::from_value(json!({
        "network_class_name": "MedNeXt",
        "arch_kwargs": {
            "n_stages": 5, "features_per_stage": [32, 64, 128, 256, 512], "conv_op": "",
            "kernel_sizes": [], "strides": [], "n_conv_per_stage_decoder": [],
            "conv_bias": true, "norm_op": "", "norm_op_kwargs": {}, "dropout_op": null,
            "dropout_op_kwargs": null, "nonlin": "", "nonlin_kwargs": null
        }
    }))
    .unwrap();
    NetworkSpec {
        spatial_dims,
        in_channels: 1,
        num_outputs: 3,
        architecture,
        deep_supervision: true,
        options,
        patch_size: Vec::new(),
    }
}

pub fn build(
    registry: &Registry,
    name: &str,
    vs: &nn::VarStore,
    spec: &NetworkSpec,
) -> Box<dyn Network> {
    registry
        .build_network(name, &(vs.root() / "network"), spec)
        .unwrap()
}
