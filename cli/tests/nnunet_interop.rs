//! nnU-Net v2 interoperability, on the model folders nnU-Net 2.8.1 itself trained
//! (`../shared/interop`, custom trainer and plans names, `checkpoint_final.pth` in 3D and
//! `checkpoint_best.pth` in 2D):
//!
//! * `nnunet predict -m FOLDER` reproduces nnU-Net's own predictions in float32 with nnU-Net's
//!   float16 sliding-window sums (`--accumulate fp16`): Dice ≥ 0.999 per case and label,
//!   probabilities within 1e-3; with our float32 sums and in bfloat16 the agreement is
//!   printed (and bounded);
//! * model round trips give identical outputs: nnU-Net → import-nnunet (ours) →
//!   export-nnunet → import-nnunet → predict, and export-model-zip → install-model-zip →
//!   predict with nnU-Net's `-d -c -tr -p` naming;
//! * `--num-parts/--part-id` split the cases and `--continue-prediction` skips finished ones.
//!
//! FAILS when ../shared/interop is absent.

mod support;

use nnunet_core::tch::{Kind, Tensor};
use nnunet_inference::probabilities::read_probability_array;
use std::path::{Path, PathBuf};
use support::{Sandbox, interop};

const CASES: [&str; 4] = ["phantom_024", "phantom_025", "phantom_026", "phantom_027"];

struct Golden {
    model: PathBuf,
    inputs: PathBuf,
    predictions: PathBuf,
    checkpoint: String,
    ending: &'static str,
}

fn golden(name: &str) -> Golden {
    let root = interop();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let m = manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap();
    let path = |key: &str| root.join(m[key].as_str().unwrap());
    Golden {
        model: path("model_folder"),
        inputs: path("inputs"),
        predictions: path("nnunet_predictions"),
        checkpoint: m["checkpoint"].as_str().unwrap().to_string(),
        ending: if name == "phantom2d" {
            ".png"
        } else {
            ".nii.gz"
        },
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `nnunet predict` with nnU-Net's spellings, on the CPU, with probabilities.
fn predict(sandbox: &Sandbox, model: &[&str], inputs: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["predict", "-i", s(inputs), "-o", s(out)];
    args.extend(model);
    args.extend(["-f", "0", "--save_probabilities", "-device", "cpu"]);
    args.extend(["--disable_progress_bar"]);
    args.extend(extra);
    sandbox.run(&args)
}

/// Dice of label `l` between two label maps (1 when both lack it).
fn dice(a: &[i16], b: &[i16], l: i16) -> f64 {
    let (mut inter, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        na += (x == l) as usize;
        nb += (y == l) as usize;
        inter += (x == l && y == l) as usize;
    }
    if na + nb == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (na + nb) as f64
    }
}

/// Worst per-case, per-label Dice and worst probability difference of `ours` against `theirs`.
fn agreement(ours: &Path, theirs: &Path, ending: &str) -> (f64, f64) {
    let (mut worst_dice, mut worst_prob) = (1.0f64, 0.0f64);
    for case in CASES {
        let a = nnunet_datasets::io::read_label(&ours.join(format!("{case}{ending}"))).unwrap();
        let b = nnunet_datasets::io::read_label(&theirs.join(format!("{case}{ending}"))).unwrap();
        assert_eq!(a.shape, b.shape, "{case}");
        for l in 1..=2 {
            worst_dice = worst_dice.min(dice(&a.data, &b.data, l));
        }
        let p = read_probability_array(&ours.join(format!("{case}.npz"))).unwrap();
        let q = read_probability_array(&theirs.join(format!("{case}.npz"))).unwrap();
        assert_eq!(p.size(), q.size(), "{case}: probability shapes");
        worst_prob = worst_prob.max((p - q).abs().max().double_value(&[]));
    }
    (worst_dice, worst_prob)
}

/// Every segmentation and probability file of two prediction folders is identical.
fn assert_identical(a: &Path, b: &Path, ending: &str) {
    for case in CASES {
        let seg = |d: &Path| std::fs::read(d.join(format!("{case}{ending}"))).unwrap();
        assert!(seg(a) == seg(b), "{case}: segmentations differ");
        let p: Tensor = read_probability_array(&a.join(format!("{case}.npz"))).unwrap();
        let q: Tensor = read_probability_array(&b.join(format!("{case}.npz"))).unwrap();
        assert!(p.equal(&q), "{case}: probabilities differ");
    }
}

/// Predicts the golden inputs of `name` with `extra` flags; returns the worst Dice and
/// probability difference against nnU-Net's own outputs.
fn against_nnunet(name: &str, sandbox: &Sandbox, extra: &[&str]) -> (f64, f64) {
    let g = golden(name);
    let model = ["-m", s(&g.model), "-chk", &g.checkpoint];
    let out = sandbox.path().join(extra.join("_").replace('-', ""));
    predict(sandbox, &model, &g.inputs, &out, extra);
    let (dice, prob) = agreement(&out, &g.predictions, g.ending);
    println!(
        "{name} {extra:?} vs nnU-Net: worst Dice {dice:.5}, worst probability difference {prob:.2e}"
    );
    (dice, prob)
}

#[test]
fn phantom3d_predictions_reproduce_nnunet() {
    let sandbox = Sandbox::new();
    // nnU-Net sums the sliding window in float16: so does --accumulate fp16.
    let (dice, prob) = against_nnunet(
        "phantom3d",
        &sandbox,
        &["--precision", "fp32", "--accumulate", "fp16"],
    );
    assert!(dice >= 0.999, "Dice {dice} < 0.999");
    assert!(prob <= 1e-3, "probabilities differ by {prob}");
}

#[test]
fn phantom2d_predictions_reproduce_nnunet() {
    let sandbox = Sandbox::new();
    let (dice, prob) = against_nnunet(
        "phantom2d",
        &sandbox,
        &["--precision", "fp32", "--accumulate", "fp16"],
    );
    assert!(dice >= 0.999, "Dice {dice} < 0.999");
    assert!(prob <= 1e-3, "probabilities differ by {prob}");
    // Our default float32 sums differ from nnU-Net's float16 ones by its rounding.
    let (dice, prob) = against_nnunet("phantom2d", &sandbox, &["--precision", "fp32"]);
    assert!(dice >= 0.999, "fp32 sums: Dice {dice} < 0.999");
    assert!(prob <= 3e-3, "fp32 sums: probabilities differ by {prob}");
    let (dice, _) = against_nnunet("phantom2d", &sandbox, &["--precision", "bf16"]);
    assert!(dice >= 0.95, "bf16: Dice {dice}");
}

#[test]
fn model_round_trips_predict_identically() {
    let g = golden("phantom2d");
    let sandbox = Sandbox::new();
    let folder = "nnUNetTrainer_interop__nnUNetSmallPlans__2d";
    // nnU-Net's folder → ours → nnU-Net's → ours again.
    let ours = sandbox.path().join("res/Dataset901_Phantom2D").join(folder);
    sandbox.run(&["import-nnunet", "-i", s(&g.model), "-o", s(&ours)]);
    assert!(ours.join("fold_0/checkpoint_best.safetensors").is_file());
    let exported = sandbox.path().join("exported").join(folder);
    sandbox.run(&["export-nnunet", "-i", s(&ours), "-o", s(&exported)]);
    let again = sandbox.path().join("again").join(folder);
    sandbox.run(&["import-nnunet", "-i", s(&exported), "-o", s(&again)]);

    let run = |model: &Path, out: &str| {
        let out = sandbox.path().join(out);
        predict(
            &sandbox,
            &["-m", s(model), "-chk", "best"],
            &g.inputs,
            &out,
            &["--precision", "fp32"],
        );
        out
    };
    let reference = run(&ours, "pred_ours");
    assert_identical(&reference, &run(&exported, "pred_exported"), g.ending);
    assert_identical(&reference, &run(&again, "pred_again"), g.ending);

    // Model zip: export ours, install into a fresh results folder, predict by name.
    let zip = sandbox.path().join("model.zip");
    sandbox.run(&[
        "export-model-zip",
        "-o",
        s(&zip),
        "-m",
        s(&ours),
        "--chk",
        "checkpoint_best.pth",
    ]);
    std::fs::create_dir_all(sandbox.path().join("res2")).unwrap();
    sandbox.run_in("res2", &["install-model-zip", s(&zip)]);
    assert!(
        sandbox
            .path()
            .join("res2/Dataset901_Phantom2D")
            .join(folder)
            .join("fold_0/checkpoint_best.pth")
            .is_file()
    );
    let out = sandbox.path().join("pred_zip");
    let args = [
        "predict",
        "-i",
        s(&g.inputs),
        "-o",
        s(&out),
        "-d",
        "Dataset901_Phantom2D",
        "-c",
        "2d",
        "-tr",
        "nnUNetTrainer_interop",
        "-p",
        "nnUNetSmallPlans",
        "-f",
        "0",
        "-chk",
        "checkpoint_best.pth",
        "--save_probabilities",
        "-device",
        "cpu",
        "--precision",
        "fp32",
    ];
    sandbox.run_in("res2", &args);
    assert_identical(&reference, &out, g.ending);
}

#[test]
fn parts_and_continued_predictions_cover_every_case_once() {
    let g = golden("phantom2d");
    let sandbox = Sandbox::new();
    let model = ["-m", s(&g.model), "-chk", "checkpoint_best.pth"];
    let out = sandbox.path().join("out");
    let first = predict(
        &sandbox,
        &model,
        &g.inputs,
        &out,
        &["-num_parts", "2", "-part_id", "1"],
    );
    assert!(first.contains("2 segmentation(s) written"), "{first}");
    assert!(out.join("phantom_025.png").is_file() && out.join("phantom_027.png").is_file());
    assert!(!out.join("phantom_024.png").exists());
    let rest = predict(
        &sandbox,
        &model,
        &g.inputs,
        &out,
        &["--continue_prediction"],
    );
    assert!(rest.contains("2 segmentation(s) written"), "{rest}");
    for case in CASES {
        assert!(out.join(format!("{case}.png")).is_file(), "{case}");
    }
    let err = sandbox
        .command(
            "res",
            &[
                "predict",
                "-i",
                s(&g.inputs),
                "-o",
                s(&out),
                "-m",
                s(&g.model),
                "--num-parts",
                "2",
                "--part-id",
                "2",
            ],
        )
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("--part-id 2"));
}

/// `nnunet predict` with every `extra` flag, the CPU and float32, saving probabilities.
fn predict_folds(sandbox: &Sandbox, model: &Path, inputs: &Path, out: &Path, folds: &[&str]) {
    let mut args = vec!["predict", "-i", s(inputs), "-o", s(out), "-m", s(model)];
    args.extend(["-chk", "best", "-f"]);
    args.extend(folds);
    args.extend([
        "--save_probabilities",
        "-device",
        "cpu",
        "--precision",
        "fp32",
    ]);
    sandbox.run(&args);
}

/// A fold ensemble read from `.pth` checkpoints: nnU-Net's fold 0 plus a second fold (the same
/// network with every tensor scaled by 0.9, so it predicts differently), exported to nnU-Net's
/// layout. `-f 0 1` from the `.pth` folder equals `-f 0 1` from ours, and its probabilities are
/// the two folds' averaged logits, as nnU-Net ensembles folds: softmax((la + lb) / 2), which is
/// the normalised geometric mean √(pa·pb) / Σ √(pa·pb) of the folds' own probabilities.
#[test]
fn fold_ensembles_from_pth_checkpoints() {
    let g = golden("phantom2d");
    let sandbox = Sandbox::new();
    let folder = "nnUNetTrainer_interop__nnUNetSmallPlans__2d";
    let ours = sandbox.path().join("ours").join(folder);
    sandbox.run(&["import-nnunet", "-i", s(&g.model), "-o", s(&ours)]);
    let fold1 = ours.join("fold_1");
    std::fs::create_dir_all(&fold1).unwrap();
    for entry in std::fs::read_dir(ours.join("fold_0")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, fold1.join(path.file_name().unwrap())).unwrap();
        }
    }
    let weights = fold1.join("checkpoint_best.safetensors");
    let scaled: Vec<(String, Tensor)> = Tensor::read_safetensors(&weights)
        .unwrap()
        .into_iter()
        .map(|(name, t)| match t.is_floating_point() {
            true => (name, t * 0.9),
            false => (name, t),
        })
        .collect();
    Tensor::write_safetensors(&scaled, &weights).unwrap();
    let exported = sandbox.path().join("exported").join(folder);
    sandbox.run(&["export-nnunet", "-i", s(&ours), "-o", s(&exported)]);
    assert!(exported.join("fold_1/checkpoint_best.pth").is_file());

    let run = |model: &Path, out: &str, folds: &[&str]| {
        let out = sandbox.path().join(out);
        predict_folds(&sandbox, model, &g.inputs, &out, folds);
        out
    };
    let ensemble = run(&exported, "pth_01", &["0", "1"]);
    assert_identical(&ensemble, &run(&ours, "ours_01", &["0", "1"]), g.ending);
    let (f0, f1) = (
        run(&exported, "pth_0", &["0"]),
        run(&exported, "pth_1", &["1"]),
    );
    let mut fold_difference = 0.0f64;
    for case in CASES {
        let p = |d: &Path| read_probability_array(&d.join(format!("{case}.npz"))).unwrap();
        let (e, a, b) = (p(&ensemble), p(&f0), p(&f1));
        fold_difference = fold_difference.max((&a - &b).abs().max().double_value(&[]));
        let geometric = (&a * &b).sqrt();
        let expected = &geometric / geometric.sum_dim_intlist(0, true, Kind::Float);
        let mean_error = (e - expected).abs().max().double_value(&[]);
        assert!(
            mean_error < 1e-4,
            "{case}: ensemble differs from the folds' averaged logits by {mean_error:.2e}"
        );
    }
    assert!(
        fold_difference > 1e-3,
        "the two folds predict alike ({fold_difference:.2e})"
    );
}

/// `--processes 2` starts two workers that split the cases between them: every case is
/// predicted once, exactly as one process predicts it; a bad worker count is refused.
#[test]
fn worker_processes_split_the_cases() {
    let g = golden("phantom2d");
    let sandbox = Sandbox::new();
    let model = ["-m", s(&g.model), "-chk", "checkpoint_best.pth"];
    let one = sandbox.path().join("one");
    predict(&sandbox, &model, &g.inputs, &one, &["--precision", "fp32"]);
    let two = sandbox.path().join("two");
    let text = predict(
        &sandbox,
        &model,
        &g.inputs,
        &two,
        &["--precision", "fp32", "--processes", "2"],
    );
    assert_eq!(
        text.matches("2 segmentation(s) written").count(),
        2,
        "{text}"
    );
    assert_identical(&one, &two, g.ending);
    let err = sandbox
        .command(
            "res",
            &[
                "predict",
                "-i",
                s(&g.inputs),
                "-o",
                s(&two),
                "-m",
                s(&g.model),
            ],
        )
        .args(["--processes", "0"])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("--processes must be a positive number"));
}
