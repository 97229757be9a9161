//! MedNeXt from its run-time plugin computes what the reference implementation
//! (MIC-DKFZ/MedNeXt) computes: MedNeXt-S k3, 3D, 1 input channel, 2 classes, deep supervision,
//! every tensor set to the same fixed weights on both sides, one 32³ input — the five outputs
//! agree to 1e-4 (relative to the output's largest magnitude, at least 1).
//!
//! The fixtures come from `tests/fixtures/mednext/make_fixtures.py` (run with the peer venv and
//! the reference repository on PYTHONPATH; its docstring says how). The weights are not stored:
//! both sides compute them from an integer hash of the tensor name and element index
//! (`nnunet_tests::reference::fixed_weights`, `fixed_weights` in the script), exact in float32.

#[path = "support/mednext.rs"]
mod support;

use nnunet_core::tch::{Device, Tensor, nn, no_grad};
use nnunet_tests::reference::{assert_close, load_fixed_weights};
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mednext")
        .join(name)
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
    load_fixed_weights(&vs, "network.", &expected);

    let io: HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture("mednext_s_k3.io.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let outputs = no_grad(|| net.forward_t(&io["input"], false)).unwrap();
    assert_eq!(outputs.len(), 5);
    for (i, output) in outputs.iter().enumerate() {
        assert_close(
            &format!("output {i}"),
            output,
            &io[&format!("output_{i}")],
            1e-4,
        );
    }
}
