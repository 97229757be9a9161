//! `nnunet report`: one static HTML page about a folder of predictions — sortable per-case table
//! with surface metrics, box plots, overlays, training curves (`nnunet_inference::report`).

use anyhow::Result;
use clap::Args;
use nnunet_inference::evaluation::DEFAULT_NSD_TOLERANCE_MM;
use nnunet_inference::overlay::SliceChoice;
use nnunet_inference::report::{ReportInputs, write_report};
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// Folder of images named CASE_XXXX<ending> for the overlays (default: imagesTr and imagesTs
    /// beside the dataset.json, where they exist).
    #[arg(short = 'i', long)]
    pub images: Option<PathBuf>,
    /// Folder of ground-truth label maps.
    #[arg(short = 'g', long = "gt")]
    pub reference: PathBuf,
    /// Folder of predicted label maps.
    #[arg(short = 'p', long = "pred")]
    pub prediction: PathBuf,
    /// Output folder: index.html, overlays/, summary.json (created).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub dataset: super::DatasetChoice,
    /// Model folder (trainer__plans__configuration, or one fold) for the training curves.
    #[arg(short = 'm', long = "model")]
    pub model: Option<PathBuf>,
    /// NSD tolerance in mm.
    #[arg(long = "nsd-tolerance", default_value_t = DEFAULT_NSD_TOLERANCE_MM)]
    pub nsd_tolerance: f64,
    /// 3D overlays: the slice with the most foreground in the reference, or the middle one.
    #[arg(long, default_value = "max-foreground")]
    pub slice: SliceChoice,
}

pub fn run(args: ReportArgs) -> Result<()> {
    if !(args.nsd_tolerance.is_finite() && args.nsd_tolerance >= 0.0) {
        anyhow::bail!(
            "--nsd-tolerance {}: give a finite number of mm ≥ 0",
            args.nsd_tolerance
        );
    }
    let dataset_json = args.dataset.path(None)?;
    let dataset: nnunet_core::DatasetDescriptor = nnunet_core::atomic::read_json(&dataset_json)?;
    let images: Vec<PathBuf> = match args.images {
        Some(dir) => vec![dir],
        None => ["imagesTr", "imagesTs"]
            .iter()
            .filter_map(|sub| dataset_json.parent().map(|p| p.join(sub)))
            .filter(|dir| dir.is_dir())
            .collect(),
    };
    let page = write_report(&ReportInputs {
        images: &images,
        reference: &args.reference,
        prediction: &args.prediction,
        dataset: &dataset,
        model: args.model.as_deref(),
        output: &args.output,
        tolerance_mm: args.nsd_tolerance,
        slice: args.slice,
    })?;
    println!("report written to {}", page.display());
    Ok(())
}
