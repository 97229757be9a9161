//! `nnunet slurm submit|status|predict-part`: a cluster experiment on SLURM
//! ([`nnunet_cluster`]; docs/cluster.md).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use nnunet_cluster::{ClusterExperiment, StageRecord};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum SlurmCommand {
    /// Submit what is not finished: a job array of trainings, find-best after them, then a job
    /// array of prediction parts (each stage waits for the last with --dependency=afterok).
    Submit(SubmitArgs),
    /// Each task of the last submission: job, scheduler state, outputs on disk, log.
    Status(ExperimentArg),
    /// Run one prediction part (what the prediction jobs run).
    PredictPart(PredictPartArgs),
}

#[derive(Args)]
pub struct ExperimentArg {
    /// The cluster experiment TOML (docs/cluster.md).
    pub experiment: PathBuf,
}

#[derive(Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub experiment: ExperimentArg,
    /// The nnunet binary the jobs run (default: `[slurm] nnunet`, else this one).
    #[arg(long)]
    pub nnunet: Option<PathBuf>,
}

#[derive(Args)]
pub struct PredictPartArgs {
    #[command(flatten)]
    pub experiment: ExperimentArg,
    /// The part to predict, from 0.
    #[arg(long)]
    pub part_id: usize,
}

pub fn run(command: SlurmCommand) -> Result<()> {
    match command {
        SlurmCommand::Submit(args) => submit(args),
        SlurmCommand::Status(args) => status(args),
        SlurmCommand::PredictPart(args) => {
            let spec = ClusterExperiment::read(&args.experiment.experiment)?;
            let marker = nnunet_cluster::predict_part::predict_part(
                &spec,
                args.part_id,
                &nnunet(&spec, None)?,
            )?;
            println!("part {} finished: {}", args.part_id, marker.display());
            Ok(())
        }
    }
}

/// `--nnunet`, else `[slurm] nnunet`, else the running binary.
fn nnunet(spec: &ClusterExperiment, flag: Option<PathBuf>) -> Result<PathBuf> {
    match flag.or_else(|| spec.slurm.nnunet.clone()) {
        Some(path) => Ok(path),
        None => std::env::current_exe().context("cannot find the running nnunet binary"),
    }
}

fn submit(args: SubmitArgs) -> Result<()> {
    let spec = ClusterExperiment::read(&args.experiment.experiment)?;
    let exe = nnunet(&spec, args.nnunet)?;
    let outcome = nnunet_cluster::submit(&spec, &exe)?;
    print_submission(
        &outcome.finished,
        &outcome.submitted,
        "every task is finished",
        &spec.work_dir,
    );
    Ok(())
}

/// What a submission skipped and submitted, and where its scripts and logs are (`nnunet slurm
/// submit`, and `nnunet compare` on SLURM).
pub(super) fn print_submission(
    finished: &[String],
    submitted: &[StageRecord],
    nothing: &str,
    work_dir: &Path,
) {
    for done in finished {
        println!("finished, skipped: {done}");
    }
    if submitted.is_empty() {
        println!("nothing to submit: {nothing}");
    }
    for stage in submitted {
        let names: Vec<&str> = stage.tasks.iter().map(|t| t.name.as_str()).collect();
        println!(
            "submitted {} (job {}): {}",
            stage.stage,
            stage.job_id,
            names.join(", ")
        );
    }
    println!("work folder: {}", work_dir.display());
}

fn status(args: ExperimentArg) -> Result<()> {
    let spec = ClusterExperiment::read(&args.experiment)?;
    let rows = nnunet_cluster::status::status(&spec)?;
    if rows.is_empty() {
        println!("nothing submitted yet ({})", spec.work_dir.display());
        return Ok(());
    }
    print_status(&rows);
    Ok(())
}

/// The status table: stage, task, job, scheduler state, outputs on disk, log.
pub(crate) fn print_status(rows: &[nnunet_cluster::status::TaskStatus]) {
    println!(
        "{:<10} {:<24} {:<10} {:<11} {:<13} log",
        "stage", "task", "job", "scheduler", "outputs"
    );
    for row in rows {
        println!(
            "{:<10} {:<24} {:<10} {:<11} {:<13} {}",
            row.stage,
            row.task,
            row.job,
            row.scheduler,
            row.outputs,
            row.log.display()
        );
    }
}
