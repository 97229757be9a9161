//! The scheduler, through its own commands: `sbatch --parsable` to submit, `scontrol show job
//! -o` to read states. Nothing here simulates SLURM; the tests run a real one-node cluster
//! (`scripts/slurm_local.sh`).

use crate::spec::SlurmOptions;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// One `sbatch` call.
pub struct JobRequest<'a> {
    pub name: &'a str,
    pub script: &'a Path,
    /// Where SLURM itself writes the job's output (`%A`, `%a` allowed); the scripts send the
    /// work's output to each task's own log.
    pub scheduler_log: &'a Path,
    /// Array indices, e.g. `0-3` or `1,3`; `None` for a plain job.
    pub array: Option<String>,
    /// Job ids that must finish successfully first (`--dependency=afterok:...`).
    pub after_ok: Vec<String>,
    pub options: &'a SlurmOptions,
}

impl JobRequest<'_> {
    /// The `sbatch` arguments, script last.
    pub fn arguments(&self) -> Vec<String> {
        let o = self.options;
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", self.name),
            format!("--output={}", self.scheduler_log.display()),
        ];
        let optional = [
            ("--partition", o.partition.clone()),
            ("--time", o.time.clone()),
            ("--cpus-per-task", o.cpus_per_task.map(|c| c.to_string())),
            ("--mem", o.mem.clone()),
            ("--gpus-per-task", o.gpus_per_task.map(|g| g.to_string())),
        ];
        for (flag, value) in optional {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        }
        if let Some(array) = &self.array {
            let throttle = o.max_parallel.map(|m| format!("%{m}")).unwrap_or_default();
            args.push(format!("--array={array}{throttle}"));
        }
        if !self.after_ok.is_empty() {
            args.push(format!("--dependency=afterok:{}", self.after_ok.join(":")));
            args.push("--kill-on-invalid-dep=yes".into());
        }
        args.extend(o.extra.iter().cloned());
        args.push(self.script.display().to_string());
        args
    }
}

/// Submits; returns the job id.
pub fn sbatch(request: &JobRequest) -> Result<String> {
    let args = request.arguments();
    let stdout = run("sbatch", &args)?;
    // `--parsable` prints `ID` or `ID;CLUSTER`.
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Scheduler {
            command: "sbatch".into(),
            message: format!("unexpected output {stdout:?}"),
        });
    }
    Ok(id)
}

/// The state of each job or array element the scheduler still remembers, keyed `ID` for a
/// plain job and `ID_INDEX` for an array element (`PENDING`, `RUNNING`, `COMPLETED`,
/// `FAILED`, `CANCELLED`, ...). Jobs it has forgotten are absent.
pub fn job_states(job_id: &str) -> BTreeMap<String, String> {
    let Ok(text) = run(
        "scontrol",
        &["show".into(), "job".into(), "-o".into(), job_id.into()],
    ) else {
        return BTreeMap::new();
    };
    text.lines().filter_map(parse_job_line).collect()
}

/// `JobId=12 ArrayJobId=11 ArrayTaskId=1 ... JobState=RUNNING ...` → `("11_1", "RUNNING")`.
fn parse_job_line(line: &str) -> Option<(String, String)> {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let state = field("JobState")?.to_string();
    let key = match (field("ArrayJobId"), field("ArrayTaskId")) {
        (Some(array), Some(task)) => format!("{array}_{task}"),
        _ => field("JobId")?.to_string(),
    };
    Some((key, state))
}

/// Cancels jobs (used when a later submission step fails, so no orphan waits forever).
pub fn scancel(job_ids: &[String]) {
    if !job_ids.is_empty() {
        let _ = run("scancel", job_ids);
    }
}

fn run(program: &str, args: &[String]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Scheduler {
            command: program.into(),
            message: format!("cannot run it ({e}); is SLURM installed and SLURM_CONF set?"),
        })?;
    if !output.status.success() {
        return Err(Error::Scheduler {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A path or word as one single-quoted shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_carry_every_option() {
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("01:00:00".into()),
            cpus_per_task: Some(4),
            mem: Some("8G".into()),
            gpus_per_task: Some(1),
            max_parallel: Some(2),
            extra: vec!["--account=lab".into()],
            ..Default::default()
        };
        let request = JobRequest {
            name: "nnunet-train",
            script: Path::new("/w/jobs/train.sh"),
            scheduler_log: Path::new("/w/logs/slurm-%A_%a.out"),
            array: Some("0-3".into()),
            after_ok: vec!["7".into(), "8".into()],
            options: &options,
        };
        assert_eq!(
            request.arguments(),
            [
                "--parsable",
                "--job-name=nnunet-train",
                "--output=/w/logs/slurm-%A_%a.out",
                "--partition=gpu",
                "--time=01:00:00",
                "--cpus-per-task=4",
                "--mem=8G",
                "--gpus-per-task=1",
                "--array=0-3%2",
                "--dependency=afterok:7:8",
                "--kill-on-invalid-dep=yes",
                "--account=lab",
                "/w/jobs/train.sh",
            ]
        );
    }

    #[test]
    fn parses_scontrol_lines() {
        let array = "JobId=12 ArrayJobId=11 ArrayTaskId=1 JobName=x JobState=RUNNING Reason=None";
        assert_eq!(
            parse_job_line(array),
            Some(("11_1".to_string(), "RUNNING".to_string()))
        );
        let plain = "JobId=13 JobName=y UserId=root(0) JobState=COMPLETED Reason=None";
        assert_eq!(
            parse_job_line(plain),
            Some(("13".to_string(), "COMPLETED".to_string()))
        );
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }
}
