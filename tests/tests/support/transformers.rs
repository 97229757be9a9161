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
        patch_size: Vec::new(),
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

/// `tests/fixtures/<folder>/<name>`.
#[allow(dead_code)] // not every test binary reads fixtures
pub fn fixture(folder: &str, name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder)
        .join(name)
}

#[allow(dead_code)] // not every test binary reads fixtures
pub fn read_json(folder: &str, name: &str) -> Value {
    nnunet_core::atomic::read_json(&fixture(folder, name)).unwrap()
}

/// Sets `vs` to the fixed weights under the reference's state_dict names and shapes (the
/// fixture's `tensors`) and reads the fixture's input and outputs.
#[allow(dead_code)] // not every test binary compares outputs
pub fn load_reference(
    vs: &nn::VarStore,
    meta: &Value,
    folder: &str,
    io_name: &str,
) -> std::collections::HashMap<String, nnunet_core::tch::Tensor> {
    let expected: std::collections::HashMap<String, Vec<i64>> =
        serde_json::from_value(meta["tensors"].clone()).unwrap();
    nnunet_tests::reference::load_fixed_weights(vs, "network.", &expected);
    nnunet_core::tch::Tensor::read_safetensors(fixture(folder, io_name))
        .unwrap()
        .into_iter()
        .collect()
}

/// Builds `{prefix}-{size}` for each size and checks its trainable parameters against the
/// fixture `counts`' `parameters[size]`.
#[allow(dead_code)] // not every test binary counts parameters
pub fn assert_counts(registry: &Registry, prefix: &str, spec: &NetworkSpec, counts: &Value) {
    let sizes = counts["parameters"].as_object().unwrap();
    for (size, reference) in sizes {
        let vs = nn::VarStore::new(nnunet_core::tch::Device::Cpu);
        build(registry, &format!("{prefix}-{size}"), &vs, spec).unwrap();
        let ours = parameter_count(&vs);
        eprintln!("{prefix}-{size}: {ours} parameters (reference {reference})");
        assert_eq!(Some(ours), reference.as_i64(), "{prefix}-{size}");
    }
}

/// Prints the CPU forward time (best of 3, no grad) of one Hippocampus patch (40, 56, 40) for
/// `{prefix}-{size}` of each size.
#[allow(dead_code)] // run by hand (ignored tests)
pub fn print_forward_times(registry: &Registry, prefix: &str, sizes: &[&str], spec: &NetworkSpec) {
    use nnunet_core::tch::{Device, Kind, Tensor, no_grad};
    let x = Tensor::randn([1, 1, 40, 56, 40], (Kind::Float, Device::Cpu));
    for size in sizes {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = build(registry, &format!("{prefix}-{size}"), &vs, spec).unwrap();
        no_grad(|| net.forward_t(&x, false)).unwrap();
        let best = (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                no_grad(|| net.forward_t(&x, false)).unwrap();
                start.elapsed()
            })
            .min()
            .unwrap();
        eprintln!(
            "{prefix}-{size}: {:.1} ms (best of 3)",
            best.as_secs_f64() * 1e3
        );
    }
}
