//! `nnunet preprocess`: every training case of the requested configurations of a planned
//! dataset, into `nnUNet_preprocessed/DatasetXXX/<data_identifier>/`; also copies the label
//! maps to `gt_segmentations/` (what evaluation compares against), as nnU-Net does.

use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Error, Plans, Result};
use std::collections::BTreeSet;

use crate::plan_dataset::{DatasetFolders, read_dataset_json};
use crate::preprocess::{CaseFiles, ConfigurationJob, RunSummary, preprocess_cases};

/// What to preprocess.
#[derive(Clone, Debug)]
pub struct PreprocessRequest {
    pub dataset: String,
    /// Plans name (`nnUNetPlans`).
    pub plans_name: String,
    /// Configurations (`2d`, `3d_fullres`, `3d_lowres`); those missing from the plans are
    /// reported and skipped, as nnU-Net does.
    pub configurations: Vec<String>,
    pub num_workers: usize,
    pub progress: bool,
}

/// Preprocesses the dataset; returns `(configuration, summary)` per configuration run.
pub fn preprocess_dataset(
    paths: &NnunetPaths,
    request: &PreprocessRequest,
) -> Result<Vec<(String, RunSummary)>> {
    let folders = DatasetFolders::resolve(&request.dataset, paths)?;
    let plans_file = folders
        .preprocessed
        .join(format!("{}.json", request.plans_name));
    if !plans_file.is_file() {
        return Err(Error::invalid_file(
            &plans_file,
            "plans missing; run `nnunet plan` first",
        ));
    }
    let plans: Plans = nnunet_core::atomic::read_json(&plans_file)?;
    // Missing configurations are skipped (the default list names 3d ones a 2D dataset lacks),
    // but a run that would preprocess nothing is a mistake.
    if !request
        .configurations
        .iter()
        .any(|c| plans.configurations.contains_key(c))
    {
        return Err(Error::invalid_file(
            &plans_file,
            format!(
                "no configuration {} in these plans (available: {})",
                request.configurations.join(", "),
                plans
                    .configurations
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    // A run killed mid-write (fingerprint, plans) left temporary files: remove them.
    nnunet_core::atomic::clean_stale_temps(&folders.preprocessed)?;
    let dataset = read_dataset_json(&folders.raw)?;
    let cases: Vec<CaseFiles> = nnunet_datasets::raw::training_cases(&folders.raw, &dataset)?
        .into_iter()
        .map(|c| CaseFiles {
            id: c.id,
            images: c.images,
            label: c.label,
        })
        .collect();
    copy_ground_truth(
        &cases,
        &folders.preprocessed.join("gt_segmentations"),
        &dataset.file_ending,
    )?;
    let mut done_identifiers = BTreeSet::new();
    let mut summaries = Vec::new();
    for name in &request.configurations {
        if !plans.configurations.contains_key(name) {
            tracing::warn!(
                "configuration {name} is not in {}; skipped",
                plans_file.display()
            );
            eprintln!(
                "configuration {name} is not in {}; skipped",
                plans_file.display()
            );
            continue;
        }
        let job = ConfigurationJob::new(&plans, name, &dataset)?;
        if !done_identifiers.insert(job.data_identifier().to_string()) {
            continue;
        }
        let output = folders.preprocessed.join(job.data_identifier());
        let summary =
            preprocess_cases(&job, &cases, &output, request.num_workers, request.progress)?;
        summaries.push((name.clone(), summary));
    }
    Ok(summaries)
}

fn copy_ground_truth(cases: &[CaseFiles], folder: &std::path::Path, ending: &str) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    nnunet_core::atomic::clean_stale_temps(folder)?;
    for case in cases {
        let Some(label) = &case.label else { continue };
        let target = folder.join(format!("{}{ending}", case.id));
        if !target.is_file() {
            nnunet_core::atomic::copy(label, &target)?;
        }
    }
    Ok(())
}
