//! `compare.toml`: what a comparison trains — one dataset, configuration, set of folds and
//! budget shared by every network, and the list of `[[networks]]` to compare.
//!
//! ```toml
//! dataset = "Dataset004_Hippocampus"      # id, name or raw folder
//! configuration = "3d_fullres"
//! folds = [0, 1]
//! seed = 12345                             # every network's training seed (default nnU-Net's)
//! baseline = "PlainConvUNet"               # the label the others are tested against
//! plugins = ["../../target/plugins/libnnunet_plugin_mednext.so"]  # relative to this file
//!
//! [budget]                                 # shared by every network
//! epochs = 5                               # also the schedule length under `hours`
//! hours = 0.5                              # optional wall-clock limit per network and fold
//! iterations_per_epoch = 25
//! validation_iterations = 5
//! device = "cpu"
//! workers = 2
//!
//! [[networks]]
//! label = "PlainConvUNet"                  # the plans' default network
//!
//! [[networks]]
//! label = "ResEnc-M"
//! plans = "nnUNetResEncUNetMPlans"         # `nnunet plan -d 4 --planner resenc-m`
//!
//! [[networks]]
//! label = "MedNeXt-S k3"
//! network = "mednext-s-k3"
//! trainer = "mednext"
//!
//! [scheduler]                              # optional
//! kind = "slurm"                           # "local" (default): every run here, in turn
//! nproc_per_node = 4                       # data-parallel ranks of each run (default 1)
//!
//! [slurm]                                  # with kind = "slurm": `nnunet slurm`'s table
//! partition = "gpu"
//! gpus_per_task = 4
//! work_dir = "slurm"                       # default slurm_<TOML file stem>, beside the file
//! ```
//! Unknown keys anywhere are errors naming the file.

use nnunet_cluster::spec::SlurmOptions;
use nnunet_core::precision::PrecisionChoice;
use nnunet_core::trainer::TrainingOptions;
use nnunet_core::{DeviceChoice, Error, Result};
use nnunet_trainers::experiment::{Experiment, Fold};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

// Keys left out take `Experiment`'s own defaults (see `Comparison::experiment`).

fn default_step_size() -> f64 {
    0.5
}
fn yes() -> bool {
    true
}

/// The budget every network gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Epochs, and the length of the learning-rate schedule.
    pub epochs: usize,
    /// Wall-clock limit of each network × fold's training, in hours: training stops after the
    /// epoch at which the logged epoch times reach it (checked after every epoch, so an epoch
    /// started before the limit finishes), and the record says how many epochs that was.
    #[serde(default)]
    pub hours: Option<f64>,
    pub iterations_per_epoch: usize,
    pub validation_iterations: usize,
    /// One batch size for every network instead of each plans' own (their plans differ: on
    /// Hippocampus the default plans say 7, ResEnc-M's 58, too much for a CPU's memory).
    #[serde(default)]
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub device: DeviceChoice,
    /// Data-augmentation worker threads (default: all cores).
    #[serde(default)]
    pub workers: Option<usize>,
    /// Sliding-window step of the final validation (nnU-Net: 0.5).
    #[serde(default = "default_step_size")]
    pub step_size: f64,
    /// Mirroring test-time augmentation in the final validation.
    #[serde(default = "yes")]
    pub mirroring: bool,
    /// Mixed precision on CUDA (nnU-Net's default); no effect on the CPU.
    #[serde(default = "yes")]
    pub amp: bool,
    /// Arithmetic of the final validation: `auto` (default: fp16 autocast on CUDA, bfloat16 on
    /// a CPU with native bf16, else float32), `fp32`, `bf16` (docs/inference.md).
    #[serde(default)]
    pub precision: PrecisionChoice,
}

/// Where the runs (network × fold) train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    /// In this process (or, with several ranks, in launched processes on this node), one run
    /// after another.
    #[default]
    Local,
    /// As a SLURM job array, one task per unfinished run, and a report job after it.
    Slurm,
}

/// `[scheduler]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduler {
    #[serde(default)]
    pub kind: SchedulerKind,
    /// Data-parallel ranks of each run on its node (`nnunet train --nproc-per-node`); default 1.
    #[serde(default)]
    pub nproc_per_node: Option<usize>,
}

impl Scheduler {
    /// The ranks of each run (at least 1).
    pub fn ranks(&self) -> usize {
        self.nproc_per_node.unwrap_or(1)
    }
}

/// One network of the comparison: a label for the report and how to train it. Keys left out
/// take `nnunet train`'s defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkEntry {
    /// Name in the report (also names its run folder).
    pub label: String,
    /// Registered network name; default: the plans' architecture.
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub network_options: Option<serde_json::Value>,
    /// Plans name; default: the comparison's `plans`.
    #[serde(default)]
    pub plans: Option<String>,
    /// Default `nnUNetTrainer`.
    #[serde(default)]
    pub trainer: Option<String>,
    #[serde(default)]
    pub trainer_options: Option<serde_json::Value>,
    /// Default `dice+ce`.
    #[serde(default)]
    pub loss: Option<String>,
    #[serde(default)]
    pub loss_options: Option<serde_json::Value>,
    /// Other training options (optimiser, learning rate, seed, …); the budget's epochs and
    /// iterations override these.
    #[serde(default)]
    pub training: Option<TrainingOptions>,
}

/// A whole comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub dataset: String,
    pub configuration: String,
    /// Default `[0]`.
    #[serde(default)]
    pub folds: Option<Vec<Fold>>,
    /// Default plans for every network (default `nnUNetPlans`).
    #[serde(default)]
    pub plans: Option<String>,
    #[serde(default)]
    pub plugins: Vec<PathBuf>,
    /// The training seed of every network (weights' initialisation and batches); default
    /// nnU-Net's (`TrainingOptions::seed`). Overrides a network's `[networks.training] seed`.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Label of the network the others are tested against (default: the first).
    #[serde(default)]
    pub baseline: Option<String>,
    /// Output folder (relative to the TOML file); default:
    /// `$nnUNet_results/<Dataset>/comparisons/<TOML file stem>`.
    #[serde(default)]
    pub output: Option<PathBuf>,
    pub budget: Budget,
    pub networks: Vec<NetworkEntry>,
    /// Where the runs train (default: here, one after another).
    #[serde(default)]
    pub scheduler: Scheduler,
    /// sbatch options and the work folder, with `[scheduler] kind = "slurm"` (the table of
    /// `nnunet slurm`, docs/cluster.md); `work_dir` is made absolute on reading.
    #[serde(default)]
    pub slurm: Option<SlurmOptions>,
    /// The TOML file's stem (not a key).
    #[serde(skip)]
    pub name: String,
    /// The TOML file, absolute (not a key).
    #[serde(skip)]
    pub file: PathBuf,
}

impl Comparison {
    /// Reads and checks `compare.toml`; relative plugin and output paths are relative to it.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut comparison: Comparison = toml::from_str(&text)
            .map_err(|e| Error::invalid_file(path, format!("invalid comparison: {e}")))?;
        comparison.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "comparison".into());
        comparison.file = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for plugin in &mut comparison.plugins {
            if plugin.is_relative() {
                *plugin = base.join(&*plugin);
            }
        }
        if let Some(out) = comparison.output.as_mut().filter(|p| p.is_relative()) {
            *out = base.join(&*out);
        }
        let stem = comparison.name.clone();
        if let Some(slurm) = comparison.slurm.as_mut() {
            let dir = slurm
                .work_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("slurm_{stem}")));
            slurm.work_dir = Some(if dir.is_relative() {
                base.join(dir)
            } else {
                dir
            });
        }
        comparison
            .check()
            .map_err(|e| Error::invalid_file(path, e.to_string()))?;
        Ok(comparison)
    }

    /// Folds are valid, there is at least one network, labels are unique and give distinct
    /// folder names, the budget trains at least one step and its step size is valid.
    pub fn check(&self) -> Result<()> {
        for fold in self.folds() {
            Fold::parse(&fold.label())?;
        }
        if self.folds().is_empty() {
            return Err(Error::Invalid("folds is empty".into()));
        }
        if self.networks.is_empty() {
            return Err(Error::Invalid("no [[networks]] to compare".into()));
        }
        let mut slugs: Vec<String> = Vec::new();
        for entry in &self.networks {
            let slug = entry.slug();
            if slug.is_empty() {
                return Err(Error::Invalid(format!(
                    "network label {:?} has no letters or digits",
                    entry.label
                )));
            }
            if slugs.contains(&slug) {
                return Err(Error::Invalid(format!(
                    "network label {:?} is used twice (or differs only in punctuation)",
                    entry.label
                )));
            }
            slugs.push(slug);
        }
        if let Some(b) = &self.baseline
            && !self.networks.iter().any(|n| &n.label == b)
        {
            return Err(Error::Invalid(format!(
                "baseline {b:?} is not the label of a [[networks]] entry"
            )));
        }
        if self
            .budget
            .hours
            .is_some_and(|h| !(h.is_finite() && h > 0.0))
        {
            return Err(Error::Invalid(
                "budget: hours must be a positive number".into(),
            ));
        }
        if self.budget.epochs == 0 || self.budget.iterations_per_epoch == 0 {
            return Err(Error::Invalid(
                "budget: epochs and iterations_per_epoch must be at least 1".into(),
            ));
        }
        if self.scheduler.nproc_per_node == Some(0) {
            return Err(Error::Invalid(
                "scheduler: nproc_per_node must be at least 1".into(),
            ));
        }
        let ranks = self.scheduler.ranks();
        if let Some(gpus) = self.slurm.as_ref().and_then(|s| s.gpus_per_task)
            && (gpus as usize) < ranks
        {
            return Err(Error::Invalid(format!(
                "[slurm] gpus_per_task = {gpus} for {ranks} ranks per run (nproc_per_node): \
                 each rank takes one GPU"
            )));
        }
        if self.slurm.is_some() && self.scheduler.kind != SchedulerKind::Slurm {
            return Err(Error::Invalid(
                "[slurm] is given but [scheduler] kind is not \"slurm\"".into(),
            ));
        }
        nnunet_inference::sliding_window::check_step_size(self.budget.step_size)
            .map_err(|e| Error::Invalid(format!("budget: {e}")))
    }

    /// The SLURM options (defaults when `[slurm]` is left out) and the work folder: `[slurm]
    /// work_dir`, else `slurm_<TOML file stem>` beside the file.
    pub fn slurm_options(&self) -> (SlurmOptions, PathBuf) {
        let options = self.slurm.clone().unwrap_or_default();
        let work_dir = options.work_dir.clone().unwrap_or_else(|| {
            let base = self.file.parent().unwrap_or(Path::new("."));
            base.join(format!("slurm_{}", self.name))
        });
        (options, work_dir)
    }

    /// The experiment that trains `entry` on this comparison's dataset, folds and budget.
    pub fn experiment(&self, entry: &NetworkEntry) -> Result<Experiment> {
        // Start from the experiment's own defaults, as `nnunet run` would for the same keys.
        let mut e: Experiment = serde_json::from_value(serde_json::json!({
            "dataset": self.dataset,
            "configuration": self.configuration,
        }))
        .map_err(|e| Error::Invalid(format!("experiment defaults: {e}")))?;
        let set = |slot: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                slot.clone_from(v);
            }
        };
        let set_json = |slot: &mut serde_json::Value, value: &Option<serde_json::Value>| {
            if let Some(v) = value {
                slot.clone_from(v);
            }
        };
        if let Some(folds) = &self.folds {
            e.folds.clone_from(folds);
        }
        set(&mut e.plans, &self.plans);
        set(&mut e.plans, &entry.plans);
        set(&mut e.trainer, &entry.trainer);
        set_json(&mut e.trainer_options, &entry.trainer_options);
        e.network.clone_from(&entry.network);
        set_json(&mut e.network_options, &entry.network_options);
        set(&mut e.loss, &entry.loss);
        set_json(&mut e.loss_options, &entry.loss_options);
        if let Some(training) = &entry.training {
            e.training.clone_from(training);
        }
        e.training.epochs = self.budget.epochs;
        e.training.iterations_per_epoch = self.budget.iterations_per_epoch;
        e.training.validation_iterations = self.budget.validation_iterations;
        if let Some(seed) = self.seed {
            e.training.seed = seed;
        }
        if self.budget.batch_size.is_some() {
            e.training.batch_size = self.budget.batch_size;
        }
        e.device = self.budget.device;
        if let Some(w) = self.budget.workers {
            e.workers = w;
        }
        e.amp = self.budget.amp;
        e.plugins.clone_from(&self.plugins);
        Ok(e)
    }

    /// The baseline's label: `baseline`, else the first network's.
    pub fn baseline_label(&self) -> &str {
        self.baseline
            .as_deref()
            .or(self.networks.first().map(|n| n.label.as_str()))
            .unwrap_or_default()
    }

    /// The training time limit of each network × fold, in seconds.
    pub fn time_limit_seconds(&self) -> Option<f64> {
        self.budget.hours.map(|h| h * 3600.0)
    }

    /// Every run: each network × each fold, in order.
    pub fn runs(&self) -> Vec<(&NetworkEntry, Fold)> {
        let folds = self.folds();
        self.networks
            .iter()
            .flat_map(|entry| folds.iter().map(move |fold| (entry, fold.clone())))
            .collect()
    }

    /// The folds to run (default `[0]`).
    pub fn folds(&self) -> Vec<Fold> {
        self.folds.clone().unwrap_or_else(|| vec![Fold::Index(0)])
    }
}

impl NetworkEntry {
    /// The label as a folder name: letters and digits kept, runs of anything else → `-`.
    pub fn slug(&self) -> String {
        let mut out = String::new();
        for c in self.label.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
dataset = "4"
configuration = "3d_fullres"
folds = [0, 1]
plugins = ["lib/libx.so"]
seed = 99
baseline = "ResEnc-M"

[budget]
epochs = 2
iterations_per_epoch = 3
validation_iterations = 1
device = "cpu"

[[networks]]
label = "PlainConvUNet"

[[networks]]
label = "ResEnc-M"
plans = "nnUNetResEncUNetMPlans"

[[networks]]
label = "MedNeXt-S k3"
network = "mednext-s-k3"
trainer = "mednext"
[networks.training]
seed = 7
"#;

    #[test]
    fn example_parses_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cmp.toml");
        std::fs::write(&file, EXAMPLE).unwrap();
        let c = Comparison::from_toml_file(&file).unwrap();
        assert_eq!(c.name, "cmp");
        assert_eq!(c.folds(), vec![Fold::Index(0), Fold::Index(1)]);
        assert_eq!(c.plugins, vec![dir.path().join("lib/libx.so")]);
        assert_eq!(c.networks.len(), 3);
        assert_eq!(c.networks[2].slug(), "MedNeXt-S-k3");
        let e = c.experiment(&c.networks[1]).unwrap();
        assert_eq!(e.plans, "nnUNetResEncUNetMPlans");
        assert_eq!(e.training.epochs, 2);
        let e = c.experiment(&c.networks[2]).unwrap();
        assert_eq!(e.network.as_deref(), Some("mednext-s-k3"));
        assert_eq!(e.trainer, "mednext");
        assert_eq!(e.loss, "dice+ce");
        assert_eq!(c.experiment(&c.networks[0]).unwrap().plans, "nnUNetPlans");
        // The comparison's seed wins over a network's own.
        assert_eq!((e.training.seed, e.training.iterations_per_epoch), (99, 3));
        assert_eq!(c.budget.step_size, 0.5);
        assert_eq!(c.baseline_label(), "ResEnc-M");
        assert_eq!(c.time_limit_seconds(), None);
        assert_eq!(c.scheduler, Scheduler::default());
        assert_eq!(c.scheduler.ranks(), 1);
        assert_eq!(c.slurm_options().1, dir.path().join("slurm_cmp"));
    }

    #[test]
    fn scheduler_and_slurm_tables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cmp.toml");
        let slurm = "\n[scheduler]\nkind = \"slurm\"\nnproc_per_node = 2\n\
                     [slurm]\npartition = \"gpu\"\ngpus_per_task = 2\nwork_dir = \"jobs\"\n";
        std::fs::write(&file, format!("{EXAMPLE}{slurm}")).unwrap();
        let c = Comparison::from_toml_file(&file).unwrap();
        assert_eq!(c.scheduler.kind, SchedulerKind::Slurm);
        assert_eq!(c.scheduler.ranks(), 2);
        let (options, work_dir) = c.slurm_options();
        assert_eq!(options.partition.as_deref(), Some("gpu"));
        assert_eq!(work_dir, dir.path().join("jobs"));
        assert_eq!(c.file, file);

        let bad = [
            (slurm.replace("partition", "partitoin"), "partitoin"),
            (slurm.replace("nproc_per_node", "nproc"), "nproc"),
            (slurm.replace("\"slurm\"\nn", "\"pbs\"\nn"), "pbs"),
            (slurm.replace("= 2\n[", "= 0\n["), "nproc_per_node"),
            (slurm.replace("\"slurm\"\nn", "\"local\"\nn"), "[slurm]"),
            (
                slurm.replace("gpus_per_task = 2", "gpus_per_task = 1"),
                "gpus_per_task",
            ),
        ];
        for (text, word) in bad {
            std::fs::write(&file, format!("{EXAMPLE}{text}")).unwrap();
            let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
            assert!(
                err.contains("cmp.toml") && err.contains(word),
                "{word}: {err}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_duplicate_labels_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            EXAMPLE.replace("trainer = \"mednext\"", "trainr = \"x\""),
        )
        .unwrap();
        let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("trainr"), "{err}");
        std::fs::write(&file, EXAMPLE.replace("ResEnc-M", "PlainConvUNet")).unwrap();
        let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("twice"), "{err}");
        std::fs::write(&file, EXAMPLE.replace("epochs = 2", "epochz = 2")).unwrap();
        let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("epochz"), "{err}");
        std::fs::write(
            &file,
            EXAMPLE.replace("baseline = \"ResEnc-M\"", "baseline = \"Nope\""),
        )
        .unwrap();
        let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("baseline"),
            "{err}"
        );
        std::fs::write(
            &file,
            EXAMPLE.replace("epochs = 2", "epochs = 2\nhours = -1"),
        )
        .unwrap();
        let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("hours"), "{err}");
    }

    #[test]
    fn step_sizes_outside_0_1_are_refused_on_reading() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cmp.toml");
        for step in ["0.0", "2.0", "nan"] {
            let text = EXAMPLE.replace(
                "device = \"cpu\"",
                &format!("device = \"cpu\"\nstep_size = {step}"),
            );
            std::fs::write(&file, text).unwrap();
            let err = Comparison::from_toml_file(&file).unwrap_err().to_string();
            assert!(
                err.contains("cmp.toml") && err.contains("step size"),
                "{err}"
            );
        }
    }
}
