//! `nnunet ensemble` (nnUNetv2_ensemble): averages the saved probabilities of several
//! prediction folders and writes the resulting segmentations.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EnsembleArgs {
    /// Prediction folders written with `nnunet predict --save-probabilities`.
    #[arg(short = 'i', long = "input", num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder for the ensembled segmentations (created).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub dataset: super::DatasetChoice,
    /// Also write the averaged probabilities (CASE.npz + CASE.npz.json).
    #[arg(long)]
    pub save_probabilities: bool,
}

pub fn run(args: EnsembleArgs) -> Result<()> {
    // Default: the first input's dataset.json (nnunet predict writes one).
    let dataset = args
        .dataset
        .read(Some(args.inputs[0].join("dataset.json")))
        .context(
            "the dataset is needed (labels, file ending): give -d ID or --djfile dataset.json",
        )?;
    let written = nnunet_inference::ensemble::ensemble_folders(
        &args.inputs,
        &args.output,
        &dataset,
        args.save_probabilities,
    )?;
    println!(
        "{} case(s) ensembled from {} folder(s) into {}",
        written.len(),
        args.inputs.len(),
        args.output.display()
    );
    Ok(())
}
