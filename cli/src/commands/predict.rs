//! `nnunet predict` (nnUNetv2_predict) and `nnunet evaluate` (nnUNetv2_evaluate_folder).

use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::tch::Kind;
use nnunet_core::{PrecisionChoice, parse_device};
use nnunet_inference::case_selection::Selection;
use nnunet_inference::fold_weights::checkpoint_name;
use nnunet_inference::nnunet_folder::configuration_of;
use nnunet_inference::postprocess::{PostprocessingFile, build_steps};
use nnunet_inference::predict::{
    FolderOptions, Model, Postprocessing, PredictOptions, predict_folder,
};
use nnunet_trainers::experiment::trainer_folder;
use std::path::PathBuf;

#[derive(Args)]
pub struct PredictArgs {
    /// Folder of images named CASE_XXXX<ending>.
    #[arg(short = 'i', long)]
    pub input: PathBuf,
    /// Folder for the segmentations (created).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Model folder (`Trainer__Plans__configuration`, nnunet-rs or nnU-Net v2) instead of
    /// -d/-tr/-p/-c.
    #[arg(short = 'm', long = "model", conflicts_with_all = ["dataset", "trainer", "plans"])]
    pub model: Option<PathBuf>,
    #[arg(short = 'd', long)]
    pub dataset: Option<String>,
    /// Configuration (with -m: default from the folder name).
    #[arg(short = 'c', long)]
    pub configuration: Option<String>,
    /// Folds to ensemble.
    #[arg(short = 'f', long = "folds", num_args = 1.., default_values_t = vec!["0".to_string(), "1".to_string(), "2".to_string(), "3".to_string(), "4".to_string()])]
    pub folds: Vec<String>,
    #[arg(short = 'p', long)]
    pub plans: Option<String>,
    /// Trainer name, any (nnU-Net: -tr).
    #[arg(long)]
    pub trainer: Option<String>,
    /// final, best, or a checkpoint file name such as checkpoint_best.pth (nnU-Net: -chk).
    #[arg(long, default_value = "final")]
    pub checkpoint: String,
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub step_size: f64,
    /// Disable mirroring test-time augmentation.
    #[arg(long)]
    pub no_tta: bool,
    /// Also write each case's probabilities (CASE.npz, as nnU-Net, plus CASE.npz.json with the
    /// geometry) for `nnunet ensemble`.
    #[arg(long)]
    pub save_probabilities: bool,
    /// Cascade (3d_cascade_fullres): folder with the previous stage's segmentations
    /// (CASE<ending>).
    #[arg(long = "prev-stage", value_name = "DIR")]
    pub prev_stage: Option<PathBuf>,
    /// auto, cpu, cuda, or cuda:N (CUDA_VISIBLE_DEVICES applies).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// The network's arithmetic: auto (CUDA: fp16 autocast as nnU-Net; CPU: bfloat16 where the
    /// CPU computes it natively, else float32), fp32, bf16, or amp (CUDA fp16 autocast).
    #[arg(long, default_value = "auto")]
    pub precision: PrecisionChoice,
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// Split the (sorted) cases into this many parts ...
    #[arg(long, default_value_t = 1)]
    pub num_parts: usize,
    /// ... and predict this one (0-based): cases K, K+N, K+2N, …
    #[arg(long, default_value_t = 0)]
    pub part_id: usize,
    /// Worker processes on this machine, each predicting every N-th case (as --num-parts N
    /// --part-id i): a number, or `gpus` for one per visible CUDA device, worker i on cuda:i
    /// (CUDA_VISIBLE_DEVICES applies). A worker that fails stops the others. Started by torchrun
    /// instead, each process takes its part from LOCAL_RANK and WORLD_SIZE.
    #[arg(long, value_name = "N|gpus")]
    pub processes: Option<String>,
    /// Skip cases whose outputs exist (outputs are written atomically: never half-written).
    #[arg(long)]
    pub continue_prediction: bool,
    /// Cases read and preprocessed ahead of the network (nnU-Net: -npp, its reader processes;
    /// here one reader thread with this queue).
    #[arg(long = "npp", default_value_t = 2)]
    pub read_ahead: usize,
    /// Predicted cases queued for export and writing (nnU-Net: -nps, its writer processes; here
    /// one writer thread with this queue).
    #[arg(long = "nps", default_value_t = 2)]
    pub write_behind: usize,
    #[arg(long)]
    pub disable_progress_bar: bool,
    /// What the sliding window sums the weighted logits in: fp32, or fp16 as nnU-Net does
    /// (reproduces nnU-Net's outputs to its float16 rounding).
    #[arg(long, default_value = "fp32", value_parser = ["fp32", "fp16"])]
    pub accumulate: String,
    /// Apply the postprocessing of a postprocessing.json (its `postprocessors`, built-in or
    /// plugin) to every segmentation; without FILE, the model folder's own postprocessing.json.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    pub postprocess: Option<PathBuf>,
    /// Also write OUTPUT/localisation.json: each case's landmark row and world position (slice
    /// localisation models, docs/localisation.md).
    #[arg(long)]
    pub localisation: bool,
}

/// The model folder and configuration the arguments name: `-m DIR [-c C]`, or
/// `-d ID -c C [-tr T] [-p P]` under nnUNet_results.
fn model_and_configuration(args: &PredictArgs) -> Result<(PathBuf, String)> {
    if let Some(dir) = &args.model {
        let configuration = match (args.configuration.clone(), configuration_of(dir)) {
            (Some(c), _) | (None, Some(c)) => c,
            (None, None) => anyhow::bail!(
                "{}: give -c CONFIGURATION (the folder is not named Trainer__Plans__configuration)",
                dir.display()
            ),
        };
        return Ok((dir.clone(), configuration));
    }
    let (Some(dataset), Some(configuration)) = (&args.dataset, &args.configuration) else {
        anyhow::bail!("give the model: -m MODEL_FOLDER, or -d DATASET -c CONFIGURATION");
    };
    let trainer = args.trainer.as_deref().unwrap_or("nnUNetTrainer");
    let plans = args.plans.as_deref().unwrap_or("nnUNetPlans");
    let dir = match super::model_folder(dataset, trainer, plans, configuration) {
        Ok((_, dir)) => dir,
        // A model installed without its data: the dataset is found among the results.
        Err(raw_error) => {
            let Some(results) = NnunetPaths::from_env().results else {
                return Err(raw_error);
            };
            let in_results = NnunetPaths {
                raw: Some(results.clone()),
                ..Default::default()
            };
            let found =
                nnunet_datasets::raw::find_dataset(&in_results, dataset).map_err(|_| raw_error)?;
            let name = found.file_name().unwrap_or_default().to_string_lossy();
            trainer_folder(&results, &name, trainer, plans, configuration)
        }
    };
    Ok((dir, configuration.clone()))
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

/// `--processes`: the number of workers, and whether each takes its own GPU.
fn worker_count(processes: &str) -> Result<(usize, bool)> {
    if processes == "gpus" {
        let gpus = nnunet_core::tch::Cuda::device_count() as usize;
        anyhow::ensure!(gpus > 0, "--processes gpus: no CUDA device is visible");
        return Ok((gpus, true));
    }
    let n: usize = processes.parse().ok().filter(|&n| n > 0).with_context(|| {
        format!("--processes must be a positive number or `gpus`, not {processes:?}")
    })?;
    Ok((n, false))
}

/// With `--processes`: in the launcher, starts the workers, waits and returns true; in a worker
/// (LOCAL_RANK set), sets its part and device and returns false, for it to predict its part.
fn split_between_processes(args: &mut PredictArgs) -> Result<bool> {
    let Some(processes) = args.processes.clone() else {
        return Ok(false);
    };
    let (workers, per_gpu) = worker_count(&processes)?;
    anyhow::ensure!(
        args.num_parts == 1,
        "--processes splits the cases itself: it cannot be combined with --num-parts"
    );
    let rank = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    match (rank("LOCAL_RANK"), rank("WORLD_SIZE")) {
        (Some(local_rank), Some(world_size)) => {
            args.num_parts = world_size;
            args.part_id = local_rank;
            if per_gpu {
                args.device = format!("cuda:{local_rank}");
            }
            Ok(false)
        }
        _ => {
            let exe = std::env::current_exe().context("finding the nnunet binary")?;
            let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
            nnunet_distributed::launch::launch(workers, &exe, &argv)?;
            Ok(true)
        }
    }
}

pub fn run_predict(mut args: PredictArgs) -> Result<()> {
    anyhow::ensure!(
        args.num_parts >= 1,
        "--num-parts 0 is invalid: the cases are split into at least 1 part"
    );
    let same = |a: &std::path::Path, b: &std::path::Path| {
        a.canonicalize()
            .ok()
            .is_some_and(|a| b.canonicalize().ok() == Some(a))
    };
    anyhow::ensure!(
        !same(&args.input, &args.output),
        "{}: the output folder is the input folder: the segmentations would be written \
         among the images (and read as images by the next run); give another -o",
        args.output.display()
    );
    if split_between_processes(&mut args)? {
        return Ok(());
    }
    let selection = Selection {
        num_parts: args.num_parts,
        part_id: args.part_id,
        continue_prediction: args.continue_prediction,
    };
    selection.check()?;
    let (model_dir, configuration) = model_and_configuration(&args)?;
    let registry = super::registry_with(&args.plugins)?;
    let device = parse_device(&args.device)?;
    let options = PredictOptions {
        model_dir,
        configuration,
        folds: args.folds,
        checkpoint: checkpoint_name(&args.checkpoint),
        step_size: args.step_size,
        mirroring: !args.no_tta,
        device,
        precision: args.precision.resolve(device)?,
    };
    let postprocessing =
        postprocessing(&registry, args.postprocess.as_deref(), &options.model_dir)?;
    let mut model = Model::load(&registry, &options)?;
    if args.accumulate == "fp16" {
        model.set_accumulation(Kind::Half);
    }
    println!(
        "predicting on {device:?} in {}, test-time mirroring along axes {:?}",
        options.precision,
        model.mirror_axes()
    );
    let started = std::time::Instant::now();
    let folder_options = FolderOptions {
        save_probabilities: args.save_probabilities,
        prev_stage: args.prev_stage,
        progress: !args.disable_progress_bar,
        selection,
        read_ahead: args.read_ahead,
        write_behind: args.write_behind,
        postprocessing,
    };
    let written = predict_folder(&model, &args.input, &args.output, &folder_options)?;
    println!(
        "{} segmentation(s) written to {} in {:.1} s",
        written.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    if args.localisation {
        super::localise::after_predict(&args.output, &options.model_dir)?;
    }
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
    /// Also HD95 and NSD per label (MONAI's definitions, mm with the image spacing).
    #[arg(long)]
    pub surface: bool,
    /// NSD tolerance in mm (with --surface).
    #[arg(long = "nsd-tolerance", default_value_t = nnunet_inference::evaluation::DEFAULT_NSD_TOLERANCE_MM, requires = "surface")]
    pub nsd_tolerance: f64,
}

pub fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let dataset = args.dataset.read(None)?;
    let output = args
        .output
        .unwrap_or_else(|| args.prediction.join("summary.json"));
    if !(args.nsd_tolerance.is_finite() && args.nsd_tolerance >= 0.0) {
        anyhow::bail!(
            "--nsd-tolerance {}: give a finite number of mm ≥ 0",
            args.nsd_tolerance
        );
    }
    let surface = args
        .surface
        .then_some(nnunet_inference::evaluation::SurfaceOptions {
            tolerance_mm: args.nsd_tolerance,
        });
    let summary = nnunet_inference::evaluation::evaluate_folders_with(
        &args.reference,
        &args.prediction,
        &dataset,
        Some(&output),
        surface,
    )?;
    for (label, metrics) in &summary.mean {
        match (metrics.get("HD95"), metrics.get("NSD")) {
            (Some(hd), Some(nsd)) => println!(
                "label {label}: Dice {:.4}, HD95 {hd:.3} mm, NSD {nsd:.4}",
                metrics["Dice"]
            ),
            _ => println!("label {label}: Dice {:.4}", metrics["Dice"]),
        }
    }
    println!(
        "foreground mean Dice {:.4} over {} case(s); written to {}",
        summary.foreground_mean["Dice"],
        summary.metric_per_case.len(),
        output.display()
    );
    Ok(())
}
