//! `determine_postprocessing` on constructed cross-validation folders: a spurious blob makes
//! "keep the largest component" win; true multi-part structures make it lose; a spurious blob
//! of one label is removed per class only. Then `find_best_configuration` on hand-made
//! validation folders of two configurations with two folds each.
//!
//! nnU-Net 2.8.1's own `determine_postprocessing`, run on the same three constructed folders
//! (written with SimpleITK), makes the same three choices: all foreground labels `[1, 2]`;
//! nothing; label 2 alone.

use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{DatasetDescriptor, Geometry, LabelMap};
use nnunet_inference::postprocess::determine::determine_postprocessing;
use nnunet_inference::postprocess::{
    LARGEST_COMPONENT, LARGEST_COMPONENT_PER_CLASS, PostprocessingFile, apply_to_folder,
    build_steps,
};
use nnunet_inference::probabilities::{LabelGrid, write_probabilities};
use std::path::Path;

const SHAPE: [usize; 3] = [4, 12, 12];

fn dataset() -> DatasetDescriptor {
    serde_json::from_value(serde_json::json!({
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "organ": 1, "lesion": 2},
        "numTraining": 2,
        "file_ending": ".nii.gz"
    }))
    .unwrap()
}

/// A map with boxes `(label, z0..z1, y0..y1, x0..x1)` painted in order.
fn map(boxes: &[(i16, [usize; 6])]) -> LabelMap {
    let [nz, ny, nx] = SHAPE;
    let mut data = vec![0i16; nz * ny * nx];
    for &(label, [z0, z1, y0, y1, x0, x1]) in boxes {
        for z in z0..z1 {
            for y in y0..y1 {
                for x in x0..x1 {
                    data[(z * ny + y) * nx + x] = label;
                }
            }
        }
    }
    LabelMap {
        shape: SHAPE,
        data,
        geometry: Geometry::default(),
        is_2d: false,
    }
}

fn write(dir: &Path, name: &str, label: &LabelMap) {
    std::fs::create_dir_all(dir).unwrap();
    nnunet_datasets::io::write_label(&dir.join(format!("{name}.nii.gz")), label).unwrap();
}

const ORGAN: (i16, [usize; 6]) = (1, [0, 4, 1, 7, 1, 7]);
const LESION_IN_ORGAN: (i16, [usize; 6]) = (2, [1, 3, 3, 5, 3, 5]);
const SPECK: [usize; 6] = [0, 1, 10, 12, 10, 12];

#[test]
fn spurious_blob_makes_largest_component_win() {
    let tmp = tempfile::tempdir().unwrap();
    let (gt, pred) = (tmp.path().join("gt"), tmp.path().join("pred"));
    for case in ["a", "b"] {
        write(&gt, case, &map(&[ORGAN, LESION_IN_ORGAN]));
    }
    write(&pred, "a", &map(&[ORGAN, LESION_IN_ORGAN, (1, SPECK)]));
    write(&pred, "b", &map(&[ORGAN, LESION_IN_ORGAN]));
    let d = determine_postprocessing(&pred, &gt, &dataset()).unwrap();
    assert_eq!(
        d.file.postprocessors.len(),
        1,
        "{:?}",
        d.file.postprocessors
    );
    assert_eq!(d.file.postprocessors[0].name, LARGEST_COMPONENT);
    assert_eq!(
        d.file.postprocessors[0].options["labels"],
        serde_json::json!([1, 2])
    );
    assert!(d.baseline.mean["1"]["Dice"] < 1.0);
    assert_eq!(d.postprocessed.mean["1"]["Dice"], 1.0);
    assert_eq!(d.postprocessed.foreground_mean["Dice"], 1.0);
    assert!(pred.join("postprocessed/a.nii.gz").is_file());
    assert!(pred.join("postprocessed/summary.json").is_file());
    assert!(pred.join("summary.json").is_file());
    // nnU-Net's keys are there too.
    let text = std::fs::read_to_string(&d.file_path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["postprocessing_fns"][0],
        "remove_all_but_largest_component_from_segmentation"
    );
    assert_eq!(json["postprocessed"]["foreground_mean"]["Dice"], 1.0);

    // `apply` with the written file reproduces the postprocessed folder.
    let file = PostprocessingFile::read(&d.file_path).unwrap();
    let registry = nnunet_core::Registry::with_builtins().unwrap();
    let pipeline = build_steps(&registry, &file.postprocessors).unwrap();
    let out = tmp.path().join("applied");
    let names = apply_to_folder(&pipeline, &pred, &out, &file.file_ending).unwrap();
    assert_eq!(names, vec!["a.nii.gz", "b.nii.gz"]);
    let applied = nnunet_datasets::io::read_label(&out.join("a.nii.gz")).unwrap();
    assert_eq!(applied.data, map(&[ORGAN, LESION_IN_ORGAN]).data);
}

#[test]
fn true_separate_parts_refuse_postprocessing() {
    let tmp = tempfile::tempdir().unwrap();
    let (gt, pred) = (tmp.path().join("gt"), tmp.path().join("pred"));
    // The organ really has two parts; the prediction finds both, plus a lesion inside.
    let truth = map(&[ORGAN, (1, [0, 2, 9, 12, 9, 12]), LESION_IN_ORGAN]);
    for case in ["a", "b"] {
        write(&gt, case, &truth);
        write(&pred, case, &truth);
    }
    let d = determine_postprocessing(&pred, &gt, &dataset()).unwrap();
    assert!(
        d.file.postprocessors.is_empty(),
        "{:?}",
        d.file.postprocessors
    );
    assert_eq!(d.postprocessed.foreground_mean["Dice"], 1.0);
    let out = nnunet_datasets::io::read_label(&pred.join("postprocessed/a.nii.gz")).unwrap();
    assert_eq!(out.data, truth.data);
}

#[test]
fn spurious_blob_of_one_label_is_removed_per_class() {
    let tmp = tempfile::tempdir().unwrap();
    let (gt, pred) = (tmp.path().join("gt"), tmp.path().join("pred"));
    // Organ and lesion apart: keeping only the largest foreground component would delete the
    // lesion (refused); keeping the largest lesion component removes the speck (accepted).
    let lesion = (2, [0, 2, 9, 11, 1, 3]);
    for case in ["a", "b"] {
        write(&gt, case, &map(&[ORGAN, lesion]));
    }
    write(&pred, "a", &map(&[ORGAN, lesion, (2, SPECK)]));
    write(&pred, "b", &map(&[ORGAN, lesion]));
    let d = determine_postprocessing(&pred, &gt, &dataset()).unwrap();
    assert_eq!(
        d.file.postprocessors.len(),
        1,
        "{:?}",
        d.file.postprocessors
    );
    assert_eq!(d.file.postprocessors[0].name, LARGEST_COMPONENT_PER_CLASS);
    assert_eq!(
        d.file.postprocessors[0].options["labels"],
        serde_json::json!([2])
    );
    assert_eq!(d.postprocessed.mean["2"]["Dice"], 1.0);
    assert_eq!(d.postprocessed.mean["1"]["Dice"], 1.0);
}

/// nnUNet_preprocessed/DatasetX with plans, and nnUNet_results/DatasetX with two
/// configurations' fold_0/fold_1 validation folders (one case each per fold).
fn fake_results(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pre = root.join("pre/Dataset999_Fake");
    let res = root.join("res/Dataset999_Fake");
    let plans = serde_json::json!({
        "dataset_name": "Dataset999_Fake",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [1.0, 1.0, 1.0],
        "original_median_shape_after_transp": SHAPE,
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {"2d": {"data_identifier": "d2"}, "3d_fullres": {"data_identifier": "d3"}},
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {}
    });
    std::fs::create_dir_all(&pre).unwrap();
    std::fs::write(pre.join("nnUNetPlans.json"), plans.to_string()).unwrap();
    let gt = pre.join("gt_segmentations");
    let truth = map(&[ORGAN, LESION_IN_ORGAN]);
    for case in ["a", "b", "c", "d"] {
        write(&gt, case, &truth);
    }
    // 2d: perfect but a speck in case a; 3d_fullres: misses the lesion in every case.
    for (config, cases) in [
        (
            "2d",
            [
                map(&[ORGAN, LESION_IN_ORGAN, (1, SPECK)]),
                truth.clone(),
                truth.clone(),
                truth.clone(),
            ],
        ),
        (
            "3d_fullres",
            [map(&[ORGAN]), map(&[ORGAN]), map(&[ORGAN]), map(&[ORGAN])],
        ),
    ] {
        let dir = res.join(format!("nnUNetTrainer__nnUNetPlans__{config}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plans.json"), plans.to_string()).unwrap();
        std::fs::write(
            dir.join("dataset.json"),
            serde_json::to_string(&dataset()).unwrap(),
        )
        .unwrap();
        for (i, (case, label)) in ["a", "b", "c", "d"].iter().zip(&cases).enumerate() {
            write(&dir.join(format!("fold_{}/validation", i % 2)), case, label);
        }
    }
    (pre, res)
}

#[test]
fn find_best_ranks_configurations_and_writes_instructions() {
    use nnunet_inference::find_best::{FindBestRequest, TrainedModel, find_best_configuration};
    let tmp = tempfile::tempdir().unwrap();
    let (pre, res) = fake_results(tmp.path());
    let model = |c: &str| TrainedModel {
        plans: "nnUNetPlans".into(),
        configuration: c.into(),
        trainer: "nnUNetTrainer".into(),
    };
    let outcome = find_best_configuration(&FindBestRequest {
        results_dataset_dir: res.clone(),
        preprocessed_dataset_dir: pre.clone(),
        dataset_name_or_id: "999".into(),
        models: vec![model("3d_fullres"), model("2d"), model("3d_lowres")],
        folds: vec!["0".into(), "1".into()],
        allow_ensembling: false,
    })
    .unwrap();
    assert_eq!(outcome.best, "nnUNetTrainer__nnUNetPlans__2d");
    assert_eq!(
        outcome.all_results.len(),
        2,
        "3d_lowres is not in the plans"
    );
    assert!(outcome.notes.iter().any(|n| n.contains("3d_lowres")));
    assert_eq!(outcome.result_post_pp, 1.0);
    assert!(outcome.result_pre_pp < 1.0);
    let merged = res.join("nnUNetTrainer__nnUNetPlans__2d/crossval_results_folds_0_1");
    for case in ["a", "b", "c", "d"] {
        assert!(merged.join(format!("{case}.nii.gz")).is_file());
    }
    assert!(merged.join("postprocessing.json").is_file());
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(res.join("inference_information.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["folds"], serde_json::json!([0, 1]));
    let best = &info["best_model_or_ensemble"];
    assert_eq!(best["selected_model_or_models"][0]["configuration"], "2d");
    assert_eq!(
        best["selected_model_or_models"][0]["plans_identifier"],
        "nnUNetPlans"
    );
    assert_eq!(best["result_on_crossval_post_pp"], 1.0);
    assert!(
        best["postprocessing_file"]
            .as_str()
            .unwrap()
            .ends_with("crossval_results_folds_0_1/postprocessing.json")
    );
    let text = std::fs::read_to_string(res.join("inference_instructions.txt")).unwrap();
    assert!(
        text.contains("nnunet predict -d 999 -i INPUT_FOLDER -o OUTPUT_FOLDER -f 0 1"),
        "{text}"
    );
    assert!(
        text.contains("nnunet postprocess apply -i OUTPUT_FOLDER"),
        "{text}"
    );

    // Ensembling asked for, but no probabilities saved: the pair is skipped with a note.
    let request = FindBestRequest {
        results_dataset_dir: res.clone(),
        preprocessed_dataset_dir: pre.clone(),
        dataset_name_or_id: "999".into(),
        models: vec![model("3d_fullres"), model("2d")],
        folds: vec!["0".into(), "1".into()],
        allow_ensembling: true,
    };
    let outcome = find_best_configuration(&request).unwrap();
    assert_eq!(outcome.all_results.len(), 2);
    assert!(
        outcome.notes.iter().any(|n| n.contains("skipped")),
        "{:?}",
        outcome.notes
    );

    // With probabilities (confident 2d, hesitant 3d_fullres) the pair is ensembled: the 2d
    // model's votes win every disagreement, so the ensemble ties with 2d, and a tie goes to
    // the single configuration.
    for (config, confidence) in [("2d", 0.9), ("3d_fullres", 0.6)] {
        let dir = res.join(format!("nnUNetTrainer__nnUNetPlans__{config}"));
        for (i, case) in ["a", "b", "c", "d"].iter().enumerate() {
            let validation = dir.join(format!("fold_{}/validation", i % 2));
            let label = nnunet_datasets::io::read_label(&validation.join(format!("{case}.nii.gz")))
                .unwrap();
            let seg = Tensor::from_slice(&label.data).to_kind(Kind::Int64).view([
                SHAPE[0] as i64,
                SHAPE[1] as i64,
                SHAPE[2] as i64,
            ]);
            let rest = (1.0 - confidence) / 2.0;
            let probabilities = seg.one_hot(3).permute([3, 0, 1, 2]).to_kind(Kind::Float)
                * (confidence - rest)
                + rest;
            write_probabilities(&validation, case, &probabilities, &LabelGrid::of(&label)).unwrap();
        }
    }
    let outcome = find_best_configuration(&request).unwrap();
    let name =
        "ensemble___nnUNetTrainer__nnUNetPlans__3d_fullres___nnUNetTrainer__nnUNetPlans__2d___0_1";
    assert_eq!(outcome.all_results.len(), 3, "{:?}", outcome.notes);
    assert_eq!(outcome.all_results[2].0, name);
    assert_eq!(outcome.all_results[2].1, outcome.all_results[1].1);
    assert_eq!(outcome.best, "nnUNetTrainer__nnUNetPlans__2d");
    let ensemble = res.join("ensembles").join(name);
    for case in ["a", "b", "c", "d"] {
        assert!(ensemble.join(format!("{case}.nii.gz")).is_file());
    }
    assert!(ensemble.join("summary.json").is_file());

    // A case predicted by two folds is an error naming it.
    let dup = res.join("nnUNetTrainer__nnUNetPlans__2d/fold_1/validation/a.nii.gz");
    std::fs::copy(merged.join("a.nii.gz"), &dup).unwrap();
    let err = find_best_configuration(&FindBestRequest {
        results_dataset_dir: res.clone(),
        preprocessed_dataset_dir: pre,
        dataset_name_or_id: "999".into(),
        models: vec![model("2d")],
        folds: vec!["0".into(), "1".into()],
        allow_ensembling: false,
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("a.nii.gz") && err.contains("more than one fold"),
        "{err}"
    );
}
