//! Picking the best trained configuration, as nnU-Net's `find_best_configuration`
//! (`evaluation/find_best_configuration.py`): each trained configuration's cross-validation
//! predictions are merged and scored ([`crate::crossval`]); pairwise ensembles of them
//! (`nnUNet_results/DatasetXXX/ensembles/ensemble___A___B___0_1_2_3_4/`, the folds'
//! validation probabilities averaged by [`crate::ensemble`]) are scored when both saved
//! probabilities in every fold (`nnunet train --val --npz`; otherwise the pair is skipped with a
//! note, where nnU-Net stops with an error); the best foreground-mean Dice wins (ties: the
//! first, so a single configuration beats an ensemble); postprocessing is determined for it
//! ([`crate::postprocess::determine`]); and `inference_information.json` and
//! `inference_instructions.txt` are written to `nnUNet_results/DatasetXXX/` in nnU-Net's shape,
//! with our commands.

use crate::crossval::{accumulate_cv_results, folds_string};
use crate::ensemble::ensemble_folders;
use crate::evaluation::{evaluate_cases, files_with_ending};
use crate::postprocess::determine::determine_postprocessing;
use nnunet_core::{DatasetDescriptor, Error, Plans, Result, atomic};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A trained model: nnU-Net's `{'plans', 'configuration', 'trainer'}` dict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub plans: String,
    pub configuration: String,
    pub trainer: String,
}

impl TrainedModel {
    /// `<trainer>__<plans>__<configuration>`, the model folder's name.
    pub fn identifier(&self) -> String {
        nnunet_core::paths::trainer_folder_name(&self.trainer, &self.plans, &self.configuration)
    }
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct FindBestRequest {
    /// `nnUNet_results/DatasetXXX`.
    pub results_dataset_dir: PathBuf,
    /// `nnUNet_preprocessed/DatasetXXX` (plans, `gt_segmentations`).
    pub preprocessed_dataset_dir: PathBuf,
    /// As the user named the dataset (written into the instructions).
    pub dataset_name_or_id: String,
    pub models: Vec<TrainedModel>,
    pub folds: Vec<String>,
    pub allow_ensembling: bool,
}

/// The outcome: every candidate's score, the winner, and what was written.
#[derive(Clone, Debug)]
pub struct FindBestOutcome {
    /// `(identifier, cross-validation foreground-mean Dice)` in evaluation order.
    pub all_results: Vec<(String, f64)>,
    pub best: String,
    pub result_pre_pp: f64,
    pub result_post_pp: f64,
    /// The models not considered, and why; ensembles skipped, and why.
    pub notes: Vec<String>,
    pub information_file: PathBuf,
    pub instructions_file: PathBuf,
    pub instructions: String,
}

/// The models whose configuration exists in their plans (others are noted and skipped, as
/// nnU-Net does); a model without a results folder is an error.
fn available_models(
    request: &FindBestRequest,
    notes: &mut Vec<String>,
) -> Result<Vec<TrainedModel>> {
    let mut valid = Vec::new();
    for model in &request.models {
        let plans_file = request
            .preprocessed_dataset_dir
            .join(format!("{}.json", model.plans));
        let plans: Plans = atomic::read_json(&plans_file)?;
        if !plans.configurations.contains_key(&model.configuration) {
            notes.push(format!(
                "configuration {} is not in {}: skipped",
                model.configuration,
                plans_file.display()
            ));
            continue;
        }
        let folder = request.results_dataset_dir.join(model.identifier());
        if !folder.is_dir() {
            return Err(Error::invalid_file(
                &folder,
                format!(
                    "trained model {} has no results folder: train it (all requested folds)",
                    model.identifier()
                ),
            ));
        }
        valid.push(model.clone());
    }
    if valid.is_empty() {
        return Err(Error::Invalid(format!(
            "no trained configuration to compare: {}",
            notes.join("; ")
        )));
    }
    Ok(valid)
}

fn folds_json(folds: &[String]) -> Value {
    Value::Array(
        folds
            .iter()
            .map(|f| f.parse::<i64>().map_or_else(|_| json!(f), |i| json!(i)))
            .collect(),
    )
}

/// Runs the comparison (see the module doc).
pub fn find_best_configuration(request: &FindBestRequest) -> Result<FindBestOutcome> {
    let mut notes = Vec::new();
    let models = available_models(request, &mut notes)?;
    let reference = request.preprocessed_dataset_dir.join("gt_segmentations");
    // (identifier, source folder, score, members)
    let mut candidates: Vec<(String, PathBuf, f64, Vec<TrainedModel>)> = Vec::new();
    for model in &models {
        let dir = request.results_dataset_dir.join(model.identifier());
        let (merged, summary) = accumulate_cv_results(&dir, &request.folds, &reference)?;
        candidates.push((
            model.identifier(),
            merged,
            summary.foreground_mean["Dice"],
            vec![model.clone()],
        ));
    }
    if request.allow_ensembling {
        for (i, m1) in models.iter().enumerate() {
            for m2 in &models[i + 1..] {
                let dirs = [m1, m2].map(|m| request.results_dataset_dir.join(m.identifier()));
                let name = format!(
                    "ensemble___{}___{}___{}",
                    m1.identifier(),
                    m2.identifier(),
                    folds_string(&request.folds)
                );
                if let Some(missing) = dirs.iter().find(|d| !has_probabilities(d, &request.folds)) {
                    notes.push(format!(
                        "{name}: skipped, {} has no validation probabilities in every fold \
                         (validate with `nnunet train ... --val --npz`)",
                        missing.display()
                    ));
                    continue;
                }
                let out = request.results_dataset_dir.join("ensembles").join(&name);
                let score = ensemble_crossvalidation(&dirs, &out, &request.folds, &reference)?;
                candidates.push((name, out, score, vec![m1.clone(), m2.clone()]));
            }
        }
    }

    let best_index = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.2.is_nan())
        .fold(None::<(usize, f64)>, |best, (i, c)| match best {
            Some((_, score)) if score >= c.2 => best,
            _ => Some((i, c.2)),
        })
        .map(|(i, _)| i)
        .ok_or_else(|| Error::Invalid("every candidate's Dice is undefined (NaN)".into()))?;
    let (best, source, result_pre_pp, members) = candidates[best_index].clone();

    let dataset: DatasetDescriptor = atomic::read_json(&source.join("dataset.json"))?;
    let determined = determine_postprocessing(&source, &reference, &dataset)?;
    let result_post_pp = determined.postprocessed.foreground_mean["Dice"];

    let all_results: Vec<(String, f64)> = candidates
        .iter()
        .map(|(id, _, score, _)| (id.clone(), *score))
        .collect();
    let information = json!({
        "folds": folds_json(&request.folds),
        "dataset_name_or_id": request.dataset_name_or_id,
        "considered_models": models,
        "ensembling_allowed": request.allow_ensembling,
        "all_results": all_results.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "best_model_or_ensemble": {
            "result_on_crossval_pre_pp": result_pre_pp,
            "result_on_crossval_post_pp": result_post_pp,
            "postprocessing_file": determined.file_path.display().to_string(),
            "some_plans_file": source.join("plans.json").display().to_string(),
            "selected_model_or_models": members.iter().map(|m| json!({
                "configuration": m.configuration,
                "trainer": m.trainer,
                "plans_identifier": m.plans,
            })).collect::<Vec<_>>(),
        },
    });
    let information_file = request
        .results_dataset_dir
        .join("inference_information.json");
    atomic::write_json(&information_file, &information)?;
    let instructions = inference_instructions(request, &members, &determined.file_path)?;
    let instructions_file = request
        .results_dataset_dir
        .join("inference_instructions.txt");
    atomic::write_bytes(&instructions_file, instructions.as_bytes())?;
    Ok(FindBestOutcome {
        all_results,
        best,
        result_pre_pp,
        result_post_pp,
        notes,
        information_file,
        instructions_file,
        instructions,
    })
}

/// Whether every fold's `validation` folder of `model_dir` holds saved probabilities.
fn has_probabilities(model_dir: &Path, folds: &[String]) -> bool {
    folds.iter().all(|f| {
        let dir = crate::validation::validation_folder(model_dir, f);
        files_with_ending(&dir, ".npz").is_ok_and(|n| !n.is_empty())
    })
}

/// nnU-Net's `ensemble_crossvalidations`: the two models' validation probabilities are
/// averaged fold by fold (both must use the same splits) into `out` (replaced), with the first
/// model's `plans.json`; returns the foreground-mean Dice of the result.
fn ensemble_crossvalidation(
    model_dirs: &[PathBuf; 2],
    out: &Path,
    folds: &[String],
    reference: &Path,
) -> Result<f64> {
    let dataset: DatasetDescriptor = atomic::read_json(&model_dirs[0].join("dataset.json"))?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    for fold in folds {
        let inputs: Vec<PathBuf> = model_dirs
            .iter()
            .map(|d| crate::validation::validation_folder(d, fold))
            .collect();
        ensemble_folders(&inputs, out, &dataset, false)?;
    }
    let plans = model_dirs[0].join("plans.json");
    atomic::copy(&plans, &out.join("plans.json"))?;
    let names = files_with_ending(out, &dataset.file_ending)?;
    let summary = evaluate_cases(
        reference,
        out,
        &names,
        &dataset,
        Some(&out.join("summary.json")),
    )?;
    Ok(summary.foreground_mean["Dice"])
}

/// The `nnunet predict` command for one model (and its previous stage, for a cascade).
fn predict_command(
    request: &FindBestRequest,
    model: &TrainedModel,
    output: &str,
    save_probabilities: bool,
) -> Result<String> {
    let plans: Plans = atomic::read_json(
        &request
            .results_dataset_dir
            .join(model.identifier())
            .join("plans.json"),
    )?;
    let mut text = String::new();
    let mut prev_flag = String::new();
    if let Some(prev) = plans.configuration(&model.configuration)?.previous_stage {
        let prev_model = TrainedModel {
            configuration: prev,
            ..model.clone()
        };
        text += &predict_command(request, &prev_model, "OUTPUT_FOLDER_PREV_STAGE", false)?;
        text += "\n";
        prev_flag = " --prev-stage OUTPUT_FOLDER_PREV_STAGE".into();
    }
    text += &format!(
        "nnunet predict -d {} -i INPUT_FOLDER -o {output} -f {} --trainer {} -c {} -p {}{prev_flag}{}",
        request.dataset_name_or_id,
        request.folds.join(" "),
        model.trainer,
        model.configuration,
        model.plans,
        if save_probabilities {
            " --save-probabilities"
        } else {
            ""
        }
    );
    Ok(text)
}

/// `inference_instructions.txt`, as nnU-Net's `print_inference_instructions` with our commands.
fn inference_instructions(
    request: &FindBestRequest,
    members: &[TrainedModel],
    pp_file: &Path,
) -> Result<String> {
    let mut lines = vec!["***Run inference like this:***\n".to_string()];
    let ensemble = members.len() > 1;
    if ensemble {
        lines.push(
            "An ensemble won! Run the following commands to predict with the ensemble members:\n"
                .into(),
        );
    }
    let mut outputs = Vec::new();
    for (j, model) in members.iter().enumerate() {
        let output = if ensemble {
            format!("OUTPUT_FOLDER_MODEL_{}", j + 1)
        } else {
            "OUTPUT_FOLDER".to_string()
        };
        lines.push(predict_command(request, model, &output, ensemble)?);
        outputs.push(output);
    }
    if ensemble {
        lines.push("\nThen ensemble with:\n".into());
        lines.push(format!(
            "nnunet ensemble -i {} -o OUTPUT_FOLDER",
            outputs.join(" ")
        ));
    }
    lines.push("\n***Once inference is completed, run postprocessing like this:***\n".into());
    lines.push(format!(
        "nnunet postprocess apply -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP --pp-file {}",
        pp_file.display()
    ));
    Ok(lines.join("\n") + "\n")
}
