//! The cluster experiment file and the training tasks it expands to.
//!
//! ```toml
//! # everything `nnunet run` accepts (dataset, trainer, plans, loss, plugins, [training], ...),
//! # except that configurations and folds are lists:
//! dataset = "901"
//! configurations = ["2d", "3d_fullres"]
//! folds = [0, 1]
//!
//! [predict]                 # optional: predict with the best model once find-best ran
//! input = "imagesTs"        # relative paths are relative to this file
//! output = "predictions"
//! parts = 2                 # a job array of 2 parts (nnunet predict --num-parts 2 --part-id K)
//! args = ["--no-tta"]       # more `nnunet predict` flags
//!
//! [slurm]                   # all optional
//! partition = "gpu"
//! time = "24:00:00"
//! cpus_per_task = 8
//! mem = "32G"
//! gpus_per_task = 1
//! max_parallel = 4          # array throttle (%4)
//! extra = ["--account=lab"] # more sbatch flags, for every job
//! work_dir = "slurm"        # job scripts, task files, logs and jobs.json
//! nnunet = "/opt/nnunet"    # the binary the jobs run (default: this one)
//! ```
//!
//! `find_best = false` at the top level skips the find-best job (then there is no predict
//! either). Unknown keys are errors, here and in the experiment part.

use nnunet_core::{Error, Result, atomic};
use nnunet_trainers::experiment::{Experiment, Fold};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Keys of the cluster file that are not experiment keys.
const CLUSTER_KEYS: [&str; 5] = ["configurations", "folds", "find_best", "predict", "slurm"];

/// `[predict]`: what to segment with the chosen model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictSpec {
    pub input: PathBuf,
    pub output: PathBuf,
    #[serde(default = "one")]
    pub parts: usize,
    #[serde(default)]
    pub args: Vec<String>,
}

fn one() -> usize {
    1
}

/// `[slurm]`: how jobs are requested.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub max_parallel: Option<u32>,
    #[serde(default)]
    pub extra: Vec<String>,
    pub work_dir: Option<PathBuf>,
    pub nnunet: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterPart {
    configurations: Vec<String>,
    #[serde(default = "all_folds")]
    folds: Vec<Fold>,
    #[serde(default = "yes")]
    find_best: bool,
    predict: Option<PredictSpec>,
    #[serde(default)]
    slurm: SlurmOptions,
}

fn all_folds() -> Vec<Fold> {
    (0..5).map(Fold::Index).collect()
}

fn yes() -> bool {
    true
}

/// One training job: a configuration and a fold, with its own experiment TOML.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainTask {
    pub configuration: String,
    pub fold: Fold,
    /// `<work_dir>/tasks/<name>.toml`.
    pub experiment_file: PathBuf,
    /// The parsed experiment (as `nnunet run` will read it).
    pub experiment: Experiment,
}

impl TrainTask {
    /// `2d__fold_0`: names the task's files and log.
    pub fn name(&self) -> String {
        task_name(&self.configuration, &self.fold)
    }
}

/// The name of the training task of `configuration` and `fold`: `2d__fold_0`.
pub fn task_name(configuration: &str, fold: &Fold) -> String {
    format!("{configuration}__fold_{}", fold.label())
}

/// A cluster experiment file, read and checked.
#[derive(Clone, Debug)]
pub struct ClusterExperiment {
    /// The file, absolute.
    pub file: PathBuf,
    /// The experiment keys (everything but [`CLUSTER_KEYS`]), paths made absolute.
    pub experiment: toml::Table,
    pub configurations: Vec<String>,
    pub folds: Vec<Fold>,
    pub find_best: bool,
    pub predict: Option<PredictSpec>,
    pub slurm: SlurmOptions,
    /// Absolute work folder (default `<file's folder>/slurm_<file stem>`).
    pub work_dir: PathBuf,
}

impl ClusterExperiment {
    /// Reads `file`; relative paths (plugins, weights, predict folders, work_dir) are relative
    /// to it.
    pub fn read(file: &Path) -> Result<Self> {
        let file = std::path::absolute(file).map_err(|e| Error::io(file, e))?;
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        let invalid = |message: String| Error::invalid_file(&file, message);
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if table.contains_key("configuration") {
            return Err(invalid(
                "use `configurations = [...]` (a list) in a cluster experiment".into(),
            ));
        }
        let mut cluster = toml::Table::new();
        for key in CLUSTER_KEYS {
            if let Some(value) = table.remove(key) {
                cluster.insert(key.to_string(), value);
            }
        }
        let part: ClusterPart = cluster
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        if part.configurations.is_empty() {
            return Err(invalid("`configurations` is empty".into()));
        }
        if part.folds.is_empty() {
            return Err(invalid("`folds` is empty".into()));
        }
        if let Some(predict) = &part.predict {
            if predict.parts == 0 {
                return Err(invalid("[predict] parts must be at least 1".into()));
            }
            if !part.find_best {
                return Err(invalid(
                    "[predict] needs find_best: the prediction uses the model find-best chose"
                        .into(),
                ));
            }
        }
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        absolutize_experiment_paths(&mut table, &base);
        let mut predict = part.predict;
        if let Some(p) = predict.as_mut() {
            p.input = base.join(&p.input);
            p.output = base.join(&p.output);
        }
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into());
        let work_dir = match &part.slurm.work_dir {
            Some(dir) => base.join(dir),
            None => base.join(format!("slurm_{stem}")),
        };
        Ok(ClusterExperiment {
            file,
            experiment: table,
            configurations: part.configurations,
            folds: part.folds,
            find_best: part.find_best,
            predict,
            slurm: part.slurm,
            work_dir,
        })
    }

    /// Writes one experiment TOML per configuration × fold under `<work_dir>/tasks/` and
    /// parses each back with `nnunet run`'s parser, so a bad key fails here, before any job is
    /// submitted. `resume(task)` says whether the task continues from its last checkpoint.
    pub fn write_tasks(&self, resume: impl Fn(&str, &Fold) -> bool) -> Result<Vec<TrainTask>> {
        let dir = self.work_dir.join("tasks");
        let mut tasks = Vec::new();
        for configuration in &self.configurations {
            for fold in &self.folds {
                let mut table = self.experiment.clone();
                table.insert("configuration".into(), configuration.clone().into());
                table.insert("folds".into(), toml::Value::Array(vec![fold_value(fold)]));
                table.insert("continue".into(), resume(configuration, fold).into());
                let name = task_name(configuration, fold);
                let experiment_file = dir.join(format!("{name}.toml"));
                let text = toml::to_string(&table).map_err(|e| {
                    Error::invalid_file(&self.file, format!("cannot write task {name}: {e}"))
                })?;
                let header = format!(
                    "# Written by `nnunet slurm submit {}`: training task {name}.\n",
                    self.file.display()
                );
                atomic::write_bytes(&experiment_file, format!("{header}{text}").as_bytes())?;
                let experiment = Experiment::from_toml_file(&experiment_file).map_err(|e| {
                    Error::invalid_file(&self.file, format!("training task {name}: {e}"))
                })?;
                tasks.push(TrainTask {
                    configuration: configuration.clone(),
                    fold: fold.clone(),
                    experiment_file,
                    experiment,
                });
            }
        }
        Ok(tasks)
    }
}

fn fold_value(fold: &Fold) -> toml::Value {
    match fold {
        Fold::Index(i) => toml::Value::Integer(*i as i64),
        Fold::Name(n) => toml::Value::String(n.clone()),
    }
}

/// `plugins` and `pretrained` as absolute paths, since the task files live elsewhere.
fn absolutize_experiment_paths(table: &mut toml::Table, base: &Path) {
    let absolute = |value: &mut toml::Value| {
        if let toml::Value::String(s) = value {
            *s = base.join(&*s).display().to_string();
        }
    };
    if let Some(toml::Value::Array(plugins)) = table.get_mut("plugins") {
        plugins.iter_mut().for_each(absolute);
    }
    if let Some(pretrained) = table.get_mut("pretrained") {
        absolute(pretrained);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let file = dir.join("cluster.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    #[test]
    fn expands_configurations_times_folds_with_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "dataset = \"901\"\nconfigurations = [\"2d\", \"3d_fullres\"]\nfolds = [0, \"all\"]\n\
             plugins = [\"p/libx.so\"]\n[training]\nepochs = 2\n\
             [predict]\ninput = \"in\"\noutput = \"out\"\nparts = 3\n\
             [slurm]\npartition = \"local\"\n",
        );
        let spec = ClusterExperiment::read(&file).unwrap();
        assert_eq!(spec.work_dir, dir.path().join("slurm_cluster"));
        let predict = spec.predict.clone().unwrap();
        assert_eq!(predict.input, dir.path().join("in"));
        assert_eq!(predict.parts, 3);
        let tasks = spec.write_tasks(|c, _| c == "2d").unwrap();
        let names: Vec<String> = tasks.iter().map(TrainTask::name).collect();
        assert_eq!(
            names,
            [
                "2d__fold_0",
                "2d__fold_all",
                "3d_fullres__fold_0",
                "3d_fullres__fold_all"
            ]
        );
        let first = &tasks[0].experiment;
        assert_eq!(first.configuration, "2d");
        assert_eq!(first.folds, vec![Fold::Index(0)]);
        assert_eq!(first.training.epochs, 2);
        assert!(first.resume);
        assert!(!tasks[2].experiment.resume);
        assert_eq!(first.plugins, vec![dir.path().join("p/libx.so")]);
    }

    #[test]
    fn refuses_unknown_keys_before_submitting() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "dataset = \"901\"\nconfigurations = [\"2d\"]\n[training]\nepoch = 2\n",
        );
        let spec = ClusterExperiment::read(&file).unwrap();
        let error = spec.write_tasks(|_, _| false).unwrap_err().to_string();
        assert!(error.contains("epoch"), "{error}");
        assert!(error.contains("cluster.toml"), "{error}");

        let file = write(
            dir.path(),
            "dataset = \"901\"\nconfigurations = [\"2d\"]\n[slurm]\npartitoin = \"x\"\n",
        );
        let error = ClusterExperiment::read(&file).unwrap_err().to_string();
        assert!(error.contains("partitoin"), "{error}");

        let file = write(dir.path(), "dataset = \"901\"\nconfiguration = \"2d\"\n");
        let error = ClusterExperiment::read(&file).unwrap_err().to_string();
        assert!(error.contains("configurations"), "{error}");
    }
}
