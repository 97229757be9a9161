//! The end-of-fold validation of `nnunet train` (nnU-Net's `perform_actual_validation`, and its
//! `--val`, `--val_best`, `--npz` flags): the flags, and the call into
//! `nnunet_inference::validation`.

use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{PrecisionChoice, Registry};
use nnunet_inference::validation::{ValidationOptions, validate_fold};
use nnunet_planning::plan_dataset::DatasetFolders;
use nnunet_trainers::experiment::{Experiment, PreparedFold};

#[derive(Args, Clone, Debug, Default)]
pub struct ValidationArgs {
    /// Skip predicting the fold's validation cases after training.
    #[arg(long, conflicts_with = "val")]
    pub no_validation: bool,
    /// Only validate already-trained folds, without training (nnU-Net's --val).
    #[arg(long)]
    pub val: bool,
    /// Validate with checkpoint_best instead of checkpoint_final (nnU-Net's --val_best).
    #[arg(long)]
    pub val_best: bool,
    /// Also save validation probabilities (<case>.npz), needed to ensemble configurations
    /// in find-best (nnU-Net's --npz).
    #[arg(long)]
    pub npz: bool,
    /// The network's arithmetic for validation, as `nnunet predict --precision`.
    #[arg(long = "val-precision", default_value = "auto")]
    pub precision: PrecisionChoice,
}

/// Predicts and scores the validation cases of a prepared fold; prints the Dice.
pub fn validate(
    registry: &Registry,
    experiment: &Experiment,
    prepared: &PreparedFold,
    args: &ValidationArgs,
) -> Result<()> {
    let setup = &prepared.setup;
    let model_dir = setup
        .output_dir
        .parent()
        .context("the fold folder has no parent")?;
    let folders = DatasetFolders::resolve(&experiment.dataset, &NnunetPaths::from_env())?;
    let cases: Vec<String> = (0..prepared.val_cases.len())
        .map(|i| prepared.val_cases.identifier(i).to_string())
        .collect();
    let options = ValidationOptions {
        checkpoint: if args.val_best {
            "checkpoint_best"
        } else {
            "checkpoint_final"
        }
        .into(),
        save_probabilities: args.npz,
        precision: args.precision.resolve(setup.device)?,
        ..ValidationOptions::nnunet(setup.device)
    };
    println!(
        "validating fold {} on its {} validation case(s)",
        setup.fold,
        cases.len()
    );
    let summary = validate_fold(
        registry,
        model_dir,
        &experiment.configuration,
        &setup.fold,
        &folders.preprocessed,
        &cases,
        &options,
    )
    .with_context(|| format!("validating fold {}", setup.fold))?;
    let per_label: Vec<String> = summary
        .mean
        .iter()
        .map(|(label, m)| format!("label {label} {:.4}", m["Dice"]))
        .collect();
    println!(
        "fold {} validation: foreground-mean Dice {:.4} ({}) → {}",
        setup.fold,
        summary.foreground_mean["Dice"],
        per_label.join(", "),
        nnunet_inference::validation::validation_folder(model_dir, &setup.fold)
            .join("summary.json")
            .display()
    );
    Ok(())
}
