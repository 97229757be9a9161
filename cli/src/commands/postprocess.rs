//! `nnunet postprocess determine` (nnU-Net's `determine_postprocessing` on the merged
//! cross-validation predictions) and `nnunet postprocess apply` (`nnUNetv2_apply_postprocessing`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use nnunet_core::DatasetDescriptor;
use nnunet_core::atomic;
use nnunet_inference::crossval::accumulate_cv_results;
use nnunet_inference::postprocess::determine::determine_postprocessing;
use nnunet_inference::postprocess::{PostprocessingFile, apply_to_folder, build_steps};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PostprocessCommand {
    /// Choose postprocessing on a configuration's cross-validation predictions; writes
    /// postprocessing.json.
    Determine(DetermineArgs),
    /// Apply a postprocessing.json to a folder of segmentations.
    Apply(ApplyArgs),
}

#[derive(Args)]
pub struct DetermineArgs {
    #[arg(short = 'd', long)]
    pub dataset: String,
    #[arg(short = 'c', long)]
    pub configuration: String,
    /// Folds whose validation predictions are merged.
    #[arg(short = 'f', long = "folds", num_args = 1.., default_values_t = ["0", "1", "2", "3", "4"].map(String::from).to_vec())]
    pub folds: Vec<String>,
    #[arg(long, default_value = "nnUNetTrainer")]
    pub trainer: String,
    #[arg(short = 'p', long, default_value = "nnUNetPlans")]
    pub plans: String,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// Folder of segmentations.
    #[arg(short = 'i', long)]
    pub input: PathBuf,
    /// Folder for the postprocessed segmentations (created).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// The postprocessing.json that `determine` or `find-best` wrote.
    #[arg(long = "pp-file")]
    pub pp_file: PathBuf,
    /// Plugin file (for plugin postprocessors named in the file); may be repeated.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
}

pub fn run(command: PostprocessCommand) -> Result<()> {
    match command {
        PostprocessCommand::Determine(args) => determine(args),
        PostprocessCommand::Apply(args) => apply(args),
    }
}

fn determine(args: DetermineArgs) -> Result<()> {
    let (folders, model_dir) = super::model_folder(
        &args.dataset,
        &args.trainer,
        &args.plans,
        &args.configuration,
    )?;
    let reference = folders.preprocessed.join("gt_segmentations");
    let (merged, cv) = accumulate_cv_results(&model_dir, &args.folds, &reference)?;
    println!(
        "cross-validation (folds {}): {} case(s), foreground-mean Dice {:.4} → {}",
        args.folds.join(" "),
        cv.metric_per_case.len(),
        cv.foreground_mean["Dice"],
        merged.display()
    );
    let dataset: DatasetDescriptor = atomic::read_json(&model_dir.join("dataset.json"))?;
    let determined = determine_postprocessing(&merged, &reference, &dataset)?;
    let chosen: Vec<String> = determined
        .file
        .postprocessors
        .iter()
        .map(|s| format!("{} {}", s.name, s.options))
        .collect();
    println!(
        "postprocessing: {}; foreground-mean Dice {:.4} → {:.4}\n  {}\n  postprocessed: {}",
        if chosen.is_empty() {
            "none".to_string()
        } else {
            chosen.join(", then ")
        },
        determined.baseline.foreground_mean["Dice"],
        determined.postprocessed.foreground_mean["Dice"],
        determined.file_path.display(),
        determined.postprocessed_folder.display()
    );
    Ok(())
}

fn apply(args: ApplyArgs) -> Result<()> {
    let registry = super::registry_with(&args.plugins)?;
    let file = PostprocessingFile::read(&args.pp_file)?;
    let pipeline = build_steps(&registry, &file.postprocessors)
        .with_context(|| format!("building the postprocessors of {}", args.pp_file.display()))?;
    let names = apply_to_folder(&pipeline, &args.input, &args.output, &file.file_ending)?;
    println!(
        "{} segmentation(s) postprocessed ({} step(s)) into {}",
        names.len(),
        file.postprocessors.len(),
        args.output.display()
    );
    Ok(())
}
