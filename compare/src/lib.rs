//! `nnunet compare compare.toml`: trains and cross-validates several networks on the same
//! dataset, configuration, folds and budget, then reports Dice per label (mean ± std over
//! folds), parameters, training time per epoch, inference time per case and peak GPU memory in
//! `comparison.md`, `comparison.csv` and `comparison.png`. See `docs/compare.md`.
//!
//! - [`config`]: the TOML file.
//! - [`run`]: one network × fold — train or reuse, validate or reuse, record.
//! - [`report`]: aggregation over folds and the two tables.
//! - [`chart`]: the PNG.
//! - [`gpu_memory`]: peak GPU memory by sampling `nvidia-smi`.

pub mod chart;
pub mod config;
pub mod gpu_memory;
pub mod report;
pub mod run;

pub use config::{Budget, Comparison, NetworkEntry};
pub use report::{LabelColumn, Row};
pub use run::RunRecord;

use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Error, Registry, Result};
use nnunet_planning::plan_dataset::{DatasetFolders, read_dataset_json};
use std::path::{Path, PathBuf};

/// What a comparison produced.
#[derive(Clone, Debug)]
pub struct ComparisonReport {
    pub output: PathBuf,
    pub runs: Vec<RunRecord>,
    pub columns: Vec<LabelColumn>,
    pub rows: Vec<Row>,
    pub markdown: PathBuf,
    pub csv: PathBuf,
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
    std::fs::create_dir_all(&output).map_err(|e| Error::io(&output, e))?;
    let folders = DatasetFolders::resolve(&comparison.dataset, paths)?;
    let dataset = read_dataset_json(&folders.raw)?;
    let columns = report::label_columns(&dataset)?;

    let mut runs = Vec::new();
    for entry in &comparison.networks {
        for fold in &comparison.folds() {
            let record = run::run_fold(registry, paths, comparison, entry, fold, &output, progress)
                .map_err(|e| {
                    Error::Invalid(format!(
                        "comparison {:?}, network {:?}, fold {}: {e}",
                        comparison.name,
                        entry.label,
                        fold.label()
                    ))
                })?;
            on_run(&record);
            runs.push(record);
        }
    }
    let rows: Vec<Row> = comparison
        .networks
        .iter()
        .filter_map(|entry| {
            let mine: Vec<&RunRecord> = runs.iter().filter(|r| r.label == entry.label).collect();
            Row::from_runs(&mine, &columns)
        })
        .collect();
    let b = &comparison.budget;
    let setting = report::Setting {
        dataset: folders.name.clone(),
        configuration: comparison.configuration.clone(),
        folds: comparison.folds().iter().map(|f| f.label()).collect(),
        budget: format!(
            "{} epochs × {} iterations (+ {} validation iterations), final validation step {}{}",
            b.epochs,
            b.iterations_per_epoch,
            b.validation_iterations,
            b.step_size,
            if b.mirroring {
                " with mirroring"
            } else {
                " without mirroring"
            }
        ),
        device: device_in_words(comparison)?,
    };
    report::write_tables(&output, &setting, &columns, &rows)?;
    let chart_file = output.join("comparison.png");
    chart::draw(&chart_file, &columns, &rows)?;
    Ok(ComparisonReport {
        markdown: output.join("comparison.md"),
        csv: output.join("comparison.csv"),
        chart: chart_file,
        output,
        runs,
        columns,
        rows,
    })
}
