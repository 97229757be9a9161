//! STU-Net from its run-time plugin is the reference's (uni-medical/STU-Net, nnU-Net 2.2
//! variant, as `STUNetTrainer_small` / `_base` / `_large` / `_huge` build it from the Hippocampus
//! 3d_fullres plans — three pooling strides, padded with [1, 1, 1] to five): parameter counts
//! equal the reference's for S, B and L (H by hand: 1.46 B parameters), and STU-Net-S with every tensor set to the same fixed
//! weights on both sides computes the reference's five deep-supervision outputs on one
//! 16×24×16 input to 1e-4 (relative to each output's largest magnitude, at least 1). Plans it
//! cannot serve are refused with the reason.
//!
//! The fixtures come from `tests/fixtures/stunet/make_fixtures.py` (its docstring says how to run
//! it); the weights are not stored but computed from a hash of each tensor's name
//! (`nnunet_tests::reference::fixed_weights`).

#[path = "support/transformers.rs"]
mod support;

use nnunet_core::tch::{Device, Kind, Tensor, nn, no_grad};
use nnunet_tests::reference::assert_close;
use serde_json::{Value, json};
use support::{
    HIPPOCAMPUS_STRIDES, assert_counts, build, load_reference, parameter_count,
    print_forward_times, read_json, registry, spec,
};

const FIXTURES: &str = "stunet";
const PLUGIN: &str = "nnunet_plugin_stunet";

/// The strides of a fixture's `pool_op_kernel_sizes`.
fn strides(meta: &Value) -> Vec<[i64; 3]> {
    serde_json::from_value(meta["pool_op_kernel_sizes"].clone()).unwrap()
}

#[test]
fn stunet_s_matches_the_reference_implementation() {
    let meta = read_json(FIXTURES, "stunet_s.json");
    assert_eq!(strides(&meta), HIPPOCAMPUS_STRIDES);
    let registry = registry(PLUGIN);
    let spec = spec(
        &strides(&meta),
        meta["in_channels"].as_i64().unwrap(),
        meta["num_outputs"].as_i64().unwrap(),
        Value::Null,
    );
    let vs = nn::VarStore::new(Device::Cpu);
    let mut net = build(&registry, "stunet-s", &vs, &spec).unwrap();
    assert_eq!(parameter_count(&vs), meta["parameters"].as_i64().unwrap());
    let io = load_reference(&vs, &meta, FIXTURES, "stunet_s.io.safetensors");
    let outputs = no_grad(|| net.forward_t(&io["input"], false)).unwrap();
    assert_eq!(outputs.len(), 5, "five deep-supervision outputs");
    for (i, output) in outputs.iter().enumerate() {
        assert_close(
            &format!("STU-Net-S output {i}"),
            output,
            &io[&format!("output_{i}")],
            1e-4,
        );
    }
    net.set_deep_supervision(false).unwrap();
    let single = no_grad(|| net.forward_t(&io["input"], false)).unwrap();
    assert_eq!(single.len(), 1);
    assert!(single[0].equal(&outputs[0]));
}

/// The reference counts of `sizes` (the others dropped from the fixture).
fn check_counts(sizes: &[&str]) {
    let mut counts = read_json(FIXTURES, "stunet_counts.json");
    let all = counts["parameters"].as_object_mut().unwrap();
    assert_eq!(all.len(), 4, "S, B, L and H in the fixture");
    all.retain(|size, _| sizes.contains(&size.as_str()));
    let registry = registry(PLUGIN);
    let spec = spec(
        &strides(&counts),
        counts["in_channels"].as_i64().unwrap(),
        counts["num_outputs"].as_i64().unwrap(),
        Value::Null,
    );
    assert_counts(&registry, "stunet", &spec, &counts);
}

/// L holds 440 M parameters (1.8 GB of float32), built once.
#[test]
fn parameter_counts_equal_the_reference_for_s_b_and_l() {
    check_counts(&["s", "b", "l"]);
}

/// H holds 1.46 B parameters (5.8 GB of float32): too large for CI, run by hand:
/// `cargo test --release -p nnunet-tests --test stunet_reference -- --ignored huge`.
#[test]
#[ignore]
fn parameter_count_equals_the_reference_for_huge() {
    check_counts(&["h"]);
}

#[test]
fn plans_stunet_cannot_serve_are_refused_with_the_reason() {
    let registry = registry(PLUGIN);
    let vs = nn::VarStore::new(Device::Cpu);
    let refusal = |spec: &nnunet_core::NetworkSpec| match build(&registry, "stunet-s", &vs, spec) {
        Ok(_) => panic!("built"),
        Err(e) => e.to_string(),
    };
    let mut flat = spec(&HIPPOCAMPUS_STRIDES, 1, 3, Value::Null);
    flat.spatial_dims = 2;
    assert!(refusal(&flat).contains("3D only"));
    let err = refusal(&spec(&HIPPOCAMPUS_STRIDES, 1, 3, json!({"width": 8})));
    assert!(err.contains("\"width\""), "{err}");

    // Anisotropic plans with six pooling stages: the sixth is dropped, as the reference does.
    let six = [
        [1, 1, 1],
        [1, 2, 2],
        [2, 2, 2],
        [2, 2, 2],
        [2, 2, 2],
        [1, 2, 2],
        [1, 2, 2],
    ];
    let net = build(&registry, "stunet-s", &vs, &spec(&six, 1, 3, Value::Null)).unwrap();
    let fits = Tensor::zeros([1, 1, 8, 32, 32], (Kind::Float, Device::Cpu));
    let outputs = no_grad(|| net.forward_t(&fits, false)).unwrap();
    let sizes: Vec<Vec<i64>> = outputs.iter().map(|o| o.size()[2..].to_vec()).collect();
    assert_eq!(
        sizes,
        [[8, 32, 32], [8, 16, 16], [4, 8, 8], [2, 4, 4], [1, 2, 2]]
    );
    let odd = Tensor::zeros([1, 1, 8, 24, 32], (Kind::Float, Device::Cpu));
    let err = no_grad(|| net.forward_t(&odd, false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[8, 32, 32]"), "{err}");
}

/// CPU forward time (best of 3) of one Hippocampus patch (40, 56, 40) per size (not run in CI:
/// `cargo test --release -p nnunet-tests --test stunet_reference -- --ignored --nocapture`).
#[test]
#[ignore]
fn forward_times_per_size() {
    let registry = registry(PLUGIN);
    let spec = spec(&HIPPOCAMPUS_STRIDES, 1, 3, Value::Null);
    print_forward_times(&registry, "stunet", &["s", "b"], &spec);
}
