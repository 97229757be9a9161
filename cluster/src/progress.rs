//! What is already finished, read from the files the pipeline writes — never from the
//! scheduler, whose memory of old jobs is short and which knows nothing of work done by hand.
//!
//! * a training task is finished when its fold has `checkpoint_final` and
//!   `validation/summary.json` (the end-of-fold validation `nnunet run` runs);
//! * find-best is finished when `inference_information.json` is newer than every fold's
//!   validation summary;
//! * a prediction part is finished when its marker (written atomically by the job after the
//!   part's last file) is newer than `inference_information.json`.
//!
//! A task killed with `scancel` has none of these, so it runs again; one that left a
//! `checkpoint_latest` continues from it.

use crate::spec::TrainTask;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Error, Result};
use nnunet_inference::validation::validation_folder;
use nnunet_planning::plan_dataset::DatasetFolders;
use nnunet_trainers::checkpoint;
use nnunet_trainers::experiment::{Experiment, Fold, trainer_folder};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The results folder of one dataset, and the questions asked of it.
#[derive(Clone, Debug)]
pub struct Progress {
    /// `nnUNet_results`.
    pub results: PathBuf,
    /// `DatasetXXX_Name`.
    pub dataset: String,
}

impl Progress {
    /// Resolves the dataset (id or name) from the environment's nnU-Net folders.
    pub fn for_dataset(dataset: &str) -> Result<Self> {
        let paths = NnunetPaths::from_env();
        let folders = DatasetFolders::resolve(dataset, &paths)?;
        let results = paths
            .results
            .ok_or_else(|| Error::Invalid("nnUNet_results is not set".into()))?;
        Ok(Progress {
            results,
            dataset: folders.name,
        })
    }

    /// `nnUNet_results/DatasetXXX_Name`.
    pub fn results_dataset(&self) -> PathBuf {
        self.results.join(&self.dataset)
    }

    /// `<results>/<trainer>__<plans>__<configuration>/fold_K`.
    pub fn fold_dir(&self, experiment: &Experiment, configuration: &str, fold: &Fold) -> PathBuf {
        trainer_folder(
            &self.results,
            &self.dataset,
            &experiment.trainer,
            &experiment.plans,
            configuration,
        )
        .join(format!("fold_{}", fold.label()))
    }

    fn summary(&self, experiment: &Experiment, configuration: &str, fold: &Fold) -> PathBuf {
        let fold_dir = self.fold_dir(experiment, configuration, fold);
        let model_dir = fold_dir.parent().unwrap_or(Path::new(""));
        validation_folder(model_dir, &fold.label()).join("summary.json")
    }

    /// Final checkpoint and validation summary both present.
    pub fn training_finished(&self, task: &TrainTask) -> bool {
        let fold_dir = self.fold_dir(&task.experiment, &task.configuration, &task.fold);
        checkpoint::paths(&fold_dir, "checkpoint_final").0.is_file()
            && self
                .summary(&task.experiment, &task.configuration, &task.fold)
                .is_file()
    }

    /// A checkpoint to continue from (latest or final).
    pub fn has_checkpoint(
        &self,
        experiment: &Experiment,
        configuration: &str,
        fold: &Fold,
    ) -> bool {
        let fold_dir = self.fold_dir(experiment, configuration, fold);
        ["checkpoint_latest", "checkpoint_final"]
            .iter()
            .any(|name| checkpoint::paths(&fold_dir, name).0.is_file())
    }

    /// `<results>/inference_information.json`.
    pub fn inference_information(&self) -> PathBuf {
        self.results_dataset().join("inference_information.json")
    }

    /// find-best ran after the last fold finished.
    pub fn find_best_finished(&self, tasks: &[TrainTask]) -> bool {
        let Some(chosen) = modified(&self.inference_information()) else {
            return false;
        };
        tasks.iter().all(|t| {
            modified(&self.summary(&t.experiment, &t.configuration, &t.fold))
                .is_some_and(|m| m <= chosen)
        })
    }

    /// The part's marker is newer than find-best's choice.
    pub fn predict_part_finished(&self, marker: &Path) -> bool {
        match (modified(marker), modified(&self.inference_information())) {
            (Some(done), Some(chosen)) => done >= chosen,
            _ => false,
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
