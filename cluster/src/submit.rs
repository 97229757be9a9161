//! `nnunet slurm submit`: the unfinished part of a cluster experiment as three dependent
//! stages — a job array of trainings, `find-best` after all of them (`afterok`), and a job
//! array of prediction parts after `find-best` — recorded in `<work_dir>/jobs.json`.

use crate::Result;
use crate::jobs::{Branch, JobBatch};
pub use crate::jobs::{JobsRecord, StageRecord, TaskRecord};
use crate::progress::Progress;
use crate::slurm;
use crate::spec::{ClusterExperiment, TrainTask};
use std::path::{Path, PathBuf};

/// What one `submit` did.
#[derive(Clone, Debug, Default)]
pub struct SubmitOutcome {
    /// The stages submitted now (empty: everything was finished).
    pub submitted: Vec<StageRecord>,
    /// What was skipped because it is finished.
    pub finished: Vec<String>,
}

/// Submits what is not finished. `nnunet` is the binary the jobs run.
pub fn submit(spec: &ClusterExperiment, nnunet: &Path) -> Result<SubmitOutcome> {
    let dataset = spec
        .experiment
        .get("dataset")
        .and_then(|v| v.as_str())
        .ok_or_else(|| nnunet_core::Error::invalid_file(&spec.file, "`dataset` is missing"))?;
    let progress = Progress::for_dataset(dataset)?;
    let draft = spec.write_tasks(|_, _| false)?;
    let resume: Vec<String> = draft
        .iter()
        .filter(|t| progress.has_checkpoint(&t.experiment, &t.configuration, &t.fold))
        .map(TrainTask::name)
        .collect();
    let tasks = spec.write_tasks(|c, f| resume.contains(&crate::spec::task_name(c, f)))?;
    let logs = spec.work_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| nnunet_core::Error::io(&logs, e))?;

    let mut outcome = SubmitOutcome::default();
    let mut submitted_ids = Vec::new();
    let result = submit_stages(
        spec,
        nnunet,
        &progress,
        &tasks,
        &mut outcome,
        &mut submitted_ids,
    );
    if let Err(error) = result {
        slurm::scancel(&submitted_ids);
        return Err(error);
    }
    JobsRecord::append(&spec.work_dir, &outcome.submitted)?;
    Ok(outcome)
}

fn submit_stages(
    spec: &ClusterExperiment,
    nnunet: &Path,
    progress: &Progress,
    tasks: &[TrainTask],
    outcome: &mut SubmitOutcome,
    submitted_ids: &mut Vec<String>,
) -> Result<()> {
    let (done, todo): (Vec<&TrainTask>, Vec<&TrainTask>) =
        tasks.iter().partition(|t| progress.training_finished(t));
    outcome
        .finished
        .extend(done.iter().map(|t| format!("train {}", t.name())));
    let train = (!todo.is_empty())
        .then(|| submit_training(spec, nnunet, &todo))
        .transpose()?;
    let mut after = Vec::new();
    if let Some(stage) = train {
        submitted_ids.push(stage.job_id.clone());
        after.push(stage.job_id.clone());
        outcome.submitted.push(stage);
    }
    if !spec.find_best {
        return Ok(());
    }
    let redo_find_best = !after.is_empty() || !progress.find_best_finished(tasks);
    if redo_find_best {
        let stage = submit_find_best(spec, nnunet, tasks, &after)?;
        submitted_ids.push(stage.job_id.clone());
        after = vec![stage.job_id.clone()];
        outcome.submitted.push(stage);
    } else {
        outcome.finished.push("find-best".into());
        after.clear();
    }
    let Some(predict) = &spec.predict else {
        return Ok(());
    };
    let parts: Vec<usize> = (0..predict.parts)
        .filter(|&k| redo_find_best || !progress.predict_part_finished(&part_marker(spec, k)))
        .collect();
    outcome.finished.extend(
        (0..predict.parts)
            .filter(|k| !parts.contains(k))
            .map(|k| format!("predict part {k}")),
    );
    if !parts.is_empty() {
        let stage = submit_predict(spec, nnunet, &parts, &after)?;
        submitted_ids.push(stage.job_id.clone());
        outcome.submitted.push(stage);
    }
    Ok(())
}

/// `<work_dir>/state/predict_part_K.done`, written by the part's job when it has finished.
pub fn part_marker(spec: &ClusterExperiment, part: usize) -> PathBuf {
    spec.work_dir
        .join("state")
        .join(format!("predict_part_{part}.done"))
}

/// The stages' scripts, logs and options.
fn batch(spec: &ClusterExperiment) -> JobBatch<'_> {
    JobBatch {
        work_dir: &spec.work_dir,
        written_by: format!("nnunet slurm submit {}", spec.file.display()),
        options: &spec.slurm,
    }
}

fn submit_training(
    spec: &ClusterExperiment,
    nnunet: &Path,
    todo: &[&TrainTask],
) -> Result<StageRecord> {
    let batch = batch(spec);
    let exe = nnunet.display().to_string();
    let branches = todo
        .iter()
        .enumerate()
        .map(|(i, t)| Branch {
            index: Some(i),
            name: format!("train {}", t.name()),
            log: batch.task_log(&t.name()),
            argv: vec![
                exe.clone(),
                "run".into(),
                t.experiment_file.display().to_string(),
            ],
        })
        .collect();
    batch.submit("train", branches, &[])
}

fn submit_find_best(
    spec: &ClusterExperiment,
    nnunet: &Path,
    tasks: &[TrainTask],
    after: &[String],
) -> Result<StageRecord> {
    let batch = batch(spec);
    let first = &tasks[0].experiment;
    let mut argv = vec![nnunet.display().to_string(), "find-best".into()];
    argv.extend(["-d".into(), first.dataset.clone(), "-c".into()]);
    argv.extend(spec.configurations.iter().cloned());
    argv.push("-f".into());
    argv.extend(spec.folds.iter().map(|f| f.label()));
    argv.extend(["-p".into(), first.plans.clone()]);
    argv.extend(["--trainers".into(), first.trainer.clone()]);
    let branches = vec![Branch {
        index: None,
        name: "find-best".into(),
        log: batch.task_log("find_best"),
        argv,
    }];
    batch.submit("find-best", branches, after)
}

fn submit_predict(
    spec: &ClusterExperiment,
    nnunet: &Path,
    parts: &[usize],
    after: &[String],
) -> Result<StageRecord> {
    let batch = batch(spec);
    let exe = nnunet.display().to_string();
    let file = spec.file.display().to_string();
    let branches = parts
        .iter()
        .map(|&k| Branch {
            index: Some(k),
            name: format!("predict part {k}"),
            log: batch.task_log(&format!("predict_part_{k}")),
            argv: vec![
                exe.clone(),
                "slurm".into(),
                "predict-part".into(),
                file.clone(),
                "--part-id".into(),
                k.to_string(),
            ],
        })
        .collect();
    batch.submit("predict", branches, after)
}
