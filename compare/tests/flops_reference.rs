//! The FLOPs a comparison reports (`nnunet_networks::flops_per_patch`, counted on libtorch's
//! dispatcher) against `torch.utils.flop_counter.FlopCounterMode` on nnU-Net's own
//! PlainConvUNet and ResidualEncoderUNet (dynamic_network_architectures), built from the
//! Hippocampus reference plans in ../shared, 2d and 3d_fullres, with and without deep
//! supervision: equal. Fixtures: `fixtures/flops_reference.json`, written by
//! `fixtures/make_flops_fixtures.py`. (The plugin networks' counts are checked against their
//! reference implementations in tests/tests/flops_reference.rs.)

use nnunet_core::tch::Device;
use nnunet_core::{Plans, Registry};
use serde_json::Value;
use std::path::PathBuf;

#[test]
fn counted_flops_equal_torch_flop_counter() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest.join("tests/fixtures/flops_reference.json")).unwrap(),
    )
    .unwrap();
    let plans_dir = manifest.join("../../shared/data/nnunetv2_reference/Dataset004_Hippocampus");
    let registry = Registry::with_builtins().unwrap();
    let cases = fixtures["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let file = plans_dir.join(case["plans"].as_str().unwrap());
        let plans: Plans = nnunet_core::atomic::read_json(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let configuration = plans
            .configuration(case["configuration"].as_str().unwrap())
            .unwrap();
        let deep_supervision = case["deep_supervision"].as_bool().unwrap();
        let spec = nnunet_networks::network_spec_from_plans(
            &configuration,
            None,
            Some(3),
            deep_supervision,
        )
        .unwrap();
        let patch: Vec<i64> = case["patch_size"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let network = case["network"].as_str().unwrap();
        let got = nnunet_networks::flops_per_patch(&registry, network, &spec, &patch, Device::Cpu)
            .unwrap();
        assert_eq!(Some(got.total()), case["flops"].as_u64(), "{case}");
        assert_eq!(got.total(), got.convolution, "{case}: convolutions only");
    }
}
