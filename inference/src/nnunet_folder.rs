//! nnU-Net v2 model folders ↔ ours (`nnunet import-nnunet`, `nnunet export-nnunet`).
//!
//! Both layouts are the same (`plans.json`, `dataset.json`, `dataset_fingerprint.json`,
//! `fold_K/<checkpoint>`); only the checkpoint files differ: nnU-Net's `checkpoint_*.pth`
//! (a pickled dict, [`nnunet_trainers::pth`]) and our `checkpoint_*.safetensors` + `.json`
//! ([`nnunet_trainers::checkpoint`]). The network tensors carry the same names in both, so a
//! conversion renames nothing: export adds the aliases nnU-Net's strict `load_state_dict`
//! wants and the checkpoint keys `nnUNetv2_predict` reads (`trainer_name`,
//! `init_args['configuration']`, `inference_allowed_mirroring_axes`); import keeps the network
//! and records the rest in our `.json` (no optimiser state: an imported fold predicts and
//! fine-tunes with `--pretrained`, it does not `--continue`).

use nnunet_core::tch::{Device, nn::VarStore};
use nnunet_core::{DatasetDescriptor, Error, Plans, Result, atomic};
use nnunet_trainers::checkpoint::{self, CHECKPOINT_FORMAT, CheckpointMeta};
use nnunet_trainers::pth::{self, ExportInfo};
use nnunet_trainers::training::file_sha256;
use std::path::{Path, PathBuf};

/// The JSON files a model folder carries besides its folds.
pub const MODEL_FILES: [&str; 3] = ["plans.json", "dataset.json", "dataset_fingerprint.json"];

/// The configuration a model folder is for: the last part of `Trainer__Plans__configuration`.
pub fn configuration_of(model_dir: &Path) -> Option<String> {
    let name = model_dir.file_name()?.to_str()?;
    let parts: Vec<&str> = name.split("__").collect();
    (parts.len() == 3 && !parts[2].is_empty()).then(|| parts[2].to_string())
}

/// The `fold_K` folders of a model folder, as `(K, folder)`, sorted.
pub fn folds_of(model_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(model_dir).map_err(|e| Error::io(model_dir, e))?;
    let mut folds = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(model_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(fold) = name.strip_prefix("fold_")
            && entry.path().is_dir()
        {
            folds.push((fold.to_string(), entry.path()));
        }
    }
    folds.sort();
    if folds.is_empty() {
        return Err(Error::invalid_file(
            model_dir,
            "no fold_K folders in this model folder",
        ));
    }
    Ok(folds)
}

/// Files of `dir` whose name ends with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    Ok(files)
}

fn copy_model_files(src: &Path, dst: &Path) -> Result<()> {
    for name in MODEL_FILES {
        let from = src.join(name);
        if from.is_file() {
            let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
            atomic::write_bytes(&dst.join(name), &bytes)?;
        } else if name != "dataset_fingerprint.json" {
            return Err(Error::invalid_file(&from, "missing from the model folder"));
        }
    }
    Ok(())
}

/// The mirroring axes nnU-Net allows for a patch (the axes our predictor mirrors).
fn mirroring_axes(plans: &Plans, configuration: &str) -> Result<Vec<usize>> {
    let patch = plans
        .configuration(configuration)?
        .patch_size
        .ok_or_else(|| Error::Invalid(format!("{configuration}: no patch_size in the plans")))?;
    crate::predict::default_mirror_axes(&patch)
}

/// Writes our model folder `src` as an nnU-Net v2 model folder `dst`: every checkpoint of
/// every fold (`checkpoint_final`, `checkpoint_best`, …) as `.pth`; an nnU-Net `.pth` already
/// there is copied. `trainer_name` is what `nnUNetv2_predict` looks up to build the network
/// (`nnUNetTrainer` unless the trainer changes the architecture). Returns the files written.
pub fn export_folder(src: &Path, dst: &Path, trainer_name: &str) -> Result<Vec<PathBuf>> {
    copy_model_files(src, dst)?;
    let plans_json: serde_json::Value = atomic::read_json(&src.join("plans.json"))?;
    let dataset_json: serde_json::Value = atomic::read_json(&src.join("dataset.json"))?;
    let plans: Plans = atomic::read_json(&src.join("plans.json"))?;
    let mut written = Vec::new();
    for (fold, fold_dir) in folds_of(src)? {
        let out_dir = dst.join(format!("fold_{fold}"));
        for pth_file in files_ending(&fold_dir, ".pth")? {
            let bytes = std::fs::read(&pth_file).map_err(|e| Error::io(&pth_file, e))?;
            let out = out_dir.join(pth_file.file_name().unwrap_or_default());
            atomic::write_bytes(&out, &bytes)?;
            written.push(out);
        }
        for json in files_ending(&fold_dir, ".json")? {
            let name = json.file_stem().unwrap_or_default().to_string_lossy();
            if !checkpoint::paths(&fold_dir, &name).0.is_file() {
                continue; // debug.json and other files that are not checkpoints
            }
            let loaded = checkpoint::load(&fold_dir, &name)?;
            let configuration = loaded.meta.configuration.clone();
            let axes = match loaded.meta.inference_allowed_mirroring_axes.clone() {
                Some(axes) => axes,
                None => mirroring_axes(&plans, &configuration)?,
            };
            let info = ExportInfo {
                trainer_name,
                configuration: &configuration,
                fold: &fold,
                epoch: loaded.meta.epoch,
                plans: &plans_json,
                dataset: &dataset_json,
                mirroring_axes: &axes,
            };
            let out = out_dir.join(format!("{name}.pth"));
            pth::nnunet::write_checkpoint(&out, &loaded.network, &info)?;
            written.push(out);
        }
    }
    if written.is_empty() {
        return Err(Error::invalid_file(src, "no checkpoints in its folds"));
    }
    Ok(written)
}

/// Converts the nnU-Net v2 model folder `src` into our layout at `dst`: every `.pth` of every
/// fold becomes our checkpoint pair of the same name. Returns the checkpoints written.
pub fn import_folder(src: &Path, dst: &Path) -> Result<Vec<PathBuf>> {
    copy_model_files(src, dst)?;
    let plans: Plans = atomic::read_json(&src.join("plans.json"))?;
    let _: DatasetDescriptor = atomic::read_json(&src.join("dataset.json"))?;
    let plans_sha256 = file_sha256(&src.join("plans.json"))?;
    let fingerprint = src.join("dataset_fingerprint.json");
    let fingerprint_sha256 = if fingerprint.is_file() {
        file_sha256(&fingerprint)?
    } else {
        String::new()
    };
    let mut written = Vec::new();
    for (fold, fold_dir) in folds_of(src)? {
        for pth_file in files_ending(&fold_dir, ".pth")? {
            let loaded = pth::nnunet::read(&pth_file)?;
            let configuration = loaded
                .configuration
                .clone()
                .or_else(|| configuration_of(src))
                .ok_or_else(|| {
                    Error::invalid_file(
                        &pth_file,
                        "no configuration in init_args, and the folder is not named \
                         Trainer__Plans__configuration",
                    )
                })?;
            let architecture = plans
                .configuration(&configuration)?
                .architecture
                .ok_or_else(|| {
                    Error::invalid_file(src.join("plans.json"), "configuration has no architecture")
                })?;
            let meta = CheckpointMeta {
                format: CHECKPOINT_FORMAT,
                generation: 1,
                epoch: loaded.epoch.unwrap_or(0).max(0) as usize,
                options: Default::default(),
                network: nnunet_networks::network_name_for(&architecture)?,
                network_options: serde_json::Value::Null,
                loss: "dice+ce".into(),
                trainer: loaded.trainer_name.clone().unwrap_or_default(),
                configuration,
                fold: fold.clone(),
                plans_sha256: plans_sha256.clone(),
                dataset_fingerprint_sha256: fingerprint_sha256.clone(),
                best_ema_pseudo_dice: None,
                log: Default::default(),
                inference_allowed_mirroring_axes: loaded.mirroring_axes.clone(),
            };
            let vs = var_store_of(&loaded.network)?;
            let name = pth_file.file_stem().unwrap_or_default().to_string_lossy();
            let out_dir = dst.join(format!("fold_{fold}"));
            checkpoint::save(&out_dir, &name, &vs, &[], &meta)?;
            written.push(checkpoint::paths(&out_dir, &name).0);
        }
    }
    if written.is_empty() {
        return Err(Error::invalid_file(src, "no .pth checkpoints in its folds"));
    }
    Ok(written)
}

/// A CPU var store holding `tensors` under their dotted names.
fn var_store_of(tensors: &[(String, nnunet_core::tch::Tensor)]) -> Result<VarStore> {
    let vs = VarStore::new(Device::Cpu);
    for (name, tensor) in tensors {
        let mut parts: Vec<&str> = name.split('.').collect();
        let leaf = parts.pop().filter(|l| !l.is_empty()).ok_or_else(|| {
            Error::Invalid(format!("tensor name {name:?} is not a parameter path"))
        })?;
        let mut path = vs.root();
        for part in parts {
            path = path / part;
        }
        let _ = nnunet_core::tch::no_grad(|| path.f_var_copy(leaf, tensor))?;
    }
    Ok(vs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_comes_from_the_folder_name() {
        let dir = Path::new("/r/Dataset900_X/nnUNetTrainer_4000epochs__nnUNetPlans__3d_fullres");
        assert_eq!(configuration_of(dir).as_deref(), Some("3d_fullres"));
        assert_eq!(configuration_of(Path::new("/r/model")), None);
    }
}
