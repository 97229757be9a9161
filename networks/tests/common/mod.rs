//! Helpers shared by the integration tests: locating the real-data plans and building networks.

#![allow(dead_code)]

use nnunet_core::tch::{Device, nn};
use nnunet_core::{NetworkSpec, Plans};
use nnunet_networks::{UNet, UNetConfig, UNetKind};
use std::path::PathBuf;

/// `<repo>/../shared/data/nnunetv2_reference`, or `None` after a counted skip (a failure
/// under NNUNET_REQUIRE_SHARED_DATA=1).
pub fn reference_dir() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "nnunetv2_reference")
}

/// The network spec for `configuration` of a reference plans file.
pub fn spec_from_plans(
    plans_file: &str,
    configuration: &str,
    in_channels: i64,
    num_outputs: i64,
) -> Option<(NetworkSpec, Vec<i64>, i64)> {
    let path = reference_dir()?.join(plans_file);
    let plans: Plans = nnunet_core::atomic::read_json(&path).unwrap();
    let config = plans.configuration(configuration).unwrap();
    let architecture = config.architecture.unwrap();
    let patch: Vec<i64> = config
        .patch_size
        .unwrap()
        .iter()
        .map(|&p| p as i64)
        .collect();
    let spec = NetworkSpec {
        spatial_dims: patch.len(),
        in_channels,
        num_outputs,
        architecture,
        deep_supervision: true,
        options: serde_json::Value::Null,
        patch_size: Vec::new(),
    };
    Some((spec, patch, config.batch_size.unwrap() as i64))
}

/// Builds the U-Net the spec names in a fresh CPU store.
pub fn build(spec: &NetworkSpec) -> (nn::VarStore, UNet) {
    let vs = nn::VarStore::new(Device::Cpu);
    let name = nnunet_networks::network_name_for(&spec.architecture).unwrap();
    let kind = match name.as_str() {
        "PlainConvUNet" => UNetKind::Plain,
        "ResidualEncoderUNet" => UNetKind::ResidualEncoder,
        other => panic!("unexpected network {other}"),
    };
    let net = UNet::new(&vs.root(), UNetConfig::from_spec(kind, spec).unwrap()).unwrap();
    (vs, net)
}

pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
