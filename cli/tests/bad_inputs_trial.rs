//! Bad input found by the 90-kind trial (`scripts/bad_input_trial.sh`, docs/reliability.md):
//! each test pins one fix, built from the phantom generator like `bad_inputs.rs`.

#[path = "support/bad_input.rs"]
mod bad_input;
mod support;

use bad_input::{assert_mentions, edit_json, fails, phantom};
use std::path::Path;
use support::Sandbox;

#[test]
fn preprocess_of_only_missing_configurations_fails_naming_them() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 2);
    let text = fails(&sandbox, &["preprocess", "-d", "901", "-c", "3d_fullres"]);
    assert_mentions(&text, &["nnUNetPlans.json", "3d_fullres", "available: 2d"]);
}

#[test]
fn broken_plans_and_refused_trainings_leave_no_fold_folder() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 2);
    let plans = sandbox
        .path()
        .join("pre/Dataset901_Phantom2D/nnUNetPlans.json");
    let original = std::fs::read(&plans).unwrap();
    let results = sandbox.path().join("res/Dataset901_Phantom2D");
    let train = |extra: &[&str]| {
        let mut args = support::brief_train_args("901", "2d", "0", 1, 1);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = fails(&sandbox, &args);
        assert!(!results.exists(), "a refused training left {results:?}");
        text
    };
    edit_json(&plans, |json| {
        json["configurations"]["2d"]["batch_size"] = serde_json::json!(0);
    });
    let text = run(train(&[]));
    assert_mentions(&text, &["nnUNetPlans.json", "batch_size (0)"]);
    edit_json(&plans, |json| {
        json["configurations"]["2d"]["batch_size"] = serde_json::json!(2);
        json["configurations"]["2d"]["patch_size"] = serde_json::json!(["a", "b"]);
    });
    let text = run(train(&[]));
    assert_mentions(&text, &["nnUNetPlans.json", "(in \"patch_size\")"]);
    std::fs::write(&plans, original).unwrap();
    // Refused by the trainer, after the fold was prepared.
    let text = run(train(&["--network", "nosuch"]));
    assert_mentions(&text, &["nosuch"]);
    let text = run(train(&["--loss", "nosuch"]));
    assert_mentions(&text, &["nosuch"]);
    // A split naming a case that is not preprocessed.
    std::fs::write(
        sandbox
            .path()
            .join("pre/Dataset901_Phantom2D/splits_final.json"),
        r#"[{"train": ["phantom_000", "phantom_999"], "val": ["phantom_001"]}]"#,
    )
    .unwrap();
    let text = run(train(&[]));
    assert_mentions(&text, &["phantom_999"]);
}

#[test]
fn a_label_without_its_image_is_a_warning() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 3);
    std::fs::remove_file(raw.join("imagesTr/phantom_002_0000.png")).unwrap();
    let text = sandbox.run(&["fingerprint", "-d", "901"]);
    assert_mentions(&text, &["WARN", "phantom_002.png", "no image"]);
}

#[test]
fn predict_refuses_zero_parts_and_writing_into_its_input_folder() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 2);
    let images = raw.join("imagesTs");
    let before = std::fs::read_dir(&images).unwrap().count();
    let predict = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "predict".to_string(),
            "-i".into(),
            images.display().to_string(),
            "-o".into(),
            out.display().to_string(),
            "-d".into(),
            "901".into(),
            "-c".into(),
            "2d".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let out = sandbox.path().join("out");
    let args = predict(&out, &["--num-parts", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = fails(&sandbox, &args);
    assert_mentions(&text, &["--num-parts 0"]);
    assert!(!out.exists());
    let args = predict(&images, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = fails(&sandbox, &args);
    assert_mentions(&text, &["imagesTs", "is the input folder"]);
    assert_eq!(std::fs::read_dir(&images).unwrap().count(), before);
}

#[test]
fn find_best_names_the_configurations_it_skipped() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 2);
    let text = fails(
        &sandbox,
        &["find-best", "-d", "901", "-c", "nosuch", "-f", "0"],
    );
    assert_mentions(&text, &["no trained configuration", "nosuch"]);
}

#[test]
fn failed_model_imports_and_installs_leave_nothing() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 2);
    let pre = sandbox.path().join("pre/Dataset901_Phantom2D");
    // An nnU-Net model folder whose checkpoint is not a .pth.
    let model = sandbox.path().join("nnUNetTrainer__nnUNetPlans__2d");
    std::fs::create_dir_all(model.join("fold_0")).unwrap();
    std::fs::copy(pre.join("nnUNetPlans.json"), model.join("plans.json")).unwrap();
    std::fs::copy(pre.join("dataset.json"), model.join("dataset.json")).unwrap();
    std::fs::write(model.join("fold_0/checkpoint_final.pth"), b"not a pth").unwrap();
    let imported = sandbox.path().join("imported");
    let text = fails(
        &sandbox,
        &[
            "import-nnunet",
            "-i",
            model.to_str().unwrap(),
            "-o",
            imported.to_str().unwrap(),
        ],
    );
    assert_mentions(&text, &["checkpoint_final.pth"]);
    assert!(!imported.exists(), "import-nnunet left {imported:?}");

    // A model zip without plans.json.
    let zip_path = sandbox.path().join("model.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let folder = "Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d";
    zip.start_file(format!("{folder}/dataset.json"), options)
        .unwrap();
    std::io::Write::write_all(&mut zip, &std::fs::read(pre.join("dataset.json")).unwrap()).unwrap();
    zip.start_file(format!("{folder}/fold_0/checkpoint_final.pth"), options)
        .unwrap();
    std::io::Write::write_all(&mut zip, b"not a pth").unwrap();
    zip.finish().unwrap();
    let installed = sandbox.path().join("installed");
    let text = fails(
        &sandbox,
        &[
            "install-model-zip",
            zip_path.to_str().unwrap(),
            "--results",
            installed.to_str().unwrap(),
        ],
    );
    assert_mentions(&text, &["plans.json"]);
    assert!(!installed.exists(), "install-model-zip left {installed:?}");
}

#[test]
fn negative_numbers_reach_the_checks_that_name_them() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 2);
    // clap alone would answer "unexpected argument '-4' found".
    let text = fails(&sandbox, &["plan", "-d", "901", "--gpu-memory-gb", "-4"]);
    assert_mentions(&text, &["--gpu-memory-gb must be positive, got -4"]);
    let images = sandbox.path().join("raw/Dataset901_Phantom2D/imagesTs");
    let out = sandbox.path().join("out");
    let text = fails(
        &sandbox,
        &[
            "predict",
            "-i",
            images.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "901",
            "-c",
            "2d",
            "--step-size",
            "-0.5",
        ],
    );
    assert_mentions(&text, &["step size -0.5 is invalid"]);
}
