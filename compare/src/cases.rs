//! Per-case Dice from a fold's validation `summary.json` (`metric_per_case`), the input of the
//! paired statistics.
//!
//! A case's foreground Dice is the mean of its labels' (or regions') Dice, labels whose Dice is
//! undefined (`NaN`: empty in both reference and prediction) left out; a case with no defined
//! label is left out. The case is named by its reference file's name without the extension, so
//! two networks' entries pair up whatever their prediction folders.

use nnunet_core::{Error, Result};
use std::path::Path;

/// One validation case's Dice.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseDice {
    pub case: String,
    /// Foreground Dice (see the module documentation); `None` when undefined.
    pub foreground: Option<f64>,
}

/// `hippocampus_017.nii.gz` → `hippocampus_017`; `a/b.png` → `b`.
fn case_name(file: &str) -> String {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    for ending in [".nii.gz", ".nii", ".nrrd", ".mha", ".png", ".tif", ".tiff"] {
        if let Some(stem) = name.strip_suffix(ending) {
            return stem.to_string();
        }
    }
    name.rsplit_once('.').map_or(name, |(s, _)| s).to_string()
}

/// A `summary.json` as JSON (nnU-Net writes `NaN`, which is not JSON: read as null).
pub fn read_summary_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text.replace(": NaN", ": null"))
        .map_err(|e| Error::invalid_file(path, format!("not a summary.json: {e}")))
}

/// Per-case foreground Dice of a `summary.json`, in its order.
pub fn read_case_dice(summary: &Path) -> Result<Vec<CaseDice>> {
    let value = read_summary_json(summary)?;
    let cases = value["metric_per_case"]
        .as_array()
        .ok_or_else(|| Error::invalid_file(summary, "summary.json has no \"metric_per_case\""))?;
    cases
        .iter()
        .map(|entry| {
            let reference = entry["reference_file"].as_str().ok_or_else(|| {
                Error::invalid_file(summary, "a metric_per_case entry has no reference_file")
            })?;
            let metrics = entry["metrics"].as_object().ok_or_else(|| {
                Error::invalid_file(summary, format!("case {reference}: no \"metrics\""))
            })?;
            let defined: Vec<f64> = metrics
                .iter()
                .filter(|(key, _)| key.as_str() != "0")
                .filter_map(|(_, m)| m["Dice"].as_f64())
                .filter(|d| d.is_finite())
                .collect();
            Ok(CaseDice {
                case: case_name(reference),
                foreground: (!defined.is_empty())
                    .then(|| defined.iter().sum::<f64>() / defined.len() as f64),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cases_skipping_undefined_labels() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("summary.json");
        std::fs::write(
            &file,
            r#"{"foreground_mean": {"Dice": 0.5}, "mean": {},
            "metric_per_case": [
             {"metrics": {"1": {"Dice": 0.8}, "2": {"Dice": 0.6}},
              "prediction_file": "/p/hippocampus_001.nii.gz", "reference_file": "/r/hippocampus_001.nii.gz"},
             {"metrics": {"1": {"Dice": NaN}, "2": {"Dice": 0.5}},
              "prediction_file": "p/x.png", "reference_file": "r/x.png"},
             {"metrics": {"1": {"Dice": NaN}, "2": {"Dice": NaN}},
              "prediction_file": "p/y.nii", "reference_file": "r/y.nii"}]}"#,
        )
        .unwrap();
        let cases = read_case_dice(&file).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].case, "hippocampus_001");
        assert!((cases[0].foreground.unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(
            (cases[1].case.as_str(), cases[1].foreground),
            ("x", Some(0.5))
        );
        assert_eq!((cases[2].case.as_str(), cases[2].foreground), ("y", None));
        std::fs::write(&file, "{}").unwrap();
        let err = read_case_dice(&file).unwrap_err().to_string();
        assert!(
            err.contains("summary.json") && err.contains("metric_per_case"),
            "{err}"
        );
    }
}
