//! What a run resolves to before its first epoch: the trainer variant built and its
//! `configure` hook applied to the run's options, and everything read from the options after
//! that — batch size, loss, foreground oversampling, the augmentation (with plugin transforms)
//! and the mirroring axes saved for inference. [`crate::training::train`] uses exactly these,
//! and tests can sample the batches a run would train on ([`ResolvedRun::loaders`]).

use crate::augment::{AugmentConfig, PluginSteps};
use crate::case_source::CaseSource;
use crate::data_parallel::Shard;
use crate::label_setup;
use crate::loader::{DataLoader, LoaderConfig};
use crate::training::TrainingSetup;
use nnunet_core::trainer::{Trainer, TrainingOptions};
use nnunet_core::{AugmentationStage, Error, Registry, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The loss every run trains with unless it names another (nnU-Net's `DC_and_CE_loss`).
pub const DEFAULT_LOSS: &str = "dice+ce";

/// A plugin augmentation in a run: `[[augmentations]]` in an experiment TOML.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentationStep {
    /// The registered augmentation's name.
    pub name: String,
    /// The built-in step it runs after (`spatial`, `noise`, `blur`, `brightness`, `contrast`,
    /// `low_resolution`, `inverted_gamma`, `gamma`, `mirror`, `mask`).
    pub after: AugmentationStage,
    #[serde(default)]
    pub options: serde_json::Value,
}

/// A run after its trainer's `configure`.
pub struct ResolvedRun {
    /// The configuration's patch size and architecture, from the plans.
    pub patch: Vec<usize>,
    pub architecture: nnunet_core::ArchitectureSpec,
    pub trainer: Box<dyn Trainer>,
    /// The options after `configure`: what the loop, the loaders and the checkpoints use.
    pub options: TrainingOptions,
    pub batch_size: usize,
    /// The loss expression trained with and its options (the trainer's own, if it has one).
    pub loss: String,
    pub loss_options: serde_json::Value,
    /// Training augmentation (validation uses the same targets, no transforms).
    pub augment: AugmentConfig,
}

impl ResolvedRun {
    /// Builds the trainer, applies `configure`, and resolves the rest from the options.
    pub fn new(registry: &Registry, setup: &TrainingSetup) -> Result<Self> {
        let trainer = (registry.trainer(&setup.trainer)?.make)(&setup.trainer_options)?;
        let mut options = setup.options.clone();
        trainer.configure(&mut options)?;
        check_options(&options)?;
        let config = setup.plans.configuration(&setup.configuration)?;
        let missing = |what: &str| {
            Error::Invalid(format!(
                "plans {}: configuration {} has no {what}",
                setup.plans.plans_name, setup.configuration
            ))
        };
        let patch = config
            .patch_size
            .clone()
            .ok_or_else(|| missing("patch_size"))?;
        let architecture = config
            .architecture
            .clone()
            .ok_or_else(|| missing("architecture"))?;
        let batch_size = match options.batch_size {
            Some(0) => return Err(Error::Invalid("batch_size must be at least 1".into())),
            Some(b) => b,
            None => config.batch_size.ok_or_else(|| missing("batch_size"))?,
        };
        let (loss, loss_options) = match trainer.loss()? {
            None => (setup.loss.clone(), setup.loss_options.clone()),
            Some(own) if setup.loss.replace(' ', "") == DEFAULT_LOSS => (
                own.expression,
                merge_options(own.options, &setup.loss_options),
            ),
            Some(own) => {
                return Err(Error::Invalid(format!(
                    "trainer {} trains with its own loss {:?}; the run names loss {:?}: \
                     use one of them",
                    setup.trainer, own.expression, setup.loss
                )));
            }
        };
        let mut augment = AugmentConfig::from_options(&patch, &options.augmentation)?;
        augment.use_mask_for_norm = config.use_mask_for_norm.clone().unwrap_or_default();
        augment.regions = label_setup::target_regions(&setup.dataset)?;
        augment.cascade_labels = match &config.previous_stage {
            Some(_) => Some(label_setup::foreground_labels(&setup.dataset)?),
            None => None,
        };
        augment.plugins = plugin_steps(registry, &setup.augmentations)?;
        Ok(ResolvedRun {
            patch,
            architecture,
            trainer,
            options,
            batch_size,
            loss,
            loss_options,
            augment,
        })
    }

    /// The training and validation loaders of this run, as the loop builds them.
    pub fn loaders(
        &self,
        train_cases: Arc<dyn CaseSource>,
        val_cases: Arc<dyn CaseSource>,
    ) -> Result<(DataLoader, DataLoader)> {
        self.shard_loaders(train_cases, val_cases, Shard::default())
    }

    /// [`Self::loaders`] building only `shard`'s samples of each batch (data-parallel ranks).
    pub fn shard_loaders(
        &self,
        train_cases: Arc<dyn CaseSource>,
        val_cases: Arc<dyn CaseSource>,
        shard: Shard,
    ) -> Result<(DataLoader, DataLoader)> {
        let mut train = LoaderConfig::training(self.augment.clone(), self.batch_size);
        train.oversample_foreground_percent = self.options.oversample_foreground;
        train.shard = shard;
        let mut val = LoaderConfig::validation(self.augment.clone(), self.batch_size);
        val.oversample_foreground_percent = self.options.oversample_foreground;
        val.shard = shard;
        Ok((
            DataLoader::new(train_cases, train, self.options.seed)?,
            DataLoader::new(val_cases, val, self.options.seed.wrapping_add(1))?,
        ))
    }
}

/// The trainer's loss options, with the run's own on top (a run may tune a trainer's loss).
fn merge_options(own: serde_json::Value, run: &serde_json::Value) -> serde_json::Value {
    match (own, run) {
        (serde_json::Value::Object(mut own), serde_json::Value::Object(run)) => {
            own.extend(run.iter().map(|(k, v)| (k.clone(), v.clone())));
            serde_json::Value::Object(own)
        }
        (own, serde_json::Value::Null) => own,
        (serde_json::Value::Null, run) => run.clone(),
        (own, run) if run.as_object().is_some_and(|m| m.is_empty()) => own,
        (_, run) => run.clone(),
    }
}

/// Ranges a value must lie in, checked after `configure` (a trainer may set them too).
fn check_options(options: &TrainingOptions) -> Result<()> {
    let bad = |key: &str, value: &dyn std::fmt::Display, want: &str| {
        Err(Error::Invalid(format!(
            "training option {key} = {value}: must be {want}"
        )))
    };
    if !(0.0..=1.0).contains(&options.oversample_foreground) {
        return bad(
            "oversample_foreground",
            &options.oversample_foreground,
            "between 0 and 1",
        );
    }
    if options.epochs == 0 {
        return bad("epochs", &0, "at least 1");
    }
    let aug = &options.augmentation;
    let ic = &aug.intensity;
    for (key, p) in [
        ("augmentation.p_rotation", aug.p_rotation),
        ("augmentation.p_scaling", aug.p_scaling),
        ("augmentation.intensity.p_noise", ic.p_noise),
        ("augmentation.intensity.p_blur", ic.p_blur),
        ("augmentation.intensity.p_brightness", ic.p_brightness),
        ("augmentation.intensity.p_contrast", ic.p_contrast),
        (
            "augmentation.intensity.p_low_resolution",
            ic.p_low_resolution,
        ),
        (
            "augmentation.intensity.p_inverted_gamma",
            ic.p_inverted_gamma,
        ),
        ("augmentation.intensity.p_gamma", ic.p_gamma),
        (
            "augmentation.intensity.p_binary_operator",
            ic.p_binary_operator,
        ),
        (
            "augmentation.intensity.p_remove_component",
            ic.p_remove_component,
        ),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return bad(key, &p, "a probability between 0 and 1");
        }
    }
    Ok(())
}

fn plugin_steps(registry: &Registry, steps: &[AugmentationStep]) -> Result<PluginSteps> {
    let built = steps
        .iter()
        .map(|step| {
            let transform = (registry.augmentation(&step.name)?.make)(&step.options)?;
            Ok((step.after, step.name.clone(), Arc::from(transform)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PluginSteps(built))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn out_of_range_settings_are_errors_naming_the_key() {
        let mut options = TrainingOptions {
            oversample_foreground: 1.5,
            ..Default::default()
        };
        let err = check_options(&options).unwrap_err().to_string();
        assert!(err.contains("oversample_foreground = 1.5"), "{err}");
        options.oversample_foreground = 0.66;
        options.augmentation.intensity.p_gamma = -0.1;
        let err = check_options(&options).unwrap_err().to_string();
        assert!(err.contains("augmentation.intensity.p_gamma"), "{err}");
    }

    #[test]
    fn a_run_tunes_its_trainers_loss_options() {
        let own = json!({"dice": {"smooth": 0.0}});
        assert_eq!(merge_options(own.clone(), &json!({})), own);
        assert_eq!(
            merge_options(own, &json!({"ce": {}})),
            json!({"dice": {"smooth": 0.0}, "ce": {}})
        );
    }

    #[test]
    fn augmentation_steps_read_from_toml_name_their_place() {
        let step: AugmentationStep =
            toml::from_str("name = \"x\"\nafter = \"low_resolution\"\n").unwrap();
        assert_eq!(step.after, AugmentationStage::LowResolution);
        let err = toml::from_str::<AugmentationStep>("name = \"x\"\nafter = \"later\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("later"), "{err}");
    }
}
