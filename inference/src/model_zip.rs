//! nnU-Net's model zips (`nnUNetv2_export_model_to_zip`, `nnUNetv2_install_pretrained_model_from_zip`):
//! `nnunet export-model-zip` and `nnunet install-model-zip`.
//!
//! The layout is nnU-Net's: paths relative to `nnUNet_results`,
//! `DatasetXXX_Name/Trainer__Plans__configuration/{dataset.json, plans.json,
//! dataset_fingerprint.json, fold_K/checkpoint_final.pth, fold_K/debug.json, fold_K/progress.png}`.
//! Our checkpoints are written into the zip as nnU-Net `.pth` ([`crate::nnunet_folder`]), so the
//! zip installs into nnU-Net as well as into nnunet-rs; installing extracts it into
//! `nnUNet_results` (each file written atomically, entries escaping the folder refused), and
//! `nnunet predict` reads the `.pth` checkpoints as they are.

use crate::nnunet_folder::{MODEL_FILES, export_folder, folds_of};
use nnunet_core::{Error, Result, atomic};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Fold files besides checkpoints that nnU-Net exports, where they exist.
const FOLD_EXTRAS: [&str; 3] = ["debug.json", "progress.png", "validation/summary.json"];

/// Files of `crossval_results_folds_*` folders that nnU-Net exports, where they exist.
const CROSSVAL_FILES: [&str; 3] = ["summary.json", "postprocessing.pkl", "postprocessing.json"];

/// Writes the model folders `models` (each `…/DatasetXXX/Trainer__Plans__configuration`) into
/// the zip `out`: their JSON files and, per fold (all, or those of `folds`), the checkpoints
/// named in `checkpoints` (`checkpoint_final.pth`, …) as nnU-Net `.pth`. Returns the entries
/// written.
pub fn export_model_zip(
    models: &[PathBuf],
    folds: Option<&[String]>,
    checkpoints: &[String],
    trainer_name: &str,
    out: &Path,
) -> Result<Vec<String>> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let staging = parent.join(format!(".nnunet-export-{}", std::process::id()));
    let result = (|| {
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for model in models {
            let (Some(dataset), Some(name)) =
                (model.parent().and_then(Path::file_name), model.file_name())
            else {
                return Err(Error::invalid_file(
                    model,
                    "not a DatasetXXX/Trainer__Plans__config folder",
                ));
            };
            let prefix = format!("{}/{}", dataset.to_string_lossy(), name.to_string_lossy());
            let staged = staging.join(&prefix);
            export_folder(model, &staged, trainer_name)?;
            for file in MODEL_FILES {
                if staged.join(file).is_file() {
                    files.push((format!("{prefix}/{file}"), staged.join(file)));
                }
            }
            files.extend(crossval_files(model, &prefix)?);
            for (fold, fold_dir) in folds_of(model)? {
                if folds.is_some_and(|f| !f.contains(&fold)) {
                    continue;
                }
                for chk in checkpoints {
                    let file = staged.join(format!("fold_{fold}")).join(chk);
                    if !file.is_file() {
                        return Err(Error::invalid_file(
                            fold_dir.join(chk),
                            "checkpoint to export not found (nor its nnunet-rs .json/.safetensors)",
                        ));
                    }
                    files.push((format!("{prefix}/fold_{fold}/{chk}"), file));
                }
                for extra in FOLD_EXTRAS {
                    if fold_dir.join(extra).is_file() {
                        files.push((
                            format!("{prefix}/fold_{fold}/{extra}"),
                            fold_dir.join(extra),
                        ));
                    }
                }
            }
        }
        write_zip(out, &files)?;
        Ok(files.into_iter().map(|(name, _)| name).collect())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// `crossval_results_folds_*/{summary.json, postprocessing.*}` of a model folder.
fn crossval_files(model: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(model).map_err(|e| Error::io(model, e))? {
        let dir = entry.map_err(|e| Error::io(model, e))?.path();
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with("crossval_results_folds_") || !dir.is_dir() {
            continue;
        }
        for file in CROSSVAL_FILES {
            if dir.join(file).is_file() {
                files.push((format!("{prefix}/{name}/{file}"), dir.join(file)));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn write_zip(out: &Path, files: &[(String, PathBuf)]) -> Result<()> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let fail = |e: &dyn std::fmt::Display| Error::invalid_file(out, format!("writing: {e}"));
    for (name, path) in files {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        zip.start_file(name.as_str(), options)
            .map_err(|e| fail(&e))?;
        zip.write_all(&bytes).map_err(|e| fail(&e))?;
    }
    let bytes = zip.finish().map_err(|e| fail(&e))?.into_inner();
    atomic::write_bytes(out, &bytes)
}

/// Extracts the model zip `zip_file` into `results` (`nnUNet_results`). Returns the model
/// folders it holds (those with a `plans.json`).
pub fn install_model_zip(zip_file: &Path, results: &Path) -> Result<Vec<PathBuf>> {
    let file = std::fs::File::open(zip_file).map_err(|e| Error::io(zip_file, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::invalid_file(zip_file, format!("not a zip file: {e}")))?;
    let mut models = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| Error::invalid_file(zip_file, format!("entry {i}: {e}")))?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(Error::invalid_file(
                zip_file,
                format!(
                    "entry {:?} points outside the folder it is extracted to",
                    entry.name()
                ),
            ));
        };
        let target = results.join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| Error::invalid_file(zip_file, format!("{}: {e}", entry.name())))?;
        atomic::write_bytes(&target, &bytes)?;
        if relative.file_name().is_some_and(|n| n == "plans.json")
            && let Some(model) = target.parent()
        {
            models.push(model.to_path_buf());
        }
    }
    if models.is_empty() {
        return Err(Error::invalid_file(
            zip_file,
            "holds no model folder (no plans.json)",
        ));
    }
    models.sort();
    Ok(models)
}
