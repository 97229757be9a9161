//! Trainer variants are honoured: a plugin trainer named in an experiment TOML sets the batch
//! size, the foreground oversampling and mirroring, and the batches the run samples show each
//! (batch shape, foreground in every forced sample, no flipped sample), and its `on_epoch_end`
//! ends training early; nnU-Net's
//! `-tr nnUNetTrainer_5epochs_NoMirroring` trains 5 epochs and saves no mirroring axes, which
//! predict then uses.

mod support;

use nnunet_core::Registry;
use nnunet_core::paths::NnunetPaths;
use nnunet_trainers::Prefetcher;
use nnunet_trainers::experiment::{Experiment, prepare_fold};
use nnunet_trainers::resolve::ResolvedRun;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::{Sandbox, fixture_plugin};

// Link the built-in crates so that their inventory entries are collected.
use nnunet_losses as _;
use nnunet_networks as _;

fn experiment_toml(plugin: &Path) -> String {
    format!(
        r#"
dataset = "901"
configuration = "2d"
trainer = "fixture-variant"
plugins = ["{}"]
device = "cpu"
workers = 2

[trainer_options]
batch_size = 5
oversample_foreground = 0.66
mirroring = false
stop_after = 0

[training]
epochs = 3
iterations_per_epoch = 2
validation_iterations = 1

[[augmentations]]
name = "fixture-ramp"
after = "gamma"
"#,
        plugin.display()
    )
}

fn checkpoint_meta(fold: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(fold.join("checkpoint_final.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Samples of `batches` from `run`'s training loader on 2 worker threads: for each sample, its
/// index in the batch, whether its target holds foreground, and whether the ramp in image
/// channel 0 (written by `fixture-ramp` just before mirroring) still increases along y and x.
fn sample_batches(
    run: &ResolvedRun,
    prepared: &nnunet_trainers::experiment::PreparedFold,
    batches: usize,
) -> Vec<(usize, bool, bool)> {
    let (train, _) = run
        .loaders(prepared.train_cases.clone(), prepared.val_cases.clone())
        .unwrap();
    let mut prefetch = Prefetcher::new(Arc::new(train), 2, 2, 0).unwrap();
    let mut samples = Vec::new();
    for _ in 0..batches {
        let batch = prefetch.next_batch().unwrap();
        let (b, c, ny, nx) = (
            batch.data_shape[0],
            batch.data_shape[1],
            batch.data_shape[2],
            batch.data_shape[3],
        );
        assert_eq!(batch.data_shape.len(), 4, "2D batches (B, C, y, x)");
        let voxels = ny * nx;
        let target = &batch.targets[0];
        let target_voxels = target.data.len() / b;
        for j in 0..b {
            let ramp = &batch.data[j * c * voxels..j * c * voxels + voxels];
            let increasing = ramp[0] < ramp[nx - 1] && ramp[0] < ramp[(ny - 1) * nx];
            let labels = &target.data[j * target_voxels..(j + 1) * target_voxels];
            samples.push((j, labels.iter().any(|&v| v > 0), increasing));
        }
    }
    samples
}

#[test]
fn a_plugin_trainer_sets_batch_size_oversampling_and_mirroring() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 6);
    let plugin = fixture_plugin();
    let file = sandbox.path().join("experiment.toml");
    std::fs::write(&file, experiment_toml(&plugin)).unwrap();

    // The run trains with the variant's settings and saves no mirroring axes; the variant's
    // on_epoch_end stops it after the first of 3 epochs.
    let out = sandbox.run(&["run", file.to_str().unwrap()]);
    assert!(out.contains("fold 0: 1 epoch(s) run"), "{out}");
    let fold = sandbox
        .path()
        .join("res/Dataset901_Phantom2D/fixture-variant__nnUNetPlans__2d/fold_0");
    let meta = checkpoint_meta(&fold);
    assert_eq!(meta["options"]["batch_size"], 5);
    assert_eq!(meta["options"]["oversample_foreground"], 0.66);
    assert_eq!(
        meta["inference_allowed_mirroring_axes"],
        serde_json::json!([])
    );
    let log = std::fs::read_to_string(fold.join("training_log.txt")).unwrap();
    assert!(
        log.contains("Batch size 5, foreground oversampling 0.66") && log.contains("axes []"),
        "{log}"
    );
    assert!(
        log.contains("Trainer fixture-variant stopped training after epoch 0"),
        "{log}"
    );
    assert_eq!(meta["epoch"], 1);

    // The batches the run samples, rebuilt in this process from the same TOML.
    let experiment = Experiment::from_toml_file(&file).unwrap();
    let mut registry = Registry::with_builtins().unwrap();
    registry.load_plugin(&plugin).unwrap();
    let paths = NnunetPaths {
        raw: Some(sandbox.path().join("raw")),
        preprocessed: Some(sandbox.path().join("pre")),
        results: Some(sandbox.path().join("res")),
    };
    let prepared = prepare_fold(&paths, &experiment, &experiment.folds[0], false).unwrap();
    let run = ResolvedRun::new(&registry, &prepared.setup).unwrap();
    let samples = sample_batches(&run, &prepared, 12);
    assert_eq!(samples.len(), 12 * 5, "batch size 5");
    // nnU-Net's rule: sample j of 5 is forced to hold foreground iff j >= round(5 · 0.34) = 2.
    let forced: Vec<_> = samples.iter().filter(|s| s.0 >= 2).collect();
    assert!(
        forced.iter().all(|s| s.1),
        "a forced sample without foreground"
    );
    let with_fg = samples.iter().filter(|s| s.1).count() as f64 / samples.len() as f64;
    assert!(with_fg >= 0.6, "foreground fraction {with_fg}");
    assert!(samples.iter().all(|s| s.2), "a mirrored sample");

    // The same check sees mirroring when it is on: the default trainer, with the ramp.
    let mut default = prepared.setup.clone();
    default.trainer = "nnUNetTrainer".into();
    default.trainer_options = serde_json::json!({});
    let run = ResolvedRun::new(&registry, &default).unwrap();
    assert_eq!(run.options.oversample_foreground, 0.33);
    let samples = sample_batches(&run, &prepared, 12);
    assert!(
        samples.iter().any(|s| !s.2),
        "no sample mirrored with mirroring on"
    );

    // Unknown trainer options are errors naming the key.
    default.trainer = "fixture-variant".into();
    default.trainer_options = serde_json::json!({ "batchsize": 3 });
    let err = ResolvedRun::new(&registry, &default)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown option \"batchsize\""), "{err}");
}

#[test]
fn nnunet_named_variant_trains_5_epochs_without_mirroring_axes() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 4);
    let trainer = "nnUNetTrainer_5epochs_NoMirroring";
    let out = sandbox.run(&[
        "train",
        "-d",
        "901",
        "-c",
        "2d",
        "-f",
        "0",
        "-tr",
        trainer,
        "--iterations-per-epoch",
        "1",
        "--validation-iterations",
        "1",
        "--device",
        "cpu",
        "--workers",
        "1",
        "--no-validation",
    ]);
    assert!(out.contains("fold 0: 5 epoch(s) run"), "{out}");
    let model: PathBuf = sandbox.path().join(format!(
        "res/Dataset901_Phantom2D/{trainer}__nnUNetPlans__2d"
    ));
    let meta = checkpoint_meta(&model.join("fold_0"));
    assert_eq!(meta["epoch"], 5);
    assert_eq!(meta["log"]["epochs"].as_array().unwrap().len(), 5);
    assert_eq!(meta["trainer"], trainer);
    assert_eq!(
        meta["inference_allowed_mirroring_axes"],
        serde_json::json!([])
    );

    let input = sandbox.path().join("raw/Dataset901_Phantom2D/imagesTs");
    let output = sandbox.path().join("pred");
    let out = sandbox.run(&[
        "predict",
        "-i",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "-d",
        "901",
        "-c",
        "2d",
        "-f",
        "0",
        "-tr",
        trainer,
        "--device",
        "cpu",
    ]);
    assert!(out.contains("test-time mirroring along axes []"), "{out}");
}
