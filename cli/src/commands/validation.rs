//! The end-of-fold validation of `nnunet train` (nnU-Net's `perform_actual_validation`, and its
//! `--val`, `--val_best`, `--npz` flags): the flags, and the calls into
//! `nnunet_inference::validation`. In data-parallel training the cases are split as nnU-Net
//! splits them (rank *r* predicts cases *r*, *r + W*, …), the ranks meet at a barrier, and rank 0
//! alone scores every case into `summary.json`.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{PrecisionChoice, Registry};
use nnunet_distributed::SharedGroup;
use nnunet_inference::validation::{
    ValidationOptions, predict_validation_cases, score_validation, validation_folder,
};
use nnunet_planning::plan_dataset::DatasetFolders;
use nnunet_trainers::experiment::{Experiment, PreparedFold};
use std::time::Instant;

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

/// This process's place in a data-parallel validation.
pub struct Ranks<'a> {
    pub rank: usize,
    pub world_size: usize,
    pub group: &'a SharedGroup,
}

/// The cases rank `rank` of `world_size` predicts: `rank, rank + world_size, …` (nnU-Net's
/// `val_keys[rank::world_size]`).
pub fn rank_cases(cases: &[String], rank: usize, world_size: usize) -> Vec<String> {
    cases
        .iter()
        .skip(rank)
        .step_by(world_size.max(1))
        .cloned()
        .collect()
}

/// Predicts and scores the validation cases of a prepared fold; prints the Dice. With `ranks`,
/// this rank predicts its part, waits for the others, and only rank 0 scores.
pub fn validate(
    registry: &Registry,
    experiment: &Experiment,
    prepared: &PreparedFold,
    args: &ValidationArgs,
    ranks: Option<Ranks>,
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
    let main = ranks.as_ref().is_none_or(|r| r.rank == 0);
    if main {
        println!(
            "validating fold {} on its {} validation case(s)",
            setup.fold,
            cases.len()
        );
    }
    if cases.is_empty() {
        return Err(anyhow!("fold {} has no validation cases", setup.fold));
    }
    let own = match &ranks {
        Some(r) => rank_cases(&cases, r.rank, r.world_size),
        None => cases.clone(),
    };
    let started = Instant::now();
    predict_validation_cases(
        registry,
        model_dir,
        &experiment.configuration,
        &setup.fold,
        &folders.preprocessed,
        &own,
        &options,
    )
    .with_context(|| format!("validating fold {}", setup.fold))?;
    if let Some(r) = &ranks {
        println!(
            "rank {}/{}: predicted {} of the {} validation case(s) in {:.1} s: {}",
            r.rank,
            r.world_size,
            own.len(),
            cases.len(),
            started.elapsed().as_secs_f64(),
            own.join(", ")
        );
        // nnU-Net's barrier before rank 0 computes the metrics over every rank's predictions
        r.group
            .lock()
            .map_err(|_| anyhow!("the process group's lock was poisoned"))?
            .barrier()?;
    }
    if !main {
        return Ok(());
    }
    let summary = score_validation(model_dir, &setup.fold, &folders.preprocessed, &cases)
        .with_context(|| format!("scoring fold {}", setup.fold))?;
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
        validation_folder(model_dir, &setup.fold)
            .join("summary.json")
            .display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rank_cases;

    #[test]
    fn ranks_take_every_world_size_th_case() {
        let cases: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(rank_cases(&cases, 0, 2), ["a", "c", "e"]);
        assert_eq!(rank_cases(&cases, 1, 2), ["b", "d"]);
        assert_eq!(rank_cases(&cases, 2, 3), ["c"]);
        assert!(rank_cases(&cases[..1], 1, 2).is_empty());
        assert_eq!(rank_cases(&cases, 0, 1), cases);
    }
}
