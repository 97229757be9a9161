//! `nnunet import-nnunet`, `export-nnunet`, `export-model-zip` and `install-model-zip`: nnU-Net
//! v2 model folders and model zips, both ways ([`nnunet_inference::nnunet_folder`],
//! [`nnunet_inference::model_zip`]).

use anyhow::{Context, Result};
use clap::Args;
use nnunet_inference::{model_zip, nnunet_folder};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// nnU-Net v2 model folder (Trainer__Plans__configuration with fold_K/checkpoint_*.pth).
    #[arg(short = 'i', long)]
    pub input: PathBuf,
    /// Our model folder to write (e.g. nnUNet_results/DatasetXXX/Trainer__Plans__configuration).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

pub fn run_import(args: ImportArgs) -> Result<()> {
    // A failure midway (a corrupt .pth) removes what this run added to the output folder.
    let guard = nnunet_core::atomic::OutputGuard::create(&args.output)?;
    let written = nnunet_folder::import_folder(&args.input, &args.output)?;
    guard.commit();
    println!(
        "imported {} checkpoint(s) into {}",
        written.len(),
        args.output.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Our model folder (Trainer__Plans__configuration with fold_K/checkpoint_*.json).
    #[arg(short = 'i', long)]
    pub input: PathBuf,
    /// nnU-Net v2 model folder to write (for nnUNetv2_predict:
    /// nnUNet_results/DatasetXXX/nnUNetTrainer__Plans__configuration).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Trainer class nnUNetv2_predict builds the network with.
    #[arg(long, default_value = "nnUNetTrainer")]
    pub trainer_name: String,
}

pub fn run_export(args: ExportArgs) -> Result<()> {
    let guard = nnunet_core::atomic::OutputGuard::create(&args.output)?;
    let written = nnunet_folder::export_folder(&args.input, &args.output, &args.trainer_name)?;
    guard.commit();
    for file in &written {
        println!("wrote {}", file.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportZipArgs {
    /// The zip to write.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Model folders to put in (DatasetXXX/Trainer__Plans__configuration); or -d/-c.
    #[arg(short = 'm', long = "model", num_args = 1..)]
    pub models: Vec<PathBuf>,
    #[arg(short = 'd', long)]
    pub dataset: Option<String>,
    /// Configurations (with -d).
    #[arg(short = 'c', long = "configurations", num_args = 1..)]
    pub configurations: Vec<String>,
    #[arg(long = "trainer", default_value = "nnUNetTrainer")]
    pub trainer: String,
    #[arg(short = 'p', long, default_value = "nnUNetPlans")]
    pub plans: String,
    /// Folds to put in (default: all).
    #[arg(short = 'f', long = "folds", num_args = 1..)]
    pub folds: Vec<String>,
    /// Checkpoints to put in, as nnU-Net names them.
    #[arg(long = "chk", num_args = 1.., default_values_t = vec!["checkpoint_final.pth".to_string()])]
    pub checkpoints: Vec<String>,
    /// Trainer class recorded in the exported checkpoints of our models.
    #[arg(long, default_value = "nnUNetTrainer")]
    pub trainer_name: String,
}

pub fn run_export_zip(args: ExportZipArgs) -> Result<()> {
    let mut models = args.models.clone();
    if let Some(dataset) = &args.dataset {
        anyhow::ensure!(
            !args.configurations.is_empty(),
            "-d needs -c CONFIGURATION..."
        );
        for configuration in &args.configurations {
            models.push(super::model_folder(dataset, &args.trainer, &args.plans, configuration)?.1);
        }
    }
    anyhow::ensure!(
        !models.is_empty(),
        "give the models: -m FOLDER... or -d ID -c CONFIG..."
    );
    let folds = (!args.folds.is_empty()).then_some(args.folds.as_slice());
    let entries = model_zip::export_model_zip(
        &models,
        folds,
        &args.checkpoints,
        &args.trainer_name,
        &args.output,
    )?;
    println!("wrote {} ({} files)", args.output.display(), entries.len());
    Ok(())
}

#[derive(Args)]
pub struct InstallZipArgs {
    /// The model zip (nnU-Net's layout).
    pub zip: PathBuf,
    /// Where to install (default: $nnUNet_results).
    #[arg(long)]
    pub results: Option<PathBuf>,
}

pub fn run_install_zip(args: InstallZipArgs) -> Result<()> {
    let results = match args.results {
        Some(r) => r,
        None => nnunet_core::paths::NnunetPaths::from_env()
            .results
            .context("nnUNet_results is not set (or give --results)")?,
    };
    let guard = nnunet_core::atomic::OutputGuard::create(&results)?;
    let installed = model_zip::install_model_zip(&args.zip, &results)?;
    guard.commit();
    for model in installed {
        println!("installed {}", model.display());
    }
    Ok(())
}
