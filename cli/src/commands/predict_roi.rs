//! `nnunet predict-roi`: two-stage ROI prediction (`nnunet_inference::roi`): a coarse model
//! finds the objects, a fine model segments an enlarged crop around each.

use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::{PrecisionChoice, Registry, parse_device};
use nnunet_inference::fold_weights::checkpoint_name;
use nnunet_inference::nnunet_folder::configuration_of;
use nnunet_inference::predict::{Model, PredictOptions};
use nnunet_inference::roi::{RoiOptions, predict_roi_folder};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct PredictRoiArgs {
    /// Folder of images named CASE_XXXX<ending>.
    #[arg(short = 'i', long)]
    pub input: PathBuf,
    /// Folder for the segmentations (created), with roi_boxes.json (each case's crops).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// The coarse model: a model folder (Trainer__Plans__configuration), or a dataset id or
    /// name under nnUNet_results (with --coarse-c, -tr, -p).
    #[arg(long, value_name = "MODEL_FOLDER|DATASET")]
    pub coarse: String,
    /// The coarse model's configuration (default: from its folder name).
    #[arg(long = "coarse-c", value_name = "CONFIGURATION")]
    pub coarse_configuration: Option<String>,
    /// The fine model (trained on `nnunet convert roi` crops): a model folder or a dataset.
    #[arg(long, value_name = "MODEL_FOLDER|DATASET")]
    pub fine: String,
    /// The fine model's configuration (default: from its folder name).
    #[arg(long = "fine-c", value_name = "CONFIGURATION")]
    pub fine_configuration: Option<String>,
    /// Trainer of dataset-named models (nnU-Net: -tr).
    #[arg(long, default_value = "nnUNetTrainer")]
    pub trainer: String,
    /// Plans of dataset-named models.
    #[arg(short = 'p', long, default_value = "nnUNetPlans")]
    pub plans: String,
    /// Folds to ensemble, for both models.
    #[arg(short = 'f', long = "folds", num_args = 1.., default_values_t = vec!["0".to_string(), "1".to_string(), "2".to_string(), "3".to_string(), "4".to_string()])]
    pub folds: Vec<String>,
    /// Each box side is multiplied by this about the box centre, then clipped to the image.
    #[arg(long, default_value_t = 2.0)]
    pub enlarge: f64,
    /// One box per component of each label (default: components of all foreground together).
    #[arg(long)]
    pub per_label: bool,
    /// Coarse components with fewer voxels are ignored.
    #[arg(long, default_value_t = 1)]
    pub min_size: usize,
    /// Also write the coarse segmentations into OUTPUT/coarse.
    #[arg(long)]
    pub save_coarse: bool,
    /// final, best, or a checkpoint file name (nnU-Net: -chk).
    #[arg(long, default_value = "final")]
    pub checkpoint: String,
    #[arg(long, default_value_t = 0.5)]
    pub step_size: f64,
    /// Disable mirroring test-time augmentation.
    #[arg(long)]
    pub no_tta: bool,
    /// auto, cpu, cuda, or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// auto, fp32, bf16 or amp, as `nnunet predict`.
    #[arg(long, default_value = "auto")]
    pub precision: PrecisionChoice,
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
}

/// The model folder and configuration of `--coarse`/`--fine`.
fn model_dir(
    args: &PredictRoiArgs,
    which: &str,
    model: &str,
    configuration: Option<&String>,
) -> Result<(PathBuf, String)> {
    if Path::new(model).is_dir() {
        let dir = PathBuf::from(model);
        let configuration = configuration.cloned().or_else(|| configuration_of(&dir)).with_context(|| {
            format!("{which} {model}: give {which}-c CONFIGURATION (the folder is not named Trainer__Plans__configuration)")
        })?;
        return Ok((dir, configuration));
    }
    let configuration = configuration.with_context(|| {
        format!("{which} {model} is not a folder: as a dataset it needs {which}-c CONFIGURATION")
    })?;
    let (_, dir) = super::model_folder(model, &args.trainer, &args.plans, configuration)?;
    Ok((dir, configuration.clone()))
}

fn load(registry: &Registry, args: &PredictRoiArgs, which: &str) -> Result<Model> {
    let (model, configuration) = match which {
        "--coarse" => (&args.coarse, args.coarse_configuration.as_ref()),
        _ => (&args.fine, args.fine_configuration.as_ref()),
    };
    let (model_dir, configuration) = model_dir(args, which, model, configuration)?;
    let device = parse_device(&args.device)?;
    let options = PredictOptions {
        model_dir: model_dir.clone(),
        configuration,
        folds: args.folds.clone(),
        checkpoint: checkpoint_name(&args.checkpoint),
        step_size: args.step_size,
        mirroring: !args.no_tta,
        device,
        precision: args.precision.resolve(device)?,
    };
    Model::load(registry, &options).with_context(|| format!("loading {}", model_dir.display()))
}

pub fn run(args: PredictRoiArgs) -> Result<()> {
    let roi = RoiOptions {
        enlarge: args.enlarge,
        per_label: args.per_label,
        min_size: args.min_size,
    };
    roi.check()?;
    let registry = super::registry_with(&args.plugins)?;
    let coarse = load(&registry, &args, "--coarse")?;
    let fine = load(&registry, &args, "--fine")?;
    let started = std::time::Instant::now();
    let written = predict_roi_folder(
        &coarse,
        &fine,
        &args.input,
        &args.output,
        &roi,
        args.save_coarse,
    )?;
    println!(
        "{} segmentation(s) written to {} in {:.1} s (crops in roi_boxes.json)",
        written.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
