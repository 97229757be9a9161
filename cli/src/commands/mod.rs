//! One module per subcommand.

pub mod compare;
pub mod convert;
pub mod demo;
pub mod demo_data;
pub mod doctor;
pub mod ensemble;
pub mod find_best;
pub mod fingerprint;
pub mod overlay;
pub mod plan;
pub mod plugin_new;
pub mod plugins;
pub mod postprocess;
pub mod predict;
pub mod summary;
pub mod train;
pub mod validation;
pub mod verify;

use anyhow::Result;
use nnunet_core::Registry;
use std::path::PathBuf;

/// Where a command finds the dataset (labels, regions, ignore label, file ending):
/// `--djfile dataset.json`, else `-d ID` (its raw folder's dataset.json).
#[derive(clap::Args)]
pub struct DatasetChoice {
    /// Dataset id or name (its raw folder's dataset.json); or --djfile.
    #[arg(short = 'd', long)]
    pub dataset: Option<String>,
    /// dataset.json to use instead of -d.
    #[arg(long = "djfile")]
    pub dataset_json: Option<PathBuf>,
}

impl DatasetChoice {
    /// The chosen dataset.json, else `fallback`.
    pub fn path(&self, fallback: Option<PathBuf>) -> Result<PathBuf> {
        match (&self.dataset_json, &self.dataset, fallback) {
            (Some(file), _, _) => Ok(file.clone()),
            (None, Some(d), _) => Ok(nnunet_datasets::raw::find_dataset(
                &nnunet_core::paths::NnunetPaths::from_env(),
                d,
            )?
            .join("dataset.json")),
            (None, None, Some(file)) => Ok(file),
            (None, None, None) => anyhow::bail!("give the dataset: -d ID or --djfile dataset.json"),
        }
    }

    /// The chosen dataset.json, read.
    pub fn read(&self, fallback: Option<PathBuf>) -> Result<nnunet_core::DatasetDescriptor> {
        Ok(nnunet_core::atomic::read_json(&self.path(fallback)?)?)
    }
}

/// The built-in registry plus the given plugin files.
pub fn registry_with(plugins: &[PathBuf]) -> Result<Registry> {
    let mut registry = Registry::with_builtins()?;
    for path in plugins {
        registry.load_plugin(path)?;
    }
    Ok(registry)
}

/// The dataset's folders and its model folder
/// `nnUNet_results/DatasetXXX/<trainer>__<plans>__<configuration>`.
pub fn model_folder(
    dataset: &str,
    trainer: &str,
    plans: &str,
    configuration: &str,
) -> Result<(nnunet_planning::plan_dataset::DatasetFolders, PathBuf)> {
    let paths = nnunet_core::paths::NnunetPaths::from_env();
    let folders = nnunet_planning::plan_dataset::DatasetFolders::resolve(dataset, &paths)?;
    let results = anyhow::Context::context(paths.results.as_ref(), "nnUNet_results is not set")?;
    let dir = nnunet_trainers::experiment::trainer_folder(
        results,
        &folders.name,
        trainer,
        plans,
        configuration,
    );
    Ok((folders, dir))
}
