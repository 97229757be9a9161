//! The built-in trainers: `nnUNetTrainer` (nnU-Net's defaults: SGD Nesterov 0.99, lr 1e-2,
//! poly 0.9, the [`Trainer`] hooks left at their defaults) and nnU-Net's trainer variants under
//! the names nnU-Net users know, each a preset of the same hooks ([`Preset`]):
//!
//! | name | what it changes |
//! |---|---|
//! | `nnUNetTrainer_Xepochs` (X = 1, 5, 10, 20, 50, 100, 250, 500, 750, 2000, 4000, 8000) | epochs |
//! | `nnUNetTrainerNoMirroring` | no mirroring in training, none at inference |
//! | `nnUNetTrainer_Xepochs_NoMirroring` (same X) | both |
//! | `nnUNetTrainerNoDA` | no data augmentation (final-size patches, no mirroring at inference) |
//! | `nnUNetTrainerDA5` | DA5's probabilities and ranges for the transforms we have (see [`da5`]) |
//! | `nnUNetTrainerCELoss` | loss `ce` |
//! | `nnUNetTrainerDiceLoss` | loss `dice` |
//! | `nnUNetTrainerDiceCELoss_noSmooth` | loss `dice+ce`, Dice smooth 0 |
//! | `nnUNetTrainerTopk10Loss` | loss `topk10` |
//! | `nnUNetTrainerTopk10LossLS01` | loss `topk10`, label smoothing 0.1 |
//! | `nnUNetTrainerDiceTopK10Loss` | loss `dice+topk10` |
//!
//! Built-in trainers take no options: any key given is an error naming it.

use nnunet_core::trainer::{AugmentationOptions, TrainerLoss};
use nnunet_core::{BuiltIn, Error, Plugin, Registry, Result, Trainer, TrainingOptions};
use serde_json::{Value, json};

/// nnU-Net's default trainer.
pub struct DefaultTrainer;

impl Trainer for DefaultTrainer {}

/// The epoch counts nnU-Net ships `nnUNetTrainer_Xepochs` variants for.
pub const EPOCH_VARIANTS: [usize; 12] = [1, 5, 10, 20, 50, 100, 250, 500, 750, 2000, 4000, 8000];

/// A named variant: settings applied in `configure`, and possibly its own loss.
#[derive(Clone, Debug, Default)]
pub struct Preset {
    pub epochs: Option<usize>,
    pub no_mirroring: bool,
    pub no_augmentation: bool,
    pub da5: bool,
    pub loss: Option<(&'static str, Value)>,
}

impl Trainer for Preset {
    fn configure(&self, options: &mut TrainingOptions) -> Result<()> {
        if let Some(epochs) = self.epochs {
            options.epochs = epochs;
        }
        if self.da5 {
            da5(&mut options.augmentation);
        }
        if self.no_mirroring {
            options.augmentation.mirror_axes = Some(Vec::new());
        }
        if self.no_augmentation {
            options.augmentation.enabled = false;
        }
        Ok(())
    }

    fn loss(&self) -> Result<Option<TrainerLoss>> {
        Ok(self.loss.as_ref().map(|(expression, options)| TrainerLoss {
            expression: expression.to_string(),
            options: options.clone(),
        }))
    }
}

/// `nnUNetTrainerDA5`'s settings for the transforms this pipeline has: rotation sampled with
/// p 0.4, scaling (0.7, 1.43), blur σ (0.3, 1.5), contrast (0.5, 2) with p 0.2, low resolution
/// (0.25, 1) with p 0.15, brightness p 0.1, two inverted-gamma steps of p 0.1 (0.19 together)
/// and no plain gamma. DA5's other transforms — median filter, rot90, axis transposition, blank
/// rectangles, brightness gradients, local gamma, sharpening, per-axis scaling — are not
/// implemented; nor is its additive brightness (the multiplicative one is used).
pub fn da5(aug: &mut AugmentationOptions) {
    aug.p_rotation = 0.4;
    aug.scaling = (0.7, 1.43);
    let ic = &mut aug.intensity;
    ic.blur_sigma = (0.3, 1.5);
    ic.p_brightness = 0.1;
    ic.p_contrast = 0.2;
    ic.contrast = (0.5, 2.0);
    ic.p_low_resolution = 0.15;
    ic.low_resolution_scale = (0.25, 1.0);
    ic.p_inverted_gamma = 0.19;
    ic.p_gamma = 0.0;
}

/// Every built-in trainer: name, description, preset.
pub fn presets() -> Vec<(String, String, Preset)> {
    let mut all = vec![(
        "nnUNetTrainerNoMirroring".to_string(),
        "nnU-Net's default without mirroring (training and inference)".to_string(),
        Preset {
            no_mirroring: true,
            ..Default::default()
        },
    )];
    for x in EPOCH_VARIANTS {
        all.push((
            format!("nnUNetTrainer_{x}epochs"),
            format!("nnU-Net's default trained for {x} epoch(s)"),
            Preset {
                epochs: Some(x),
                ..Default::default()
            },
        ));
        all.push((
            format!("nnUNetTrainer_{x}epochs_NoMirroring"),
            format!("{x} epoch(s), no mirroring (training and inference)"),
            Preset {
                epochs: Some(x),
                no_mirroring: true,
                ..Default::default()
            },
        ));
    }
    let loss = |expression: &'static str, options: Value| Preset {
        loss: Some((expression, options)),
        ..Default::default()
    };
    all.extend([
        (
            "nnUNetTrainerNoDA".to_string(),
            "no data augmentation; no mirroring at inference".to_string(),
            Preset {
                no_augmentation: true,
                ..Default::default()
            },
        ),
        (
            "nnUNetTrainerDA5".to_string(),
            "DA5's probabilities and ranges (its extra transforms are not implemented)".to_string(),
            Preset {
                da5: true,
                ..Default::default()
            },
        ),
        (
            "nnUNetTrainerCELoss".into(),
            "loss ce".into(),
            loss("ce", json!({})),
        ),
        (
            "nnUNetTrainerDiceLoss".into(),
            "loss dice".into(),
            loss("dice", json!({})),
        ),
        (
            "nnUNetTrainerDiceCELoss_noSmooth".into(),
            "loss dice+ce with Dice smooth 0".into(),
            loss("dice+ce", json!({"dice": {"smooth": 0.0}})),
        ),
        (
            "nnUNetTrainerTopk10Loss".into(),
            "loss topk10".into(),
            loss("topk10", json!({})),
        ),
        (
            "nnUNetTrainerTopk10LossLS01".into(),
            "loss topk10 with label smoothing 0.1".into(),
            loss("topk10", json!({"label_smoothing": 0.1})),
        ),
        (
            "nnUNetTrainerDiceTopK10Loss".into(),
            "loss dice+topk10".into(),
            loss("dice+topk10", json!({})),
        ),
    ]);
    all
}

/// Built-in trainers accept no options.
fn no_options(trainer: &str, options: &Value) -> Result<()> {
    match options {
        Value::Null => Ok(()),
        Value::Object(map) => match map.keys().next() {
            None => Ok(()),
            Some(key) => Err(Error::Invalid(format!(
                "trainer {trainer} takes no options, got {key:?}"
            ))),
        },
        other => Err(Error::Invalid(format!(
            "trainer {trainer}: options must be a JSON object, not {other}"
        ))),
    }
}

struct Trainers;

impl Plugin for Trainers {
    fn name(&self) -> &'static str {
        env!("CARGO_PKG_NAME")
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        registry.add_trainer(
            "nnUNetTrainer",
            "nnU-Net's default: SGD Nesterov 0.99, lr 1e-2, poly 0.9, weight decay 3e-5",
            |options| {
                no_options("nnUNetTrainer", options)?;
                Ok(Box::new(DefaultTrainer))
            },
        )?;
        for (name, description, preset) in presets() {
            let label = name.clone();
            registry.add_trainer(&name, &description, move |options| {
                no_options(&label, options)?;
                Ok(Box::new(preset.clone()))
            })?;
        }
        Ok(())
    }
}

inventory::submit!(BuiltIn(&Trainers));

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(name: &str) -> TrainingOptions {
        let registry = {
            let mut r = Registry::empty();
            r.register(
                nnunet_core::Origin::BuiltIn {
                    crate_name: "test".into(),
                },
                &Trainers,
            )
            .unwrap();
            r
        };
        let trainer = (registry.trainer(name).unwrap().make)(&json!({})).unwrap();
        let mut options = TrainingOptions::default();
        trainer.configure(&mut options).unwrap();
        options
    }

    #[test]
    fn named_variants_select_nnunets_settings() {
        assert_eq!(configured("nnUNetTrainer"), TrainingOptions::default());
        for x in EPOCH_VARIANTS {
            assert_eq!(configured(&format!("nnUNetTrainer_{x}epochs")).epochs, x);
            let o = configured(&format!("nnUNetTrainer_{x}epochs_NoMirroring"));
            assert_eq!((o.epochs, o.augmentation.mirror_axes), (x, Some(vec![])));
        }
        let o = configured("nnUNetTrainerNoMirroring");
        assert_eq!(o.augmentation.mirror_axes, Some(vec![]));
        assert_eq!(o.epochs, 1000);
        assert!(!configured("nnUNetTrainerNoDA").augmentation.enabled);
        assert_eq!(
            configured("nnUNetTrainerDA5").augmentation.scaling,
            (0.7, 1.43)
        );
    }

    #[test]
    fn builtin_trainers_refuse_options_naming_the_key() {
        let err = no_options("nnUNetTrainer", &json!({"warmup": 3})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "trainer nnUNetTrainer takes no options, got \"warmup\""
        );
    }
}
