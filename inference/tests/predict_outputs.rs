//! `predict_folder` end to end with a tiny, randomly initialised PlainConvUNet: saved
//! probabilities beside the segmentations (shape, sums, argmax = label map, geometry), the
//! cascade's previous-stage input (refused without it, a missing case named), and ensembling
//! the saved probabilities of two prediction folders — also of a 3D TIFF dataset, whose
//! segmentations' spacing sidecars (`CASE.json`, nnU-Net's `Tiff3DIO`) the probability
//! sidecars (`CASE.npz.json`) leave alone.

use nnunet_core::tch::{Device, Kind, Tensor, nn::VarStore};
use nnunet_core::{
    DatasetDescriptor, Geometry, Image, NetworkSpec, Plans, Precision, Registry, atomic,
};
use nnunet_inference::ensemble::ensemble_folders;
use nnunet_inference::predict::{FolderOptions, Model, PredictOptions, predict_folder};
use nnunet_inference::probabilities::read_probabilities;
use nnunet_networks as _;
use nnunet_trainers::checkpoint::{self, CheckpointMeta};
use serde_json::json;
use std::path::{Path, PathBuf};

const SHAPE: [usize; 3] = [4, 12, 14];

fn plans() -> Plans {
    let k = vec![3, 3, 3];
    let arch = json!({
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": 2, "features_per_stage": [4, 8],
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [k, k], "strides": [[1, 1, 1], [1, 2, 2]],
            "n_conv_per_stage": [1, 1], "n_conv_per_stage_decoder": [1],
            "conv_bias": true,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": true},
            "dropout_op": null, "dropout_op_kwargs": null,
            "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": true}
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]
    });
    let config = |id: &str| {
        json!({"data_identifier": id, "batch_size": 2, "patch_size": [4, 8, 8],
               "spacing": [2.0, 1.0, 1.0], "normalization_schemes": ["ZScoreNormalization"],
               "use_mask_for_norm": [false], "batch_dice": false, "architecture": arch.clone()})
    };
    serde_json::from_value(json!({
        "dataset_name": "Dataset991_Tiny", "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [2.0, 1.0, 1.0],
        "original_median_shape_after_transp": SHAPE,
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 2, 1], "transpose_backward": [0, 2, 1],
        "configurations": {
            "3d_fullres": config("nnUNetPlans_3d_fullres"),
            "3d_lowres": config("nnUNetPlans_3d_lowres"),
            "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}
        },
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {}
    }))
    .unwrap()
}

fn dataset() -> DatasetDescriptor {
    serde_json::from_value(json!({
        "channel_names": {"0": "MRI"},
        "labels": {"background": 0, "a": 1, "b": 2},
        "numTraining": 2,
        "file_ending": ".nii.gz"
    }))
    .unwrap()
}

/// A model folder with one randomly initialised fold (`seed` picks the weights).
fn model_dir(root: &Path, configuration: &str, in_channels: i64, seed: i64) -> PathBuf {
    let dir = root.join(format!("model_{configuration}_{seed}"));
    let plans = plans();
    atomic::write_json(&dir.join("plans.json"), &plans).unwrap();
    atomic::write_json(&dir.join("dataset.json"), &dataset()).unwrap();
    nnunet_core::tch::manual_seed(seed);
    let registry = Registry::with_builtins().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let spec = NetworkSpec {
        spatial_dims: 3,
        in_channels,
        num_outputs: 3,
        architecture: plans
            .configuration(configuration)
            .unwrap()
            .architecture
            .unwrap(),
        deep_supervision: false,
        options: json!({}),
        patch_size: Vec::new(),
    };
    let _network = registry
        .build_network("PlainConvUNet", &vs.root(), &spec)
        .unwrap();
    let meta = CheckpointMeta {
        format: checkpoint::CHECKPOINT_FORMAT,
        generation: 1,
        epoch: 1,
        options: Default::default(),
        network: "PlainConvUNet".into(),
        network_options: serde_json::Value::Null,
        loss: "dice+ce".into(),
        inference_allowed_mirroring_axes: None,
        trainer: "nnUNetTrainer".into(),
        configuration: configuration.into(),
        fold: "0".into(),
        plans_sha256: String::new(),
        dataset_fingerprint_sha256: String::new(),
        best_ema_pseudo_dice: None,
        log: Default::default(),
    };
    checkpoint::save(&dir.join("fold_0"), "checkpoint_final", &vs, &[], &meta).unwrap();
    dir
}

fn geometry() -> Geometry {
    Geometry {
        spacing: [2.0, 1.0, 1.0],
        origin: [10.0, -5.0, 3.0],
        ..Default::default()
    }
}

/// Two cases `case_00{0,1}_0000.nii.gz`.
fn inputs(root: &Path) -> PathBuf {
    let dir = root.join("input");
    for k in 0..2 {
        let n: usize = SHAPE.iter().product();
        let data: Vec<f32> = (0..n).map(|i| ((i * (7 + k)) % 11) as f32).collect();
        let image = Image {
            shape: SHAPE,
            channels: vec![data],
            geometry: geometry(),
            is_2d: false,
        };
        nnunet_datasets::io::write_image(&dir.join(format!("case_00{k}_0000.nii.gz")), &image)
            .unwrap();
    }
    dir
}

fn load(dir: &Path, configuration: &str) -> Model {
    load_with(dir, configuration, Precision::Float32)
}

fn load_with(dir: &Path, configuration: &str, precision: Precision) -> Model {
    let options = PredictOptions {
        model_dir: dir.to_path_buf(),
        configuration: configuration.into(),
        folds: vec!["0".into()],
        checkpoint: "checkpoint_final".into(),
        step_size: 0.5,
        mirroring: false,
        device: Device::Cpu,
        precision,
    };
    Model::load(&Registry::with_builtins().unwrap(), &options).unwrap()
}

#[test]
fn saved_probabilities_match_the_segmentations_and_ensemble() {
    let root = tempfile::tempdir().unwrap();
    let input = inputs(root.path());
    let mut outputs = Vec::new();
    for seed in [1, 2] {
        let model = load(&model_dir(root.path(), "3d_fullres", 1, seed), "3d_fullres");
        let out = root.path().join(format!("pred_{seed}"));
        let options = FolderOptions {
            save_probabilities: true,
            ..Default::default()
        };
        let written = predict_folder(&model, &input, &out, &options).unwrap();
        assert_eq!(written.len(), 2);
        for path in &written {
            let seg = nnunet_datasets::io::read_label(path).unwrap();
            assert_eq!(seg.shape, SHAPE);
            assert_eq!(seg.geometry, geometry());
            let case = path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".nii.gz", "");
            let saved = read_probabilities(&out.join(format!("{case}.npz"))).unwrap();
            let p = &saved.probabilities;
            assert_eq!(p.size(), [3, 4, 12, 14]);
            assert_eq!(p.kind(), Kind::Float);
            let sums = p.sum_dim_intlist(0, false, Kind::Float);
            assert!((sums - 1.0).abs().max().double_value(&[]) < 1e-5);
            let argmax = p.argmax(0, false).to_kind(Kind::Int16).flatten(0, -1);
            let labels = Tensor::from_slice(&seg.data);
            assert!(
                argmax.equal(&labels),
                "argmax of the probabilities ≠ label map"
            );
            assert_eq!(saved.grid.shape, SHAPE);
            assert_eq!(saved.grid.geometry, geometry());
        }
        assert!(out.join("dataset.json").is_file() && out.join("plans.json").is_file());
        outputs.push(out);
    }
    // Ensemble of the two folders = argmax of the averaged probabilities.
    let merged = root.path().join("ensemble");
    let written = ensemble_folders(&outputs, &merged, &dataset(), false).unwrap();
    assert_eq!(written.len(), 2);
    let a = read_probabilities(&outputs[0].join("case_001.npz")).unwrap();
    let b = read_probabilities(&outputs[1].join("case_001.npz")).unwrap();
    let expected = ((a.probabilities + b.probabilities) / 2.0)
        .argmax(0, false)
        .to_kind(Kind::Int16)
        .flatten(0, -1);
    let got = nnunet_datasets::io::read_label(&merged.join("case_001.nii.gz")).unwrap();
    assert!(expected.equal(&Tensor::from_slice(&got.data)));
    assert_eq!(got.geometry, geometry());
}

/// Two cases `case_00{0,1}_0000.tif` (3D TIFF with its spacing sidecar `case_00k.json`): the
/// centre of two 3D phantoms of `nnunet demo-data`, cropped to `SHAPE`.
fn tiff_inputs(root: &Path) -> (PathBuf, [f64; 3]) {
    use nnunet_datasets::phantom::{Dim, phantom_case, phantom_grid};
    let dir = root.join("input_tif");
    let (full, spacing) = phantom_grid(Dim::Three);
    let start: [usize; 3] = std::array::from_fn(|a| (full[a] - SHAPE[a]) / 2);
    for k in 0..2 {
        let (phantom, _) = phantom_case(Dim::Three, 1234, k);
        let mut data = Vec::new();
        for z in 0..SHAPE[0] {
            for y in 0..SHAPE[1] {
                let row = ((start[0] + z) * full[1] + start[1] + y) * full[2] + start[2];
                data.extend_from_slice(&phantom.channels[0][row..row + SHAPE[2]]);
            }
        }
        let image = Image {
            shape: SHAPE,
            channels: vec![data],
            geometry: Geometry {
                spacing,
                ..Default::default()
            },
            is_2d: false,
        };
        nnunet_datasets::io::write_image(&dir.join(format!("case_00{k}_0000.tif")), &image)
            .unwrap();
    }
    (dir, spacing)
}

/// The spacing in a 3D TIFF's sidecar, as nnU-Net's `Tiff3DIO` reads it.
fn tiff_sidecar_spacing(path: &Path) -> Vec<f64> {
    let sidecar: serde_json::Value = atomic::read_json(path).unwrap();
    serde_json::from_value(sidecar["spacing"].clone())
        .unwrap_or_else(|_| panic!("{}: no spacing in {sidecar}", path.display()))
}

#[test]
fn tiff_predictions_keep_their_spacing_sidecars_beside_saved_probabilities() {
    let root = tempfile::tempdir().unwrap();
    let (input, spacing) = tiff_inputs(root.path());
    let tif_dataset = DatasetDescriptor {
        file_ending: ".tif".into(),
        ..dataset()
    };
    let mut outputs = Vec::new();
    for seed in [1, 2] {
        let dir = model_dir(root.path(), "3d_fullres", 1, seed);
        atomic::write_json(&dir.join("dataset.json"), &tif_dataset).unwrap();
        let model = load(&dir, "3d_fullres");
        let out = root.path().join(format!("pred_tif_{seed}"));
        let options = FolderOptions {
            save_probabilities: true,
            ..Default::default()
        };
        let written = predict_folder(&model, &input, &out, &options).unwrap();
        assert_eq!(written.len(), 2);
        for case in ["case_000", "case_001"] {
            assert_eq!(
                out.join(format!("{case}.tif")),
                written[case.ends_with('1') as usize]
            );
            let sidecar = out.join(format!("{case}.json"));
            assert_eq!(
                tiff_sidecar_spacing(&sidecar),
                spacing,
                "{}",
                sidecar.display()
            );
            assert!(out.join(format!("{case}.npz.json")).is_file());
            let seg = nnunet_datasets::io::read_label(&out.join(format!("{case}.tif"))).unwrap();
            assert_eq!(seg.shape, SHAPE);
            assert_eq!(seg.geometry.spacing, spacing);
            let saved = read_probabilities(&out.join(format!("{case}.npz"))).unwrap();
            assert_eq!(saved.probabilities.size(), [3, 4, 12, 14]);
            assert_eq!(saved.grid.shape, SHAPE);
            assert_eq!(saved.grid.geometry.spacing, spacing);
            let argmax = saved.probabilities.argmax(0, false).to_kind(Kind::Int16);
            assert!(argmax.flatten(0, -1).equal(&Tensor::from_slice(&seg.data)));
        }
        outputs.push(out);
    }
    let merged = root.path().join("ensemble_tif");
    let written = ensemble_folders(&outputs, &merged, &tif_dataset, true).unwrap();
    assert_eq!(
        written,
        [merged.join("case_000.tif"), merged.join("case_001.tif")]
    );
    let a = read_probabilities(&outputs[0].join("case_001.npz")).unwrap();
    let b = read_probabilities(&outputs[1].join("case_001.npz")).unwrap();
    let average = (a.probabilities + b.probabilities) / 2.0;
    let expected = average.argmax(0, false).to_kind(Kind::Int16).flatten(0, -1);
    let got = nnunet_datasets::io::read_label(&merged.join("case_001.tif")).unwrap();
    assert!(expected.equal(&Tensor::from_slice(&got.data)));
    assert_eq!(got.geometry.spacing, spacing);
    assert_eq!(tiff_sidecar_spacing(&merged.join("case_001.json")), spacing);
    let saved = read_probabilities(&merged.join("case_001.npz")).unwrap();
    assert!(saved.probabilities.allclose(&average, 1e-6, 1e-6, false));
}

/// A bfloat16 network (parameters and activations) predicts probabilities within a few
/// hundredths of the float32 one, and writes the same outputs.
#[test]
fn bfloat16_prediction_stays_close_to_float32() {
    let root = tempfile::tempdir().unwrap();
    let input = inputs(root.path());
    let dir = model_dir(root.path(), "3d_fullres", 1, 3);
    let mut probabilities = Vec::new();
    for precision in [Precision::Float32, Precision::BFloat16] {
        let out = root.path().join(format!("pred_{precision}"));
        let options = FolderOptions {
            save_probabilities: true,
            ..Default::default()
        };
        let model = load_with(&dir, "3d_fullres", precision);
        assert_eq!(
            predict_folder(&model, &input, &out, &options)
                .unwrap()
                .len(),
            2
        );
        let saved = read_probabilities(&out.join("case_001.npz")).unwrap();
        assert_eq!(saved.probabilities.kind(), Kind::Float);
        probabilities.push(saved.probabilities);
    }
    let err = (&probabilities[0] - &probabilities[1])
        .abs()
        .max()
        .double_value(&[]);
    assert!(
        err > 0.0,
        "bfloat16 gave float32's exact numbers: was it used?"
    );
    assert!(err < 0.03, "bfloat16 probabilities differ by {err}");
}

#[test]
fn the_cascade_needs_every_previous_stage_segmentation() {
    let root = tempfile::tempdir().unwrap();
    let input = inputs(root.path());
    // One image channel + one-hot of labels 1 and 2.
    let model = load(
        &model_dir(root.path(), "3d_cascade_fullres", 3, 1),
        "3d_cascade_fullres",
    );
    assert_eq!(model.cascade_labels, Some(vec![1, 2]));
    let out = root.path().join("pred");
    let err = predict_folder(&model, &input, &out, &FolderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("--prev-stage"), "{err}");

    let prev = root.path().join("lowres");
    let n: usize = SHAPE.iter().product();
    let seg = nnunet_core::LabelMap {
        shape: SHAPE,
        data: (0..n).map(|i| (i % 3) as i16).collect(),
        geometry: geometry(),
        is_2d: false,
    };
    nnunet_datasets::io::write_label(&prev.join("case_000.nii.gz"), &seg).unwrap();
    let options = FolderOptions {
        prev_stage: Some(prev.clone()),
        ..Default::default()
    };
    let err = predict_folder(&model, &input, &out, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("case_001"), "{err}");

    nnunet_datasets::io::write_label(&prev.join("case_001.nii.gz"), &seg).unwrap();
    let written = predict_folder(&model, &input, &out, &options).unwrap();
    assert_eq!(written.len(), 2);
    let label = nnunet_datasets::io::read_label(&written[0]).unwrap();
    assert_eq!(label.shape, SHAPE);
}
