//! `nnunet overlay`: PNG overlays (image + coloured label contours, ground truth and prediction
//! side by side) for a folder of cases (`nnunet_inference::overlay`).

use anyhow::Result;
use clap::Args;
use nnunet_inference::overlay::{SliceChoice, overlay_folder};
use std::path::PathBuf;

#[derive(Args)]
pub struct OverlayArgs {
    /// Folder of images named CASE_XXXX<ending>.
    #[arg(short = 'i', long)]
    pub images: PathBuf,
    /// Folder of ground-truth label maps (optional: without it, the prediction alone).
    #[arg(short = 'g', long = "gt")]
    pub reference: Option<PathBuf>,
    /// Folder of predicted label maps.
    #[arg(short = 'p', long = "pred")]
    pub prediction: PathBuf,
    /// Output folder for CASE.png (created).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub dataset: super::DatasetChoice,
    /// 3D: the slice with the most foreground in the reference, or the middle one.
    #[arg(long, default_value = "max-foreground")]
    pub slice: SliceChoice,
}

pub fn run(args: OverlayArgs) -> Result<()> {
    let dataset = args.dataset.read(None)?;
    let written = overlay_folder(
        &args.images,
        args.reference.as_deref(),
        &args.prediction,
        &args.output,
        &dataset.file_ending,
        args.slice,
    )?;
    println!(
        "{} overlay(s) written to {}",
        written.len(),
        args.output.display()
    );
    Ok(())
}
