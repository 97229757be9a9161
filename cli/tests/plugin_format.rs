//! A plugin's image reader/writer works end to end: the 2D phantom converted to the fixture
//! plugin's `.vox` format (dataset.json `file_ending` ".vox", `overwrite_image_reader_writer`
//! "VoxIO") goes through verify → plan and preprocess → train → predict → evaluate → overlay
//! with the plugin loaded through `NNUNET_PLUGINS`. Then `nnunet predict --postprocess` applies
//! the plugin postprocessor `foreground-threshold`, whose output is checked voxel by voxel
//! against the saved probabilities.

mod support;

use nnunet_core::Registry;
use nnunet_datasets::io::{plugin_io, read_image, read_label, write_image, write_label};
use nnunet_inference::probabilities::read_probability_array;
use std::path::{Path, PathBuf};
use support::{Sandbox, brief_train_args, fixture_plugin};

/// Rewrites every PNG of the phantom as `.vox` through the plugin, and points dataset.json
/// at it.
fn convert_to_vox(dataset: &Path) {
    for folder in ["imagesTr", "imagesTs", "labelsTr", "labelsTs"] {
        for entry in std::fs::read_dir(dataset.join(folder)).unwrap() {
            let png = entry.unwrap().path();
            let vox = png.with_extension("vox");
            if folder.starts_with("images") {
                write_image(&vox, &read_image(&[&png]).unwrap()).unwrap();
            } else {
                write_label(&vox, &read_label(&png).unwrap()).unwrap();
            }
            std::fs::remove_file(&png).unwrap();
        }
    }
    let json_path = dataset.join("dataset.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    json["file_ending"] = ".vox".into();
    json["overwrite_image_reader_writer"] = "VoxIO".into();
    std::fs::write(&json_path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

fn vox_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vox"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_plugin_format_goes_through_every_stage_and_plugin_postprocessing_uses_probabilities() {
    let mut registry = Registry::empty();
    registry.load_plugin(&fixture_plugin()).unwrap();
    plugin_io::install_from(&registry).unwrap();

    let sandbox = Sandbox::new();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    sandbox.run(&[
        "demo-data",
        "--dim",
        "2",
        "--cases",
        "6",
        "--test-cases",
        "2",
    ]);
    let dataset = sandbox.path().join("raw/Dataset901_Phantom2D");
    convert_to_vox(&dataset);

    // Without the plugin the dataset is refused, naming the reader/writer.
    let out = sandbox
        .command("res", &["verify", "-d", "901"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("\"VoxIO\" is not a reader/writer we know"),
        "{text}"
    );
    // verify exits non-zero on any error, e.g. a file ending it cannot read
    sandbox.run_with_fixture(&["verify", "-d", "901"]);
    sandbox.run_with_fixture(&["plan-and-preprocess", "-d", "901", "-c", "2d"]);
    let train = brief_train_args("901", "2d", "0", 1, 2);
    let mut train: Vec<&str> = train.iter().map(String::as_str).collect();
    train.push("--no-validation");
    sandbox.run_with_fixture(&train);

    let (images, labels) = (dataset.join("imagesTs"), dataset.join("labelsTs"));
    let plain = sandbox.path().join("pred");
    let predict = |output: &Path, extra: &[&str]| {
        let mut args = vec![
            "predict".to_string(),
            "-i".into(),
            s(&images),
            "-o".into(),
            s(output),
            "-d".into(),
            "901".into(),
            "-c".into(),
            "2d".into(),
            "-f".into(),
            "0".into(),
            "--device".into(),
            "cpu".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sandbox.run_with_fixture(&args)
    };
    predict(&plain, &["--save-probabilities"]);
    let predictions = vox_files(&plain);
    assert_eq!(predictions.len(), 2, "one .vox segmentation per test case");
    for (prediction, reference) in predictions.iter().zip(vox_files(&labels)) {
        assert_eq!(
            read_label(prediction).unwrap().shape,
            read_label(&reference).unwrap().shape
        );
    }
    let out = sandbox.run_with_fixture(&["evaluate", &s(&labels), &s(&plain), "-d", "901"]);
    assert!(out.contains("foreground mean Dice"), "{out}");
    assert!(plain.join("summary.json").is_file());
    let overlays = sandbox.path().join("overlays");
    sandbox.run_with_fixture(&[
        "overlay",
        "-i",
        &s(&images),
        "-g",
        &s(&labels),
        "-p",
        &s(&plain),
        "-o",
        &s(&overlays),
        "-d",
        "901",
    ]);
    assert!(std::fs::read_dir(&overlays).unwrap().count() >= 2);

    // Plugin postprocessing: the threshold is the median of case 0's top foreground
    // probability, so that it changes the prediction whatever the network learnt.
    let probabilities: Vec<_> = predictions
        .iter()
        .map(|p| read_probability_array(&p.with_extension("npz")).unwrap())
        .collect();
    let top_foreground = |p: &nnunet_core::tch::Tensor| {
        let classes = p.size()[0];
        let (best, class) = p.narrow(0, 1, classes - 1).max_dim(0, false);
        (
            Vec::<f32>::try_from(best.flatten(0, -1)).unwrap(),
            Vec::<i64>::try_from(class.flatten(0, -1)).unwrap(),
        )
    };
    let mut first = top_foreground(&probabilities[0]).0;
    first.sort_by(f32::total_cmp);
    let threshold = first[first.len() / 2] as f64;
    let pipeline = sandbox.path().join("postprocessing.json");
    std::fs::write(
        &pipeline,
        serde_json::json!({
            "postprocessors": [{"name": "foreground-threshold", "options": {"threshold": threshold}}],
            "file_ending": ".vox"
        })
        .to_string(),
    )
    .unwrap();
    let postprocessed = sandbox.path().join("pred_pp");
    let out = predict(&postprocessed, &["--postprocess", &s(&pipeline)]);
    assert!(
        out.contains("postprocessing with foreground-threshold"),
        "{out}"
    );
    let mut changed = 0;
    for ((prediction, probability), after) in predictions
        .iter()
        .zip(&probabilities)
        .zip(vox_files(&postprocessed))
    {
        let before = read_label(prediction).unwrap().data;
        let after = read_label(&after).unwrap().data;
        let (best, class) = top_foreground(probability);
        for v in 0..after.len() {
            let expected = if best[v] as f64 >= threshold {
                class[v] as i16 + 1
            } else {
                0
            };
            assert_eq!(after[v], expected, "voxel {v} of {}", prediction.display());
            changed += usize::from(after[v] != before[v]);
        }
    }
    assert!(changed > 0, "the postprocessor changed nothing");
}
