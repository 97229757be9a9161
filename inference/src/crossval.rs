//! Cross-validation results merged into one folder, as nnU-Net's `accumulate_cv_results`:
//! every fold's `fold_K/validation/*<file_ending>` is copied into
//! `<model_dir>/crossval_results_folds_0_1_2_3_4/` (with `plans.json` and `dataset.json`) and
//! scored again there into `summary.json`, so each case is predicted by the fold that did not
//! train on it.

use crate::evaluation::{Summary, evaluate_cases, files_with_ending};
use nnunet_core::{DatasetDescriptor, Error, Result, atomic};
use std::path::{Path, PathBuf};

/// nnU-Net's `folds_tuple_to_string`: `0_1_2_3_4`.
pub fn folds_string(folds: &[String]) -> String {
    folds.join("_")
}

/// `<model_dir>/crossval_results_folds_<folds>`.
pub fn merged_folder(model_dir: &Path, folds: &[String]) -> PathBuf {
    model_dir.join(format!("crossval_results_folds_{}", folds_string(folds)))
}

/// Merges the folds' validation predictions of `model_dir` into [`merged_folder`] (replacing
/// it), scores them against `reference` and returns the summary. Every fold must have its
/// `validation` folder, and no case may appear in two folds.
pub fn accumulate_cv_results(
    model_dir: &Path,
    folds: &[String],
    reference: &Path,
) -> Result<(PathBuf, Summary)> {
    let dataset: DatasetDescriptor = atomic::read_json(&model_dir.join("dataset.json"))?;
    let merged = merged_folder(model_dir, folds);
    if merged.exists() {
        std::fs::remove_dir_all(&merged).map_err(|e| Error::io(&merged, e))?;
    }
    // On failure, the half-merged folder is removed again.
    let guard = atomic::OutputGuard::create(&merged)?;
    for name in ["dataset.json", "plans.json"] {
        atomic::copy(&model_dir.join(name), &merged.join(name))?;
    }
    let mut names: Vec<String> = Vec::new();
    for fold in folds {
        let validation = crate::validation::validation_folder(model_dir, fold);
        if !validation.is_dir() {
            return Err(Error::invalid_file(
                &validation,
                format!(
                    "fold {fold} has no validation predictions: train it (or run \
                     `nnunet train ... -f {fold} --val`)"
                ),
            ));
        }
        for name in files_with_ending(&validation, &dataset.file_ending)? {
            if names.contains(&name) {
                return Err(Error::invalid_file(
                    &validation,
                    format!("case {name} is predicted by more than one fold"),
                ));
            }
            // with its data file or sidecar, for formats that have one
            nnunet_datasets::io::copy_label(&validation.join(&name), &merged.join(&name))?;
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(Error::invalid_file(
            model_dir,
            format!("folds {} have no validation predictions", folds.join(", ")),
        ));
    }
    names.sort();
    let summary = evaluate_cases(
        reference,
        &merged,
        &names,
        &dataset,
        Some(&merged.join("summary.json")),
    )?;
    guard.commit();
    Ok((merged, summary))
}
