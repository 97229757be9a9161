//! `nnunet demo`, the README's first command: the whole pipeline on a generated 2D phantom
//! dataset — data, verify + fingerprint + plan + preprocess, a short training of fold 0,
//! prediction of the held-out test images, evaluation against their labels, and PNG overlays
//! (ground truth | prediction) of the test images. Each step runs
//! the same command a user would type (parsed by the same clap definitions) and prints it.
//!
//! Everything lives under `--dir` (default `nnunet_demo/`): `nnUNet_raw`, `nnUNet_preprocessed`,
//! `nnUNet_results`, `predictions`, `overlays`. A second run reuses what exists (the trained fold too), so
//! it finishes in seconds; `--fresh` starts over.

use anyhow::{Context, Result};
use clap::{Args, Parser};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct DemoArgs {
    /// Working folder for the demo's data, models and predictions.
    #[arg(long, default_value = "nnunet_demo")]
    pub dir: PathBuf,
    /// Training epochs (each `--iterations` optimiser steps).
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Delete the working folder first.
    #[arg(long)]
    pub fresh: bool,
}

/// Parses a subcommand's arguments exactly as the command line would.
#[derive(Parser)]
struct As<T: Args> {
    #[command(flatten)]
    args: T,
}

fn step<T: Args>(title: &str, argv: &[&str], run: impl FnOnce(T) -> Result<()>) -> Result<()> {
    println!("\n== {title}\n$ nnunet {}", argv.join(" "));
    let parsed =
        As::<T>::try_parse_from(std::iter::once("nnunet").chain(argv[1..].iter().copied()))
            .with_context(|| format!("demo: parsing `nnunet {}`", argv.join(" ")))?;
    let started = Instant::now();
    run(parsed.args)?;
    println!("   ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn set_folders(dir: &Path) -> Result<[PathBuf; 3]> {
    let folders = [
        dir.join("nnUNet_raw"),
        dir.join("nnUNet_preprocessed"),
        dir.join("nnUNet_results"),
    ];
    for (var, folder) in nnunet_core::paths::NnunetPaths::default()
        .entries()
        .iter()
        .map(|(v, _)| *v)
        .zip(&folders)
    {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        // SAFETY: called before the demo starts any thread; nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var(var, folder) };
    }
    Ok(folders)
}

pub fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    if args.fresh && args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("removing {}", args.dir.display()))?;
    }
    let [raw, _, results] = set_folders(&args.dir)?;
    println!(
        "nnunet demo: the whole pipeline on a generated 2D phantom, in {}",
        args.dir.display()
    );
    super::doctor::run()?;

    let dataset = raw.join("Dataset901_Phantom2D");
    if !dataset.join("dataset.json").exists() {
        step(
            "generate a dataset: 24 training + 4 test phantoms (organ = 1, lesion = 2)",
            &["demo-data", "--dim", "2"],
            super::demo_data::run,
        )?;
    }
    step(
        "verify, fingerprint, plan and preprocess",
        &["plan-and-preprocess", "-d", "901", "-c", "2d", "--verify"],
        |a| super::plan::run_plan_and_preprocess(&a),
    )?;

    let fold = results.join("Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d/fold_0");
    let epochs = args.epochs.to_string();
    let iterations = args.iterations.to_string();
    if fold.join("checkpoint_final.json").exists() {
        println!(
            "\n== train: fold 0 is already trained ({}), reusing it",
            fold.display()
        );
    } else {
        let mut train = vec![
            "train",
            "-d",
            "901",
            "-c",
            "2d",
            "-f",
            "0",
            "--epochs",
            &epochs,
            "--iterations-per-epoch",
            &iterations,
            "--validation-iterations",
            "5",
        ];
        if fold.join("checkpoint_latest.json").exists() {
            train.push("--continue");
        }
        step(
            "train fold 0 briefly on the CPU (or GPU)",
            &train,
            super::train::run_train,
        )?;
    }

    let predictions = args.dir.join("predictions");
    let (images_ts, labels_ts) = (dataset.join("imagesTs"), dataset.join("labelsTs"));
    let (images_ts, labels_ts, predictions_s) = (
        images_ts.to_string_lossy().into_owned(),
        labels_ts.to_string_lossy().into_owned(),
        predictions.to_string_lossy().into_owned(),
    );
    step(
        "predict the 4 held-out test images with fold 0 (sliding window + mirroring)",
        &[
            "predict",
            "-i",
            &images_ts,
            "-o",
            &predictions_s,
            "-d",
            "901",
            "-c",
            "2d",
            "-f",
            "0",
        ],
        super::predict::run_predict,
    )?;
    step(
        "evaluate against the test labels (nnU-Net's summary.json)",
        &["evaluate", &labels_ts, &predictions_s, "-d", "901"],
        super::predict::run_evaluate,
    )?;
    let overlays = args.dir.join("overlays");
    let overlays_s = overlays.to_string_lossy().into_owned();
    step(
        "draw overlays: test image + label contours, ground truth | prediction",
        &[
            "overlay",
            "-i",
            &images_ts,
            "-g",
            &labels_ts,
            "-p",
            &predictions_s,
            "-o",
            &overlays_s,
            "-d",
            "901",
        ],
        super::overlay::run,
    )?;

    println!(
        "\nDone in {:.0} s. Outputs:\n  training: {}\n    (progress.png, training_log.txt, checkpoints)\n  \
         predictions and summary.json: {}\n  overlays (PNG): {}",
        started.elapsed().as_secs_f64(),
        fold.display(),
        predictions.display(),
        overlays.display()
    );
    Ok(())
}
