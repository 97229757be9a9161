//! Choosing postprocessing on cross-validation predictions, as nnU-Net's
//! `determine_postprocessing` (`postprocessing/remove_connected_components.py`):
//!
//! 1. Baseline: the predictions scored against the references.
//! 2. Keep the largest component of all foreground labels together; accept it if the
//!    foreground-mean Dice rises **and** no label's (or region's) mean Dice falls.
//! 3. If there is more than one label or region: for each in `dataset.json` order, keep its
//!    largest component (on top of what was accepted so far); accept it if that label's mean
//!    Dice rises.
//!
//! Candidates are scored in memory (nnU-Net writes each to a temporary folder); only the final
//! choice is written: `<predictions>/postprocessed/` with its `summary.json`, the baseline's
//! `<predictions>/summary.json`, and `<predictions>/postprocessing.json`
//! ([`PostprocessingFile`]).

use super::largest_component::target_to_json;
use super::{
    LARGEST_COMPONENT, LARGEST_COMPONENT_PER_CLASS, PostprocessingFile, Step, apply_all,
    apply_to_folder, build_builtin,
};
use crate::evaluation::{
    self, Summary, Target, evaluate_cases, files_with_ending, score_case, summarize,
};
use nnunet_core::{DatasetDescriptor, Error, LabelValue, Postprocessor, Result};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// What [`determine_postprocessing`] chose and how the predictions scored before and after.
pub struct Determined {
    pub file: PostprocessingFile,
    pub baseline: Summary,
    pub postprocessed: Summary,
    /// `<predictions>/postprocessing.json`.
    pub file_path: PathBuf,
    /// `<predictions>/postprocessed`.
    pub postprocessed_folder: PathBuf,
}

/// The dataset's foreground label values (not background, not the ignore label), sorted:
/// nnU-Net's `label_manager.foreground_labels`.
pub fn foreground_labels(dataset: &DatasetDescriptor) -> Result<Vec<i64>> {
    let ignore = dataset.ignore_label();
    let mut values: Vec<i64> = dataset
        .label_values()?
        .into_iter()
        .flat_map(|(_, v)| match v {
            LabelValue::Single(v) => vec![v],
            LabelValue::Region(vs) => vs,
        })
        .filter(|&v| v != 0 && Some(v) != ignore)
        .collect();
    values.sort();
    values.dedup();
    Ok(values)
}

fn dice(summary: &Summary, key: &str) -> f64 {
    summary.mean.get(key).map_or(f64::NAN, |m| m["Dice"])
}

/// Scores `names` of `predictions` against `reference` after the pipeline `steps`.
fn score(
    reference: &Path,
    predictions: &Path,
    names: &[String],
    dataset: &DatasetDescriptor,
    steps: &[Step],
) -> Result<Summary> {
    use rayon::prelude::*;
    let pipeline: Vec<Box<dyn Postprocessor>> = steps
        .iter()
        .map(|s| build_builtin(&s.name, &s.options))
        .collect::<Result<_>>()?;
    let targets = evaluation::targets(dataset)?;
    let ignore = dataset.ignore_label();
    let cases = names
        .par_iter()
        .map(|name| {
            let ref_path = reference.join(name);
            let pred_path = predictions.join(name);
            let r = nnunet_datasets::io::read_label(&ref_path)?;
            let mut p = nnunet_datasets::io::read_label(&pred_path)?;
            apply_all(&pipeline, &mut p)?;
            let metrics = score_case(&r, &p, &pred_path, &targets, ignore)?;
            Ok((
                ref_path.display().to_string(),
                pred_path.display().to_string(),
                metrics,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(summarize(&targets, cases))
}

fn means_json(summary: &Summary) -> Value {
    json!({"foreground_mean": summary.foreground_mean, "mean": summary.mean})
}

/// Chooses postprocessing for the label maps in `predictions` against those in `reference`
/// (nnU-Net's rule, see the module doc), and writes the result (see the module doc).
pub fn determine_postprocessing(
    predictions: &Path,
    reference: &Path,
    dataset: &DatasetDescriptor,
) -> Result<Determined> {
    let ending = &dataset.file_ending;
    let names = files_with_ending(predictions, ending)?;
    if names.is_empty() {
        return Err(Error::invalid_file(
            predictions,
            format!("no predictions ending in {ending}"),
        ));
    }
    // On failure, the summaries, postprocessed folder and postprocessing.json this run added
    // to `predictions` are removed again.
    let guard = nnunet_core::atomic::OutputGuard::create(predictions)?;
    let missing = files_with_ending(reference, ending)?
        .into_iter()
        .filter(|n| !names.contains(n))
        .count();
    if missing > 0 {
        eprintln!(
            "warning: {missing} reference case(s) in {} have no prediction in {}; \
             postprocessing should be determined on the entire dataset",
            reference.display(),
            predictions.display()
        );
    }
    let baseline = evaluate_cases(
        reference,
        predictions,
        &names,
        dataset,
        Some(&predictions.join("summary.json")),
    )?;
    let targets = evaluation::targets(dataset)?;
    let mut steps: Vec<Step> = Vec::new();
    let mut fns: Vec<String> = Vec::new();
    let mut kwargs: Vec<Value> = Vec::new();
    const NNUNET_FN: &str = "remove_all_but_largest_component_from_segmentation";

    // 1. All foreground labels together.
    let foreground = foreground_labels(dataset)?;
    let all = Step {
        name: LARGEST_COMPONENT.into(),
        options: json!({ "labels": foreground }),
    };
    let candidate = score(
        reference,
        predictions,
        &names,
        dataset,
        std::slice::from_ref(&all),
    )?;
    let improves = candidate.foreground_mean["Dice"] > baseline.foreground_mean["Dice"];
    let no_class_worse = candidate
        .mean
        .keys()
        // NaN compares as neither worse nor better, as in Python.
        .all(|k| dice(&candidate, k).partial_cmp(&dice(&baseline, k)) != Some(Ordering::Less));
    let mut current = if improves && no_class_worse {
        println!(
            "Keeping the largest foreground component improves the foreground-mean Dice: \
             {:.5} → {:.5}",
            baseline.foreground_mean["Dice"], candidate.foreground_mean["Dice"]
        );
        steps.push(all);
        fns.push(NNUNET_FN.into());
        kwargs.push(json!({ "labels_or_regions": foreground }));
        candidate
    } else {
        println!("Keeping the largest foreground component does not improve the results.");
        baseline.clone()
    };

    // 2. Each label or region in turn.
    let mut per_class: Vec<Target> = Vec::new();
    if targets.len() > 1 {
        for target in &targets {
            let mut trial = steps.clone();
            let mut labels: Vec<Value> = per_class.iter().map(target_to_json).collect();
            labels.push(target_to_json(target));
            trial.push(Step {
                name: LARGEST_COMPONENT_PER_CLASS.into(),
                options: json!({ "labels": labels }),
            });
            let candidate = score(reference, predictions, &names, dataset, &trial)?;
            let key = target.key();
            let (before, after) = (dice(&current, &key), dice(&candidate, &key));
            if after > before {
                println!(
                    "Keeping the largest component of {key} improves its Dice: {before:.5} → \
                     {after:.5}"
                );
                per_class.push(target.clone());
                fns.push(NNUNET_FN.into());
                kwargs.push(json!({ "labels_or_regions": target_to_json(target) }));
                current = candidate;
            } else {
                println!(
                    "Keeping the largest component of {key} does not improve its Dice: \
                     {before:.5} → {after:.5}"
                );
            }
        }
    }
    if !per_class.is_empty() {
        steps.push(Step {
            name: LARGEST_COMPONENT_PER_CLASS.into(),
            options: json!({ "labels": per_class.iter().map(target_to_json).collect::<Vec<_>>() }),
        });
    }

    // The chosen pipeline's outputs.
    let postprocessed_folder = predictions.join("postprocessed");
    if postprocessed_folder.exists() {
        std::fs::remove_dir_all(&postprocessed_folder)
            .map_err(|e| Error::io(&postprocessed_folder, e))?;
    }
    let pipeline: Vec<Box<dyn Postprocessor>> = steps
        .iter()
        .map(|s| build_builtin(&s.name, &s.options))
        .collect::<Result<_>>()?;
    apply_to_folder(&pipeline, predictions, &postprocessed_folder, ending)?;
    let postprocessed = evaluate_cases(
        reference,
        &postprocessed_folder,
        &names,
        dataset,
        Some(&postprocessed_folder.join("summary.json")),
    )?;
    let file = PostprocessingFile {
        postprocessors: steps,
        file_ending: ending.clone(),
        input_folder: means_json(&baseline),
        postprocessed: means_json(&postprocessed),
        postprocessing_fns: fns,
        postprocessing_kwargs: kwargs,
    };
    let file_path = predictions.join("postprocessing.json");
    file.write(&file_path)?;
    guard.commit();
    Ok(Determined {
        file,
        baseline,
        postprocessed,
        file_path,
        postprocessed_folder,
    })
}
