//! `nnunet train` (flags) and `nnunet run experiment.toml`: both build an
//! [`Experiment`](nnunet_trainers::experiment::Experiment) and train its folds.

use super::validation::{Ranks, ValidationArgs, validate};
use anyhow::{Context, Result};
use clap::Args;
use nnunet_core::DeviceChoice;
use nnunet_core::paths::NnunetPaths;
use nnunet_distributed::{ProcessGroup, Rendezvous, SharedGroup, launch};
use nnunet_trainers::experiment::{Experiment, Fold, prepare_fold};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset id (4), name (Dataset004_Hippocampus) or raw folder.
    #[arg(short = 'd', long)]
    pub dataset: String,
    /// Configuration: 2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres.
    #[arg(short = 'c', long)]
    pub configuration: String,
    /// Fold(s): 0-4 or all.
    #[arg(short = 'f', long = "fold", num_args = 1.., default_values_t = vec!["0".to_string()])]
    pub folds: Vec<String>,
    /// Plans name.
    #[arg(short = 'p', long, default_value = "nnUNetPlans")]
    pub plans: String,
    /// Network name (default: the plans' architecture).
    #[arg(long)]
    pub network: Option<String>,
    /// Network options as JSON, e.g. '{"upkern_from": "fold_0/checkpoint_final.safetensors"}'.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub network_options: String,
    /// Loss name or expression, e.g. dice+ce, dice+topk10, or a plugin's loss.
    #[arg(long, default_value = "dice+ce")]
    pub loss: String,
    /// Loss options as JSON, e.g. '{"alpha": 0.3}'.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub loss_options: String,
    /// Trainer (hooks and presets), e.g. nnUNetTrainer or a plugin's.
    #[arg(long, default_value = "nnUNetTrainer")]
    pub trainer: String,
    /// Trainer options as JSON, e.g. '{"warmup_epochs": 5}'.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub trainer_options: String,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub iterations_per_epoch: Option<usize>,
    #[arg(long)]
    pub validation_iterations: Option<usize>,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Data-augmentation worker threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Write checkpoint_latest every N epochs.
    #[arg(long, default_value_t = 50)]
    pub save_every: usize,
    /// Continue from the last checkpoint.
    #[arg(long = "continue")]
    pub resume: bool,
    /// Train in fp32 on CUDA (default: fp16 mixed precision with loss scaling, as nnU-Net).
    #[arg(long)]
    pub no_amp: bool,
    /// Initialise from these weights (all but the segmentation heads).
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// Plugin file to load; may be repeated.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    #[command(flatten)]
    pub validation: ValidationArgs,
    /// Data-parallel training: start N ranks on this node (torchrun's --nproc-per-node); the
    /// global batch is split across them. Ranks also come from torchrun's or SLURM's variables.
    #[arg(long, value_name = "N")]
    pub nproc_per_node: Option<usize>,
}

#[derive(Args)]
pub struct RunArgs {
    /// The experiment TOML file.
    pub experiment: PathBuf,
    #[command(flatten)]
    pub validation: ValidationArgs,
}

fn json_option(flag: &str, text: &str) -> Result<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(text)
        .with_context(|| format!("{flag} must be a JSON object, got {text:?}"))?;
    anyhow::ensure!(
        value.is_object(),
        "{flag} must be a JSON object, got {text:?}"
    );
    Ok(value)
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    if let Some(n) = args.nproc_per_node.filter(|&n| n > 1)
        && std::env::var_os("RANK").is_none()
    {
        let exe = std::env::current_exe().context("finding the nnunet binary")?;
        let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        nnunet_distributed::launch::launch(n, &exe, &launch::without_nproc_flag(&argv))?;
        return Ok(());
    }
    let mut experiment = Experiment {
        dataset: args.dataset,
        configuration: args.configuration,
        folds: args
            .folds
            .iter()
            .map(|f| Fold::parse(f))
            .collect::<nnunet_core::Result<_>>()?,
        plans: args.plans,
        trainer: args.trainer,
        trainer_options: json_option("--trainer-options", &args.trainer_options)?,
        network: args.network,
        network_options: json_option("--network-options", &args.network_options)?,
        loss: args.loss,
        loss_options: json_option("--loss-options", &args.loss_options)?,
        training: Default::default(),
        augmentations: Vec::new(),
        device: args.device,
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        save_every: args.save_every,
        plugins: args.plugins,
        pretrained: args.pretrained,
        resume: args.resume,
        amp: !args.no_amp,
    };
    if let Some(e) = args.epochs {
        experiment.training.epochs = e;
    }
    if let Some(i) = args.iterations_per_epoch {
        experiment.training.iterations_per_epoch = i;
    }
    if let Some(v) = args.validation_iterations {
        experiment.training.validation_iterations = v;
    }
    train_experiment(&experiment, &args.validation)
}

pub fn run_toml(args: RunArgs) -> Result<()> {
    let experiment = Experiment::from_toml_file(&args.experiment)?;
    train_experiment(&experiment, &args.validation)
}

/// This process's rank in a data-parallel run (torchrun's or SLURM's variables), joined to
/// the group; `None` for a single process.
pub(crate) fn join_group(
    device: nnunet_core::tch::Device,
) -> Result<Option<(Rendezvous, SharedGroup)>> {
    let Some(rdv) = Rendezvous::from_env()? else {
        return Ok(None);
    };
    let device = match device {
        nnunet_core::tch::Device::Cuda(_) => nnunet_core::tch::Device::Cuda(rdv.local_rank),
        other => other,
    };
    let group = ProcessGroup::join(&rdv, device, nnunet_distributed::collective_timeout())?;
    Ok(Some((rdv, Arc::new(Mutex::new(group)))))
}

fn train_experiment(experiment: &Experiment, validation: &ValidationArgs) -> Result<()> {
    let registry = super::registry_with(&experiment.plugins)?;
    let paths = NnunetPaths::from_env();
    let group = join_group(experiment.device.resolve()?)?;
    let main = group.as_ref().is_none_or(|(rdv, _)| rdv.rank == 0);
    // each rank validates its part of the cases; rank 0 scores them all
    let ranks = || {
        group.as_ref().map(|(rdv, group)| Ranks {
            rank: rdv.rank,
            world_size: rdv.world_size,
            group,
        })
    };
    for fold in &experiment.folds {
        let mut prepared = prepare_fold(&paths, experiment, fold, true)
            .with_context(|| format!("preparing fold {}", fold.label()))?;
        if let Some((rdv, group)) = &group {
            prepared.setup.data_parallel = Some(group.clone());
            prepared.setup.progress_bar &= main;
            if prepared.setup.device.is_cuda() {
                prepared.setup.device = nnunet_core::tch::Device::Cuda(rdv.local_rank);
            }
        }
        if validation.val {
            validate(&registry, experiment, &prepared, validation, ranks())?;
            continue;
        }
        println!(
            "training {} {} fold {} → {}",
            experiment.dataset,
            experiment.configuration,
            fold.label(),
            prepared.setup.output_dir.display()
        );
        let outcome = nnunet_trainers::training::train(
            &registry,
            &prepared.setup,
            prepared.train_cases.clone(),
            prepared.val_cases.clone(),
        )
        .inspect_err(|_| remove_if_untrained(&prepared))
        .with_context(|| format!("training fold {}", fold.label()))?;
        match outcome.log.epochs.last() {
            Some(last) => println!(
                "fold {}: {} epoch(s) run; last pseudo-Dice [{}], best EMA {}",
                fold.label(),
                outcome.epochs_run,
                last.pseudo_dice
                    .iter()
                    .map(|d| format!("{d:.4}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                outcome
                    .best_ema_pseudo_dice
                    .map_or("-".to_string(), |b| format!("{b:.4}"))
            ),
            None => println!("fold {}: nothing to do", fold.label()),
        }
        if !validation.no_validation {
            validate(&registry, experiment, &prepared, validation, ranks())?;
        }
    }
    Ok(())
}

/// After a failed training, removes the folders [`prepare_fold`] created for the fold when no
/// checkpoint was written to it: a run refused before its first checkpoint (an unknown
/// network, loss or option, a missing `--pretrained` file) leaves nothing to resume from.
fn remove_if_untrained(prepared: &nnunet_trainers::experiment::PreparedFold) {
    let Some(created) = &prepared.created else {
        return;
    };
    let checkpointed = std::fs::read_dir(&prepared.setup.output_dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("checkpoint_"))
    });
    if !checkpointed {
        let _ = std::fs::remove_dir_all(created);
    }
}
