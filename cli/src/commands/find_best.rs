//! `nnunet find-best` (nnUNetv2_find_best_configuration): ranks the trained configurations by
//! cross-validation foreground-mean Dice, determines postprocessing for the best, and writes
//! `inference_information.json` and `inference_instructions.txt`.

use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::paths::NnunetPaths;
use nnunet_inference::find_best::{FindBestRequest, TrainedModel, find_best_configuration};
use nnunet_planning::plan_dataset::DatasetFolders;

/// nnU-Net's default configurations.
const DEFAULT_CONFIGURATIONS: [&str; 4] = ["2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres"];

#[derive(Args)]
pub struct FindBestArgs {
    #[arg(short = 'd', long)]
    pub dataset: String,
    /// Configurations (default: those of 2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres that
    /// have a trained model folder).
    #[arg(short = 'c', long = "configurations", num_args = 1..)]
    pub configurations: Vec<String>,
    #[arg(short = 'f', long = "folds", num_args = 1.., default_values_t = ["0", "1", "2", "3", "4"].map(String::from).to_vec())]
    pub folds: Vec<String>,
    #[arg(short = 'p', long = "plans", num_args = 1.., default_values_t = vec!["nnUNetPlans".to_string()])]
    pub plans: Vec<String>,
    #[arg(long = "trainers", num_args = 1.., default_values_t = vec!["nnUNetTrainer".to_string()])]
    pub trainers: Vec<String>,
    /// Do not compare ensembles of two configurations.
    #[arg(long)]
    pub disable_ensembling: bool,
}

pub fn run(args: FindBestArgs) -> Result<()> {
    let paths = NnunetPaths::from_env();
    let folders = DatasetFolders::resolve(&args.dataset, &paths)?;
    let results = paths
        .results
        .as_ref()
        .context("nnUNet_results is not set")?
        .join(&folders.name);
    let explicit = !args.configurations.is_empty();
    let configurations: Vec<String> = if explicit {
        args.configurations.clone()
    } else {
        DEFAULT_CONFIGURATIONS.map(String::from).to_vec()
    };
    let mut models = Vec::new();
    for trainer in &args.trainers {
        for configuration in &configurations {
            for plans in &args.plans {
                let model = TrainedModel {
                    plans: plans.clone(),
                    configuration: configuration.clone(),
                    trainer: trainer.clone(),
                };
                if explicit || results.join(model.identifier()).is_dir() {
                    models.push(model);
                }
            }
        }
    }
    anyhow::ensure!(
        !models.is_empty(),
        "no trained configuration in {}: train some first",
        results.display()
    );
    let outcome = find_best_configuration(&FindBestRequest {
        results_dataset_dir: results,
        preprocessed_dataset_dir: folders.preprocessed,
        dataset_name_or_id: args.dataset,
        models,
        folds: args.folds,
        allow_ensembling: !args.disable_ensembling,
    })?;
    for note in &outcome.notes {
        println!("note: {note}");
    }
    println!("\n***All results:***");
    for (id, dice) in &outcome.all_results {
        println!("{id}: {dice:.4}");
    }
    println!(
        "\n*Best*: {}: {:.4} (after postprocessing {:.4})\n",
        outcome.best, outcome.result_pre_pp, outcome.result_post_pp
    );
    print!("{}", outcome.instructions);
    println!(
        "\nwritten: {}, {}",
        outcome.information_file.display(),
        outcome.instructions_file.display()
    );
    Ok(())
}
