//! The `primus` trainer preset: nnU-Net 2.8's `AbstractPrimus` (the base of
//! `nnUNet_Primus_{S,B,M,L}_Trainer`, via `nnUNetTrainer_warmup`): AdamW with lr 3e-4, weight
//! decay 5e-2 and betas (0.9, 0.98), gradients clipped to norm 1, no deep supervision, and a
//! linear warm-up over the first 50 epochs (`Lin_incr_LRScheduler`: lr₀·(e + 1)/50) followed
//! by poly decay from lr₀ over the remaining epochs (`PolyLRScheduler_offset`:
//! lr₀·(1 − (e − 50)/(epochs − 50))^0.9). Everything else is nnU-Net's (epochs, iterations,
//! batch, augmentation, loss).
//!
//! Option `warmup_epochs` (default 50, nnU-Net's `warmup_duration_whole_net`) shortens the
//! warm-up for short budgets; nnU-Net itself has no such option.

use nnunet_core::options::CheckedOptions;
use nnunet_core::trainer::OptimizerKind;
use nnunet_core::{Error, Result, Trainer, TrainingOptions};

/// nnU-Net's `warmup_duration_whole_net`.
const WARMUP_EPOCHS: usize = 50;

pub struct PrimusTrainer {
    warmup_epochs: usize,
}

impl PrimusTrainer {
    pub fn new(options: &nnunet_core::registry::Options) -> Result<Self> {
        let checked = CheckedOptions::parse("trainer primus", options, &["warmup_epochs"])?;
        let warmup_epochs = checked.usize("warmup_epochs")?.unwrap_or(WARMUP_EPOCHS);
        if warmup_epochs == 0 {
            return Err(checked.wrong("warmup_epochs", "a number of epochs of at least 1"));
        }
        Ok(PrimusTrainer { warmup_epochs })
    }
}

impl Trainer for PrimusTrainer {
    fn configure(&self, options: &mut TrainingOptions) -> Result<()> {
        options.optimizer = OptimizerKind::Adamw;
        options.initial_lr = 3e-4;
        options.weight_decay = 5e-2;
        options.adam_betas = [0.9, 0.98];
        options.grad_clip_norm = 1.0;
        options.deep_supervision = false;
        Ok(())
    }

    fn learning_rate(&self, options: &TrainingOptions, epoch: usize) -> Result<f64> {
        let (lr, warmup) = (options.initial_lr, self.warmup_epochs);
        if epoch < warmup {
            return Ok(lr / warmup as f64 * (epoch + 1) as f64);
        }
        let span = options
            .epochs
            .checked_sub(warmup)
            .filter(|&s| s > 0)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "trainer primus: epoch {epoch} is past the warm-up of {warmup} epochs, but the \
                 run has only {} epochs",
                    options.epochs
                ))
            })?;
        let progress = (epoch - warmup) as f64 / span as f64;
        Ok(lr * (1.0 - progress).max(0.0).powf(options.poly_exponent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::serde_json::json;

    /// nnU-Net's schedule for 1000 epochs, as its classes compute it (warmup.py).
    fn nnunet(epoch: usize) -> f64 {
        if epoch < 50 {
            3e-4 / 50.0 * (1 + epoch) as f64
        } else {
            3e-4 * (1.0 - (epoch - 50) as f64 / 950.0).powf(0.9)
        }
    }

    #[test]
    fn schedule_is_nnunets_warmup_then_poly() {
        let trainer = PrimusTrainer::new(&json!({})).unwrap();
        let mut options = TrainingOptions::default();
        trainer.configure(&mut options).unwrap();
        assert_eq!(options.adam_betas, [0.9, 0.98]);
        assert!(!options.deep_supervision);
        for epoch in [0, 1, 25, 49, 50, 51, 500, 999] {
            let ours = trainer.learning_rate(&options, epoch).unwrap();
            assert!((ours - nnunet(epoch)).abs() < 1e-15, "{epoch}: {ours}");
        }
        assert_eq!(trainer.learning_rate(&options, 50).unwrap(), 3e-4);
    }

    #[test]
    fn options_are_checked() {
        let short = PrimusTrainer::new(&json!({"warmup_epochs": 2})).unwrap();
        let options = TrainingOptions {
            epochs: 4,
            initial_lr: 1.0,
            ..TrainingOptions::default()
        };
        let lrs: Vec<f64> = (0..4)
            .map(|e| short.learning_rate(&options, e).unwrap())
            .collect();
        assert_eq!(lrs[..3], [0.5, 1.0, 1.0]);
        assert!((lrs[3] - 0.5f64.powf(0.9)).abs() < 1e-12);
        assert!(PrimusTrainer::new(&json!({"warmup_epochs": 0})).is_err());
        assert!(PrimusTrainer::new(&json!({"warmup": 5})).is_err());
        let whole = TrainingOptions {
            epochs: 50,
            ..TrainingOptions::default()
        };
        let trainer = PrimusTrainer::new(&json!(null)).unwrap();
        assert!(trainer.learning_rate(&whole, 49).is_ok());
        assert!(trainer.learning_rate(&whole, 50).is_err());
    }
}
