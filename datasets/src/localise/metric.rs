//! The localisation metric: each predicted label map's landmark row (its foreground's centre
//! row, [`band_centre`]) as a slice index and world position, its error in mm against the
//! ground truth's, and mean ± sd over cases and over folds. Written as `localisation.json`.

use super::landmark::band_centre;
use super::mip::row_position_mm;
use crate::read_label;
use nnunet_core::{Error, LabelMap, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a label map puts the landmark.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Located {
    /// The MIP row (slice index at the MIP's pixel size, 1 mm), rounded.
    pub row: usize,
    /// World z of that (continuous) row, mm.
    pub position_mm: f64,
}

/// One case of `localisation.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseResult {
    /// `None`: the prediction marks no landmark.
    pub predicted: Option<Located>,
    /// From the ground truth folder, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truth: Option<Located>,
    /// `|predicted − truth|` in mm (world z), when both exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_mm: Option<f64>,
}

/// Mean and sample standard deviation (n − 1; 0 for one value) of the errors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub cases: usize,
    /// Cases without a predicted landmark (not in the mean).
    pub missing: usize,
    pub mean_error_mm: f64,
    pub sd_error_mm: f64,
}

/// `localisation.json` of one prediction folder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Localisation {
    pub cases: BTreeMap<String, CaseResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// Mean and sample sd (n − 1) of `values`; `(NaN, NaN)` when empty.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The landmark of a 2D label map.
pub fn locate(label: &LabelMap) -> Option<Located> {
    band_centre(label).map(|row| Located {
        row: row.round() as usize,
        position_mm: row_position_mm(&label.geometry, row),
    })
}

/// Label files (`*ending`) of a folder, by case id.
fn label_files(folder: &Path, ending: &str) -> Result<BTreeMap<String, PathBuf>> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(folder, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(case) = name.strip_suffix(ending).filter(|c| !c.starts_with('.')) {
            files.insert(case.to_string(), path);
        }
    }
    Ok(files)
}

/// Locates every prediction `PRED/CASE<ending>`, scored against `TRUTH/CASE<ending>` when a
/// truth folder is given (a prediction without its truth file is an error naming it).
pub fn localise_folder(
    predictions: &Path,
    truth: Option<&Path>,
    ending: &str,
) -> Result<Localisation> {
    let files = label_files(predictions, ending)?;
    if files.is_empty() {
        return Err(Error::invalid_file(
            predictions,
            format!("no predictions *{ending}"),
        ));
    }
    let mut cases = BTreeMap::new();
    for (case, path) in files {
        let predicted = locate(&read_label(&path)?);
        let truth =
            match truth {
                Some(dir) => {
                    let file = dir.join(format!("{case}{ending}"));
                    let located = locate(&read_label(&file)?);
                    Some(located.ok_or_else(|| {
                        Error::invalid_file(&file, "ground truth marks no landmark")
                    })?)
                }
                None => None,
            };
        let error_mm = predicted
            .zip(truth)
            .map(|(p, t)| (p.position_mm - t.position_mm).abs());
        cases.insert(
            case,
            CaseResult {
                predicted,
                truth,
                error_mm,
            },
        );
    }
    let summary = truth.map(|_| {
        let errors: Vec<f64> = cases.values().filter_map(|c| c.error_mm).collect();
        let (mean_error_mm, sd_error_mm) = mean_sd(&errors);
        Summary {
            cases: cases.len(),
            missing: cases.len() - errors.len(),
            mean_error_mm,
            sd_error_mm,
        }
    });
    Ok(Localisation { cases, summary })
}

/// Per-fold summaries of a model folder's `fold_K/validation` predictions, and mean ± sd of the
/// folds' mean errors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldsSummary {
    pub folds: BTreeMap<String, Summary>,
    pub mean_error_mm: f64,
    /// Sample sd over the folds' mean errors.
    pub sd_error_mm: f64,
    /// Mean ± sd over all validation cases of all folds, pooled.
    pub pooled_mean_error_mm: f64,
    pub pooled_sd_error_mm: f64,
}

/// Scores every `MODEL/fold_K/validation` against `truth` (the MIP dataset's `labelsTr`).
pub fn localise_folds(model: &Path, truth: &Path, ending: &str) -> Result<FoldsSummary> {
    let mut folds = BTreeMap::new();
    let mut pooled = Vec::new();
    for k in 0..100 {
        let dir = model.join(format!("fold_{k}")).join("validation");
        if !dir.is_dir() {
            continue;
        }
        let result = localise_folder(&dir, Some(truth), ending)?;
        pooled.extend(result.cases.values().filter_map(|c| c.error_mm));
        if let Some(summary) = result.summary {
            folds.insert(format!("fold_{k}"), summary);
        }
    }
    if folds.is_empty() {
        return Err(Error::invalid_file(model, "no fold_K/validation folder"));
    }
    let means: Vec<f64> = folds.values().map(|s| s.mean_error_mm).collect();
    let (mean_error_mm, sd_error_mm) = mean_sd(&means);
    let (pooled_mean_error_mm, pooled_sd_error_mm) = mean_sd(&pooled);
    Ok(FoldsSummary {
        folds,
        mean_error_mm,
        sd_error_mm,
        pooled_mean_error_mm,
        pooled_sd_error_mm,
    })
}
