//! Training learns: the demo's 2D phantom reaches a foreground Dice of 0.9 on its held-out test
//! images within the demo's own budget, and a short Hippocampus 3d_fullres run beats a stated
//! bar on fold 0's validation cases (the bar and its reason: docs/training.md, "Tests that
//! training learns").

mod support;

use serde_json::Value;
use std::path::Path;
use support::{Sandbox, shared_data};

/// `foreground_mean` Dice of an nnU-Net `summary.json`.
fn foreground_dice(summary: &Path) -> f64 {
    let text =
        std::fs::read_to_string(summary).unwrap_or_else(|e| panic!("{}: {e}", summary.display()));
    let json: Value = serde_json::from_str(&text).unwrap();
    json["foreground_mean"]["Dice"]
        .as_f64()
        .unwrap_or_else(|| panic!("{}: no foreground_mean Dice", summary.display()))
}

#[test]
fn demo_phantom_reaches_dice_0_9() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .args(["demo", "--dir"])
        .arg(&work)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "nnunet demo failed:\n{text}");
    let dice = foreground_dice(&work.join("predictions/summary.json"));
    eprintln!("demo phantom: foreground mean Dice {dice:.4} on the 4 test images");
    assert!(dice >= 0.9, "foreground Dice {dice:.4} < 0.9\n{text}");
}

/// Budget of the Hippocampus run: epochs × iterations at batch size 2 (the plans say 7; 2 keeps
/// the run near 6 minutes on a 2-core CPU, docs/training.md).
const HIPPOCAMPUS_TRAINING: &str = "[training]\nepochs = 5\niterations_per_epoch = 50\nvalidation_iterations = 1\nbatch_size = 2\n";
/// Foreground-mean Dice the run must beat on fold 0's validation cases (docs/training.md).
const HIPPOCAMPUS_BAR: f64 = 0.3;

/// Trains fold 0 briefly (`nnunet run` with a TOML experiment: the batch size is a `[training]`
/// key); the run's own final validation then predicts fold 0's validation cases with nnU-Net's
/// protocol (sliding window, mirroring) and scores them into `fold_0/validation/summary.json`.
#[test]
fn hippocampus_3d_fullres_beats_the_bar_on_fold_0() {
    let data = shared_data().expect("../shared/data is required (Dataset004_Hippocampus)");
    let raw = data.join("Dataset004_Hippocampus");
    let sandbox = Sandbox::new();
    std::os::unix::fs::symlink(&raw, sandbox.path().join("raw/Dataset004_Hippocampus")).unwrap();
    sandbox.run(&["plan-and-preprocess", "-d", "4", "-c", "3d_fullres"]);
    let experiment = sandbox.path().join("hippocampus.toml");
    let toml = format!(
        "dataset = \"4\"\nconfiguration = \"3d_fullres\"\nfolds = [0]\ndevice = \"cpu\"\n\
         workers = 2\n{HIPPOCAMPUS_TRAINING}"
    );
    std::fs::write(&experiment, toml).unwrap();
    let log = sandbox.run(&["run", experiment.to_str().unwrap()]);
    let val = sandbox.validation_cases("Dataset004_Hippocampus", 0);
    assert!(val.len() > 30, "fold 0 has {} validation cases", val.len());
    let summary = sandbox.path().join(
        "res/Dataset004_Hippocampus/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/validation/summary.json",
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let scored = json["metric_per_case"].as_array().map_or(0, Vec::len);
    assert_eq!(scored, val.len(), "{}: cases scored", summary.display());
    let dice = foreground_dice(&summary);
    eprintln!(
        "hippocampus fold 0: foreground mean Dice {dice:.4} on its {} validation cases",
        val.len()
    );
    assert!(
        dice > HIPPOCAMPUS_BAR,
        "fold 0 validation Dice {dice:.4} does not beat {HIPPOCAMPUS_BAR}\n{log}"
    );
}
