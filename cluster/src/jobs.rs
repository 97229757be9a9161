//! Job scripts, their submission and the record of what was submitted — shared by every
//! command that sends work to SLURM (`nnunet slurm submit`, and `nnunet compare` with
//! `[scheduler] kind = "slurm"`), so there is one sbatch writer.
//!
//! A stage is one `sbatch` call: a plain job (one branch without an index) or a job array
//! (one branch per index). Its script (`<work_dir>/jobs/<stage>.sh`) runs `case` on
//! `SLURM_ARRAY_TASK_ID`, each branch appending its output to its task's own log. Every
//! submission is recorded in `<work_dir>/jobs.json`.

use crate::slurm::{self, JobRequest, shell_quote};
use crate::spec::SlurmOptions;
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

    /// Appends one submission (nothing when `stages` is empty).
    pub fn append(work_dir: &Path, stages: &[StageRecord]) -> nnunet_core::Result<()> {
        if stages.is_empty() {
            return Ok(());
        }
        let mut record = Self::read(work_dir)?;
        record.submissions.push(stages.to_vec());
        atomic::write_json(&Self::file(work_dir), &record)
    }
}

/// Where a submitter's jobs go and how they are requested.
pub struct JobBatch<'a> {
    /// Scripts in `jobs/`, logs in `logs/`, `jobs.json`.
    pub work_dir: &'a Path,
    /// The command that wrote the scripts, for their header (`nnunet slurm submit FILE`).
    pub written_by: String,
    pub options: &'a SlurmOptions,
}

/// One task of a stage: what it runs and where its output goes.
#[derive(Clone, Debug)]
pub struct Branch {
    /// The array index (`None`: a plain job, the stage's only branch).
    pub index: Option<usize>,
    /// The task's name in `jobs.json` and the status table.
    pub name: String,
    pub log: PathBuf,
    /// The command, program first (each word shell-quoted in the script).
    pub argv: Vec<String>,
}

impl JobBatch<'_> {
    /// `<work_dir>/logs/<name>.log`.
    pub fn task_log(&self, name: &str) -> PathBuf {
        self.work_dir.join("logs").join(format!("{name}.log"))
    }

    /// Writes the stage's script and submits it (after `after_ok` succeeded, if any).
    pub fn submit(
        &self,
        stage: &str,
        branches: Vec<Branch>,
        after_ok: &[String],
    ) -> Result<StageRecord> {
        let logs = self.work_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| nnunet_core::Error::io(&logs, e))?;
        let script = self.write_script(stage, &branches)?;
        let array = branches.first().and_then(|b| b.index).map(|_| {
            let indices: Vec<String> = branches
                .iter()
                .filter_map(|b| b.index.map(|i| i.to_string()))
                .collect();
            indices.join(",")
        });
        let scheduler_log = logs.join("slurm-%A_%a.out");
        let job_id = slurm::sbatch(&JobRequest {
            name: &format!("nnunet-{stage}"),
            script: &script,
            scheduler_log: &scheduler_log,
            array,
            after_ok: after_ok.to_vec(),
            options: self.options,
        })?;
        let tasks = branches
            .into_iter()
            .map(|b| TaskRecord {
                index: b.index,
                name: b.name,
                log: b.log,
            })
            .collect();
        Ok(StageRecord {
            stage: stage.into(),
            job_id,
            tasks,
        })
    }

    /// `<work_dir>/jobs/<stage>.sh`: `case` on the array index, each branch appending to its
    /// task's log.
    fn write_script(&self, stage: &str, branches: &[Branch]) -> Result<PathBuf> {
        let mut text = format!(
            "#!/usr/bin/env bash\n# Written by `{}`: the {stage} stage.\nset -euo pipefail\n",
            self.written_by
        );
        match branches {
            [] => {
                return Err(Error::Core(nnunet_core::Error::Invalid(format!(
                    "stage {stage} has no task"
                ))));
            }
            [b] if b.index.is_none() => text.push_str(&command(&b.log, &b.argv)),
            _ => {
                text.push_str("case \"${SLURM_ARRAY_TASK_ID:?not an array job}\" in\n");
                for b in branches {
                    let index = b.index.map_or("*".to_string(), |i| i.to_string());
                    text.push_str(&format!("{index})\n{};;\n", command(&b.log, &b.argv)));
                }
                text.push_str("*) echo \"no task $SLURM_ARRAY_TASK_ID\" >&2; exit 2;;\nesac\n");
            }
        }
        let script = self.work_dir.join("jobs").join(format!("{stage}.sh"));
        atomic::write_bytes(&script, text.as_bytes())?;
        set_executable(&script)?;
        Ok(script)
    }
}

/// One branch's lines: its output appended to `log`, a dated header, then `argv`.
fn command(log: &Path, argv: &[String]) -> String {
    let words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    format!(
        "exec >>{log} 2>&1\necho \"== $(date -u +%FT%TZ) job ${{SLURM_JOB_ID:-?}} on $(hostname)\"\n\
         exec {}\n",
        words.join(" "),
        log = shell_quote(&log.display().to_string()),
    )
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::Core(nnunet_core::Error::io(path, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_scripts_branch_on_the_index_and_quote_every_word() {
        let dir = tempfile::tempdir().unwrap();
        let options = SlurmOptions::default();
        let batch = JobBatch {
            work_dir: dir.path(),
            written_by: "nnunet compare c.toml".into(),
            options: &options,
        };
        let branches = vec![
            Branch {
                index: Some(0),
                name: "a".into(),
                log: batch.task_log("a"),
                argv: vec!["/bin/nnunet".into(), "x y".into()],
            },
            Branch {
                index: Some(3),
                name: "b".into(),
                log: batch.task_log("b"),
                argv: vec!["/bin/nnunet".into(), "it's".into()],
            },
        ];
        let script = batch.write_script("train", &branches).unwrap();
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(text.starts_with("#!/usr/bin/env bash\n# Written by `nnunet compare c.toml`"));
        assert!(text.contains("0)\n") && text.contains("3)\n"), "{text}");
        assert!(text.contains("exec '/bin/nnunet' 'x y'\n"), "{text}");
        assert!(text.contains(r"exec '/bin/nnunet' 'it'\''s'"), "{text}");
        assert!(batch.write_script("none", &[]).is_err());

        let record = StageRecord {
            stage: "train".into(),
            job_id: "7".into(),
            tasks: Vec::new(),
        };
        JobsRecord::append(dir.path(), std::slice::from_ref(&record)).unwrap();
        JobsRecord::append(dir.path(), &[]).unwrap();
        JobsRecord::append(dir.path(), &[record]).unwrap();
        assert_eq!(JobsRecord::read(dir.path()).unwrap().submissions.len(), 2);
    }
}
