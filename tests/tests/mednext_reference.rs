//! MedNeXt from its run-time plugin computes what the reference implementation
//! (MIC-DKFZ/MedNeXt) computes: MedNeXt-S k3, 3D, 1 input channel, 2 classes, deep supervision,
//! every tensor set to the same fixed weights on both sides, one 32³ input — the five outputs
//! agree to 1e-4 (relative to the output's largest magnitude, at least 1).
//!
//! The fixtures come from `tests/fixtures/mednext/make_fixtures.py` (run with the peer venv and
//! the reference repository on PYTHONPATH; its docstring says how). The weights are not stored:
//! both sides compute them from an integer hash of the tensor name and element index
//! ([`fixed_weights`], `fixed_weights` in the script), exact in float32.

#[path = "support/mednext.rs"]
mod support;

use nnunet_core::tch::{Device, Kind, Tensor, nn, no_grad};
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mednext")
        .join(name)
}

fn fnv1a(name: &str) -> u32 {
    name.bytes().fold(0x811C_9DC5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// The script's `fixed_weights`: `q / 1024 · 2^-k`, `q` in `[-1000, 1000]` from a hash of the
/// name and index, `k = ⌊log2(fan-in) / 2⌋` (`2^-k` about `1 / sqrt(fan-in)`; `k = 3` for
/// vectors).
fn fixed_weights(name: &str, shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    let h = fnv1a(name);
    let fan = if shape.len() >= 2 { n / shape[0] } else { 1 };
    let k = if fan > 1 { (fan.ilog2() / 2) as i32 } else { 3 };
    let scale = 2f64.powi(-k) / 1024.0;
    let values: Vec<f32> = (0..n as u64)
        .map(|i| {
            let mut x = h ^ (i.wrapping_mul(2_654_435_761) as u32);
            x = x.wrapping_mul(0x9E37_79B1);
            x ^= x >> 15;
            let q = (x % 2001) as i64 - 1000;
            (q as f64 * scale) as f32
        })
        .collect();
    Tensor::from_slice(&values).view(shape)
}

#[test]
fn mednext_s_k3_matches_the_reference_implementation() {
    let meta: serde_json::Value =
        nnunet_core::atomic::read_json(&fixture("mednext_s_k3.json")).unwrap();
    let registry = support::registry();
    let mut spec = support::spec(3, serde_json::Value::Null);
    spec.num_outputs = meta["num_outputs"].as_i64().unwrap();
    spec.in_channels = meta["in_channels"].as_i64().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = support::build(&registry, meta["network"].as_str().unwrap(), &vs, &spec);

    // The same tensors under the reference's state_dict names, with its shapes.
    let expected: HashMap<String, Vec<i64>> =
        serde_json::from_value(meta["tensors"].clone()).unwrap();
    let ours: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k.strip_prefix("network.").unwrap_or(&k).to_string(), v))
        .collect();
    let mut names: Vec<&String> = ours.keys().collect();
    let mut reference: Vec<&String> = expected.keys().collect();
    names.sort();
    reference.sort();
    assert_eq!(names, reference);
    no_grad(|| {
        for (name, mut tensor) in ours {
            assert_eq!(tensor.size(), expected[&name], "{name}");
            tensor.copy_(&fixed_weights(&name, &expected[&name]));
        }
    });

    let io: HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture("mednext_s_k3.io.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let outputs = no_grad(|| net.forward_t(&io["input"], false)).unwrap();
    assert_eq!(outputs.len(), 5);
    for (i, output) in outputs.iter().enumerate() {
        let reference = &io[&format!("output_{i}")];
        assert_eq!(output.size(), reference.size(), "output {i}");
        let scale = reference.abs().max().double_value(&[]).max(1.0);
        let diff = (output.to_kind(Kind::Float) - reference)
            .abs()
            .max()
            .double_value(&[]);
        assert!(
            diff <= 1e-4 * scale,
            "output {i}: max |ours - reference| = {diff:.3e} (largest |reference| {scale:.3})"
        );
        eprintln!("output {i}: max |diff| {diff:.2e}, largest |reference| {scale:.3}");
    }
}
