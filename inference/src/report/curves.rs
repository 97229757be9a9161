//! Training curves for the report, from what a model folder holds: per fold (`fold_*/`, or the
//! folder itself when it is a fold), our checkpoint's training log (`checkpoint_final.json`, else
//! `checkpoint_latest.json`: losses, pseudo-Dice, its EMA), else nnU-Net's `progress.png`.

use nnunet_core::{Error, Result};
use nnunet_trainers::progress::TrainingLog;
use std::path::{Path, PathBuf};

/// What one fold's curves are drawn from.
pub enum FoldCurves {
    /// Our training log, per epoch.
    Log { fold: String, log: TrainingLog },
    /// nnU-Net's own chart.
    Png { fold: String, path: PathBuf },
}

/// The training log of a checkpoint's JSON sidecar (its `log` field).
fn read_log(path: &Path) -> Result<TrainingLog> {
    let value: serde_json::Value = nnunet_core::atomic::read_json(path)?;
    serde_json::from_value(value["log"].clone())
        .map_err(|e| Error::invalid_file(path, format!("no training log in the checkpoint: {e}")))
}

fn fold_curves(dir: &Path, fold: String) -> Result<Option<FoldCurves>> {
    for name in ["checkpoint_final.json", "checkpoint_latest.json"] {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(Some(FoldCurves::Log {
                fold,
                log: read_log(&path)?,
            }));
        }
    }
    let png = dir.join("progress.png");
    Ok(png.is_file().then_some(FoldCurves::Png { fold, path: png }))
}

/// Every fold's curves in `model` (a `trainer__plans__configuration` folder or one fold of it).
pub fn find(model: &Path) -> Result<Vec<FoldCurves>> {
    let mut folds: Vec<(String, PathBuf)> = std::fs::read_dir(model)
        .map_err(|e| Error::io(model, e))?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, p)| n.starts_with("fold_") && p.is_dir())
        .collect();
    folds.sort();
    if folds.is_empty() {
        let name = model
            .file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
        folds.push((name, model.to_path_buf()));
    }
    let mut out = Vec::new();
    for (fold, dir) in folds {
        out.extend(fold_curves(&dir, fold)?);
    }
    if out.is_empty() {
        return Err(Error::invalid_file(
            model,
            "no training log: no checkpoint_final.json, checkpoint_latest.json or progress.png \
             in it or its fold_* folders",
        ));
    }
    Ok(out)
}
