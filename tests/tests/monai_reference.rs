//! SwinUNETR, UNETR and SegResNet from the `monai` run-time plugin compute what MONAI 1.6
//! computes: for each network, in 3D and 2D, a small configuration with every parameter set to
//! the same fixed weights on both sides and one fixed input gives outputs equal to MONAI's to
//! 1e-4 (relative to the output's largest magnitude, at least 1); the parameter counts of the
//! default configurations equal MONAI's; plans a network cannot serve are refused saying why;
//! with deep supervision asked for, each still returns its one output.
//!
//! The fixtures come from `tests/fixtures/monai/make_fixtures.py` (its docstring says how to run
//! it). Weights and inputs are not stored: both sides compute them from an integer hash of the
//! tensor name and element index (`nnunet_tests::reference::fixed_weights`), exact in float32.

#[path = "support/monai.rs"]
mod support;

use nnunet_core::NetworkSpec;
use nnunet_core::tch::{Device, Tensor, nn, no_grad};
use nnunet_tests::reference::{assert_close, fixed_weights, load_fixed_weights};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use support::{build, count, registry, spec};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/monai")
        .join(name)
}

fn meta() -> Value {
    nnunet_core::atomic::read_json(&fixture("monai.json")).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Builds `case` of the fixtures with fixed weights, runs the fixed input, compares.
fn check_case(case: &str) {
    let meta = meta();
    let m = &meta["cases"][case];
    let registry = registry();
    let input_shape = ints(&m["input_shape"]);
    let spec = spec(
        m["in_channels"].as_i64().unwrap(),
        m["num_outputs"].as_i64().unwrap(),
        &input_shape[2..],
        m["options"].clone(),
    );
    let vs = nn::VarStore::new(Device::Cpu);
    let net = build(&registry, m["network"].as_str().unwrap(), &vs, &spec).unwrap();
    assert_eq!(
        count(&vs),
        m["parameters"].as_i64().unwrap(),
        "{case}: parameters"
    );
    let expected: HashMap<String, Vec<i64>> = serde_json::from_value(m["tensors"].clone()).unwrap();
    load_fixed_weights(&vs, "network.", &expected);

    let scale = meta["input_scale"].as_f64().unwrap();
    let x = fixed_weights("input", &input_shape) * scale;
    let start = std::time::Instant::now();
    let outputs = no_grad(|| net.forward_t(&x, false)).unwrap();
    eprintln!(
        "{case}: forward {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(
        outputs.len(),
        1,
        "{case}: one output with deep supervision on"
    );
    let stride = m["output_stride"].as_i64().unwrap();
    let ours = (2..outputs[0].dim() as i64).fold(outputs[0].shallow_clone(), |t, axis| {
        t.slice(axis, 0, None, stride)
    });
    let io: HashMap<String, Tensor> = Tensor::read_safetensors(fixture("monai.io.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    assert_close(case, &ours, &io[case], 1e-4);
}

#[test]
fn segresnet_3d_matches_monai() {
    check_case("segresnet_3d");
}

#[test]
fn segresnet_2d_matches_monai() {
    check_case("segresnet_2d");
}

#[test]
fn unetr_3d_matches_monai() {
    check_case("unetr_3d");
}

#[test]
fn unetr_2d_matches_monai() {
    check_case("unetr_2d");
}

#[test]
fn swinunetr_3d_matches_monai() {
    check_case("swinunetr_3d");
}

#[test]
fn swinunetr_2d_matches_monai() {
    check_case("swinunetr_2d");
}

#[test]
fn default_parameter_counts_equal_monai() {
    let meta = meta();
    let registry = registry();
    for (name, m) in meta["defaults"].as_object().unwrap() {
        let vs = nn::VarStore::new(Device::Cpu);
        let patch = ints(&m["patch"]);
        let spec = spec(1, m["num_outputs"].as_i64().unwrap(), &patch, Value::Null);
        build(&registry, name, &vs, &spec).unwrap();
        let want = m["parameters"].as_i64().unwrap();
        eprintln!("{name}: {} parameters (MONAI {want})", count(&vs));
        assert_eq!(count(&vs), want, "{name}");
    }
}

#[test]
fn plans_they_cannot_serve_are_refused_saying_why() {
    let registry = registry();
    let refused_spec = |name: &str, spec: NetworkSpec| {
        let vs = nn::VarStore::new(Device::Cpu);
        match build(&registry, name, &vs, &spec) {
            Ok(_) => panic!("{name} accepted the patch {:?}", spec.patch_size),
            Err(e) => e.to_string(),
        }
    };
    let refused =
        |name: &str, patch: &[i64], options: Value| refused_spec(name, spec(1, 3, patch, options));
    let e = refused("SwinUNETR", &[40, 56, 40], Value::Null);
    assert!(
        e.contains("SwinUNETR needs every patch dimension divisible by 32, the plans' patch is [40, 56, 40]"),
        "{e}"
    );
    let e = refused("UNETR", &[64, 56, 64], Value::Null);
    assert!(
        e.contains("divisible by 16") && e.contains("[64, 56, 64]"),
        "{e}"
    );
    let e = refused("SegResNet", &[40, 56, 36], Value::Null);
    assert!(
        e.contains("divisible by 8") && e.contains("[40, 56, 36]"),
        "{e}"
    );
    // UNETR's position embeddings need the patch.
    let mut unknown_patch = spec(1, 3, &[64, 64, 64], Value::Null);
    unknown_patch.patch_size.clear();
    let e = refused_spec("UNETR", unknown_patch);
    assert!(e.contains("patch"), "{e}");
    let e = refused("SwinUNETR", &[64, 64], json!({"feature_size": 20}));
    assert!(e.contains("divisible by 12"), "{e}");
    let e = refused("SegResNet", &[64, 64], json!({"blocks": 3}));
    assert!(e.contains("unknown option \"blocks\""), "{e}");
    let e = refused("SegResNet", &[64, 64, 64, 64], Value::Null);
    assert!(e.contains("spatial_dims must be 2 or 3"), "{e}");
    // An input the network cannot take is an error, not a panic.
    let vs = nn::VarStore::new(Device::Cpu);
    let options = json!({"feature_size": 12});
    let net = build(&registry, "SwinUNETR", &vs, &spec(1, 2, &[64, 64], options)).unwrap();
    let x = Tensor::zeros([1, 1, 48, 64], (nnunet_core::tch::Kind::Float, Device::Cpu));
    let e = no_grad(|| net.forward_t(&x, false))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("the input is [48, 64]"), "{e}");
}

/// Not run by default: the CPU forward time of each default configuration for one 64³ patch,
/// batch 1 (the figures in docs/networks-and-losses.md).
/// `cargo test --release -p nnunet-tests --test monai_reference -- --ignored`
#[test]
#[ignore]
fn forward_time_at_default_configs() {
    let registry = registry();
    let patch = [64, 64, 64];
    let x = Tensor::randn(
        [1, 1, 64, 64, 64],
        (nnunet_core::tch::Kind::Float, Device::Cpu),
    );
    for name in ["SwinUNETR", "UNETR", "SegResNet"] {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = build(&registry, name, &vs, &spec(1, 3, &patch, Value::Null)).unwrap();
        no_grad(|| net.forward_t(&x, false)).unwrap();
        let start = std::time::Instant::now();
        for _ in 0..3 {
            no_grad(|| net.forward_t(&x, false)).unwrap();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / 3.0;
        eprintln!(
            "{name}: {} parameters, {ms:.0} ms per 64³ forward",
            count(&vs)
        );
    }
}
