//! Plugins built out of tree by `scripts/build-plugins.sh`, each in a temporary folder with its
//! own Cargo.lock: the `nnunet plugin new` scaffold (`my-focal`, debug profile, serde_json pinned
//! at 1.0.140 with `arbitrary_precision`) and MedNeXt (release). Both load into the release
//! `nnunet` and this workspace's registry.

use nnunet_core::serde_json::json;
use nnunet_core::tch::nn::{self, Module, OptimizerConfig};
use nnunet_core::tch::{Device, Kind, Reduction, Tensor};
use nnunet_core::{LossSpec, Registry};
use nnunet_tests::{nnunet_binary, plugin_path};
use std::path::PathBuf;
use std::process::Command;

fn nnunet(args: &[&str]) -> String {
    let out = Command::new(nnunet_binary()).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nnunet {args:?} failed:\n{stdout}{stderr}"
    );
    stdout
}

fn path_str(path: &std::path::Path) -> String {
    path.canonicalize().unwrap().to_string_lossy().into_owned()
}

#[test]
fn the_release_nnunet_lists_the_debug_scaffold_and_mednext() {
    let scaffold = plugin_path("my_focal");
    let mednext = plugin_path("nnunet_plugin_mednext");
    let listing = nnunet(&[
        "plugins",
        "list",
        "--plugin",
        &path_str(&scaffold),
        "--plugin",
        &path_str(&mednext),
    ]);
    let line = |name: &str| {
        let found = listing
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")));
        found
            .unwrap_or_else(|| panic!("{name} not listed:\n{listing}"))
            .to_string()
    };
    assert!(line("my-focal").contains(&path_str(&scaffold)), "{listing}");
    assert!(
        line("mednext-s-k3").contains(&path_str(&mednext)),
        "{listing}"
    );
    assert!(line("mednext").contains("AdamW"), "{listing}");
}

/// Two-class logits from a 1×1 convolution; the label is `x > 0`.
fn toy_batch() -> (Tensor, Tensor) {
    nnunet_core::tch::manual_seed(7);
    let x = Tensor::randn([4, 1, 8, 8], (Kind::Float, Device::Cpu));
    let y = x.gt(0.0).to_kind(Kind::Int64);
    (x, y)
}

#[test]
fn training_steps_use_the_scaffolded_loss_and_its_options_cross_intact() {
    let mut registry = Registry::empty();
    registry.load_plugin(&plugin_path("my_focal")).unwrap();
    // Options cross as JSON text: the plugin's own serde_json (another version, with
    // arbitrary_precision) reads them as written. gamma = 0 is exactly cross-entropy.
    let spec = |options| LossSpec {
        options,
        ..Default::default()
    };
    let plain = registry
        .build_loss("my-focal", &spec(json!({ "gamma": 0.0 })))
        .unwrap();
    let (x, y) = toy_batch();
    let logits = Tensor::cat(&[-&x, x.shallow_clone()], 1) * 0.7;
    let ce =
        logits.cross_entropy_loss::<Tensor>(&y.squeeze_dim(1), None, Reduction::Mean, -100, 0.0);
    let got = plain.compute(&logits, &y).unwrap();
    assert!((got.double_value(&[]) - ce.double_value(&[])).abs() < 1e-6);
    let err = registry
        .build_loss("my-focal", &spec(json!({ "gamma": "high" })))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("my-focal: bad option gamma"),
        "{err}"
    );

    // A few SGD steps through the plugin's loss: gradients flow back across the boundary.
    let loss = registry
        .build_loss("my-focal", &spec(json!({ "gamma": 2 })))
        .unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let conv = nn::conv2d(vs.root() / "c", 1, 2, 1, Default::default());
    let mut sgd = nn::Sgd::default().build(&vs, 1.0).unwrap();
    let step = |sgd: &mut nn::Optimizer| {
        let value = loss.compute(&conv.forward(&x), &y).unwrap();
        sgd.backward_step(&value);
        value.double_value(&[])
    };
    let first = step(&mut sgd);
    let last = (0..40).map(|_| step(&mut sgd)).last().unwrap();
    assert!(last < first * 0.5, "focal loss went from {first} to {last}");
}

#[test]
fn summary_shows_mednext_s_reference_parameter_count() {
    let plans = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/nnunetv2_reference/Dataset004_Hippocampus/nnUNetPlans.json");
    assert!(
        plans.is_file(),
        "{} is missing (../shared/data)",
        plans.display()
    );
    let mednext = path_str(&plugin_path("nnunet_plugin_mednext"));
    let summary = nnunet(&[
        "summary",
        "--plans",
        &path_str(&plans),
        "-c",
        "3d_fullres",
        "--network",
        "mednext-s-k3",
        "--num-classes",
        "3",
        "--plugin",
        &mednext,
    ]);
    // The reference implementation's count for MedNeXt-S k3, 1 channel in, 3 classes out.
    assert!(summary.contains("parameters: 5,553,840"), "{summary}");
}
