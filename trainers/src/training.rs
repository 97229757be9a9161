//! The training loop, nnU-Net v2's `nnUNetTrainer.run_training`: per epoch the learning rate
//! from the trainer's schedule, `iterations_per_epoch` optimiser steps (deep-supervised loss,
//! gradient-norm clip 12), `validation_iterations` validation batches giving the loss and the
//! pseudo-Dice per class, its EMA, `training_log.txt`, `progress.png`, and checkpoints:
//! `checkpoint_latest` every `save_every` epochs, `checkpoint_best` whenever the EMA pseudo-Dice
//! improves, `checkpoint_final` at the end (then `checkpoint_latest` is removed, as nnU-Net does).
//!
//! Everything a variant changes comes from the registry: the network, the loss expression, and
//! the trainer's hooks (`configure`, `learning_rate`, `loss`, `on_epoch_end`), resolved in
//! [`crate::resolve`] before the first epoch. Batches are a pure function of the seed
//! and their index, so `--continue` from a checkpoint replays the same sequence.
//!
//! As nnU-Net: on CUDA the forward pass and the loss run under fp16 autocast with a
//! [`GradScaler`] (unless `amp` is off); on CPU in fp32 without scaling. A region-based dataset
//! trains one sigmoid output per region with `dice+bce` (the default `dice+ce` is replaced) and
//! pseudo-Dice on `sigmoid > 0.5`; a cascade configuration (`previous_stage` in the plans) gets
//! one extra input channel per foreground label, the previous stage's segmentation as one-hot.
//!
//! Data-parallel ([`crate::data_parallel`], `setup.data_parallel`): each rank builds its part of
//! every batch, gradients are averaged after backward, batch Dice's tp/fp/fn, the losses and
//! the pseudo-Dice counts summed across ranks, and rank 0 alone writes.

use crate::case_source::CaseSource;
use crate::checkpoint::{self, CHECKPOINT_FORMAT, CheckpointMeta};
use crate::data_parallel::DataParallel;
use crate::grad_scaler::{GradScaler, GradScalerConfig};
use crate::label_setup;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::prefetch::Prefetcher;
pub use crate::pretrained::load_pretrained;
use crate::progress::{self, EpochRecord, TrainingLog};
use crate::pseudo_dice::DiceCounts;
use crate::resolve::{AugmentationStep, DEFAULT_LOSS, ResolvedRun};
use crate::step::{LazyDeepSupervision, Step};
use nnunet_core::tch::{self, Device, Tensor, nn::VarStore};
use nnunet_core::trainer::{EpochControl, EpochReport, TrainingOptions};
use nnunet_core::{DatasetDescriptor, Error, LossSpec, NetworkSpec, Plans, Registry, Result};
use nnunet_losses::build_loss_from_expr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Everything one training run (one configuration, one fold) is told.
#[derive(Clone, Debug)]
pub struct TrainingSetup {
    /// `nnUNet_results/DatasetXXX/<trainer>__<plans>__<configuration>/fold_K`.
    pub output_dir: PathBuf,
    pub network: String,
    pub network_options: serde_json::Value,
    /// A loss name or expression (`dice+ce`, `dice+topk10`, a plugin's loss).
    pub loss: String,
    pub loss_options: serde_json::Value,
    pub trainer: String,
    pub trainer_options: serde_json::Value,
    pub options: TrainingOptions,
    /// Plugin augmentations, each after the built-in step it names.
    pub augmentations: Vec<AugmentationStep>,
    pub configuration: String,
    pub fold: String,
    pub plans: Plans,
    pub dataset: DatasetDescriptor,
    pub device: Device,
    /// Data-augmentation worker threads.
    pub workers: usize,
    /// Continue from `checkpoint_latest` (or stop at once if `checkpoint_final` exists).
    pub resume: bool,
    /// Initialise from these weights, all but the segmentation heads.
    pub pretrained: Option<PathBuf>,
    /// Write `checkpoint_latest` every this many epochs (nnU-Net: 50).
    pub save_every: usize,
    pub plans_sha256: String,
    pub dataset_fingerprint_sha256: String,
    /// Show a progress bar.
    pub progress_bar: bool,
    /// Mixed precision on CUDA (fp16 autocast + loss scaling), as nnU-Net; no effect on CPU.
    pub amp: bool,
    /// Wall-clock budget in seconds: training stops after the epoch at which the logged epoch
    /// times (earlier sessions' included) reach it, and `checkpoint_final` records the epochs
    /// reached. The schedule still runs over `options.epochs`. `None`: no limit.
    pub time_limit_seconds: Option<f64>,
    /// Data-parallel training: this rank's process group (`None`: a single process).
    pub data_parallel: Option<nnunet_distributed::SharedGroup>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Epochs run by this call (0 when resuming a finished run).
    pub epochs_run: usize,
    pub log: TrainingLog,
    pub best_ema_pseudo_dice: Option<f64>,
}

/// A line in `training_log.txt`, timestamped as nnU-Net's (rank 0's only: other data-parallel
/// ranks log nothing).
struct RunLog {
    file: Option<std::fs::File>,
    echo: bool,
}

impl RunLog {
    fn open(path: &Path, echo: bool, main: bool) -> Result<Self> {
        if !main {
            return Ok(RunLog {
                file: None,
                echo: false,
            });
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(RunLog {
            file: Some(file),
            echo,
        })
    }

    fn line(&mut self, text: &str) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        let line = format!("{stamp}: {text}\n");
        let _ = file.write_all(line.as_bytes());
        if self.echo {
            eprint!("{line}");
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of a file's bytes (plans and fingerprint identity in checkpoints).
pub fn file_sha256(path: &Path) -> Result<String> {
    Ok(sha256_hex(
        &std::fs::read(path).map_err(|e| Error::io(path, e))?,
    ))
}

/// The optimiser's state and, with mixed precision, the loss scaler's: what a checkpoint must
/// hold for `--continue` to be exact.
fn train_state(optimizer: &Optimizer, scaler: Option<&GradScaler>) -> Vec<(String, Tensor)> {
    let mut state = optimizer.state_tensors();
    if let Some(scaler) = scaler {
        state.extend(scaler.state_tensors());
    }
    state
}

/// [`checkpoint::save`] on rank 0 (or in a single process); nothing on the other ranks.
fn save_if(
    main: bool,
    out: &Path,
    name: &str,
    vs: &VarStore,
    state: &[(String, Tensor)],
    meta: &CheckpointMeta,
) -> Result<()> {
    if main {
        checkpoint::save(out, name, vs, state, meta)?;
    }
    Ok(())
}

/// Trains one fold. See the module documentation.
pub fn train(
    registry: &Registry,
    setup: &TrainingSetup,
    train_cases: Arc<dyn CaseSource>,
    val_cases: Arc<dyn CaseSource>,
) -> Result<TrainOutcome> {
    let out = &setup.output_dir;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let config = setup.plans.configuration(&setup.configuration)?;
    // The trainer's `configure` runs first: everything below reads the options after it.
    let run = ResolvedRun::new(registry, setup)?;
    let (trainer, options) = (&run.trainer, &run.options);
    let dp = setup
        .data_parallel
        .clone()
        .map(DataParallel::new)
        .transpose()?;
    // rank 0 writes checkpoints, logs and progress.png
    let main = dp.as_ref().is_none_or(DataParallel::is_main);
    let (patch, architecture) = (&run.patch, run.architecture.clone());
    // Regions: one sigmoid output per region; cascade: one-hot inputs per foreground label.
    let regions = label_setup::foreground_regions(&setup.dataset)?;
    let cascade_labels = match &config.previous_stage {
        Some(_) => Some(label_setup::foreground_labels(&setup.dataset)?),
        None => None,
    };

    // Seed libtorch so the initial weights, like the batches, follow from the seed.
    tch::manual_seed(options.seed as i64);
    if setup.device.is_cuda() {
        // nnU-Net's run_training: cuDNN picks the fastest convolution algorithms for the patch
        // size on the first batches (the patch size never changes).
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let mut vs = VarStore::new(setup.device);
    let spec = NetworkSpec {
        spatial_dims: patch.len(),
        in_channels: (setup.dataset.num_channels() + cascade_labels.as_ref().map_or(0, Vec::len))
            as i64,
        num_outputs: setup.dataset.num_segmentation_heads()? as i64,
        architecture,
        deep_supervision: options.deep_supervision,
        options: setup.network_options.clone(),
        patch_size: patch.iter().map(|&s| s as i64).collect(),
    };
    let network = registry.build_network(&setup.network, &vs.root(), &spec)?;
    let ignore_label = setup.dataset.ignore_label();
    // nnU-Net trains regions with DC_and_BCE_loss: the default softmax loss becomes dice+bce.
    let loss_name = match (&regions, run.loss.replace(' ', "").as_str()) {
        (Some(_), DEFAULT_LOSS) => "dice+bce".to_string(),
        _ => run.loss.clone(),
    };
    // One loss per output resolution; the number of outputs is known after the first forward.
    // In data-parallel training batch Dice sums its counts across ranks (nnU-Net's ddp=True).
    let batch_dice = config.batch_dice.unwrap_or(false);
    let gather = dp.as_ref().map(DataParallel::gather_batch_dice);
    let loss_spec = LossSpec {
        batch_dice,
        ignore_label,
        regions: regions.is_some(),
        options: run.loss_options.clone(),
    };
    let loss = build_loss_from_expr(registry, &loss_name, &loss_spec)?;
    drop(gather);
    let mut losses = LazyDeepSupervision::new(loss);
    // nnU-Net: GradScaler on CUDA only.
    let use_amp = setup.amp && setup.device.is_cuda();
    let mut scaler = use_amp.then(|| GradScaler::new(GradScalerConfig::default()));

    let mut optimizer = Optimizer::new(
        &vs,
        OptimizerConfig::from_options(options),
        options.initial_lr,
    );
    let mut log = TrainingLog::default();
    let mut best: Option<f64> = None;
    let mut start_epoch = 0;
    let mut generation = 0u64;
    let mut runlog = RunLog::open(&out.join("training_log.txt"), setup.progress_bar, main)?;

    if setup.resume {
        let (final_w, _) = checkpoint::paths(out, "checkpoint_final");
        let (latest_w, _) = checkpoint::paths(out, "checkpoint_latest");
        let name = if final_w.exists() {
            "checkpoint_final"
        } else if latest_w.exists() {
            "checkpoint_latest"
        } else {
            return Err(Error::Invalid(format!(
                "--continue: no checkpoint_latest or checkpoint_final in {}",
                out.display()
            )));
        };
        let loaded = checkpoint::load(out, name)?;
        if loaded.meta.plans_sha256 != setup.plans_sha256 {
            return Err(Error::Invalid(format!(
                "--continue: {name} was trained with other plans (sha256 {} ≠ {})",
                loaded.meta.plans_sha256, setup.plans_sha256
            )));
        }
        checkpoint::restore_network(&mut vs, &loaded.network, out)?;
        optimizer.load_state(&loaded.optimizer)?;
        if let Some(scaler) = scaler.as_mut() {
            scaler.load_state(&loaded.optimizer)?;
        }
        start_epoch = loaded.meta.epoch;
        log = loaded.meta.log;
        best = loaded.meta.best_ema_pseudo_dice;
        generation = loaded.meta.generation;
        runlog.line(&format!("Resuming from {name} at epoch {start_epoch}"));
    } else if let Some(path) = &setup.pretrained {
        let n = load_pretrained(&mut vs, path, &network.head_parameter_prefixes())?;
        runlog.line(&format!(
            "Loaded {n} pretrained tensors from {}",
            path.display()
        ));
    }

    if let Some(dp) = &dp {
        // as torch DDP when it wraps the model: every rank starts from rank 0's weights
        dp.broadcast_weights(&vs)?;
        let shard = dp.shard();
        runlog.line(&format!(
            "Data-parallel training on {} ranks: each builds its part of every batch of {} \
             (rank 0: samples {:?}){}",
            shard.world_size,
            run.batch_size,
            shard.samples(run.batch_size)?,
            if batch_dice {
                "; batch Dice over the global batch (tp/fp/fn summed across ranks)"
            } else {
                ""
            }
        ));
    }
    runlog.line(&format!(
        "Device {:?}, mixed precision {}; {} input channel(s){}; {} output(s){}; loss {loss_name}",
        setup.device,
        if use_amp {
            "on (fp16 autocast, loss scaling)"
        } else {
            "off"
        },
        spec.in_channels,
        if cascade_labels.is_some() {
            " incl. the previous stage's one-hot segmentation"
        } else {
            ""
        },
        spec.num_outputs,
        if regions.is_some() {
            " (regions, sigmoid)"
        } else {
            ""
        },
    ));

    let shard = dp.as_ref().map(DataParallel::shard).unwrap_or_default();
    let (train_loader, val_loader) = run.shard_loaders(train_cases, val_cases, shard)?;
    let (train_loader, val_loader) = (Arc::new(train_loader), Arc::new(val_loader));
    let inference_mirror_axes = run.augment.inference_mirror_axes();
    runlog.line(&format!(
        "Batch size {}, foreground oversampling {}, augmentation {}, mirroring axes {:?}",
        run.batch_size,
        options.oversample_foreground,
        if run.augment.enabled { "on" } else { "off" },
        inference_mirror_axes
    ));
    let iters = options.iterations_per_epoch;
    let val_iters = options.validation_iterations;
    let mut train_batches = Prefetcher::new(
        train_loader,
        setup.workers.max(1),
        2,
        (start_epoch * iters) as u64,
    )?;
    // Half the workers build validation batches, as nnU-Net's validation loader (one would keep a
    // GPU waiting through the epoch's validation batches); the batches do not depend on it.
    let mut val_batches = Prefetcher::new(
        val_loader,
        (setup.workers / 2).max(1),
        2,
        (start_epoch * val_iters) as u64,
    )?;

    let meta =
        |epoch: usize, generation: u64, log: &TrainingLog, best: Option<f64>| CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            generation,
            epoch,
            options: options.clone(),
            network: setup.network.clone(),
            network_options: setup.network_options.clone(),
            loss: run.loss.clone(),
            inference_allowed_mirroring_axes: Some(inference_mirror_axes.clone()),
            trainer: setup.trainer.clone(),
            configuration: setup.configuration.clone(),
            fold: setup.fold.clone(),
            plans_sha256: setup.plans_sha256.clone(),
            dataset_fingerprint_sha256: setup.dataset_fingerprint_sha256.clone(),
            best_ema_pseudo_dice: best,
            log: log.clone(),
        };

    let step = Step {
        network: &*network,
        network_name: &setup.network,
        vs: &vs,
        grad_clip_norm: options.grad_clip_norm,
        use_amp,
        data_parallel: dp.as_ref(),
    };
    let mut epochs = options.epochs;
    for epoch in start_epoch..options.epochs {
        let started = Instant::now();
        let lr = trainer.learning_rate(options, epoch)?;
        optimizer.set_lr(lr);
        runlog.line(&format!("Epoch {epoch}"));
        runlog.line(&format!("Current learning rate: {lr:.5}"));
        let bar = setup.progress_bar.then(|| {
            let bar = indicatif::ProgressBar::new((iters + val_iters) as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {msg} [{bar:30}] {pos}/{len} {elapsed}<{eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(format!("{epoch}/{epochs}"));
            bar
        });

        let mut train_loss = 0.0;
        for _ in 0..iters {
            let batch = train_batches.next_batch()?;
            let (x, targets) = batch.to_tensors(setup.device)?;
            let target = targets[0].f_clamp_min(0)?;
            let value = step.run(&mut losses, &mut optimizer, scaler.as_mut(), &x, &target)?;
            train_loss += value.double_value(&[]);
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        train_loss /= iters.max(1) as f64;
        if let Some(dp) = &dp {
            train_loss = dp.mean(train_loss)?;
        }

        let mut val_loss = 0.0;
        let mut counts = DiceCounts::default();
        tch::no_grad(|| -> Result<()> {
            for _ in 0..val_iters {
                let batch = val_batches.next_batch()?;
                let (x, targets) = batch.to_tensors(setup.device)?;
                let target = targets[0].f_clamp_min(0)?;
                let (outputs, value) = tch::autocast(use_amp, || {
                    losses.forward(&*network, &setup.network, &x, &target, false)
                })?;
                val_loss += value.double_value(&[]);
                counts.add(&outputs[0], &target, ignore_label, regions.is_some())?;
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
            }
            Ok(())
        })?;
        val_loss /= val_iters.max(1) as f64;
        if let Some(dp) = &dp {
            val_loss = dp.mean(val_loss)?;
            counts.reduce(dp)?;
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }

        let pseudo_dice = counts.dice();
        let mut record = EpochRecord {
            epoch,
            train_loss,
            val_loss,
            pseudo_dice,
            ema_pseudo_dice: f64::NAN,
            learning_rate: lr,
            epoch_seconds: 0.0,
        };
        record.ema_pseudo_dice = log.next_ema(record.mean_pseudo_dice());
        record.epoch_seconds = started.elapsed().as_secs_f64();
        runlog.line(&format!("train_loss {train_loss:.4}"));
        runlog.line(&format!("val_loss {val_loss:.4}"));
        runlog.line(&format!(
            "Pseudo dice [{}]",
            record
                .pseudo_dice
                .iter()
                .map(|d| format!("{d:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        runlog.line(&format!("Epoch time: {:.2} s", record.epoch_seconds));
        let ema = record.ema_pseudo_dice;
        log.epochs.push(record);

        if ema.is_finite() && best.is_none_or(|b| ema > b) {
            best = Some(ema);
            runlog.line(&format!("Yayy! New best EMA pseudo Dice: {ema:.4}"));
            generation += 1;
            save_if(
                main,
                out,
                "checkpoint_best",
                &vs,
                &train_state(&optimizer, scaler.as_ref()),
                &meta(epoch + 1, generation, &log, best),
            )?;
        }
        if (epoch + 1) % setup.save_every.max(1) == 0 && epoch + 1 != epochs {
            generation += 1;
            save_if(
                main,
                out,
                "checkpoint_latest",
                &vs,
                &train_state(&optimizer, scaler.as_ref()),
                &meta(epoch + 1, generation, &log, best),
            )?;
        }
        if main {
            progress::draw(&log, &out.join("progress.png"))?;
        }
        let report = EpochReport {
            epoch,
            epochs,
            learning_rate: lr,
            train_loss,
            val_loss,
            pseudo_dice: log
                .epochs
                .last()
                .map(|r| r.pseudo_dice.clone())
                .unwrap_or_default(),
            ema_pseudo_dice: ema,
            output_dir: out.clone(),
        };
        let trainer_stops = trainer.on_epoch_end(&report)? == EpochControl::Stop;
        let spent: f64 = log.epochs.iter().map(|e| e.epoch_seconds).sum();
        let out_of_time =
            setup.time_limit_seconds.is_some_and(|limit| spent >= limit) && epoch + 1 < epochs;
        // Ranks stop together, or the others would wait in the next collective until it times out.
        let [trainer_stops, out_of_time] = match &dp {
            Some(dp) => dp.any([trainer_stops, out_of_time])?,
            None => [trainer_stops, out_of_time],
        };
        if trainer_stops {
            runlog.line(&format!(
                "Trainer {} stopped training after epoch {epoch}",
                setup.trainer
            ));
            epochs = epoch + 1;
            break;
        }
        if out_of_time {
            runlog.line(&format!(
                "Time limit reached after epoch {epoch} ({spent:.0} s of training)"
            ));
            epochs = epoch + 1;
            break;
        }
    }

    let epochs_run = epochs.saturating_sub(start_epoch);
    if epochs_run > 0 || !checkpoint::paths(out, "checkpoint_final").0.exists() {
        generation += 1;
        save_if(
            main,
            out,
            "checkpoint_final",
            &vs,
            &train_state(&optimizer, scaler.as_ref()),
            &meta(epochs.max(start_epoch), generation, &log, best),
        )?;
        let (latest_w, latest_j) = checkpoint::paths(out, "checkpoint_latest");
        for file in [latest_w, latest_j].iter().filter(|_| main) {
            let _ = std::fs::remove_file(file);
        }
        runlog.line("Training done.");
    }
    if let Some(dp) = &dp {
        // no rank goes on (to validation, the next fold) before rank 0 wrote checkpoint_final
        dp.barrier()?;
    }
    Ok(TrainOutcome {
        epochs_run,
        log,
        best_ema_pseudo_dice: best,
    })
}
