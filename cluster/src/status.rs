//! `nnunet slurm status`: each task of the last submission with the scheduler's state (while it
//! remembers the job) and whether its outputs are on disk, plus its log.

use crate::Result;
use crate::progress::Progress;
use crate::slurm;
use crate::spec::{ClusterExperiment, TrainTask};
use crate::submit::{JobsRecord, part_marker};
use nnunet_trainers::experiment::Experiment;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One row of the status table.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStatus {
    pub stage: String,
    pub task: String,
    /// `JOB` or `JOB_INDEX`.
    pub job: String,
    /// The scheduler's state, or `-` once it has forgotten the job.
    pub scheduler: String,
    /// `finished` when the task's outputs are on disk, else `not finished`.
    pub outputs: &'static str,
    pub log: PathBuf,
}

/// The rows for the last submission (empty if nothing was submitted).
pub fn status(spec: &ClusterExperiment) -> Result<Vec<TaskStatus>> {
    let record = JobsRecord::read(&spec.work_dir)?;
    let Some(last) = record.submissions.last() else {
        return Ok(Vec::new());
    };
    let dataset = spec
        .experiment
        .get("dataset")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let progress = Progress::for_dataset(dataset)?;
    let tasks = written_tasks(spec);
    let mut rows = Vec::new();
    for stage in last {
        let states = slurm::job_states(&stage.job_id);
        for task in &stage.tasks {
            let job = match task.index {
                Some(i) => format!("{}_{i}", stage.job_id),
                None => stage.job_id.clone(),
            };
            let finished = match stage.stage.as_str() {
                "train" => tasks
                    .iter()
                    .find(|t| format!("train {}", t.name()) == task.name)
                    .is_some_and(|t| progress.training_finished(t)),
                "find-best" => progress.find_best_finished(&tasks),
                _ => task
                    .index
                    .is_some_and(|k| progress.predict_part_finished(&part_marker(spec, k))),
            };
            rows.push(TaskStatus {
                stage: stage.stage.clone(),
                task: task.name.clone(),
                scheduler: state_of(&states, &stage.job_id, task.index),
                job,
                outputs: if finished { "finished" } else { "not finished" },
                log: task.log.clone(),
            });
        }
    }
    Ok(rows)
}

/// The training tasks whose files `submit` wrote (read only).
fn written_tasks(spec: &ClusterExperiment) -> Vec<TrainTask> {
    let mut tasks = Vec::new();
    for configuration in &spec.configurations {
        for fold in &spec.folds {
            let name = crate::spec::task_name(configuration, fold);
            let experiment_file = spec.work_dir.join("tasks").join(format!("{name}.toml"));
            if let Ok(experiment) = Experiment::from_toml_file(&experiment_file) {
                tasks.push(TrainTask {
                    configuration: configuration.clone(),
                    fold: fold.clone(),
                    experiment_file,
                    experiment,
                });
            }
        }
    }
    tasks
}

/// The state of array element `index` of `job` (pending elements are listed as ranges such
/// as `2-3` or `1,3%2`), or of the plain job; `-` once the scheduler has forgotten it.
/// `states` is [`slurm::job_states`] of `job`.
pub fn state_of(states: &BTreeMap<String, String>, job: &str, index: Option<usize>) -> String {
    let Some(index) = index else {
        return states.get(job).cloned().unwrap_or_else(|| "-".into());
    };
    for (key, state) in states {
        let Some(spec) = key.strip_prefix(&format!("{job}_")) else {
            continue;
        };
        let spec = spec.split('%').next().unwrap_or("");
        let covers = spec.split(',').any(|item| match item.split_once('-') {
            Some((a, b)) => matches!((a.parse::<usize>(), b.parse::<usize>()), (Ok(a), Ok(b)) if (a..=b).contains(&index)),
            None => item.parse::<usize>() == Ok(index),
        });
        if covers {
            return state.clone();
        }
    }
    "-".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_elements_in_ranges() {
        let states: BTreeMap<String, String> = [
            ("11_0", "COMPLETED"),
            ("11_2-3%2", "PENDING"),
            ("11_5,7", "PENDING"),
            ("12", "RUNNING"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(state_of(&states, "11", Some(0)), "COMPLETED");
        assert_eq!(state_of(&states, "11", Some(3)), "PENDING");
        assert_eq!(state_of(&states, "11", Some(7)), "PENDING");
        assert_eq!(state_of(&states, "11", Some(4)), "-");
        assert_eq!(state_of(&states, "12", None), "RUNNING");
        assert_eq!(state_of(&states, "13", None), "-");
    }
}
