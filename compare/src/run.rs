//! One network × one fold of a comparison: train (or reuse), validate (or reuse), and record
//! the figures the report needs in `fold_K/compare_record.json`.
//!
//! Each network trains in its own results root, `<output>/runs/<label>/`, below which the
//! layout is nnU-Net's (`<Dataset>/<trainer>__<plans>__<configuration>/fold_K`), so runs of two
//! networks that share trainer and plans never collide and `nnunet predict` can use any of them.
//! A fold with `checkpoint_final` and `validation/summary.json` is reused, not retrained; one
//! interrupted mid-training continues from `checkpoint_latest`.
//!
//! A run may train data-parallel ([`Rank`]: one of the processes `[scheduler] nproc_per_node`
//! launches): every rank trains, rank 0 alone validates and records, as `nnunet train` does.

use crate::config::{Comparison, NetworkEntry};
use crate::gpu_memory::PeakGpuMemory;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::tch::Device;
use nnunet_core::{Error, Registry, Result, atomic};
use nnunet_inference::validation::{ValidationOptions, validate_fold, validation_folder};
use nnunet_planning::plan_dataset::DatasetFolders;
use nnunet_trainers::checkpoint;
use nnunet_trainers::experiment::{Fold, prepare_fold, trainer_folder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File name of a run's record, in its `fold_K` folder.
pub const RECORD_FILE: &str = "compare_record.json";

/// What one network × fold produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub label: String,
    /// The network name the checkpoint records (e.g. `PlainConvUNet`, `mednext-s-k3`).
    pub network: String,
    pub plans: String,
    pub trainer: String,
    pub fold: String,
    pub parameters: u64,
    /// Epochs trained (reached, under a time budget).
    pub epochs: usize,
    /// The schedule's epochs (the budget's `epochs`).
    #[serde(default)]
    pub scheduled_epochs: Option<usize>,
    /// The training seed the checkpoint records.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The budget's wall-clock limit of training, in hours, if any.
    #[serde(default)]
    pub time_limit_hours: Option<f64>,
    /// FLOPs of one forward pass on one patch (2 × conv MACs; see `flops`), when countable.
    #[serde(default)]
    pub flops_per_patch: Option<u64>,
    /// Peak RSS of this process during the run's training and validation, in MiB (see
    /// `peak_rss`); unknown when the run was reused from an invocation that did not record it.
    #[serde(default)]
    pub peak_rss_mib: Option<u64>,
    /// Mean wall time of the trained epochs (training + validation iterations).
    pub train_seconds_per_epoch: Option<f64>,
    /// Final validation wall time per case: read, sliding window (+ mirroring), export, score.
    pub inference_seconds_per_case: Option<f64>,
    pub validation_cases: usize,
    /// This process's peak GPU memory in MiB (`nvidia-smi`), on CUDA only.
    pub peak_gpu_mib: Option<u64>,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Mean validation Dice per evaluated label key (`"1"`, …); `None` where undefined.
    pub dice: LabelDice,
    pub foreground_dice: Option<f64>,
    /// The fold's folder.
    pub fold_dir: PathBuf,
    /// Whether this invocation trained it (false when it was reused).
    #[serde(skip)]
    pub trained_now: bool,
    /// Whether this invocation validated it.
    #[serde(skip)]
    pub validated_now: bool,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Mean Dice per label key (`None` where undefined).
pub type LabelDice = BTreeMap<String, Option<f64>>;

/// Mean Dice per label and the foreground mean from a `summary.json` (nnU-Net writes `NaN`,
/// which is not JSON: read as null).
pub fn read_summary_dice(path: &Path) -> Result<(LabelDice, Option<f64>)> {
    let value = crate::cases::read_summary_json(path)?;
    let mean = value["mean"]
        .as_object()
        .ok_or_else(|| Error::invalid_file(path, "summary.json has no \"mean\""))?;
    let dice = mean
        .iter()
        .map(|(k, m)| (k.clone(), m["Dice"].as_f64()))
        .collect();
    Ok((dice, value["foreground_mean"]["Dice"].as_f64()))
}

/// The results root of one network of a comparison.
pub fn run_root(output: &Path, entry: &NetworkEntry) -> PathBuf {
    output.join("runs").join(entry.slug())
}

/// This process's place in a data-parallel run and its process group.
pub struct Rank {
    pub rank: usize,
    /// The CUDA device of this rank (`cuda:local_rank`).
    pub local_rank: usize,
    pub group: nnunet_distributed::SharedGroup,
}

/// Where one network × fold's files are.
struct RunFolders {
    run_paths: NnunetPaths,
    folders: DatasetFolders,
    model_dir: PathBuf,
    fold_dir: PathBuf,
    summary_file: PathBuf,
    final_json: PathBuf,
}

impl RunFolders {
    fn new(
        paths: &NnunetPaths,
        experiment: &nnunet_trainers::experiment::Experiment,
        entry: &NetworkEntry,
        fold: &Fold,
        output: &Path,
    ) -> Result<Self> {
        let root = run_root(output, entry);
        let run_paths = NnunetPaths {
            results: Some(root.clone()),
            ..paths.clone()
        };
        let folders = DatasetFolders::resolve(&experiment.dataset, &run_paths)?;
        let model_dir = trainer_folder(
            &root,
            &folders.name,
            &experiment.trainer,
            &experiment.plans,
            &experiment.configuration,
        );
        let fold_dir = model_dir.join(format!("fold_{}", fold.label()));
        Ok(RunFolders {
            summary_file: validation_folder(&model_dir, &fold.label()).join("summary.json"),
            final_json: checkpoint::paths(&fold_dir, "checkpoint_final").1,
            run_paths,
            folders,
            model_dir,
            fold_dir,
        })
    }
}

/// The record of a finished network × fold (final checkpoint on this budget, validation
/// summary and record of this label), else `None`: what a rerun reuses, the report job reads
/// and the SLURM submission skips.
pub fn finished_run(
    paths: &NnunetPaths,
    comparison: &Comparison,
    entry: &NetworkEntry,
    fold: &Fold,
    output: &Path,
) -> Result<Option<RunRecord>> {
    let experiment = comparison.experiment(entry)?;
    let f = RunFolders::new(paths, &experiment, entry, fold, output)?;
    finished_in(&f, &experiment, entry)
}

fn finished_in(
    f: &RunFolders,
    experiment: &nnunet_trainers::experiment::Experiment,
    entry: &NetworkEntry,
) -> Result<Option<RunRecord>> {
    let record_file = f.fold_dir.join(RECORD_FILE);
    if !f.final_json.exists() {
        return Ok(None);
    }
    check_budget(&f.final_json, experiment, &f.fold_dir)?;
    if !(f.summary_file.exists() && record_file.exists()) {
        return Ok(None);
    }
    let record: RunRecord = atomic::read_json(&record_file)?;
    if record.label != entry.label {
        return Ok(None);
    }
    completed(record, &f.final_json).map(Some)
}

/// Trains (unless finished), validates (unless done) and records one network × fold.
pub fn run_fold(
    registry: &Registry,
    paths: &NnunetPaths,
    comparison: &Comparison,
    entry: &NetworkEntry,
    fold: &Fold,
    output: &Path,
    progress: bool,
) -> Result<RunRecord> {
    run_fold_ranked(
        registry, paths, comparison, entry, fold, output, progress, None,
    )?
    .ok_or_else(|| Error::Invalid("a single process recorded no run".into()))
}

/// [`run_fold`] as one rank of a data-parallel run (`rank`), or alone (`None`). Every rank
/// trains; rank 0 alone validates and records, and the others return `None`.
#[allow(clippy::too_many_arguments)]
pub fn run_fold_ranked(
    registry: &Registry,
    paths: &NnunetPaths,
    comparison: &Comparison,
    entry: &NetworkEntry,
    fold: &Fold,
    output: &Path,
    progress: bool,
    rank: Option<&Rank>,
) -> Result<Option<RunRecord>> {
    let mut experiment = comparison.experiment(entry)?;
    let f = RunFolders::new(paths, &experiment, entry, fold, output)?;
    let main = rank.is_none_or(|r| r.rank == 0);
    if let Some(mut record) = finished_in(&f, &experiment, entry)? {
        if main && record.flops_per_patch.is_none() {
            // A record from before plugin networks were counted.
            let meta: checkpoint::CheckpointMeta = atomic::read_json(&f.final_json)?;
            record.flops_per_patch = flops_of(
                registry,
                &f.model_dir,
                &experiment.configuration,
                &meta,
                Device::Cpu,
            )?;
            atomic::write_json(&f.fold_dir.join(RECORD_FILE), &record)?;
        }
        return Ok(Some(record));
    }
    let (model_dir, fold_dir, folders) = (&f.model_dir, &f.fold_dir, &f.folders);
    let fold_label = fold.label();
    let record_file = fold_dir.join(RECORD_FILE);
    let finished = f.final_json.exists();

    let device = match (experiment.device.resolve()?, rank) {
        (Device::Cuda(_), Some(r)) => Device::Cuda(r.local_rank),
        (device, _) => device,
    };
    let memory = matches!(device, Device::Cuda(_)).then(PeakGpuMemory::start);
    let rss_reset = crate::peak_rss::reset();
    let mut trained_now = false;
    if !finished {
        experiment.resume = checkpoint::paths(fold_dir, "checkpoint_latest").1.exists();
        let mut prepared = prepare_fold(&f.run_paths, &experiment, fold, progress && main)?;
        prepared.setup.time_limit_seconds = comparison.time_limit_seconds();
        if let Some(r) = rank {
            prepared.setup.data_parallel = Some(r.group.clone());
            prepared.setup.device = device;
        }
        nnunet_trainers::training::train(
            registry,
            &prepared.setup,
            prepared.train_cases,
            prepared.val_cases,
        )?;
        trained_now = true;
    }
    if !main {
        return Ok(None);
    }
    let mut validated_now = false;
    let mut inference_seconds_per_case = None;
    let mut validation_cases = 0;
    if !f.summary_file.exists() || trained_now {
        let options = ValidationOptions {
            checkpoint: "checkpoint_final".into(),
            step_size: comparison.budget.step_size,
            mirroring: comparison.budget.mirroring,
            precision: comparison.budget.precision.resolve(device)?,
            ..ValidationOptions::nnunet(device)
        };
        let (cases, seconds) = validate(
            registry,
            model_dir,
            &experiment,
            &fold_label,
            folders,
            &options,
        )?;
        validation_cases = cases;
        inference_seconds_per_case = Some(seconds);
        validated_now = true;
    }
    let measured = Measured {
        trained_now,
        validated_now,
        inference_seconds_per_case,
        validation_cases,
        peak_gpu_mib: memory.and_then(PeakGpuMemory::finish),
        peak_rss_mib: rss_reset.then(crate::peak_rss::peak_mib).flatten(),
        device,
    };
    let record = record(
        registry,
        comparison,
        entry,
        &experiment,
        model_dir,
        &fold_label,
        measured,
    )?;
    atomic::write_json(&record_file, &record)?;
    Ok(Some(record))
}

/// What this invocation measured of a run.
struct Measured {
    trained_now: bool,
    validated_now: bool,
    inference_seconds_per_case: Option<f64>,
    /// 0: not validated now (counted from the summary).
    validation_cases: usize,
    peak_gpu_mib: Option<u64>,
    peak_rss_mib: Option<u64>,
    device: Device,
}

/// The record of a trained and validated fold: the checkpoint, the summary and `m`.
fn record(
    registry: &Registry,
    comparison: &Comparison,
    entry: &NetworkEntry,
    experiment: &nnunet_trainers::experiment::Experiment,
    model_dir: &Path,
    fold_label: &str,
    m: Measured,
) -> Result<RunRecord> {
    let fold_dir = model_dir.join(format!("fold_{fold_label}"));
    let summary_file = validation_folder(model_dir, fold_label).join("summary.json");
    let loaded = checkpoint::load(&fold_dir, "checkpoint_final")?;
    let (dice, foreground_dice) = read_summary_dice(&summary_file)?;
    let validation_cases = match m.validation_cases {
        0 => count_cases(&summary_file)?,
        n => n,
    };
    Ok(RunRecord {
        label: entry.label.clone(),
        network: loaded.meta.network.clone(),
        plans: experiment.plans.clone(),
        trainer: experiment.trainer.clone(),
        fold: fold_label.to_string(),
        parameters: loaded.network.iter().map(|(_, t)| t.numel() as u64).sum(),
        epochs: loaded.meta.epoch,
        scheduled_epochs: Some(loaded.meta.options.epochs),
        seed: Some(loaded.meta.options.seed),
        time_limit_hours: comparison.budget.hours,
        flops_per_patch: flops_of(
            registry,
            model_dir,
            &experiment.configuration,
            &loaded.meta,
            m.device,
        )?,
        peak_rss_mib: m.peak_rss_mib,
        train_seconds_per_epoch: mean_epoch_seconds(&loaded.meta.log.epochs),
        inference_seconds_per_case: m.inference_seconds_per_case,
        validation_cases,
        peak_gpu_mib: m.peak_gpu_mib,
        device: match m.device {
            Device::Cuda(_) => "cuda".into(),
            _ => "cpu".into(),
        },
        dice: dice
            .into_iter()
            .map(|(k, v)| (k, v.and_then(finite)))
            .collect(),
        foreground_dice: foreground_dice.and_then(finite),
        fold_dir,
        trained_now: m.trained_now,
        validated_now: m.validated_now,
    })
}

/// Validates the fold as nnU-Net does after training: the number of cases and the wall time
/// per case.
fn validate(
    registry: &Registry,
    model_dir: &Path,
    experiment: &nnunet_trainers::experiment::Experiment,
    fold_label: &str,
    folders: &DatasetFolders,
    options: &ValidationOptions,
) -> Result<(usize, f64)> {
    let started = Instant::now();
    let cases = validate_fold(
        registry,
        model_dir,
        &experiment.configuration,
        fold_label,
        &folders.preprocessed,
        &[],
        options,
    )?
    .metric_per_case
    .len();
    Ok((cases, started.elapsed().as_secs_f64() / cases.max(1) as f64))
}

/// A finished run is reused only if it was trained on this budget's epochs and iterations.
fn check_budget(
    final_json: &Path,
    experiment: &nnunet_trainers::experiment::Experiment,
    fold_dir: &Path,
) -> Result<()> {
    let meta: checkpoint::CheckpointMeta = atomic::read_json(final_json)?;
    let (had, want) = (&meta.options, &experiment.training);
    if (had.epochs, had.iterations_per_epoch) != (want.epochs, want.iterations_per_epoch) {
        return Err(Error::invalid_file(
            final_json,
            format!(
                "trained with {} epochs × {} iterations, but the budget is {} × {}: remove \
                 {} or choose another output folder",
                had.epochs,
                had.iterations_per_epoch,
                want.epochs,
                want.iterations_per_epoch,
                fold_dir.display()
            ),
        ));
    }
    Ok(())
}

/// A reused record; one written by an earlier version gets what the checkpoint still says
/// (seed, schedule; not the peak memory, which only the run could measure; FLOPs are counted
/// again by [`run_fold_ranked`], which has the networks).
fn completed(mut record: RunRecord, final_json: &Path) -> Result<RunRecord> {
    if record.seed.is_none() {
        let meta: checkpoint::CheckpointMeta = atomic::read_json(final_json)?;
        record.seed = Some(meta.options.seed);
        record.scheduled_epochs = Some(meta.options.epochs);
    }
    Ok(record)
}

/// FLOPs of one forward pass of a trained run's network on one patch of its plans, built
/// from the plans and dataset.json the run folder holds as it trained (deep supervision
/// included), counted on libtorch's dispatcher (`nnunet_networks::flops_per_patch`): any
/// network, plugin or built in. `None` for a configuration without a patch size.
fn flops_of(
    registry: &Registry,
    model_dir: &Path,
    configuration: &str,
    meta: &checkpoint::CheckpointMeta,
    device: Device,
) -> Result<Option<u64>> {
    let plans: nnunet_core::Plans = atomic::read_json(&model_dir.join("plans.json"))?;
    let dataset: nnunet_core::DatasetDescriptor =
        atomic::read_json(&model_dir.join("dataset.json"))?;
    let config = plans.configuration(configuration)?;
    let Some(patch) = config.patch_size.as_ref() else {
        return Ok(None);
    };
    let patch: Vec<i64> = patch.iter().map(|&p| p as i64).collect();
    let mut spec = nnunet_networks::network_spec_from_plans(
        &config,
        Some(&dataset),
        None,
        meta.options.deep_supervision,
    )?;
    spec.options = meta.network_options.clone();
    let flops = nnunet_networks::flops_per_patch(registry, &meta.network, &spec, &patch, device)?;
    Ok(Some(flops.total()))
}

/// Mean wall time of the logged epochs.
fn mean_epoch_seconds(epochs: &[nnunet_trainers::progress::EpochRecord]) -> Option<f64> {
    (!epochs.is_empty())
        .then(|| epochs.iter().map(|e| e.epoch_seconds).sum::<f64>() / epochs.len() as f64)
}

fn count_cases(summary_file: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(summary_file).map_err(|e| Error::io(summary_file, e))?;
    Ok(text.matches("\"prediction_file\"").count())
}
