//! A training experiment as a researcher describes it — in `experiment.toml` for
//! `nnunet run`, or by `nnunet train` flags, which fill the same struct — and its resolution
//! into folders, splits and one [`TrainingSetup`] per fold.
//!
//! ```toml
//! dataset = "Dataset004_Hippocampus"    # or 4
//! configuration = "3d_fullres"
//! folds = [0]                            # or ["all"], or [0, 1, 2, 3, 4]
//! loss = "dice+topk10"                   # any name or expression, plugin losses too
//! plugins = ["target/plugins/libnnunet_plugin_tversky.so"]
//! amp = false                            # fp32 on CUDA (default: fp16 mixed precision)
//!
//! [training]                             # nnunet_core::TrainingOptions; defaults are nnU-Net's
//! epochs = 250
//! optimizer = "adamw"
//! initial_lr = 1e-3
//! oversample_foreground = 0.5
//!
//! [training.augmentation]                # nnunet_core::AugmentationOptions
//! mirror_axes = [1, 2]
//! intensity = { p_gamma = 0.0 }
//!
//! [[augmentations]]                      # a plugin transform, after a built-in step
//! name = "my-transform"
//! after = "gamma"
//! options = { strength = 0.5 }
//! ```
//! Unknown keys anywhere are errors, so a typo never silently trains the default.

use crate::case_source::CaseSource;
use crate::preprocessed::{DEFAULT_CACHE_BYTES, PreprocessedCases};
use crate::resolve::AugmentationStep;
use crate::training::{TrainingSetup, file_sha256};
use nnunet_core::paths::NnunetPaths;
use nnunet_core::trainer::TrainingOptions;
use nnunet_core::{DeviceChoice, Error, Plans, Result, atomic};
use nnunet_planning::plan_dataset::{DatasetFolders, read_dataset_json};
use nnunet_planning::preprocessed_format::case_identifiers;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A fold: an index into `splits_final.json`, or `all` (train on every case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fold {
    Index(usize),
    Name(String),
}

impl Fold {
    /// Parses `0`…`4` or `all`.
    pub fn parse(text: &str) -> Result<Self> {
        let fold = match text.parse::<usize>() {
            Ok(i) => Fold::Index(i),
            Err(_) => Fold::Name(text.to_string()),
        };
        fold.check()?;
        Ok(fold)
    }

    fn check(&self) -> Result<()> {
        match self {
            Fold::Name(n) if n != "all" => Err(Error::Invalid(format!(
                "fold {n:?}: use a fold number (0-4) or \"all\""
            ))),
            _ => Ok(()),
        }
    }

    /// `0`, `all`: as in `fold_0`, `fold_all`.
    pub fn label(&self) -> String {
        match self {
            Fold::Index(i) => i.to_string(),
            Fold::Name(n) => n.clone(),
        }
    }
}

fn default_plans() -> String {
    "nnUNetPlans".into()
}
fn default_trainer() -> String {
    "nnUNetTrainer".into()
}
fn default_loss() -> String {
    "dice+ce".into()
}
fn default_folds() -> Vec<Fold> {
    vec![Fold::Index(0)]
}
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
fn default_save_every() -> usize {
    50
}
fn default_true() -> bool {
    true
}
fn empty_table() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// One experiment: what to train, how, and on which folds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Dataset id (`4`), name (`Dataset004_Hippocampus`) or raw folder.
    pub dataset: String,
    pub configuration: String,
    #[serde(default = "default_folds")]
    pub folds: Vec<Fold>,
    #[serde(default = "default_plans")]
    pub plans: String,
    #[serde(default = "default_trainer")]
    pub trainer: String,
    #[serde(default = "empty_table")]
    pub trainer_options: serde_json::Value,
    /// Network name; default: the plans' architecture (`PlainConvUNet`, `ResidualEncoderUNet`).
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default = "empty_table")]
    pub network_options: serde_json::Value,
    #[serde(default = "default_loss")]
    pub loss: String,
    #[serde(default = "empty_table")]
    pub loss_options: serde_json::Value,
    #[serde(default)]
    pub training: TrainingOptions,
    /// Plugin augmentations (`[[augmentations]]`: `name`, `after`, `options`).
    #[serde(default)]
    pub augmentations: Vec<AugmentationStep>,
    #[serde(default)]
    pub device: DeviceChoice,
    #[serde(default = "default_workers")]
    pub workers: usize,
    #[serde(default = "default_save_every")]
    pub save_every: usize,
    /// Plugin files to load before resolving names.
    #[serde(default)]
    pub plugins: Vec<PathBuf>,
    #[serde(default)]
    pub pretrained: Option<PathBuf>,
    /// Continue each fold from its last checkpoint.
    #[serde(default, rename = "continue")]
    pub resume: bool,
    /// Mixed precision on CUDA (fp16 autocast + loss scaling), as nnU-Net; no effect on CPU.
    #[serde(default = "default_true")]
    pub amp: bool,
}

impl Experiment {
    /// Reads an experiment TOML; relative plugin and weight paths are relative to the file.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut experiment: Experiment = toml::from_str(&text)
            .map_err(|e| Error::invalid_file(path, format!("invalid experiment: {e}")))?;
        for fold in &experiment.folds {
            fold.check()
                .map_err(|e| Error::invalid_file(path, e.to_string()))?;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for plugin in &mut experiment.plugins {
            if plugin.is_relative() {
                *plugin = base.join(&*plugin);
            }
        }
        if let Some(p) = experiment.pretrained.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
        Ok(experiment)
    }
}

/// One fold ready to train: the setup and its case sources.
pub struct PreparedFold {
    pub setup: TrainingSetup,
    pub train_cases: Arc<dyn CaseSource>,
    pub val_cases: Arc<dyn CaseSource>,
    /// The outermost folder [`prepare_fold`] created for the fold (`None` when the fold folder
    /// existed): a training that fails before its first checkpoint removes it.
    pub created: Option<PathBuf>,
}

pub use nnunet_core::paths::trainer_folder;

/// Resolves folders, plans, splits and case sources for `fold`, and copies `plans.json`,
/// `dataset.json` and `dataset_fingerprint.json` into the trainer folder as nnU-Net does.
pub fn prepare_fold(
    paths: &NnunetPaths,
    experiment: &Experiment,
    fold: &Fold,
    progress_bar: bool,
) -> Result<PreparedFold> {
    let options = &experiment.training;
    if options.epochs == 0 || options.iterations_per_epoch == 0 {
        return Err(Error::Invalid(format!(
            "epochs ({}) and iterations per epoch ({}) must be at least 1: training no step \
             would write an untrained checkpoint_final",
            options.epochs, options.iterations_per_epoch
        )));
    }
    let folders = DatasetFolders::resolve(&experiment.dataset, paths)?;
    let results = paths
        .results
        .as_ref()
        .ok_or_else(|| Error::Invalid("nnUNet_results is not set".into()))?;
    let plans_file = folders
        .preprocessed
        .join(format!("{}.json", experiment.plans));
    if !plans_file.is_file() {
        return Err(Error::invalid_file(
            &plans_file,
            "plans missing: run `nnunet plan-and-preprocess` first",
        ));
    }
    let plans: Plans = atomic::read_json(&plans_file)?;
    let config = plans.configuration(&experiment.configuration)?;
    if config.batch_size == Some(0) || config.patch_size.as_ref().is_some_and(|p| p.contains(&0)) {
        return Err(Error::invalid_file(
            &plans_file,
            format!(
                "configuration {}: batch_size ({:?}) and every patch_size entry ({:?}) must be \
                 at least 1",
                experiment.configuration,
                config.batch_size.unwrap_or_default(),
                config.patch_size.clone().unwrap_or_default()
            ),
        ));
    }
    let data_identifier = config.data_identifier.clone().ok_or_else(|| {
        Error::invalid_file(
            &plans_file,
            format!("{} has no data_identifier", experiment.configuration),
        )
    })?;
    let data_folder = folders.preprocessed.join(&data_identifier);
    let dataset = read_dataset_json(&folders.raw)?;
    // The cascade reads the previous stage's segmentations where nnU-Net does:
    // <trainer>__<plans>__<previous stage>/predicted_next_stage/<configuration>.
    let previous_stage = config.previous_stage.as_ref().map(|previous| {
        let folder = trainer_folder(
            results,
            &folders.name,
            &experiment.trainer,
            &experiment.plans,
            previous,
        )
        .join("predicted_next_stage")
        .join(&experiment.configuration);
        let hint = format!(
            "train {previous} on all 5 folds first (nnunet train -d {} -c {previous} -f 0 1 2 3 4); \
             its final validation writes the segmentations {} needs",
            experiment.dataset, experiment.configuration
        );
        (folder, hint)
    });

    let identifiers = case_identifiers(&data_folder)?;
    if identifiers.is_empty() {
        return Err(Error::invalid_file(
            &data_folder,
            "no preprocessed cases: run `nnunet preprocess`",
        ));
    }
    let (train_ids, val_ids) = match fold {
        Fold::Index(k) => {
            let splits = nnunet_datasets::splits::load_or_create_splits(
                &folders.preprocessed.join("splits_final.json"),
                &identifiers,
            )?;
            let split = splits.get(*k).ok_or_else(|| {
                Error::Invalid(format!(
                    "fold {k} does not exist: splits_final.json has {} folds",
                    splits.len()
                ))
            })?;
            (split.train.clone(), split.val.clone())
        }
        Fold::Name(_) => (identifiers.clone(), identifiers.clone()),
    };

    let network = match &experiment.network {
        Some(n) => n.clone(),
        None => {
            let arch = config.architecture.as_ref().ok_or_else(|| {
                Error::invalid_file(&plans_file, "configuration has no architecture")
            })?;
            nnunet_networks::network_name_for(arch)?
        }
    };
    let trainer_dir = trainer_folder(
        results,
        &folders.name,
        &experiment.trainer,
        &experiment.plans,
        &experiment.configuration,
    );
    let output_dir = trainer_dir.join(format!("fold_{}", fold.label()));
    let fingerprint_file = folders.preprocessed.join("dataset_fingerprint.json");
    let fingerprint_sha = if fingerprint_file.is_file() {
        file_sha256(&fingerprint_file)?
    } else {
        String::new()
    };

    let declared = dataset.clone();
    let setup = TrainingSetup {
        output_dir: output_dir.clone(),
        network,
        network_options: experiment.network_options.clone(),
        loss: experiment.loss.clone(),
        loss_options: experiment.loss_options.clone(),
        trainer: experiment.trainer.clone(),
        trainer_options: experiment.trainer_options.clone(),
        options: experiment.training.clone(),
        augmentations: experiment.augmentations.clone(),
        configuration: experiment.configuration.clone(),
        fold: fold.label(),
        plans_sha256: file_sha256(&plans_file)?,
        plans,
        dataset,
        device: experiment.device.resolve()?,
        workers: experiment.workers,
        resume: experiment.resume,
        pretrained: experiment.pretrained.clone(),
        save_every: experiment.save_every,
        dataset_fingerprint_sha256: fingerprint_sha,
        progress_bar,
        amp: experiment.amp,
        time_limit_seconds: None,
        data_parallel: None,
    };
    let open = |ids: Vec<String>| -> Result<Arc<dyn CaseSource>> {
        let cases = PreprocessedCases::open(&data_folder, ids, DEFAULT_CACHE_BYTES)?
            .with_labels_of(&declared)?;
        Ok(Arc::new(match &previous_stage {
            Some((folder, hint)) => cases.with_previous_stage(folder, hint)?,
            None => cases,
        }))
    };
    let (train_cases, val_cases) = (open(train_ids)?, open(val_ids)?);
    // The fold folder is created last, when nothing but I/O can fail any more: a refused run
    // leaves no empty fold folder behind.
    let created = first_missing(&output_dir);
    std::fs::create_dir_all(&output_dir).map_err(|e| Error::io(&output_dir, e))?;
    // A run killed mid-write (checkpoint, progress.png) left temporary files: remove them.
    atomic::clean_stale_temps(&output_dir)?;
    atomic::write_json(&trainer_dir.join("plans.json"), &setup.plans)?;
    atomic::write_json(&trainer_dir.join("dataset.json"), &setup.dataset)?;
    if fingerprint_file.is_file() {
        atomic::copy(
            &fingerprint_file,
            &trainer_dir.join("dataset_fingerprint.json"),
        )?;
    }
    Ok(PreparedFold {
        setup,
        train_cases,
        val_cases,
        created,
    })
}

/// The outermost folder of `dir`'s ancestry (`dir` included) that does not exist yet.
fn first_missing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .last()
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_defaults_and_options() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("experiment.toml");
        std::fs::write(
            &file,
            r#"
dataset = "4"
configuration = "3d_fullres"
folds = [0, "all"]
loss = "dice+topk10"
plugins = ["plugins/libx.so"]
[training]
epochs = 250
optimizer = "adamw"
initial_lr = 1e-3
[loss_options]
k = 10
"#,
        )
        .unwrap();
        let e = Experiment::from_toml_file(&file).unwrap();
        assert_eq!(e.folds, vec![Fold::Index(0), Fold::Name("all".into())]);
        assert_eq!(e.training.epochs, 250);
        assert_eq!(e.training.iterations_per_epoch, 250);
        assert_eq!(
            e.training.optimizer,
            nnunet_core::trainer::OptimizerKind::Adamw
        );
        assert_eq!(e.plugins, vec![dir.path().join("plugins/libx.so")]);
        assert_eq!(e.trainer, "nnUNetTrainer");
        assert_eq!(e.loss_options["k"], 10);
        assert!(e.amp, "mixed precision on CUDA by default, as nnU-Net");
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            "dataset = \"4\"\nconfiguration = \"2d\"\n[training]\nepoch = 5\n",
        )
        .unwrap();
        let err = Experiment::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("epoch"), "{err}");
        std::fs::write(
            &file,
            "dataset = \"4\"\nconfiguration = \"2d\"\nfolds = [\"al\"]\n",
        )
        .unwrap();
        let err = Experiment::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("\"al\""), "{err}");
    }
}
