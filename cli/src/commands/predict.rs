//! `nnunet predict` (nnUNetv2_predict) and `nnunet evaluate` (nnUNetv2_evaluate_folder).

use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::{DeviceChoice, PrecisionChoice};
use nnunet_inference::postprocess::{PostprocessingFile, build_steps};
use nnunet_inference::predict::{
    FolderOptions, Model, Postprocessing, PredictOptions, predict_folder,
};
use std::path::PathBuf;

#[derive(Args)]
pub struct PredictArgs {
    /// Folder of images named CASE_XXXX<ending>.
    #[arg(short = 'i', long)]
    pub input: PathBuf,
    /// Folder for the segmentations (created).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    #[arg(short = 'd', long)]
    pub dataset: String,
    #[arg(short = 'c', long)]
    pub configuration: String,
    /// Folds to ensemble.
    #[arg(short = 'f', long = "folds", num_args = 1.., default_values_t = vec!["0".to_string(), "1".to_string(), "2".to_string(), "3".to_string(), "4".to_string()])]
    pub folds: Vec<String>,
    #[arg(short = 'p', long, default_value = "nnUNetPlans")]
    pub plans: String,
    #[arg(long, default_value = "nnUNetTrainer")]
    pub trainer: String,
    /// final or best.
    #[arg(long, default_value = "final")]
    pub checkpoint: String,
    #[arg(long, default_value_t = 0.5)]
    pub step_size: f64,
    /// Disable mirroring test-time augmentation.
    #[arg(long)]
    pub no_tta: bool,
    /// Also write each case's probabilities (CASE.npz, as nnU-Net, plus CASE.json with the
    /// geometry) for `nnunet ensemble`.
    #[arg(long)]
    pub save_probabilities: bool,
    /// Cascade (3d_cascade_fullres): folder with the previous stage's segmentations
    /// (CASE<ending>).
    #[arg(long = "prev-stage", value_name = "DIR")]
    pub prev_stage: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// The network's arithmetic: auto (CUDA: fp16 autocast as nnU-Net; CPU: bfloat16 where the
    /// CPU computes it natively, else float32), fp32, bf16, or amp (CUDA fp16 autocast).
    #[arg(long, default_value = "auto")]
    pub precision: PrecisionChoice,
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// Apply the postprocessing of a postprocessing.json (its `postprocessors`, built-in or
    /// plugin) to every segmentation; without FILE, the model folder's own postprocessing.json.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    pub postprocess: Option<PathBuf>,
}

/// The postprocessing `--postprocess` asks for, built from the registry.
fn postprocessing(
    registry: &nnunet_core::Registry,
    requested: Option<&std::path::Path>,
    model_dir: &std::path::Path,
) -> Result<Postprocessing> {
    let Some(file) = requested else {
        return Ok(Postprocessing::default());
    };
    let file = if file.as_os_str().is_empty() {
        model_dir.join("postprocessing.json")
    } else {
        file.to_path_buf()
    };
    let pipeline = PostprocessingFile::read(&file)?;
    let steps = build_steps(registry, &pipeline.postprocessors)
        .with_context(|| format!("{}: building its postprocessors", file.display()))?;
    println!(
        "postprocessing with {} from {}",
        if steps.is_empty() {
            "nothing".to_string()
        } else {
            pipeline
                .postprocessors
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        },
        file.display()
    );
    Ok(Postprocessing::new(steps))
}

pub fn run_predict(args: PredictArgs) -> Result<()> {
    let (_, model_dir) = super::model_folder(
        &args.dataset,
        &args.trainer,
        &args.plans,
        &args.configuration,
    )?;
    let registry = super::registry_with(&args.plugins)?;
    let checkpoint = match args.checkpoint.as_str() {
        "final" | "best" => format!("checkpoint_{}", args.checkpoint),
        other => anyhow::bail!("--checkpoint must be final or best, not {other:?}"),
    };
    let device = args.device.resolve()?;
    let options = PredictOptions {
        model_dir,
        configuration: args.configuration,
        folds: args.folds,
        checkpoint,
        step_size: args.step_size,
        mirroring: !args.no_tta,
        device,
        precision: args.precision.resolve(device)?,
    };
    let postprocessing =
        postprocessing(&registry, args.postprocess.as_deref(), &options.model_dir)?;
    let model = Model::load(&registry, &options)?;
    println!(
        "predicting on {device:?} in {}, test-time mirroring along axes {:?}",
        options.precision,
        model.mirror_axes()
    );
    let started = std::time::Instant::now();
    let folder_options = FolderOptions {
        save_probabilities: args.save_probabilities,
        prev_stage: args.prev_stage,
        progress: true,
        postprocessing,
    };
    let written = predict_folder(&model, &args.input, &args.output, &folder_options)?;
    println!(
        "{} segmentation(s) written to {} in {:.1} s",
        written.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// Folder of reference label maps.
    pub reference: PathBuf,
    /// Folder of predicted label maps.
    pub prediction: PathBuf,
    #[command(flatten)]
    pub dataset: super::DatasetChoice,
    /// Output file (default: PREDICTION/summary.json).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

pub fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let dataset = args.dataset.read(None)?;
    let output = args
        .output
        .unwrap_or_else(|| args.prediction.join("summary.json"));
    let summary = nnunet_inference::evaluation::evaluate_folders(
        &args.reference,
        &args.prediction,
        &dataset,
        Some(&output),
    )?;
    for (label, metrics) in &summary.mean {
        println!("label {label}: Dice {:.4}", metrics["Dice"]);
    }
    println!(
        "foreground mean Dice {:.4} over {} case(s); written to {}",
        summary.foreground_mean["Dice"],
        summary.metric_per_case.len(),
        output.display()
    );
    Ok(())
}
