//! Numerical equality with PyTorch: the fixtures in `tests/fixtures/` were produced by
//! `tests/fixtures/make_fixtures.py` (run with the peer venv: nnunetv2 2.8.1,
//! dynamic_network_architectures 0.4.4, torch 2.11), which builds tiny PlainConvUNet and
//! ResidualEncoderUNet networks through nnU-Net's `get_network_from_plans`, exports their
//! `state_dict` to safetensors (aliases dropped), and records a fixed input and the
//! deep-supervision outputs. Here the same architecture block builds our network, the weights
//! load by name with `VarStore::load`, and the outputs must agree to 1e-4.

mod common;

use nnunet_core::tch::Tensor;
use nnunet_core::{ArchitectureSpec, Network, NetworkSpec};
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn compare(case: &str) {
    let meta: serde_json::Value =
        nnunet_core::atomic::read_json(&fixture(&format!("{case}.arch.json"))).unwrap();
    let architecture: ArchitectureSpec =
        serde_json::from_value(meta["architecture"].clone()).unwrap();
    let spatial_dims = architecture.arch_kwargs.kernel_sizes[0].len();
    let spec = NetworkSpec {
        spatial_dims,
        in_channels: meta["in_channels"].as_i64().unwrap(),
        num_outputs: meta["num_outputs"].as_i64().unwrap(),
        architecture,
        deep_supervision: true,
        options: serde_json::Value::Null,
        patch_size: Vec::new(),
    };
    let (mut vs, net) = common::build(&spec);
    assert_eq!(
        common::parameter_count(&vs),
        meta["parameters"].as_i64().unwrap()
    );

    // Same names and shapes as PyTorch's state_dict, then load by name.
    let weights_file = fixture(&format!("{case}.weights.safetensors"));
    let torch_state: HashMap<String, Tensor> = Tensor::read_safetensors(&weights_file)
        .unwrap()
        .into_iter()
        .collect();
    let ours = vs.variables();
    let mut our_keys: Vec<_> = ours.keys().cloned().collect();
    let mut torch_keys: Vec<_> = torch_state.keys().cloned().collect();
    our_keys.sort();
    torch_keys.sort();
    assert_eq!(our_keys, torch_keys);
    for (key, tensor) in &torch_state {
        assert_eq!(ours[key].size(), tensor.size(), "{key}");
    }
    vs.load(&weights_file).unwrap();

    let io: HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture(&format!("{case}.io.safetensors")))
            .unwrap()
            .into_iter()
            .collect();
    let outputs = nnunet_core::tch::no_grad(|| net.forward_t(&io["input"], false)).unwrap();
    assert_eq!(outputs.len(), io.len() - 1);
    for (i, output) in outputs.iter().enumerate() {
        let expected = &io[&format!("output_{i}")];
        assert_eq!(output.size(), expected.size());
        let diff = (output - expected).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{case} output {i}: max |diff| {diff}");
    }
}

#[test]
fn plain_conv_unet_3d_matches_pytorch() {
    compare("plain_3d");
}

#[test]
fn residual_encoder_unet_2d_matches_pytorch() {
    compare("resenc_2d");
}

#[test]
fn residual_encoder_unet_3d_matches_pytorch() {
    compare("resenc_3d");
}
