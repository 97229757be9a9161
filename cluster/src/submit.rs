//! `nnunet slurm submit`: the unfinished part of a cluster experiment as three dependent
//! stages — a job array of trainings, `find-best` after all of them (`afterok`), and a job
//! array of prediction parts after `find-best` — recorded in `<work_dir>/jobs.json`.

use crate::progress::Progress;
use crate::slurm::{self, JobRequest, shell_quote};
use crate::spec::{ClusterExperiment, TrainTask};
use crate::{Error, Result};
use nnunet_core::atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One submitted stage: its job and the tasks of its array (index → name, log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub job_id: String,
    pub tasks: Vec<TaskRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The array index (`None` for a plain job).
    pub index: Option<usize>,
    pub name: String,
    pub log: PathBuf,
}

/// `<work_dir>/jobs.json`: every submission, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobsRecord {
    pub submissions: Vec<Vec<StageRecord>>,
}

impl JobsRecord {
    pub fn file(work_dir: &Path) -> PathBuf {
        work_dir.join("jobs.json")
    }

    /// The record, or an empty one if nothing was submitted yet.
    pub fn read(work_dir: &Path) -> nnunet_core::Result<Self> {
        let file = Self::file(work_dir);
        if file.is_file() {
            atomic::read_json(&file)
        } else {
            Ok(JobsRecord::default())
        }
    }
}

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
    if !outcome.submitted.is_empty() {
        let mut record = JobsRecord::read(&spec.work_dir)?;
        record.submissions.push(outcome.submitted.clone());
        atomic::write_json(&JobsRecord::file(&spec.work_dir), &record)?;
    }
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

fn task_log(spec: &ClusterExperiment, name: &str) -> PathBuf {
    spec.work_dir.join("logs").join(format!("{name}.log"))
}

/// A job script: `case` on the array index, each branch appending to its task's log.
fn write_script(
    spec: &ClusterExperiment,
    stage: &str,
    branches: &[(Option<usize>, PathBuf, Vec<String>)],
) -> Result<PathBuf> {
    let mut text = format!(
        "#!/usr/bin/env bash\n# Written by `nnunet slurm submit {}`: the {stage} stage.\n\
         set -euo pipefail\n",
        spec.file.display()
    );
    let command = |log: &Path, argv: &[String]| {
        let words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        format!(
            "exec >>{log} 2>&1\necho \"== $(date -u +%FT%TZ) job ${{SLURM_JOB_ID:-?}} on $(hostname)\"\n\
             exec {}\n",
            words.join(" "),
            log = shell_quote(&log.display().to_string()),
        )
    };
    match branches {
        [(None, log, argv)] => text.push_str(&command(log, argv)),
        _ => {
            text.push_str("case \"${SLURM_ARRAY_TASK_ID:?not an array job}\" in\n");
            for (index, log, argv) in branches {
                let index = index.map_or("*".to_string(), |i| i.to_string());
                text.push_str(&format!("{index})\n{};;\n", command(log, argv)));
            }
            text.push_str("*) echo \"no task $SLURM_ARRAY_TASK_ID\" >&2; exit 2;;\nesac\n");
        }
    }
    let script = spec.work_dir.join("jobs").join(format!("{stage}.sh"));
    atomic::write_bytes(&script, text.as_bytes())?;
    set_executable(&script)?;
    Ok(script)
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::Core(nnunet_core::Error::io(path, e)))
}

fn stage(
    spec: &ClusterExperiment,
    name: &str,
    branches: Vec<(Option<usize>, PathBuf, Vec<String>)>,
    names: Vec<String>,
    after_ok: &[String],
) -> Result<StageRecord> {
    let script = write_script(spec, name, &branches)?;
    let array = branches[0].0.map(|_| {
        let indices: Vec<String> = branches
            .iter()
            .filter_map(|(i, _, _)| i.map(|i| i.to_string()))
            .collect();
        indices.join(",")
    });
    let scheduler_log = spec.work_dir.join("logs").join("slurm-%A_%a.out");
    let job_id = slurm::sbatch(&JobRequest {
        name: &format!("nnunet-{name}"),
        script: &script,
        scheduler_log: &scheduler_log,
        array,
        after_ok: after_ok.to_vec(),
        options: &spec.slurm,
    })?;
    let tasks = branches
        .into_iter()
        .zip(names)
        .map(|((index, log, _), name)| TaskRecord { index, name, log })
        .collect();
    Ok(StageRecord {
        stage: name.into(),
        job_id,
        tasks,
    })
}

fn submit_training(
    spec: &ClusterExperiment,
    nnunet: &Path,
    todo: &[&TrainTask],
) -> Result<StageRecord> {
    let exe = nnunet.display().to_string();
    let branches = todo
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let argv = vec![
                exe.clone(),
                "run".into(),
                t.experiment_file.display().to_string(),
            ];
            (Some(i), task_log(spec, &t.name()), argv)
        })
        .collect();
    let names = todo.iter().map(|t| format!("train {}", t.name())).collect();
    stage(spec, "train", branches, names, &[])
}

fn submit_find_best(
    spec: &ClusterExperiment,
    nnunet: &Path,
    tasks: &[TrainTask],
    after: &[String],
) -> Result<StageRecord> {
    let first = &tasks[0].experiment;
    let mut argv = vec![nnunet.display().to_string(), "find-best".into()];
    argv.extend(["-d".into(), first.dataset.clone(), "-c".into()]);
    argv.extend(spec.configurations.iter().cloned());
    argv.push("-f".into());
    argv.extend(spec.folds.iter().map(|f| f.label()));
    argv.extend(["-p".into(), first.plans.clone()]);
    argv.extend(["--trainers".into(), first.trainer.clone()]);
    let branches = vec![(None, task_log(spec, "find_best"), argv)];
    stage(spec, "find-best", branches, vec!["find-best".into()], after)
}

fn submit_predict(
    spec: &ClusterExperiment,
    nnunet: &Path,
    parts: &[usize],
    after: &[String],
) -> Result<StageRecord> {
    let exe = nnunet.display().to_string();
    let file = spec.file.display().to_string();
    let branches = parts
        .iter()
        .map(|&k| {
            let argv = vec![
                exe.clone(),
                "slurm".into(),
                "predict-part".into(),
                file.clone(),
                "--part-id".into(),
                k.to_string(),
            ];
            (Some(k), task_log(spec, &format!("predict_part_{k}")), argv)
        })
        .collect();
    let names = parts.iter().map(|k| format!("predict part {k}")).collect();
    stage(spec, "predict", branches, names, after)
}
