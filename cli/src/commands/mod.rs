//! One module per subcommand.

pub mod compare;
pub mod convert;
pub mod demo;
pub mod demo_data;
pub mod doctor;
pub mod ensemble;
pub mod find_best;
pub mod fingerprint;
pub mod localise;
pub mod move_plans;
pub mod nnunet_models;
pub mod overlay;
pub mod plan;
pub mod plugin_new;
pub mod plugins;
pub mod postprocess;
pub mod predict;
pub mod predict_roi;
pub mod report;
pub mod slurm;
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

/// Plugin files every command loads: `NNUNET_PLUGINS`, paths separated by `:`.
pub const PLUGINS_VAR: &str = "NNUNET_PLUGINS";

fn env_plugins() -> Vec<PathBuf> {
    std::env::var_os(PLUGINS_VAR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The built-in registry plus the plugins of `NNUNET_PLUGINS` and the given plugin files. The
/// plugins' image readers/writers are installed for every file read or written from then on.
pub fn registry_with(plugins: &[PathBuf]) -> Result<Registry> {
    let mut registry = Registry::with_builtins()?;
    for path in env_plugins().iter().chain(plugins) {
        registry.load_plugin(path)?;
    }
    nnunet_datasets::io::plugin_io::install_from(&registry)?;
    Ok(registry)
}

/// Loads `NNUNET_PLUGINS` (when set) before any command, so that every stage — also those
/// without `--plugin` (verify, fingerprint, plan, preprocess, evaluate, overlay) — reads and
/// writes the plugins' file formats.
pub fn load_env_plugins() -> Result<()> {
    if !env_plugins().is_empty() {
        registry_with(&[])?;
    }
    Ok(())
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

/// nnU-Net's spellings that clap cannot declare (single-dash long names such as `-sp` or
/// `-chk`, underscores such as `--save_probabilities`), per subcommand, with ours.
const NNUNET_SPELLINGS: &[(&str, &[(&str, &str)])] = &[
    (
        "predict",
        &[
            ("-tr", "--trainer"),
            ("-chk", "--checkpoint"),
            ("-npp", "--npp"),
            ("-nps", "--nps"),
            ("-device", "--device"),
            ("-step_size", "--step-size"),
            ("-prev_stage_predictions", "--prev-stage"),
            ("-num_parts", "--num-parts"),
            ("-part_id", "--part-id"),
            ("--save_probabilities", "--save-probabilities"),
            ("--continue_prediction", "--continue-prediction"),
            ("--disable_tta", "--no-tta"),
            ("--disable_progress_bar", "--disable-progress-bar"),
            ("-model", "--model"),
        ],
    ),
    ("train", &[("-tr", "--trainer")]),
    ("move-plans", &[("-sp", "--sp"), ("-tp", "--tp")]),
];

/// The command line with nnU-Net's spellings of its subcommand's options ([`NNUNET_SPELLINGS`])
/// rewritten to ours, so nnU-Net users' command lines work unchanged.
pub fn nnunet_style_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let command = args.get(1).and_then(|a| a.to_str());
    let Some((_, table)) = NNUNET_SPELLINGS.iter().find(|(c, _)| Some(*c) == command) else {
        return args;
    };
    args.into_iter()
        .map(|arg| {
            let spelled = arg
                .to_str()
                .and_then(|a| table.iter().find(|(theirs, _)| *theirs == a));
            spelled.map_or(arg, |(_, ours)| std::ffi::OsString::from(ours))
        })
        .collect()
}
