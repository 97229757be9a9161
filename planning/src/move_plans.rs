//! `nnunet move-plans` (nnU-Net's `nnUNetv2_move_plans_between_datasets -s -t -sp -tp`): one
//! dataset's plans reused for another, so that a network pretrained on the source can be
//! fine-tuned on the target (same patch size, spacing and topology).
//!
//! Same semantics as nnU-Net 2.8.1: reads `nnUNet_preprocessed/SOURCE/<sp>.json`, sets
//! `dataset_name` to the target's, `plans_name` to `tp` (default `sp`), renames each
//! configuration's `data_identifier` when `tp` differs (`<sp>_3d_fullres` → `<tp>_3d_fullres`,
//! anything else gets `<tp>_` in front), picks `image_reader_writer` from the target's
//! `dataset.json`, and writes `nnUNet_preprocessed/TARGET/<tp>.json` (atomically; an existing
//! file is replaced, as nnU-Net does). Every other key and the key order are kept.
//!
//! One check nnU-Net leaves to preprocessing: the plans' channel count (the length of each
//! configuration's `normalization_schemes`) must equal the target's `channel_names`, since
//! the pretrained network's input layer has that many channels. Label counts may differ (the
//! segmentation head is not transferred).

use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Error, Plans, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::plan_dataset::{DatasetFolders, read_dataset_json};
use crate::planner::reader_writer;

/// What to move.
#[derive(Clone, Debug)]
pub struct MovePlansRequest {
    /// Source dataset id or name (`-s`).
    pub source: String,
    /// Target dataset id or name (`-t`); its raw folder must exist.
    pub target: String,
    /// Source plans identifier (`-sp`), e.g. `nnUNetPlans`.
    pub source_plans: String,
    /// Target plans identifier (`-tp`); `None` keeps the source's.
    pub target_plans: Option<String>,
}

/// Moves the plans; returns the written file.
pub fn move_plans(paths: &NnunetPaths, request: &MovePlansRequest) -> Result<PathBuf> {
    let preprocessed = paths.preprocessed.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "{} is not set",
            nnunet_core::paths::PREPROCESSED_VAR
        ))
    })?;
    let source_name = dataset_name(paths, preprocessed, &request.source)?;
    let target = DatasetFolders::resolve(&request.target, paths)?;
    let source_plans = &request.source_plans;
    let target_plans = request.target_plans.as_ref().unwrap_or(source_plans);

    let source_folder = preprocessed.join(&source_name);
    if !source_folder.is_dir() {
        return Err(Error::invalid_file(
            &source_folder,
            "cannot move plans: the source dataset has no preprocessed folder; plan it first \
             (nnunet plan-and-preprocess)",
        ));
    }
    let source_file = source_folder.join(format!("{source_plans}.json"));
    if !source_file.is_file() {
        return Err(Error::invalid_file(
            &source_file,
            "source plans missing; run the source's experiment planning first (nnunet plan)",
        ));
    }
    let mut plans: Value = nnunet_core::atomic::read_json(&source_file)?;
    let typed: Plans = serde_json::from_value(plans.clone()).map_err(|e| {
        Error::invalid_file(&source_file, format!("not an nnU-Net plans file: {e}"))
    })?;
    let dataset = read_dataset_json(&target.raw)?;
    check_channels(&typed, &source_file, dataset.num_channels(), &target.raw)?;

    plans["dataset_name"] = Value::from(target.name.clone());
    if target_plans != source_plans {
        rename_data_identifiers(&mut plans, source_plans, target_plans);
    }
    plans["image_reader_writer"] = Value::from(reader_writer(&dataset));
    plans["plans_name"] = Value::from(target_plans.clone());

    let file = target.preprocessed.join(format!("{target_plans}.json"));
    nnunet_core::atomic::write_json(&file, &plans)?;
    Ok(file)
}

/// nnU-Net's rule: `<sp>…` becomes `<tp>…`, anything else `<tp>_…`.
fn rename_data_identifiers(plans: &mut Value, source_plans: &str, target_plans: &str) {
    let Some(configurations) = plans["configurations"].as_object_mut() else {
        return;
    };
    for configuration in configurations.values_mut() {
        let Some(old) = configuration
            .get("data_identifier")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        let new = match old.strip_prefix(source_plans) {
            Some(rest) => format!("{target_plans}{rest}"),
            None => format!("{target_plans}_{old}"),
        };
        configuration["data_identifier"] = Value::from(new);
    }
}

/// Refuses plans made for another number of input channels than the target has.
fn check_channels(plans: &Plans, file: &Path, channels: usize, target_raw: &Path) -> Result<()> {
    for name in plans.configurations.keys() {
        let configuration = plans.configuration(name)?;
        let Some(schemes) = configuration.normalization_schemes else {
            continue;
        };
        if schemes.len() != channels {
            return Err(Error::invalid_file(
                file,
                format!(
                    "configuration {name} normalises {} input channels, the target dataset {} \
                     has {channels} (channel_names): a network planned for one cannot be \
                     fine-tuned on the other",
                    schemes.len(),
                    target_raw.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The dataset's folder name (`DatasetNNN_Name`) from an id or name, looked up in
/// `nnUNet_raw`, else in `nnUNet_preprocessed` (a source may have no raw data here), as
/// nnU-Net's `maybe_convert_to_dataset_name` does.
fn dataset_name(paths: &NnunetPaths, preprocessed: &Path, name_or_id: &str) -> Result<String> {
    if name_or_id.starts_with("Dataset") {
        return Ok(name_or_id.to_string());
    }
    if let Ok(folder) = nnunet_datasets::raw::find_dataset(paths, name_or_id)
        && let Some(name) = folder.canonicalize().unwrap_or(folder).file_name()
    {
        return Ok(name.to_string_lossy().into_owned());
    }
    let id: u32 = name_or_id.parse().map_err(|_| {
        Error::Invalid(format!(
            "{name_or_id:?} is neither a dataset id (e.g. 4) nor a name (Dataset004_Name)"
        ))
    })?;
    let prefix = format!("Dataset{id:03}_");
    let mut found: Vec<String> = std::fs::read_dir(preprocessed)
        .map_err(|e| Error::io(preprocessed, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Invalid(format!(
            "no dataset with id {id} in nnUNet_raw or {}",
            preprocessed.display()
        ))),
        _ => Err(Error::invalid_file(
            preprocessed,
            format!("more than one dataset with id {id}: {}", found.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_identifiers_are_renamed_as_nnunet_does() {
        let mut plans = serde_json::json!({"configurations": {
            "3d_fullres": {"data_identifier": "nnUNetPlans_3d_fullres"},
            "custom": {"data_identifier": "handmade_2d"},
            "3d_cascade_fullres": {"inherits_from": "3d_fullres"},
        }});
        rename_data_identifiers(&mut plans, "nnUNetPlans", "From4");
        let c = &plans["configurations"];
        assert_eq!(c["3d_fullres"]["data_identifier"], "From4_3d_fullres");
        assert_eq!(c["custom"]["data_identifier"], "From4_handmade_2d");
        assert!(c["3d_cascade_fullres"].get("data_identifier").is_none());
    }
}
