//! The training loop on tiny generated phantoms: region-based training (targets with one channel
//! per region, sigmoid outputs, dice+bce, per-region pseudo-Dice) and the cascade (the previous
//! stage's segmentation read from its folder and fed as one-hot input channels).

use std::path::Path;
use std::sync::Arc;

use nnunet_core::tch::{Device, Tensor};
use nnunet_core::{DatasetDescriptor, Geometry, Plans, Registry, TrainingOptions};
use nnunet_losses as _;
use nnunet_networks as _;
use nnunet_planning::preprocessed_format::{CaseProperties, FORMAT, write_case};
use nnunet_trainers::label_setup::target_regions;
use nnunet_trainers::preprocessed::{PreprocessedCases, previous_stage_path};
use nnunet_trainers::training::{TrainingSetup, train};
use nnunet_trainers::{
    AugmentConfig, CaseData, CaseSource, DataLoader, InMemoryCases, LoaderConfig,
};
use serde_json::json;

/// A phantom: a square of label 1 with a smaller square of label 2 inside, placed by `k`;
/// the image is the label value plus a little texture.
fn phantom(k: usize, shape: [usize; 3]) -> (Vec<f32>, Vec<i16>) {
    let [z, y, x] = shape;
    let (cy, cx) = (4 + (3 * k) % (y - 10), 3 + (5 * k) % (x - 10));
    let mut seg = vec![0i16; z * y * x];
    for zz in 0..z {
        for yy in cy..cy + 6 {
            for xx in cx..cx + 6 {
                let inner = (cy + 2..cy + 4).contains(&yy) && (cx + 2..cx + 4).contains(&xx);
                seg[(zz * y + yy) * x + xx] = if inner { 2 } else { 1 };
            }
        }
    }
    let data = seg
        .iter()
        .enumerate()
        .map(|(i, &l)| l as f32 + 0.05 * ((i * 7919) % 13) as f32)
        .collect();
    (data, seg)
}

fn cases(n: usize, shape: [usize; 3]) -> Vec<CaseData> {
    (0..n)
        .map(|k| {
            let (data, seg) = phantom(k, shape);
            let locs = CaseData::locations_from_seg(shape, &seg);
            CaseData::new(format!("ph_{k:03}"), data, 1, shape, seg, locs).unwrap()
        })
        .collect()
}

fn dataset(labels: serde_json::Value, regions_class_order: Option<Vec<i64>>) -> DatasetDescriptor {
    serde_json::from_value(json!({
        "channel_names": {"0": "MRI"},
        "labels": labels,
        "numTraining": 4,
        "file_ending": ".nii.gz",
        "regions_class_order": regions_class_order,
    }))
    .unwrap()
}

/// Plans with a tiny PlainConvUNet per configuration: `2d` (16×16) and `3d_lowres`,
/// `3d_fullres` and `3d_cascade_fullres` (4×16×16).
fn plans() -> Plans {
    let arch = |dims: usize| {
        let k = vec![3; dims];
        let (one, two) = (vec![1; dims], vec![2; dims]);
        let (conv, norm) = if dims == 2 {
            ("Conv2d", "InstanceNorm2d")
        } else {
            ("Conv3d", "InstanceNorm3d")
        };
        json!({
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {
                "n_stages": 2, "features_per_stage": [4, 8],
                "conv_op": format!("torch.nn.modules.conv.{conv}"),
                "kernel_sizes": [k, k], "strides": [one, two],
                "n_conv_per_stage": [1, 1], "n_conv_per_stage_decoder": [1],
                "conv_bias": true,
                "norm_op": format!("torch.nn.modules.instancenorm.{norm}"),
                "norm_op_kwargs": {"eps": 1e-05, "affine": true},
                "dropout_op": null, "dropout_op_kwargs": null,
                "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": true}
            },
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]
        })
    };
    serde_json::from_value(json!({
        "dataset_name": "Dataset990_Tiny", "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [1.0, 1.0, 1.0],
        "original_median_shape_after_transp": [4, 16, 16],
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {
            "2d": {"data_identifier": "nnUNetPlans_2d", "batch_size": 2, "patch_size": [16, 16],
                   "batch_dice": true, "use_mask_for_norm": [false], "architecture": arch(2)},
            "3d_lowres": {"data_identifier": "nnUNetPlans_3d_lowres", "batch_size": 2,
                          "patch_size": [4, 16, 16], "batch_dice": false,
                          "use_mask_for_norm": [false], "architecture": arch(3),
                          "next_stage": "3d_cascade_fullres"},
            "3d_fullres": {"data_identifier": "nnUNetPlans_3d_fullres", "batch_size": 2,
                           "patch_size": [4, 16, 16], "batch_dice": false,
                           "use_mask_for_norm": [false], "architecture": arch(3)},
            "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}
        },
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {}
    }))
    .unwrap()
}

fn setup(out: &Path, configuration: &str, dataset: DatasetDescriptor) -> TrainingSetup {
    TrainingSetup {
        output_dir: out.to_path_buf(),
        network: "PlainConvUNet".into(),
        network_options: json!({}),
        loss: "dice+ce".into(),
        loss_options: json!({}),
        trainer: "nnUNetTrainer".into(),
        trainer_options: json!({}),
        options: TrainingOptions {
            epochs: 1,
            iterations_per_epoch: 2,
            validation_iterations: 1,
            ..Default::default()
        },
        augmentations: Vec::new(),
        configuration: configuration.into(),
        fold: "0".into(),
        plans: plans(),
        dataset,
        device: Device::Cpu,
        workers: 1,
        resume: false,
        pretrained: None,
        save_every: 50,
        plans_sha256: "test".into(),
        dataset_fingerprint_sha256: String::new(),
        progress_bar: false,
        amp: true,
        time_limit_seconds: None,
        data_parallel: None,
    }
}

/// The first convolution's weight `(out, in, *kernel)` in a checkpoint.
fn first_conv_in_channels(dir: &Path) -> i64 {
    let tensors = Tensor::read_safetensors(dir.join("checkpoint_final.safetensors")).unwrap();
    let mut weights: Vec<(String, Tensor)> = tensors
        .into_iter()
        .filter(|(n, t)| n.starts_with("network.encoder") && n.ends_with("weight") && t.dim() >= 4)
        .collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    weights[0].1.size()[1]
}

#[test]
fn region_targets_have_one_channel_per_region() {
    let d = dataset(
        json!({"background": 0, "whole": [1, 2], "lesion": 2, "ignore": 3}),
        Some(vec![1, 2]),
    );
    let shape = [1, 16, 16];
    let mut all = cases(3, shape);
    // an ignored patch in each case
    for c in &mut all {
        for i in 0..5 {
            c.seg[i] = 3;
            c.data[i] = 3.0;
        }
    }
    let mut aug = AugmentConfig::nnunet(&[16, 16]).unwrap();
    aug.regions = target_regions(&d).unwrap();
    let src: Arc<dyn CaseSource> = Arc::new(InMemoryCases::new(all));
    let loader = DataLoader::new(src, LoaderConfig::validation(aug, 3), 0).unwrap();
    let b = loader.batch(0).unwrap();
    assert_eq!(b.targets[0].shape, vec![3, 3, 16, 16]);
    let per = 16 * 16;
    let mut seen = [0usize; 4];
    for j in 0..3 {
        for v in 0..per {
            // image = label value (+ < 0.65 texture); padding is 0 with label 0
            let label = b.data[j * per + v].floor() as i16;
            seen[label as usize] += 1;
            let t = |c: usize| b.targets[0].data[(j * 3 + c) * per + v];
            assert_eq!(
                t(0),
                (label == 1 || label == 2) as i16,
                "whole, label {label}"
            );
            assert_eq!(t(1), (label == 2) as i16, "lesion, label {label}");
            assert_eq!(t(2), (label == 3) as i16, "ignore, label {label}");
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
}

#[test]
fn region_dataset_trains_sigmoid_outputs_with_per_region_pseudo_dice() {
    let registry = Registry::with_builtins().unwrap();
    for ignore in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut labels = json!({"background": 0, "whole": [1, 2], "lesion": 2});
        let mut all = cases(4, [1, 20, 20]);
        if ignore {
            labels["ignore"] = json!(3);
            for c in &mut all {
                c.seg[..20].fill(3);
            }
        }
        let d = dataset(labels, Some(vec![1, 2]));
        let src: Arc<dyn CaseSource> = Arc::new(InMemoryCases::new(all));
        let outcome = train(&registry, &setup(dir.path(), "2d", d), src.clone(), src).unwrap();
        let epoch = &outcome.log.epochs[0];
        assert_eq!(epoch.pseudo_dice.len(), 2, "one pseudo-Dice per region");
        assert!(epoch.pseudo_dice.iter().all(|d| (0.0..=1.0).contains(d)));
        assert!(epoch.train_loss.is_finite() && epoch.val_loss.is_finite());
        assert!(dir.path().join("checkpoint_final.safetensors").exists());
        let log = std::fs::read_to_string(dir.path().join("training_log.txt")).unwrap();
        assert!(
            log.contains("loss dice+bce") && log.contains("(regions, sigmoid)"),
            "{log}"
        );
        // the segmentation head has one output per region
        let tensors =
            Tensor::read_safetensors(dir.path().join("checkpoint_final.safetensors")).unwrap();
        let head = tensors
            .iter()
            .find(|(n, t)| n.starts_with("network.decoder.seg_layers.0") && t.dim() == 4)
            .map(|(_, t)| t.size()[0]);
        assert_eq!(head, Some(2), "ignore label: {ignore}");
    }
}

/// Writes `cases` as preprocessed cases into `folder`.
fn write_preprocessed(folder: &Path, cases: &[CaseData]) {
    for c in cases {
        let [z, y, x] = c.shape;
        let props = CaseProperties {
            format: FORMAT.into(),
            data_shape: [c.channels, z, y, x],
            data_dtype: "float32-le".into(),
            seg_dtype: "int16-le".into(),
            spacing: [1.0; 3],
            spacing_after_resampling: [1.0; 3],
            geometry: Geometry::default(),
            is_2d: false,
            shape_before_cropping: c.shape,
            bbox_used_for_cropping: [[0, z], [0, y], [0, x]],
            shape_after_cropping_and_before_resampling: c.shape,
            class_locations: c
                .class_locations
                .iter()
                .map(|(l, locs)| {
                    let locs = locs.iter().map(|p| p.map(|v| v as u32)).collect();
                    (l.to_string(), locs)
                })
                .collect(),
            plans_digest: "test".into(),
        };
        write_case(folder, &c.identifier, &props, &c.data, &c.seg).unwrap();
    }
}

#[test]
fn cascade_reads_the_previous_stage_and_trains_with_one_hot_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let data_folder = dir.path().join("nnUNetPlans_3d_fullres");
    let prev_folder = dir.path().join("predicted_next_stage/3d_cascade_fullres");
    std::fs::create_dir_all(&prev_folder).unwrap();
    let shape = [4, 16, 16];
    let all = cases(3, shape);
    write_preprocessed(&data_folder, &all);
    let ids: Vec<String> = all.iter().map(|c| c.identifier.clone()).collect();

    // The previous stage's "prediction": the label map shifted by one voxel along x.
    let prev_of = |c: &CaseData| -> Vec<i16> {
        let mut p = vec![0i16; c.seg.len()];
        p[1..].copy_from_slice(&c.seg[..c.seg.len() - 1]);
        p
    };
    let write_prev = |c: &CaseData| {
        let bytes: Vec<u8> = prev_of(c).iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(previous_stage_path(&prev_folder, &c.identifier), bytes).unwrap();
    };
    write_prev(&all[0]);
    write_prev(&all[1]);

    // Missing predictions: the error names the folder, the case and what to run.
    let open = || PreprocessedCases::open(&data_folder, ids.clone(), 1 << 30).unwrap();
    let err = open()
        .with_previous_stage(&prev_folder, "train 3d_lowres on all 5 folds first")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("ph_002.seg")
            && err.contains("predicted_next_stage")
            && err.contains("train 3d_lowres"),
        "{err}"
    );
    write_prev(&all[2]);
    let cases_with_prev = open()
        .with_previous_stage(&prev_folder, "train 3d_lowres first")
        .unwrap();
    let loaded = cases_with_prev.load(1).unwrap();
    assert_eq!(
        loaded.seg_prev.as_deref(),
        Some(prev_of(&all[1]).as_slice())
    );
    let src: Arc<dyn CaseSource> = Arc::new(cases_with_prev);

    // A validation batch: image channel + one one-hot channel per foreground label (1, 2),
    // equal to the previous stage's labels wherever the patch lies inside the case.
    let mut aug = AugmentConfig::nnunet(&shape).unwrap();
    aug.cascade_labels = Some(vec![1, 2]);
    let loader = DataLoader::new(src.clone(), LoaderConfig::validation(aug, 2), 3).unwrap();
    let b = loader.batch(0).unwrap();
    assert_eq!(b.data_shape, vec![2, 3, 4, 16, 16]);
    let per = 4 * 16 * 16;
    for j in 0..2 {
        let one = &b.data[(j * 3 + 1) * per..(j * 3 + 2) * per];
        let two = &b.data[(j * 3 + 2) * per..(j * 3 + 3) * per];
        assert!(
            one.iter()
                .zip(two)
                .all(|(a, b)| (*a == 0.0 || *a == 1.0) && a + b <= 1.0)
        );
        assert!(one.contains(&1.0) && two.contains(&1.0));
    }
    // Sample 0 is not forced to foreground and the case is exactly one patch, so it is the
    // whole case: its one-hot channels are the previous stage's labels.
    let case = all.iter().position(|c| c.identifier == b.keys[0]).unwrap();
    assert_eq!(&b.data[..per], all[case].data.as_slice());
    let prev = prev_of(&all[case]);
    for (v, &p) in prev.iter().enumerate() {
        assert_eq!(b.data[per + v], (p == 1) as u8 as f32);
        assert_eq!(b.data[2 * per + v], (p == 2) as u8 as f32);
    }

    // Training: the network gets 1 + 2 input channels.
    let out = dir.path().join("fold_0");
    let d = dataset(json!({"background": 0, "a": 1, "b": 2}), None);
    let outcome = train(
        &Registry::with_builtins().unwrap(),
        &setup(&out, "3d_cascade_fullres", d),
        src.clone(),
        src,
    )
    .unwrap();
    assert_eq!(outcome.log.epochs[0].pseudo_dice.len(), 2);
    assert!(outcome.log.epochs[0].train_loss.is_finite());
    assert_eq!(first_conv_in_channels(&out), 3);
}

#[test]
fn cascade_fold_reads_the_lowres_stage_folder_as_nnunet_names_it() {
    use nnunet_core::paths::NnunetPaths;
    use nnunet_trainers::experiment::{Experiment, Fold, prepare_fold};
    let dir = tempfile::tempdir().unwrap();
    let paths = NnunetPaths {
        raw: Some(dir.path().join("raw")),
        preprocessed: Some(dir.path().join("preprocessed")),
        results: Some(dir.path().join("results")),
    };
    let name = "Dataset990_Tiny";
    let raw = dir.path().join("raw").join(name);
    std::fs::create_dir_all(&raw).unwrap();
    let d = dataset(json!({"background": 0, "a": 1, "b": 2}), None);
    nnunet_core::atomic::write_json(&raw.join("dataset.json"), &d).unwrap();
    let pre = dir.path().join("preprocessed").join(name);
    let all = cases(2, [4, 16, 16]);
    write_preprocessed(&pre.join("nnUNetPlans_3d_fullres"), &all);
    nnunet_core::atomic::write_json(&pre.join("nnUNetPlans.json"), &plans()).unwrap();
    let toml = dir.path().join("experiment.toml");
    std::fs::write(
        &toml,
        "dataset = \"990\"\nconfiguration = \"3d_cascade_fullres\"\nfolds = [\"all\"]\namp = false\n",
    )
    .unwrap();
    let experiment = Experiment::from_toml_file(&toml).unwrap();
    assert!(!experiment.amp);
    let fold = Fold::parse("all").unwrap();

    let err = prepare_fold(&paths, &experiment, &fold, false)
        .err()
        .unwrap()
        .to_string();
    let prev = dir
        .path()
        .join("results")
        .join(name)
        .join("nnUNetTrainer__nnUNetPlans__3d_lowres/predicted_next_stage/3d_cascade_fullres");
    assert!(
        err.contains(&prev.display().to_string())
            && err.contains("ph_000.seg")
            && err.contains("train 3d_lowres on all 5 folds first"),
        "{err}"
    );

    std::fs::create_dir_all(&prev).unwrap();
    for c in &all {
        let bytes: Vec<u8> = c.seg.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(previous_stage_path(&prev, &c.identifier), bytes).unwrap();
    }
    let fold_setup = prepare_fold(&paths, &experiment, &fold, false).unwrap();
    assert!(!fold_setup.setup.amp);
    let case = fold_setup.train_cases.load(0).unwrap();
    assert_eq!(case.seg_prev.as_deref(), Some(all[0].seg.as_slice()));
}
