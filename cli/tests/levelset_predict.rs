//! `nnunet predict --postprocess` with the `levelset` plugin (`plugins/levelset`, from
//! `target/plugins/`): nnU-Net's phantom2d model (`../shared/interop`, required) predicts its
//! four inputs with and without the refinement; every refined segmentation is exactly the
//! plugin applied to the plain segmentation and its saved probabilities, the refinement changes
//! some pixels and keeps the structures (Dice ≥ 0.9 against the plain prediction); and
//! `nnunet postprocess apply` on the plain folder (which passes each saved `CASE.npz`) writes
//! the same refined maps.

mod support;

use nnunet_core::serde_json::json;
use nnunet_core::{Postprocessor, Registry};
use nnunet_datasets::io::read_label;
use nnunet_inference::probabilities::read_probability_array;
use std::path::Path;
use support::{Sandbox, built_plugin, interop};

const CASES: [&str; 4] = ["phantom_024", "phantom_025", "phantom_026", "phantom_027"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The lower of the Dice of labels 1 and 2 between two label maps (1 for a label both lack).
fn worst_dice(a: &[i16], b: &[i16]) -> f64 {
    (1..=2)
        .map(|l| {
            let inter = a.iter().zip(b).filter(|&(&x, &y)| x == l && y == l).count();
            let total = a.iter().chain(b).filter(|&&x| x == l).count();
            if total == 0 {
                1.0
            } else {
                2.0 * inter as f64 / total as f64
            }
        })
        .fold(1.0, f64::min)
}

#[test]
fn predict_postprocess_applies_the_levelset_plugin_on_the_probabilities() {
    let root = interop();
    let model =
        root.join("models/Dataset901_Phantom2D/nnUNetTrainer_interop__nnUNetSmallPlans__2d");
    let inputs = root.join("inputs/Dataset901_Phantom2D");
    let plugin = built_plugin("nnunet_plugin_levelset");
    let sandbox = Sandbox::new();
    let options = json!({"mu": 1.0, "iterations": 100});
    let pipeline = sandbox.path().join("postprocessing.json");
    let steps = json!({
        "postprocessors": [{"name": "levelset", "options": options}],
        "file_ending": ".png"
    });
    std::fs::write(&pipeline, steps.to_string()).unwrap();
    let predict = |out: &Path, extra: &[&str]| {
        let mut args = vec!["predict", "-i", s(&inputs), "-o", s(out), "-m", s(&model)];
        args.extend(["-f", "0", "-chk", "checkpoint_best.pth", "--device", "cpu"]);
        args.extend(["--precision", "fp32"]);
        args.extend(extra);
        sandbox.run(&args)
    };
    let plain = sandbox.path().join("plain");
    predict(&plain, &["--save-probabilities"]);
    let refined = sandbox.path().join("refined");
    let out = predict(
        &refined,
        &["--plugin", s(&plugin), "--postprocess", s(&pipeline)],
    );
    assert!(out.contains("postprocessing with levelset"), "{out}");
    // `postprocess apply` on the plain folder passes each saved CASE.npz to the plugin.
    let applied = sandbox.path().join("applied");
    sandbox.run(&[
        "postprocess",
        "apply",
        "-i",
        s(&plain),
        "-o",
        s(&applied),
        "--pp-file",
        s(&pipeline),
        "--plugin",
        s(&plugin),
    ]);

    let mut registry = Registry::empty();
    registry.load_plugin(&plugin).unwrap();
    let post: Box<dyn Postprocessor> =
        (registry.postprocessor("levelset").unwrap().make)(&options).unwrap();
    let mut changed = 0;
    for case in CASES {
        let before = read_label(&plain.join(format!("{case}.png"))).unwrap();
        let after = read_label(&refined.join(format!("{case}.png"))).unwrap();
        let applied = read_label(&applied.join(format!("{case}.png"))).unwrap();
        assert!(
            applied.data == after.data,
            "{case}: postprocess apply differs from predict --postprocess"
        );
        let probabilities = read_probability_array(&plain.join(format!("{case}.npz"))).unwrap();
        let mut expected = before.clone();
        post.apply(&mut expected, Some(&probabilities)).unwrap();
        assert!(
            after.data == expected.data,
            "{case}: not the plugin's own refinement"
        );
        let dice = worst_dice(&before.data, &after.data);
        assert!(
            dice >= 0.9,
            "{case}: Dice {dice:.4} against the plain prediction"
        );
        changed += before
            .data
            .iter()
            .zip(&after.data)
            .filter(|(a, b)| a != b)
            .count();
    }
    eprintln!("levelset changed {changed} pixels of the 4 phantom predictions");
    assert!(changed > 0, "the refinement changed nothing");
}
