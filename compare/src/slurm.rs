//! `nnunet compare` with `[scheduler] kind = "slurm"`: the unfinished runs (network × fold) as
//! one SLURM job array, each task running `nnunet compare FILE -o OUT --network LABEL --fold K`
//! (the same training, validation and record as the local path, data-parallel with
//! `nproc_per_node`), and a report job (`nnunet compare FILE -o OUT --report`) with
//! `--dependency=afterok` on the array. The scripts, their submission and `jobs.json` are
//! nnunet-cluster's ([`nnunet_cluster::jobs`]): one sbatch writer for both commands.
//!
//! What is finished is read from the files, as `nnunet slurm` does: a run with its final
//! checkpoint, validation summary and `compare_record.json` is skipped, and the report is
//! finished when `comparison.md` is newer than the TOML and every run's record. So a
//! resubmission of a finished comparison submits nothing.

use crate::config::{Comparison, NetworkEntry};
use crate::run::{RECORD_FILE, RunRecord, finished_run};
use nnunet_cluster::jobs::{Branch, JobBatch, JobsRecord, StageRecord};
use nnunet_cluster::status::{TaskStatus, state_of};
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Error, Result};
use nnunet_trainers::experiment::Fold;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The stage of the runs' job array and of the report job.
pub const TRAIN_STAGE: &str = "train";
pub const REPORT_STAGE: &str = "report";

/// What one submission did.
#[derive(Clone, Debug, Default)]
pub struct Submission {
    /// The stages submitted now (empty: everything was finished).
    pub submitted: Vec<StageRecord>,
    /// What was skipped because it is finished.
    pub finished: Vec<String>,
    /// Scripts, logs and `jobs.json`.
    pub work_dir: PathBuf,
    /// The comparison's output folder (absolute).
    pub output: PathBuf,
}

/// `train <label> fold <K>`: a run's task name in `jobs.json` and the status table.
pub fn task_name(entry: &NetworkEntry, fold: &Fold) -> String {
    format!("{TRAIN_STAGE} {} fold {}", entry.label, fold.label())
}

fn cluster_error(e: nnunet_cluster::Error) -> Error {
    match e {
        nnunet_cluster::Error::Core(e) => e,
        other => Error::Invalid(other.to_string()),
    }
}

/// The output folder as the jobs see it (absolute).
fn absolute_output(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
) -> Result<PathBuf> {
    let output = crate::output_folder(comparison, paths, output)?;
    std::path::absolute(&output).map_err(|e| Error::io(&output, e))
}

/// Submits what is not finished; `nnunet` is the binary the jobs run.
pub fn submit(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
    nnunet: &Path,
) -> Result<Submission> {
    comparison.check()?;
    let output = absolute_output(paths, comparison, output)?;
    let (options, work_dir) = comparison.slurm_options();
    refuse_while_busy(&work_dir)?;
    let batch = JobBatch {
        work_dir: &work_dir,
        written_by: format!("nnunet compare {}", comparison.file.display()),
        options: &options,
    };
    let mut outcome = Submission {
        work_dir: work_dir.clone(),
        output: output.clone(),
        ..Default::default()
    };
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for (entry, fold) in comparison.runs() {
        match finished_run(paths, comparison, entry, &fold, &output)? {
            Some(record) => {
                outcome.finished.push(task_name(entry, &fold));
                done.push(record);
            }
            None => todo.push((entry, fold)),
        }
    }
    let base = |extra: &[&str]| {
        let mut argv = vec![
            nnunet.display().to_string(),
            "compare".into(),
            comparison.file.display().to_string(),
            "-o".into(),
            output.display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    };
    let branches: Vec<Branch> = todo
        .iter()
        .enumerate()
        .map(|(i, (entry, fold))| Branch {
            index: Some(i),
            name: task_name(entry, fold),
            log: batch.task_log(&format!("{}__fold_{}", entry.slug(), fold.label())),
            argv: base(&["--network", &entry.label, "--fold", &fold.label()]),
        })
        .collect();
    let report_done = todo.is_empty() && report_finished(comparison, &output, &done);
    let result = (|| -> nnunet_cluster::Result<()> {
        let mut after = Vec::new();
        if !branches.is_empty() {
            let stage = batch.submit(TRAIN_STAGE, branches, &[])?;
            after.push(stage.job_id.clone());
            outcome.submitted.push(stage);
        }
        if report_done {
            outcome.finished.push(REPORT_STAGE.into());
            return Ok(());
        }
        let report = Branch {
            index: None,
            name: REPORT_STAGE.into(),
            log: batch.task_log(REPORT_STAGE),
            argv: base(&["--report"]),
        };
        outcome
            .submitted
            .push(batch.submit(REPORT_STAGE, vec![report], &after)?);
        Ok(())
    })();
    if let Err(e) = result {
        let ids: Vec<String> = outcome.submitted.iter().map(|s| s.job_id.clone()).collect();
        nnunet_cluster::slurm::scancel(&ids);
        return Err(cluster_error(e));
    }
    JobsRecord::append(&work_dir, &outcome.submitted)?;
    Ok(outcome)
}

/// A job of the last submission still pending or running would train a run twice at once.
fn refuse_while_busy(work_dir: &Path) -> Result<()> {
    let record = JobsRecord::read(work_dir)?;
    for stage in record.submissions.last().into_iter().flatten() {
        let states = nnunet_cluster::slurm::job_states(&stage.job_id);
        if let Some((job, state)) = states.iter().find(|(_, s)| {
            [
                "PENDING",
                "RUNNING",
                "CONFIGURING",
                "COMPLETING",
                "SUSPENDED",
            ]
            .contains(&s.as_str())
        }) {
            return Err(Error::Invalid(format!(
                "job {job} of the last submission is {state}: wait for it or scancel it before \
                 submitting again (nnunet compare --status)"
            )));
        }
    }
    Ok(())
}

/// `comparison.md` is newer than the TOML and every run's record.
fn report_finished(comparison: &Comparison, output: &Path, runs: &[RunRecord]) -> bool {
    let Some(written) = modified(&output.join("comparison.md")) else {
        return false;
    };
    std::iter::once(comparison.file.clone())
        .chain(runs.iter().map(|r| r.fold_dir.join(RECORD_FILE)))
        .all(|file| modified(&file).is_some_and(|m| m <= written))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Each task of the last submission: its job, the scheduler's state (while it remembers the
/// job), whether its outputs are on disk, and its log. Empty when nothing was submitted.
pub fn status(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
) -> Result<Vec<TaskStatus>> {
    let (_, work_dir) = comparison.slurm_options();
    let record = JobsRecord::read(&work_dir)?;
    let Some(last) = record.submissions.last() else {
        return Ok(Vec::new());
    };
    let output = absolute_output(paths, comparison, output)?;
    let mut finished = Vec::new();
    let mut records = Vec::new();
    let mut all_finished = true;
    for (entry, fold) in comparison.runs() {
        match finished_run(paths, comparison, entry, &fold, &output)? {
            Some(record) => {
                finished.push(task_name(entry, &fold));
                records.push(record);
            }
            None => all_finished = false,
        }
    }
    let report_done = all_finished && report_finished(comparison, &output, &records);
    let mut rows = Vec::new();
    for stage in last {
        let states = nnunet_cluster::slurm::job_states(&stage.job_id);
        for task in &stage.tasks {
            let done = match stage.stage.as_str() {
                REPORT_STAGE => report_done,
                _ => finished.contains(&task.name),
            };
            rows.push(TaskStatus {
                stage: stage.stage.clone(),
                task: task.name.clone(),
                job: match task.index {
                    Some(i) => format!("{}_{i}", stage.job_id),
                    None => stage.job_id.clone(),
                },
                scheduler: state_of(&states, &stage.job_id, task.index),
                outputs: if done { "finished" } else { "not finished" },
                log: task.log.clone(),
            });
        }
    }
    Ok(rows)
}
