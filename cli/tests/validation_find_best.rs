//! End-of-fold validation through `nnunet train` on a generated 2D phantom (1 epoch of 2
//! iterations): `fold_0/validation` holds one label map per validation case of
//! `splits_final.json`, each in its raw label's geometry, and `summary.json` scores exactly
//! those cases; `--val --npz` re-validates without training and saves probabilities; `postprocess determine/apply` and
//! `find-best` run on the result.

mod support;

use support::{Sandbox, brief_train_args};

#[test]
fn training_validates_the_fold_and_find_best_uses_it() {
    let env = Sandbox::new();
    env.prepare_phantom_2d("res", 6);
    let train = brief_train_args("901", "2d", "0", 1, 2);
    let out = env.run(&train);
    assert!(out.contains("foreground-mean Dice"), "{out}");

    let model = env
        .path()
        .join("res/Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d");
    let validation = model.join("fold_0/validation");
    let val = env.validation_cases("Dataset901_Phantom2D", 0);
    assert!(!val.is_empty());
    let mut written: Vec<String> = std::fs::read_dir(&validation)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    written.sort();
    let mut expected: Vec<String> = val.iter().map(|c| format!("{c}.png")).collect();
    expected.sort();
    assert_eq!(written, expected);
    for case in &val {
        let raw = nnunet_datasets::io::read_label(
            &env.path()
                .join(format!("raw/Dataset901_Phantom2D/labelsTr/{case}.png")),
        )
        .unwrap();
        let pred =
            nnunet_datasets::io::read_label(&validation.join(format!("{case}.png"))).unwrap();
        assert_eq!(pred.shape, raw.shape, "{case}");
        assert_eq!(pred.geometry, raw.geometry, "{case}");
    }
    let summary_text = std::fs::read_to_string(validation.join("summary.json")).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&summary_text.replace("NaN", "null")).unwrap();
    let mut scored: Vec<String> = summary["metric_per_case"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let p = c["prediction_file"].as_str().unwrap();
            std::path::Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    scored.sort();
    assert_eq!(scored, expected);
    assert!(
        summary["foreground_mean"]["Dice"].is_number()
            || summary["foreground_mean"]["Dice"].is_null()
    );

    // --val: validation only; the checkpoint is untouched.
    let checkpoint = model.join("fold_0/checkpoint_final.safetensors");
    let modified = std::fs::metadata(&checkpoint).unwrap().modified().unwrap();
    std::fs::remove_dir_all(&validation).unwrap();
    let mut val_only = train.clone();
    val_only.extend(["--val".into(), "--npz".into()]);
    let out = env.run(&val_only);
    assert!(!out.contains("epoch(s) run"), "{out}");
    assert!(validation.join("summary.json").is_file());
    for case in &val {
        assert!(validation.join(format!("{case}.npz")).is_file(), "{case}");
    }
    assert_eq!(
        std::fs::metadata(&checkpoint).unwrap().modified().unwrap(),
        modified
    );

    // Postprocessing on fold 0's cross-validation predictions, then applied.
    let out = env.run(&[
        "postprocess",
        "determine",
        "-d",
        "901",
        "-c",
        "2d",
        "-f",
        "0",
    ]);
    let merged = model.join("crossval_results_folds_0");
    let pp_file = merged.join("postprocessing.json");
    assert!(pp_file.is_file(), "{out}");
    assert!(merged.join("postprocessed/summary.json").is_file());
    let applied = env.path().join("applied");
    env.run(&[
        "postprocess",
        "apply",
        "-i",
        validation.to_str().unwrap(),
        "-o",
        applied.to_str().unwrap(),
        "--pp-file",
        pp_file.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_dir(&applied).unwrap().count(), val.len());

    // find-best over the one trained configuration.
    let out = env.run(&["find-best", "-d", "901", "-f", "0"]);
    assert!(
        out.contains("*Best*: nnUNetTrainer__nnUNetPlans__2d"),
        "{out}"
    );
    let info = env
        .path()
        .join("res/Dataset901_Phantom2D/inference_information.json");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(info).unwrap()).unwrap();
    assert_eq!(
        info["best_model_or_ensemble"]["selected_model_or_models"][0]["configuration"],
        "2d"
    );
    assert!(
        env.path()
            .join("res/Dataset901_Phantom2D/inference_instructions.txt")
            .is_file()
    );
}
