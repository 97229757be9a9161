//! SegResNet from the `monai` run-time plugin trains with `nnunet train` as any network does:
//! on the generated 3D phantom (plans patch [32, 56, 64]), with the plugin from `NNUNET_PLUGINS`,
//! `init_filters = 8` (not the default 16), one epoch of two iterations with deep supervision on
//! (the network returns its one output and the trainer weights it 1), then the fold's
//! validation, which rebuilds the network from the options the checkpoint records; the
//! checkpoint holds MONAI's tensor names at the narrower width and the summary a foreground Dice.
//! SwinUNETR, asked to train on the same plans, is refused with the reason.

use nnunet_tests::{nnunet_binary, plugin_path};
use std::path::Path;
use std::process::Command;

/// `nnunet ARGS` in the sandbox `root`, asserting success; returns its output.
fn run(root: &Path, args: &[&str]) -> String {
    let (ok, text) = try_run(root, args);
    assert!(ok, "nnunet {args:?} failed:\n{text}");
    text
}

/// `nnunet ARGS` in the sandbox `root`: whether it succeeded, and its output.
fn try_run(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(nnunet_binary())
        .args(args)
        .env("nnUNet_raw", root.join("raw"))
        .env("nnUNet_preprocessed", root.join("pre"))
        .env("nnUNet_results", root.join("res"))
        .env("NNUNET_PLUGINS", plugin_path("nnunet_plugin_monai"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn segresnet_trains_on_the_3d_phantom_with_nnunet_train() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    run(
        root,
        &[
            "demo-data",
            "--dim",
            "3",
            "--cases",
            "4",
            "--test-cases",
            "1",
        ],
    );
    run(
        root,
        &["plan-and-preprocess", "-d", "900", "-c", "3d_fullres"],
    );
    let train = [
        "train",
        "-d",
        "900",
        "-c",
        "3d_fullres",
        "-f",
        "0",
        "--network",
        "SegResNet",
        "--network-options",
        r#"{"init_filters": 8}"#,
        "--epochs",
        "1",
        "--iterations-per-epoch",
        "2",
        "--validation-iterations",
        "1",
        "--device",
        "cpu",
        "--workers",
        "1",
    ];
    // SwinUNETR cannot serve the phantom's plans: refused before training, saying why.
    let mut swin = train;
    swin[8] = "SwinUNETR";
    swin[10] = "{}";
    let (ok, text) = try_run(root, &swin);
    assert!(!ok, "SwinUNETR trained on a patch it cannot serve:\n{text}");
    assert!(
        text.contains("SwinUNETR needs every patch dimension divisible by 32, the plans' patch is"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");

    let log = run(root, &train);
    eprintln!("{log}");
    let results = std::fs::read_dir(root.join("res"))
        .unwrap()
        .next()
        .expect("a results dataset folder")
        .unwrap()
        .path();
    let fold = walk(&results)
        .into_iter()
        .find(|p| p.ends_with("fold_0"))
        .expect("fold_0 under the results");
    let checkpoint = fold.join("checkpoint_final.safetensors");
    let tensors = nnunet_core::tch::Tensor::read_safetensors(&checkpoint).unwrap();
    let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    let (_, first) = tensors
        .iter()
        .find(|(n, _)| n == "network.convInit.conv.weight")
        .expect("convInit in the checkpoint");
    assert_eq!(first.size()[0], 8, "init_filters from --network-options");
    for name in [
        "network.convInit.conv.weight",
        "network.conv_final.2.conv.bias",
    ] {
        assert!(
            names.contains(&name),
            "{name} not in {}",
            checkpoint.display()
        );
    }
    let summary: serde_json::Value =
        nnunet_core::atomic::read_json(&fold.join("validation/summary.json")).unwrap();
    let dice = &summary["foreground_mean"]["Dice"];
    assert!(
        dice.is_number(),
        "summary without a foreground Dice: {summary}"
    );
}

/// Every folder under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
            out.push(path);
        }
    }
    out
}
