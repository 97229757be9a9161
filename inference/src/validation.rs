//! End-of-fold validation, as nnU-Net's `nnUNetTrainer.perform_actual_validation`: the fold's
//! validation cases are predicted from their PREPROCESSED arrays (sliding window, Gaussian
//! weighting, mirroring over the trained axes, step 0.5), exported to the original geometry in
//! `fold_K/validation/<case><file_ending>`, and scored against
//! `nnUNet_preprocessed/DatasetXXX/gt_segmentations` into `fold_K/validation/summary.json`.
//!
//! When the configuration has a next stage (`3d_lowres` → `3d_cascade_fullres`), each case's
//! logits are also resampled to the next stage's preprocessed shape, argmaxed, and written to
//! `<model_dir>/predicted_next_stage/<next stage>/<case>.seg` — nnU-Net's folder, in our
//! preprocessed `.seg` format (raw little-endian `i16`, C order, the next stage's `[Z, Y, X]`
//! from its `CASE.json`) — for the cascade to train on. A cascade configuration
//! (`previous_stage`) is validated with those segmentations of its previous stage as one-hot
//! extra channels, as nnU-Net does.
//!
//! With `save_probabilities` (nnU-Net's `--npz`), each case's probabilities are also written as
//! `<case>.npz` (+ `<case>.npz.json`) beside its label map ([`crate::probabilities`]), which
//! ensembling configurations in `find-best` needs.

use crate::evaluation::{self, Summary};
use crate::export::{export_prediction, resample_logits};
use crate::label_handling::LabelHandling;
use crate::predict::{Model, PredictOptions, append_previous_stage};
use crate::probabilities::{LabelGrid, write_probabilities};
use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{DatasetDescriptor, Error, Plans, Precision, Registry, Result, atomic};
use nnunet_planning::preprocessed_format::{
    CaseProperties, case_identifiers, case_paths, read_case, read_seg, write_seg,
};
use nnunet_planning::resample::separate_z_axis;
use nnunet_trainers::preprocessed::previous_stage_path;
use std::path::{Path, PathBuf};

/// How to validate a fold.
#[derive(Clone, Debug)]
pub struct ValidationOptions {
    /// `checkpoint_final` (nnU-Net's `--val`) or `checkpoint_best` (`--val_best`).
    pub checkpoint: String,
    pub step_size: f64,
    pub mirroring: bool,
    pub device: Device,
    /// The network's arithmetic (as `nnunet predict --precision`).
    pub precision: Precision,
    /// Also write `<case>.npz` softmax probabilities (nnU-Net's `--npz`), for ensembling.
    pub save_probabilities: bool,
}

impl ValidationOptions {
    /// nnU-Net's settings: `checkpoint_final`, step 0.5, mirroring, no probabilities; the
    /// device's automatic precision ([`Precision::auto`]).
    pub fn nnunet(device: Device) -> Self {
        ValidationOptions {
            checkpoint: "checkpoint_final".into(),
            step_size: 0.5,
            mirroring: true,
            device,
            precision: Precision::auto(device),
            save_probabilities: false,
        }
    }
}

/// `<model_dir>/fold_<fold>/validation`.
pub fn validation_folder(model_dir: &Path, fold: &str) -> PathBuf {
    model_dir.join(format!("fold_{fold}")).join("validation")
}

/// `<model_dir>/predicted_next_stage/<next_stage>` (nnU-Net's folder for the cascade).
pub fn next_stage_folder(model_dir: &Path, next_stage: &str) -> PathBuf {
    model_dir.join("predicted_next_stage").join(next_stage)
}

/// The cases nnU-Net validates for `fold`: its `val` list in `splits_final.json`, or every
/// preprocessed case of `configuration` for fold `all`.
pub fn fold_validation_cases(
    preprocessed_dataset_dir: &Path,
    plans: &Plans,
    configuration: &str,
    fold: &str,
) -> Result<Vec<String>> {
    if fold == "all" {
        return case_identifiers(&data_folder(
            preprocessed_dataset_dir,
            plans,
            configuration,
        )?);
    }
    let k: usize = fold
        .parse()
        .map_err(|_| Error::Invalid(format!("fold {fold:?}: use 0-4 or all")))?;
    let splits_file = preprocessed_dataset_dir.join("splits_final.json");
    let splits = nnunet_datasets::splits::read_splits(&splits_file)?;
    splits.get(k).map(|s| s.val.clone()).ok_or_else(|| {
        Error::invalid_file(
            &splits_file,
            format!("fold {k} does not exist ({} folds)", splits.len()),
        )
    })
}

/// `<preprocessed dataset dir>/<data_identifier of configuration>`.
fn data_folder(
    preprocessed_dataset_dir: &Path,
    plans: &Plans,
    configuration: &str,
) -> Result<PathBuf> {
    let config = plans.configuration(configuration)?;
    let id = config.data_identifier.ok_or_else(|| {
        Error::Invalid(format!(
            "plans {}: configuration {configuration} has no data_identifier",
            plans.plans_name
        ))
    })?;
    Ok(preprocessed_dataset_dir.join(id))
}

/// The next stages a configuration names (`next_stage`: a name or a list of names).
fn next_stages(plans: &Plans, configuration: &str) -> Result<Vec<String>> {
    let config = plans.configuration(configuration)?;
    Ok(match config.next_stage {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => vec![s],
        Some(serde_json::Value::Array(values)) => values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(other) => {
            return Err(Error::Invalid(format!(
                "plans {}: {configuration}.next_stage must be a name or a list, not {other}",
                plans.plans_name
            )));
        }
    })
}

/// Predicts the fold's validation cases from the preprocessed data (as nnU-Net does), exports
/// each in the original geometry to `model_dir/fold_K/validation/<case><file_ending>`, scores
/// them against `<preprocessed dataset dir>/gt_segmentations`, writes
/// `fold_K/validation/summary.json` (nnU-Net's format) and returns the summary.
///
/// `val_cases` empty means the fold's own validation cases ([`fold_validation_cases`]).
/// Data-parallel validation runs the two halves apart: each rank
/// [`predict_validation_cases`] of its part, then one rank [`score_validation`].
pub fn validate_fold(
    registry: &Registry,
    model_dir: &Path,
    configuration: &str,
    fold: &str,
    preprocessed_dataset_dir: &Path,
    val_cases: &[String],
    options: &ValidationOptions,
) -> Result<Summary> {
    let cases = validation_cases(
        model_dir,
        configuration,
        fold,
        preprocessed_dataset_dir,
        val_cases,
    )?;
    predict_validation_cases(
        registry,
        model_dir,
        configuration,
        fold,
        preprocessed_dataset_dir,
        &cases,
        options,
    )?;
    score_validation(model_dir, fold, preprocessed_dataset_dir, &cases)
}

/// `val_cases`, or when empty the fold's own validation cases ([`fold_validation_cases`], from
/// the model's `plans.json`); an error when there are none.
pub fn validation_cases(
    model_dir: &Path,
    configuration: &str,
    fold: &str,
    preprocessed_dataset_dir: &Path,
    val_cases: &[String],
) -> Result<Vec<String>> {
    let cases = if val_cases.is_empty() {
        let plans: Plans = atomic::read_json(&model_dir.join("plans.json"))?;
        fold_validation_cases(preprocessed_dataset_dir, &plans, configuration, fold)?
    } else {
        val_cases.to_vec()
    };
    if cases.is_empty() {
        return Err(Error::Invalid(format!(
            "fold {fold} has no validation cases"
        )));
    }
    Ok(cases)
}

/// Scores the predictions of `cases` in `fold_K/validation` against
/// `<preprocessed dataset dir>/gt_segmentations` and writes `fold_K/validation/summary.json`.
pub fn score_validation(
    model_dir: &Path,
    fold: &str,
    preprocessed_dataset_dir: &Path,
    cases: &[String],
) -> Result<Summary> {
    let dataset: DatasetDescriptor = atomic::read_json(&model_dir.join("dataset.json"))?;
    let output = validation_folder(model_dir, fold);
    let names: Vec<String> = cases
        .iter()
        .map(|case| format!("{case}{}", dataset.file_ending))
        .collect();
    evaluation::evaluate_cases(
        &preprocessed_dataset_dir.join("gt_segmentations"),
        &output,
        &names,
        &dataset,
        Some(&output.join("summary.json")),
    )
}

/// Predicts `cases` (the fold's, or one rank's part of them) into `fold_K/validation` (and the
/// next stage's folder), without scoring them. No cases: nothing to do.
pub fn predict_validation_cases(
    registry: &Registry,
    model_dir: &Path,
    configuration: &str,
    fold: &str,
    preprocessed_dataset_dir: &Path,
    cases: &[String],
    options: &ValidationOptions,
) -> Result<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let plans: Plans = atomic::read_json(&model_dir.join("plans.json"))?;
    let previous = match plans.configuration(configuration)?.previous_stage {
        Some(prev) => Some(previous_stage_segmentations(
            model_dir,
            &prev,
            configuration,
        )?),
        None => None,
    };
    let source = data_folder(preprocessed_dataset_dir, &plans, configuration)?;
    let model = Model::load(
        registry,
        &PredictOptions {
            model_dir: model_dir.to_path_buf(),
            configuration: configuration.to_string(),
            folds: vec![fold.to_string()],
            checkpoint: options.checkpoint.clone(),
            step_size: options.step_size,
            mirroring: options.mirroring,
            device: options.device,
            precision: options.precision,
        },
    )?;
    let (forward, backward) = model.transposes()?;
    let ending = model.dataset.file_ending.clone();
    let output = validation_folder(model_dir, fold);
    std::fs::create_dir_all(&output).map_err(|e| Error::io(&output, e))?;

    let stages: Vec<(String, PathBuf, PathBuf)> = next_stages(&plans, configuration)?
        .into_iter()
        .map(|n| {
            let data = data_folder(preprocessed_dataset_dir, &plans, &n)?;
            let out = next_stage_folder(model_dir, &n);
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            Ok((n, data, out))
        })
        .collect::<Result<_>>()?;

    for case in cases {
        let mut preprocessed = read_case(&source, case)?;
        if let (Some(dir), Some(labels)) = (&previous, &model.cascade_labels) {
            let seg = read_previous_stage(dir, case, preprocessed.seg.len())?;
            let p = &mut preprocessed;
            append_previous_stage(&mut p.data, &mut p.properties, &seg, labels)?;
        }
        let logits = model
            .logits(&preprocessed.data, &preprocessed.properties)?
            .f_to_kind(Kind::Float)?;
        let exported = export_prediction(
            &logits,
            &preprocessed.properties,
            forward,
            backward,
            &model.labels,
            options.save_probabilities,
        )?;
        let name = format!("{case}{ending}");
        nnunet_datasets::io::write_label(&output.join(&name), &exported.segmentation)?;
        if let Some(probabilities) = &exported.probabilities {
            let grid = LabelGrid::of(&exported.segmentation);
            write_probabilities(&output, case, probabilities, &grid)?;
        }
        for (stage, data, out) in &stages {
            let p = &preprocessed.properties;
            write_next_stage(&logits, p, &model.labels, case, stage, data, out)?;
        }
    }
    Ok(())
}

/// Resamples `logits` to the next stage's preprocessed shape, argmaxes and writes
/// `<out>/<case>.seg`, as nnU-Net's `resample_and_save`. A case the next stage has not
/// preprocessed is skipped with a warning, as nnU-Net does.
fn write_next_stage(
    logits: &Tensor,
    properties: &CaseProperties,
    labels: &LabelHandling,
    case: &str,
    stage: &str,
    next_data: &Path,
    out: &Path,
) -> Result<()> {
    let sidecar = &case_paths(next_data, case)[2];
    if !sidecar.is_file() {
        eprintln!(
            "warning: next stage {stage}: case {case} is not preprocessed ({} missing); run \
             `nnunet preprocess -c {stage}` first",
            sidecar.display()
        );
        return Ok(());
    }
    let next: CaseProperties = atomic::read_json(sidecar)?;
    let [_, z, y, x] = next.data_shape;
    // nnU-Net passes this configuration's spacing as both current and target spacing.
    let spacing = properties.spacing_after_resampling;
    let axis = separate_z_axis(&spacing, &spacing);
    let resampled = resample_logits(logits, [z, y, x], axis)?;
    let seg = labels
        .segmentation_from_logits(&resampled)?
        .f_to_device(Device::Cpu)?
        .f_contiguous()?;
    let seg: Vec<i16> = Vec::<i16>::try_from(seg.f_flatten(0, -1)?)
        .map_err(|e| Error::Invalid(format!("next-stage segmentation to host: {e}")))?;
    write_seg(&previous_stage_path(out, case), &seg)
}

/// Where a cascade stage's previous-stage segmentations are: the sibling model folder of the
/// previous configuration (same trainer and plans), `predicted_next_stage/<configuration>`.
pub fn previous_stage_segmentations(
    model_dir: &Path,
    previous: &str,
    configuration: &str,
) -> Result<PathBuf> {
    let name = model_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = format!("__{configuration}");
    let prefix = name.strip_suffix(&suffix).ok_or_else(|| {
        Error::invalid_file(
            model_dir,
            format!("model folder is not named <trainer>__<plans>__{configuration}"),
        )
    })?;
    let previous_dir = model_dir.with_file_name(format!("{prefix}__{previous}"));
    Ok(next_stage_folder(&previous_dir, configuration))
}

/// Reads `<dir>/<case>.seg` (raw little-endian `i16`) of `voxels` values.
pub fn read_previous_stage(dir: &Path, case: &str, voxels: usize) -> Result<Vec<i16>> {
    let path = previous_stage_path(dir, case);
    if !path.is_file() {
        return Err(Error::invalid_file(
            &path,
            "previous stage's segmentation missing: validate the previous stage first",
        ));
    }
    read_seg(&path, voxels, "the preprocessed shape")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(configurations: serde_json::Value) -> Plans {
        serde_json::from_value(serde_json::json!({
            "dataset_name": "Dataset001_X",
            "plans_name": "nnUNetPlans",
            "original_median_spacing_after_transp": [1.0, 1.0, 1.0],
            "original_median_shape_after_transp": [8, 8, 8],
            "image_reader_writer": "SimpleITKIO",
            "transpose_forward": [0, 1, 2],
            "transpose_backward": [0, 1, 2],
            "configurations": configurations,
            "experiment_planner_used": "ExperimentPlanner",
            "label_manager": "LabelManager",
            "foreground_intensity_properties_per_channel": {}
        }))
        .unwrap()
    }

    #[test]
    fn next_stage_names_and_cascade_folders() {
        let p = plans(serde_json::json!({
            "3d_fullres": {"data_identifier": "full"},
            "3d_lowres": {"data_identifier": "low", "next_stage": "3d_cascade_fullres"},
            "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"},
            "multi": {"next_stage": ["a", "b"]}
        }));
        assert_eq!(
            next_stages(&p, "3d_lowres").unwrap(),
            vec!["3d_cascade_fullres"]
        );
        assert!(next_stages(&p, "3d_fullres").unwrap().is_empty());
        assert!(next_stages(&p, "3d_cascade_fullres").unwrap().is_empty());
        assert_eq!(next_stages(&p, "multi").unwrap(), vec!["a", "b"]);

        let results = Path::new("/r/Dataset001_X");
        let cascade = results.join("T__P__3d_cascade_fullres");
        let lowres = results.join("T__P__3d_lowres");
        let from = previous_stage_segmentations(&cascade, "3d_lowres", "3d_cascade_fullres");
        // The cascade reads exactly where the lowres validation writes.
        assert_eq!(
            from.unwrap(),
            next_stage_folder(&lowres, "3d_cascade_fullres")
        );
        assert_eq!(
            next_stage_folder(&lowres, "3d_cascade_fullres"),
            Path::new("/r/Dataset001_X/T__P__3d_lowres/predicted_next_stage/3d_cascade_fullres")
        );
        assert!(previous_stage_segmentations(&lowres, "x", "3d_cascade_fullres").is_err());
    }

    #[test]
    fn previous_stage_seg_files_round_trip_and_check_size() {
        let dir = tempfile::tempdir().unwrap();
        let seg: Vec<i16> = vec![0, 1, 2, -1, 300];
        let bytes: Vec<u8> = seg.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.path().join("c.seg"), bytes).unwrap();
        assert_eq!(read_previous_stage(dir.path(), "c", 5).unwrap(), seg);
        let err = read_previous_stage(dir.path(), "c", 6)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.seg") && err.contains("expected 12"),
            "{err}"
        );
        assert!(read_previous_stage(dir.path(), "missing", 5).is_err());
    }

    #[test]
    fn fold_cases_come_from_the_splits_or_every_case() {
        let dir = tempfile::tempdir().unwrap();
        let p = plans(serde_json::json!({"2d": {"data_identifier": "d2"}}));
        std::fs::create_dir_all(dir.path().join("d2")).unwrap();
        for case in ["b", "a", "c"] {
            std::fs::write(dir.path().join(format!("d2/{case}.json")), "{}").unwrap();
        }
        let splits = serde_json::json!([{"train": ["a", "b"], "val": ["c"]}]);
        std::fs::write(dir.path().join("splits_final.json"), splits.to_string()).unwrap();
        assert_eq!(
            fold_validation_cases(dir.path(), &p, "2d", "0").unwrap(),
            vec!["c"]
        );
        assert_eq!(
            fold_validation_cases(dir.path(), &p, "2d", "all").unwrap(),
            vec!["a", "b", "c"]
        );
        assert!(fold_validation_cases(dir.path(), &p, "2d", "1").is_err());
    }
}
