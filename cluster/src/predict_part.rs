//! `nnunet slurm predict-part`: what one prediction job of the array runs.
//!
//! It follows `inference_information.json` as nnU-Net's `inference_instructions.txt` does: each
//! selected model predicts the part's cases (with probabilities when there are two, which are
//! then ensembled), the chosen postprocessing is applied, and the part's segmentations are
//! moved into the output folder. Part `K` of `P` takes the sorted case identifiers
//! `K, K + P, K + 2P, …`, as `nnUNetv2_predict -num_parts P -part_id K` does. The work happens in
//! `<work_dir>/predict/part_K/` (replaced on a rerun); the part's marker is written last.

use crate::progress::Progress;
use crate::spec::ClusterExperiment;
use crate::submit::part_marker;
use crate::{Error, Result};
use nnunet_core::{Error as CoreError, atomic};
use nnunet_datasets::raw::cases_in_folder;
use nnunet_planning::plan_dataset::{DatasetFolders, read_dataset_json};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs part `part` of the spec's `[predict]`; returns the marker written.
pub fn predict_part(spec: &ClusterExperiment, part: usize, nnunet: &Path) -> Result<PathBuf> {
    let predict = spec.predict.as_ref().ok_or_else(|| {
        CoreError::invalid_file(&spec.file, "no [predict] table: nothing to predict")
    })?;
    if part >= predict.parts {
        return Err(CoreError::Invalid(format!(
            "--part-id {part}: [predict] has {} part(s), numbered from 0",
            predict.parts
        ))
        .into());
    }
    let dataset = spec
        .experiment
        .get("dataset")
        .and_then(|v| v.as_str())
        .ok_or_else(|| CoreError::invalid_file(&spec.file, "`dataset` is missing"))?;
    let progress = Progress::for_dataset(dataset)?;
    let info_file = progress.inference_information();
    let info: Value = atomic::read_json(&info_file)?;
    let best = &info["best_model_or_ensemble"];
    let models = best["selected_model_or_models"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| CoreError::invalid_file(&info_file, "no selected_model_or_models"))?;
    let folds: Vec<String> = info["folds"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();

    let folders = DatasetFolders::resolve(dataset, &nnunet_core::paths::NnunetPaths::from_env())?;
    let ending = read_dataset_json(&folders.raw)?.file_ending;
    let part_dir = spec.work_dir.join("predict").join(format!("part_{part}"));
    let input = link_part_inputs(&predict.input, &ending, part, predict.parts, &part_dir)?;

    let mut outputs = Vec::new();
    for model in models {
        let field = |k: &str| model[k].as_str().unwrap_or_default().to_string();
        let (configuration, trainer, plans) = (
            field("configuration"),
            field("trainer"),
            field("plans_identifier"),
        );
        let out = part_dir.join(format!("{trainer}__{plans}__{configuration}"));
        let mut args = vec!["predict".to_string(), "-i".into(), path_arg(&input)];
        args.extend(["-o".into(), path_arg(&out), "-d".into(), dataset.into()]);
        args.extend(["-c".into(), configuration, "-p".into(), plans]);
        args.extend(["--trainer".into(), trainer, "-f".into()]);
        args.extend(folds.iter().cloned());
        if models.len() > 1 {
            args.push("--save-probabilities".into());
        }
        args.extend(predict.args.iter().cloned());
        run(nnunet, &args)?;
        outputs.push(out);
    }
    let mut last = outputs[0].clone();
    if outputs.len() > 1 {
        last = part_dir.join("ensemble");
        let mut args = vec!["ensemble".to_string(), "-i".into()];
        args.extend(outputs.iter().map(|o| path_arg(o)));
        args.extend(["-o".into(), path_arg(&last), "-d".into(), dataset.into()]);
        run(nnunet, &args)?;
    }
    let pp_file = best["postprocessing_file"].as_str().map(PathBuf::from);
    if let Some(pp) = pp_file.filter(|pp| pp.is_file()) {
        let processed = part_dir.join("postprocessed");
        let args = ["postprocess", "apply", "-i", &path_arg(&last), "-o"]
            .map(String::from)
            .into_iter()
            .chain([path_arg(&processed), "--pp-file".into(), path_arg(&pp)])
            .collect::<Vec<_>>();
        run(nnunet, &args)?;
        last = processed;
    }
    let moved = move_segmentations(&last, &predict.output, &ending)?;
    let marker = part_marker(spec, part);
    atomic::write_json(
        &marker,
        &serde_json::json!({ "part": part, "cases": moved }),
    )?;
    Ok(marker)
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Links the part's case files into `<part_dir>/input` (replaced), so `nnunet predict` sees
/// exactly this part.
fn link_part_inputs(
    source: &Path,
    ending: &str,
    part: usize,
    parts: usize,
    part_dir: &Path,
) -> Result<PathBuf> {
    let cases = cases_in_folder(source, ending)?;
    if part_dir.exists() {
        std::fs::remove_dir_all(part_dir).map_err(|e| CoreError::io(part_dir, e))?;
    }
    let input = part_dir.join("input");
    std::fs::create_dir_all(&input).map_err(|e| CoreError::io(&input, e))?;
    for (_, files) in cases.iter().skip(part).step_by(parts) {
        for file in files {
            let target = std::path::absolute(file).map_err(|e| CoreError::io(file, e))?;
            let name = file.file_name().unwrap_or_default();
            std::os::unix::fs::symlink(&target, input.join(name))
                .map_err(|e| CoreError::io(input.join(name), e))?;
        }
    }
    Ok(input)
}

/// Moves every `*<ending>` of `from` into `to` (created); returns the file names.
fn move_segmentations(from: &Path, to: &Path, ending: &str) -> Result<Vec<String>> {
    std::fs::create_dir_all(to).map_err(|e| CoreError::io(to, e))?;
    let mut moved = Vec::new();
    let entries = std::fs::read_dir(from).map_err(|e| CoreError::io(from, e))?;
    for entry in entries {
        let path = entry.map_err(|e| CoreError::io(from, e))?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(ending) {
            continue;
        }
        let target = to.join(&name);
        if std::fs::rename(&path, &target).is_err() {
            let bytes = std::fs::read(&path).map_err(|e| CoreError::io(&path, e))?;
            atomic::write_bytes(&target, &bytes)?;
        }
        moved.push(name);
    }
    moved.sort();
    Ok(moved)
}

fn run(nnunet: &Path, args: &[String]) -> Result<()> {
    let line = format!("{} {}", nnunet.display(), args.join(" "));
    println!("$ {line}");
    let status = Command::new(nnunet)
        .args(args)
        .status()
        .map_err(|e| Error::Scheduler {
            command: line.clone(),
            message: e.to_string(),
        })?;
    if !status.success() {
        return Err(Error::Scheduler {
            command: line,
            message: format!("exited with {status}"),
        });
    }
    Ok(())
}
