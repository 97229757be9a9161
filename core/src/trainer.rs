//! The [`Trainer`] trait and [`TrainingOptions`].
//!
//! The training loop itself lives in `nnunet-trainers`; a trainer here is the set of hooks a
//! variant changes — its defaults, its learning-rate schedule, what it does after an epoch — so
//! that variants compose (a schedule from one, a loss from another) instead of subclassing.

use crate::Result;
use serde::{Deserialize, Serialize};

/// Optimiser family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adamw,
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
    /// Exponent of the poly schedule `lr · (1 − epoch/epochs)^exponent`.
    pub poly_exponent: f64,
    pub grad_clip_norm: f64,
    pub oversample_foreground: f64,
    pub deep_supervision: bool,
    pub seed: u64,
    /// Overrides the plans' batch size (nnU-Net users edit the plans for this). `None`: the
    /// plans'. Comparisons on a CPU use it to put every network on one small batch.
    pub batch_size: Option<usize>,
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
            poly_exponent: 0.9,
            grad_clip_norm: 12.0,
            oversample_foreground: 0.33,
            deep_supervision: true,
            seed: 12345,
            batch_size: None,
        }
    }
}

/// A trainer variant: hooks the training loop calls.
pub trait Trainer: Send {
    /// Adjusts the options before training starts (a preset, e.g. AdamW with lr 1e-3).
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
}

/// nnU-Net's poly learning-rate schedule.
pub fn poly_lr(initial: f64, epoch: usize, max_epochs: usize, exponent: f64) -> f64 {
    let frac = 1.0 - epoch as f64 / max_epochs.max(1) as f64;
    initial * frac.max(0.0).powf(exponent)
}
