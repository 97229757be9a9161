//! `nnunet compare compare.toml`: trains and cross-validates several networks on the same
//! dataset, configuration, folds and budget, then reports Dice per label (mean ± std over
//! folds), parameters, training time per epoch, inference time per case and peak GPU memory in
//! `comparison.md`, `comparison.csv` and `comparison.png`. See `docs/compare.md`.
//!
//! - [`config`]: the TOML file.
//! - [`run`]: one network × fold — train or reuse, validate or reuse, record (alone or as one
//!   rank of a data-parallel run).
//! - [`slurm`]: the runs as a SLURM job array and the report as a job after it.
//! - [`report`]: aggregation over folds and the two tables.
//! - [`chart`]: the PNG.
//! - [`gpu_memory`]: peak GPU memory by sampling `nvidia-smi`.
//! - [`peak_rss`]: peak resident memory of a run.
//! - [`cases`]: per-case Dice from `summary.json`.
//! - [`stats`]: Wilcoxon signed-rank and Holm, as scipy and statsmodels.
//! - [`paired`]: the per-case table, mean ranks and the tests against the baseline.

pub mod cases;
pub mod chart;
pub mod config;
pub mod gpu_memory;
pub mod paired;
pub mod peak_rss;
pub mod report;
pub mod run;
pub mod slurm;
pub mod stats;

pub use config::{Budget, Comparison, NetworkEntry, Scheduler, SchedulerKind};
pub use report::{LabelColumn, Row};
pub use run::RunRecord;

use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Error, Registry, Result};
use nnunet_planning::plan_dataset::{DatasetFolders, read_dataset_json};
use nnunet_trainers::experiment::Fold;
use std::path::{Path, PathBuf};

/// What a comparison produced.
#[derive(Clone, Debug)]
pub struct ComparisonReport {
    pub output: PathBuf,
    pub runs: Vec<RunRecord>,
    pub columns: Vec<LabelColumn>,
    pub rows: Vec<Row>,
    pub statistics: paired::Statistics,
    pub markdown: PathBuf,
    pub csv: PathBuf,
    /// `comparison_stats.json`: the tests against the baseline and the mean ranks.
    pub stats_file: PathBuf,
    /// `comparison_cases.csv`: foreground Dice per fold, case and network.
    pub cases_csv: PathBuf,
    pub chart: PathBuf,
}

/// The output folder: `output` when given, else the TOML's `output`, else
/// `$nnUNet_results/<Dataset>/comparisons/<TOML file stem>`.
pub fn output_folder(
    comparison: &Comparison,
    paths: &NnunetPaths,
    output: Option<&Path>,
) -> Result<PathBuf> {
    if let Some(o) = output.or(comparison.output.as_deref()) {
        return Ok(o.to_path_buf());
    }
    let folders = DatasetFolders::resolve(&comparison.dataset, paths)?;
    let results = paths.results.as_ref().ok_or_else(|| {
        Error::Invalid("nnUNet_results is not set: set it or give the comparison an output".into())
    })?;
    Ok(results
        .join(&folders.name)
        .join("comparisons")
        .join(&comparison.name))
}

fn device_in_words(comparison: &Comparison) -> Result<String> {
    let device = comparison.budget.device.resolve()?;
    if device.is_cuda() {
        let report = nnunet_core::device::DeviceReport::probe();
        if let Some(gpu) = report.gpus.first() {
            return Ok(format!("CUDA, {}", gpu.name));
        }
        return Ok("CUDA".into());
    }
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "CPU".into());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(format!("CPU, {model}, {threads} threads"))
}

/// The per-case Dice of every row's folds, read from each fold's validation `summary.json`.
fn case_table(rows: &[Row], runs: &[RunRecord]) -> Result<paired::CaseTable> {
    let per_network = rows
        .iter()
        .map(|row| {
            runs.iter()
                .filter(|r| r.label == row.label)
                .map(|r| {
                    let summary = r.fold_dir.join("validation").join("summary.json");
                    Ok((r.fold.clone(), cases::read_case_dice(&summary)?))
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(paired::CaseTable::new(
        rows.iter().map(|r| r.label.clone()).collect(),
        &per_network,
    ))
}

/// Runs every network × fold (reusing finished ones), then writes the report into the output
/// folder. `on_run` is called after each run (for progress output).
pub fn run_comparison(
    registry: &Registry,
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
    progress: bool,
    mut on_run: impl FnMut(&RunRecord),
) -> Result<ComparisonReport> {
    comparison.check()?;
    let output = output_folder(comparison, paths, output)?;
    let mut runs = Vec::new();
    for (entry, fold) in comparison.runs() {
        let record = run::run_fold(registry, paths, comparison, entry, &fold, &output, progress)
            .map_err(|e| run_error(comparison, entry, &fold, e))?;
        on_run(&record);
        runs.push(record);
    }
    write_report(paths, comparison, output, runs)
}

/// The report from finished runs, training nothing (what the SLURM report job runs, and the
/// local scheduler after its data-parallel runs); a run that is not finished is an error.
pub fn report_finished(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: Option<&Path>,
) -> Result<ComparisonReport> {
    comparison.check()?;
    let output = output_folder(comparison, paths, output)?;
    let mut runs = Vec::new();
    for (entry, fold) in comparison.runs() {
        let record = run::finished_run(paths, comparison, entry, &fold, &output)
            .map_err(|e| run_error(comparison, entry, &fold, e))?
            .ok_or_else(|| {
                run_error(
                    comparison,
                    entry,
                    &fold,
                    Error::Invalid("not finished (no final checkpoint, summary or record)".into()),
                )
            })?;
        runs.push(record);
    }
    write_report(paths, comparison, output, runs)
}

fn run_error(comparison: &Comparison, entry: &NetworkEntry, fold: &Fold, e: Error) -> Error {
    Error::Invalid(format!(
        "comparison {:?}, network {:?}, fold {}: {e}",
        comparison.name,
        entry.label,
        fold.label()
    ))
}

/// The tables, statistics and chart of `runs`, written into `output`.
fn write_report(
    paths: &NnunetPaths,
    comparison: &Comparison,
    output: PathBuf,
    runs: Vec<RunRecord>,
) -> Result<ComparisonReport> {
    std::fs::create_dir_all(&output).map_err(|e| Error::io(&output, e))?;
    let folders = DatasetFolders::resolve(&comparison.dataset, paths)?;
    let dataset = read_dataset_json(&folders.raw)?;
    let columns = report::label_columns(&dataset)?;
    let mut rows: Vec<Row> = comparison
        .networks
        .iter()
        .filter_map(|entry| {
            let mine: Vec<&RunRecord> = runs.iter().filter(|r| r.label == entry.label).collect();
            Row::from_runs(&mine, &columns)
        })
        .collect();
    let table = case_table(&rows, &runs)?;
    let baseline = rows
        .iter()
        .position(|r| r.label == comparison.baseline_label())
        .unwrap_or(0);
    let statistics = paired::statistics(&table, baseline);
    report::add_statistics(&mut rows, &table, &statistics);
    let stats_file = output.join("comparison_stats.json");
    nnunet_core::atomic::write_json(&stats_file, &statistics)?;
    let cases_csv = output.join("comparison_cases.csv");
    nnunet_core::atomic::write_bytes(&cases_csv, paired::cases_csv(&table).as_bytes())?;
    let b = &comparison.budget;
    let setting = report::Setting {
        dataset: folders.name.clone(),
        configuration: comparison.configuration.clone(),
        folds: comparison.folds().iter().map(|f| f.label()).collect(),
        budget: format!(
            "{} epochs{} × {} iterations (+ {} validation iterations), final validation step {}{}, \
             precision {}",
            b.epochs,
            b.hours.map_or(String::new(), |h| format!(
                " or {h} h of training per network and fold, whichever ends first"
            )),
            b.iterations_per_epoch,
            b.validation_iterations,
            b.step_size,
            if b.mirroring {
                " with mirroring"
            } else {
                " without mirroring"
            },
            b.precision
        ),
        device: device_in_words(comparison)?,
        seed: comparison.seed,
        baseline: statistics.baseline.clone(),
    };
    report::write_tables(&output, &setting, &columns, &rows)?;
    let chart_file = output.join("comparison.png");
    chart::draw(&chart_file, &columns, &rows, &table)?;
    Ok(ComparisonReport {
        markdown: output.join("comparison.md"),
        csv: output.join("comparison.csv"),
        stats_file,
        cases_csv,
        statistics,
        chart: chart_file,
        output,
        runs,
        columns,
        rows,
    })
}
