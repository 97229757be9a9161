//! `nnunet compare compare.toml`: trains and cross-validates the networks a comparison lists
//! (`nnunet_compare`), then prints where the table, per-case values, statistics and chart are.
//!
//! Where the runs train follows the TOML's `[scheduler]`: here, one after another (in this
//! process, or with `nproc_per_node` > 1 as launched data-parallel ranks), or on SLURM (a job
//! array and a report job). `--network L --fold K` (one run) and `--report` are what those
//! ranks and jobs run; `--status` shows the jobs of the last SLURM submission.

use anyhow::{Context, Result};
use clap::Args;
use nnunet_compare::{Comparison, ComparisonReport, RunRecord, SchedulerKind};
use nnunet_core::paths::NnunetPaths;
use nnunet_trainers::experiment::Fold;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CompareArgs {
    /// The comparison TOML file (see docs/compare.md).
    pub comparison: PathBuf,
    /// Output folder (default: the TOML's `output`, else
    /// $nnUNet_results/<Dataset>/comparisons/<TOML name>).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Run one network (its label) × `--fold` here, whatever the scheduler: what the SLURM
    /// array tasks and the local data-parallel ranks run.
    #[arg(long, value_name = "LABEL", requires = "fold")]
    pub network: Option<String>,
    /// The fold of `--network`.
    #[arg(long, requires = "network")]
    pub fold: Option<String>,
    /// Write the report from the finished runs, training nothing (the SLURM report job).
    #[arg(long, conflicts_with_all = ["network", "status"])]
    pub report: bool,
    /// The jobs of the last SLURM submission: job, scheduler state, outputs on disk, log.
    #[arg(long, conflicts_with = "network")]
    pub status: bool,
}

pub fn run(args: CompareArgs) -> Result<()> {
    let comparison = Comparison::from_toml_file(&args.comparison)?;
    let paths = NnunetPaths::from_env();
    let output = args.output.as_deref();
    let context = || format!("comparison {}", args.comparison.display());
    if args.status {
        return status(&paths, &comparison, output).with_context(context);
    }
    if args.report {
        let report =
            nnunet_compare::report_finished(&paths, &comparison, output).with_context(context)?;
        return print_report(&report);
    }
    if let (Some(label), Some(fold)) = (&args.network, &args.fold) {
        return run_one(&paths, &comparison, output, label, fold).with_context(context);
    }
    match comparison.scheduler.kind {
        SchedulerKind::Slurm => submit(&paths, &comparison, output).with_context(context),
        SchedulerKind::Local if comparison.scheduler.ranks() > 1 => {
            let report = run_data_parallel(&paths, &comparison, output).with_context(context)?;
            print_report(&report)
        }
        SchedulerKind::Local => {
            let registry = super::registry_with(&comparison.plugins)?;
            let report = nnunet_compare::run_comparison(
                &registry,
                &paths,
                &comparison,
                output,
                true,
                print_run,
            )
            .with_context(context)?;
            print_report(&report)
        }
    }
}

fn print_run(run: &RunRecord) {
    let what = match (run.trained_now, run.validated_now) {
        (true, _) => "trained and validated",
        (false, true) => "validated (training reused)",
        (false, false) => "reused",
    };
    println!(
        "{} fold {}: {what}; foreground Dice {}",
        run.label,
        run.fold,
        run.foreground_dice
            .map_or("-".to_string(), |d| format!("{d:.4}"))
    );
}

fn print_report(report: &ComparisonReport) -> Result<()> {
    print!(
        "\n{}",
        std::fs::read_to_string(&report.markdown)
            .with_context(|| format!("reading {}", report.markdown.display()))?
    );
    println!(
        "\nwritten: {}\n         {}\n         {}\n         {}\n         {}",
        report.markdown.display(),
        report.csv.display(),
        report.cases_csv.display(),
        report.stats_file.display(),
        report.chart.display()
    );
    Ok(())
}

/// `compare FILE -o OUT --network LABEL --fold K`: the command of one run.
fn run_argv(comparison: &Comparison, output: &Path, label: &str, fold: &str) -> Vec<OsString> {
    [
        "compare".into(),
        comparison.file.clone().into_os_string(),
        "-o".into(),
        output.as_os_str().to_owned(),
        "--network".into(),
        label.into(),
        "--fold".into(),
        fold.into(),
    ]
    .to_vec()
}

/// One network × fold. With `nproc_per_node` > 1 and no rank yet, starts the ranks on this
/// node and waits; as a rank (or alone), trains, and on rank 0 validates and records.
fn run_one(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
    label: &str,
    fold: &str,
) -> Result<()> {
    let entry = comparison
        .networks
        .iter()
        .find(|n| n.label == label)
        .with_context(|| format!("no [[networks]] entry has the label {label:?}"))?;
    let fold = Fold::parse(fold)?;
    let output = nnunet_compare::output_folder(comparison, paths, output)?;
    let ranks = comparison.scheduler.ranks();
    if ranks > 1 && std::env::var_os("RANK").is_none() {
        let exe = std::env::current_exe().context("finding the nnunet binary")?;
        let argv = run_argv(comparison, &output, label, &fold.label());
        nnunet_distributed::launch::launch(ranks, &exe, &argv)?;
        return Ok(());
    }
    let registry = super::registry_with(&comparison.plugins)?;
    let group = super::train::join_group(comparison.budget.device.resolve()?)?;
    let rank = group.map(|(rdv, group)| nnunet_compare::run::Rank {
        rank: rdv.rank,
        local_rank: rdv.local_rank,
        group,
    });
    let record = nnunet_compare::run::run_fold_ranked(
        &registry,
        paths,
        comparison,
        entry,
        &fold,
        &output,
        true,
        rank.as_ref(),
    )?;
    if let Some(record) = record {
        print_run(&record);
    }
    Ok(())
}

/// The local scheduler with several ranks: each unfinished run as `nproc_per_node` launched
/// processes, one run after another, then the report.
fn run_data_parallel(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
) -> Result<ComparisonReport> {
    let output = nnunet_compare::output_folder(comparison, paths, output)?;
    let exe = std::env::current_exe().context("finding the nnunet binary")?;
    for (entry, fold) in comparison.runs() {
        if let Some(record) =
            nnunet_compare::run::finished_run(paths, comparison, entry, &fold, &output)?
        {
            print_run(&record);
            continue;
        }
        let argv = run_argv(comparison, &output, &entry.label, &fold.label());
        nnunet_distributed::launch::launch(comparison.scheduler.ranks(), &exe, &argv)
            .with_context(|| format!("network {:?}, fold {}", entry.label, fold.label()))?;
    }
    Ok(nnunet_compare::report_finished(
        paths,
        comparison,
        Some(&output),
    )?)
}

/// `[scheduler] kind = "slurm"`: submits the unfinished runs and the report job.
fn submit(paths: &NnunetPaths, comparison: &Comparison, output: Option<&Path>) -> Result<()> {
    let nnunet = match comparison.slurm.as_ref().and_then(|s| s.nnunet.clone()) {
        Some(path) => path,
        None => std::env::current_exe().context("cannot find the running nnunet binary")?,
    };
    let outcome = nnunet_compare::slurm::submit(paths, comparison, output, &nnunet)?;
    super::slurm::print_submission(
        &outcome.finished,
        &outcome.submitted,
        "every run and the report are finished",
        &outcome.work_dir,
    );
    println!("output: {}", outcome.output.display());
    Ok(())
}

fn status(paths: &NnunetPaths, comparison: &Comparison, output: Option<&Path>) -> Result<()> {
    let rows = nnunet_compare::slurm::status(paths, comparison, output)?;
    if rows.is_empty() {
        println!(
            "nothing submitted yet ({})",
            comparison.slurm_options().1.display()
        );
        return Ok(());
    }
    super::slurm::print_status(&rows);
    Ok(())
}
