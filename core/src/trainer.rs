//! The [`Trainer`] trait and [`TrainingOptions`].
//!
//! The training loop itself lives in `nnunet-trainers`; a trainer here is the set of hooks a
//! variant changes — its settings (`configure`: epochs, iterations, batch size, foreground
//! oversampling, every augmentation transform, the mirroring axes, the optimiser), its
//! learning-rate schedule, its loss, what it does after an epoch — so that variants compose (a
//! schedule from one, a loss from another) instead of subclassing.

use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Optimiser family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adamw,
}

/// Probabilities and ranges of the intensity transforms (nnU-Net's values by default). A
/// probability of 0 turns a transform off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntensityConfig {
    pub p_noise: f64,
    pub noise_sigma: (f64, f64),
    pub p_blur: f64,
    pub blur_sigma: (f64, f64),
    pub blur_p_per_channel: f64,
    pub p_brightness: f64,
    pub brightness: (f64, f64),
    pub p_contrast: f64,
    pub contrast: (f64, f64),
    pub p_low_resolution: f64,
    pub low_resolution_scale: (f64, f64),
    pub low_resolution_p_per_channel: f64,
    pub p_inverted_gamma: f64,
    pub p_gamma: f64,
    pub gamma: (f64, f64),
    /// Cascade only: the random binary operator on the previous stage's one-hot channels.
    pub p_binary_operator: f64,
    /// Cascade only: removal of a random connected component from those channels.
    pub p_remove_component: f64,
}

impl Default for IntensityConfig {
    fn default() -> Self {
        IntensityConfig {
            p_noise: 0.1,
            noise_sigma: (0.0, 0.1),
            p_blur: 0.2,
            blur_sigma: (0.5, 1.0),
            blur_p_per_channel: 0.5,
            p_brightness: 0.15,
            brightness: (0.75, 1.25),
            p_contrast: 0.15,
            contrast: (0.75, 1.25),
            p_low_resolution: 0.25,
            low_resolution_scale: (0.5, 1.0),
            low_resolution_p_per_channel: 0.5,
            p_inverted_gamma: 0.1,
            p_gamma: 0.3,
            gamma: (0.7, 1.5),
            p_binary_operator: 0.4,
            p_remove_component: 0.2,
        }
    }
}

/// Data augmentation of a training run (`[training.augmentation]` in an experiment TOML).
/// Defaults are nnU-Net's; `None` means "nnU-Net's rule for this patch".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentationOptions {
    /// `false`: no augmentation at all, as `nnUNetTrainerNoDA` (patches cut at the final size,
    /// validation transforms only, no mirroring at inference).
    pub enabled: bool,
    /// Rotation range in degrees, sampled per rotated axis. `None`: nnU-Net's rule (±30° in 3D,
    /// ±180° for anisotropic patches and square-ish 2D patches, ±15° otherwise).
    pub rotation_degrees: Option<(f64, f64)>,
    pub p_rotation: f64,
    pub scaling: (f64, f64),
    pub p_scaling: f64,
    /// Mirrored axes, numbered over the patch's axes as nnU-Net numbers them (`[0, 1, 2]` in
    /// 3D, `[0, 1]` in 2D). `None`: all of them. The same axes are saved with the model and
    /// are the only ones test-time mirroring uses (nnU-Net's `inference_allowed_mirroring_axes`).
    pub mirror_axes: Option<Vec<usize>>,
    pub intensity: IntensityConfig,
}

impl Default for AugmentationOptions {
    fn default() -> Self {
        AugmentationOptions {
            enabled: true,
            rotation_degrees: None,
            p_rotation: 0.2,
            scaling: (0.7, 1.4),
            p_scaling: 0.2,
            mirror_axes: None,
            intensity: IntensityConfig::default(),
        }
    }
}

/// Everything a training run can be told. Defaults are nnU-Net v2's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingOptions {
    pub epochs: usize,
    pub iterations_per_epoch: usize,
    pub validation_iterations: usize,
    pub optimizer: OptimizerKind,
    pub initial_lr: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub nesterov: bool,
    /// AdamW's `betas` (PyTorch's default (0.9, 0.999); Primus trains with (0.9, 0.98)).
    pub adam_betas: [f64; 2],
    /// Exponent of the poly schedule `lr · (1 − epoch/epochs)^exponent`.
    pub poly_exponent: f64,
    pub grad_clip_norm: f64,
    /// Fraction of each batch forced to contain foreground (nnU-Net's
    /// `oversample_foreground_percent`): sample `j` of `B` is forced iff
    /// `j >= round(B · (1 − fraction))`.
    pub oversample_foreground: f64,
    pub deep_supervision: bool,
    pub seed: u64,
    /// Overrides the plans' batch size (nnU-Net users edit the plans for this). `None`: the
    /// plans'. Comparisons on a CPU use it to put every network on one small batch.
    pub batch_size: Option<usize>,
    pub augmentation: AugmentationOptions,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            epochs: 1000,
            iterations_per_epoch: 250,
            validation_iterations: 50,
            optimizer: OptimizerKind::Sgd,
            initial_lr: 1e-2,
            weight_decay: 3e-5,
            momentum: 0.99,
            nesterov: true,
            adam_betas: [0.9, 0.999],
            poly_exponent: 0.9,
            grad_clip_norm: 12.0,
            oversample_foreground: 0.33,
            deep_supervision: true,
            seed: 12345,
            batch_size: None,
            augmentation: AugmentationOptions::default(),
        }
    }
}

/// A trainer's own loss: an expression of registered losses (`"dice+topk10"`) and its options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerLoss {
    pub expression: String,
    pub options: serde_json::Value,
}

/// What the loop reports to [`Trainer::on_epoch_end`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch just finished (0-based).
    pub epoch: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Pseudo-Dice per foreground class (or region) on the validation batches.
    pub pseudo_dice: Vec<f64>,
    pub ema_pseudo_dice: f64,
    /// The fold's output folder (`.../fold_K`).
    pub output_dir: PathBuf,
}

/// What the loop does after [`Trainer::on_epoch_end`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpochControl {
    Continue,
    /// End training now; `checkpoint_final` is written as after the last epoch.
    Stop,
}

/// A trainer variant: hooks the training loop calls.
pub trait Trainer: Send {
    /// Adjusts the options before training starts: epochs, iterations, batch size, foreground
    /// oversampling, each augmentation transform and the mirroring axes, the optimiser (e.g.
    /// AdamW with lr 1e-3). Everything the loop reads comes from the options after this call.
    fn configure(&self, _options: &mut TrainingOptions) -> Result<()> {
        Ok(())
    }

    /// Learning rate for `epoch` (0-based). Default: nnU-Net's poly schedule.
    fn learning_rate(&self, options: &TrainingOptions, epoch: usize) -> Result<f64> {
        Ok(poly_lr(
            options.initial_lr,
            epoch,
            options.epochs,
            options.poly_exponent,
        ))
    }

    /// The loss this trainer trains with (nnU-Net's loss variants, e.g. `nnUNetTrainerCELoss`).
    /// `None`: the run's loss (default `dice+ce`). A run that names another loss than the
    /// default together with a trainer that has its own is refused.
    fn loss(&self) -> Result<Option<TrainerLoss>> {
        Ok(None)
    }

    /// Called after every epoch, after its checkpoints are written.
    fn on_epoch_end(&self, _report: &EpochReport) -> Result<EpochControl> {
        Ok(EpochControl::Continue)
    }
}

/// nnU-Net's poly learning-rate schedule.
pub fn poly_lr(initial: f64, epoch: usize, max_epochs: usize, exponent: f64) -> f64 {
    let frac = 1.0 - epoch as f64 / max_epochs.max(1) as f64;
    initial * frac.max(0.0).powf(exponent)
}
