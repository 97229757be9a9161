//! Evaluation as nnU-Net v2 scores it (`evaluation/evaluate_predictions.py`): per case and per
//! label (or region) TP, FP, FN, TN, n_pred, n_ref, Dice and IoU; means over cases with NaN
//! skipped; the foreground mean over labels; and `summary.json` in nnU-Net's exact shape.
//!
//! nnU-Net writes `NaN` (not valid JSON, but what Python's `json` reads back) for undefined
//! Dice/IoU; so do we, so that nnU-Net's own tools read our summaries.
//!
//! With surface metrics ([`SurfaceOptions`], `nnunet evaluate --surface`) every label also gets
//! `HD95` (mm) and `NSD` (at `nsd_tolerance_mm`, written at the top level) beside nnU-Net's keys
//! ([`crate::surface`]; undefined values are `NaN` as for Dice).

use nnunet_core::{DatasetDescriptor, LabelValue, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What a metric is computed for: one label value, or a region (a set of label values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Label(i64),
    Region(Vec<i64>),
}

impl Target {
    /// The key nnU-Net writes: `"1"` for a label, Python's tuple repr for a region (`"(1, 2)"`,
    /// `"(3,)"`).
    pub fn key(&self) -> String {
        match self {
            Target::Label(v) => v.to_string(),
            Target::Region(vs) if vs.len() == 1 => format!("({},)", vs[0]),
            Target::Region(vs) => format!(
                "({})",
                vs.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Whether a voxel of this value belongs to the target.
    pub fn contains(&self, value: i16) -> bool {
        match self {
            Target::Label(v) => i64::from(value) == *v,
            Target::Region(vs) => vs.contains(&i64::from(value)),
        }
    }
}

/// The targets nnU-Net evaluates for a dataset: its foreground regions when `dataset.json`
/// defines regions, else its foreground labels (the `ignore` label and background excluded).
pub fn targets(dataset: &DatasetDescriptor) -> Result<Vec<Target>> {
    let labels = dataset.label_values()?;
    let mut out = Vec::new();
    if dataset.has_regions() {
        for (name, value) in labels {
            if name == "ignore" {
                continue;
            }
            let values = match value {
                LabelValue::Single(v) => vec![v],
                LabelValue::Region(vs) => vs,
            };
            let mut unique = values.clone();
            unique.sort();
            unique.dedup();
            if unique == [0] {
                continue;
            }
            out.push(if values.len() == 1 && !dataset.labels[&name].is_array() {
                Target::Label(values[0])
            } else {
                Target::Region(values)
            });
        }
    } else {
        let mut values: Vec<i64> = labels
            .into_iter()
            .filter(|(name, _)| name != "ignore")
            .filter_map(|(_, v)| match v {
                LabelValue::Single(v) => Some(v),
                LabelValue::Region(_) => None,
            })
            .filter(|&v| v != 0)
            .collect();
        values.sort();
        values.dedup();
        out.extend(values.into_iter().map(Target::Label));
    }
    Ok(out)
}

/// Confusion counts and overlap scores of one target in one case.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    #[serde(rename = "Dice")]
    pub dice: f64,
    #[serde(rename = "FN")]
    pub fn_: u64,
    #[serde(rename = "FP")]
    pub fp: u64,
    /// 95th-percentile Hausdorff distance in mm, with surface metrics only.
    #[serde(rename = "HD95", skip_serializing_if = "Option::is_none")]
    pub hd95: Option<f64>,
    #[serde(rename = "IoU")]
    pub iou: f64,
    /// Normalised surface distance at the summary's tolerance, with surface metrics only.
    #[serde(rename = "NSD", skip_serializing_if = "Option::is_none")]
    pub nsd: Option<f64>,
    #[serde(rename = "TN")]
    pub tn: u64,
    #[serde(rename = "TP")]
    pub tp: u64,
    pub n_pred: u64,
    pub n_ref: u64,
}

/// Metric names in the order nnU-Net's sorted JSON lists them.
pub const METRIC_NAMES: [&str; 8] = ["Dice", "FN", "FP", "IoU", "TN", "TP", "n_pred", "n_ref"];

/// The surface metrics' names, written only when they were computed.
pub const SURFACE_METRIC_NAMES: [&str; 2] = ["HD95", "NSD"];

/// The NSD tolerance used when none is given, in mm.
pub const DEFAULT_NSD_TOLERANCE_MM: f64 = 1.0;

/// Surface metrics to compute besides nnU-Net's (HD95 and NSD at `tolerance_mm`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceOptions {
    pub tolerance_mm: f64,
}

impl Metrics {
    fn from_counts(tp: u64, fp: u64, fn_: u64, tn: u64) -> Self {
        let (dice, iou) = if tp + fp + fn_ == 0 {
            (f64::NAN, f64::NAN)
        } else {
            (
                2.0 * tp as f64 / (2 * tp + fp + fn_) as f64,
                tp as f64 / (tp + fp + fn_) as f64,
            )
        };
        Metrics {
            dice,
            fn_,
            fp,
            hd95: None,
            iou,
            nsd: None,
            tn,
            tp,
            n_pred: tp + fp,
            n_ref: tp + fn_,
        }
    }

    /// The value of a metric by its nnU-Net name.
    pub fn get(&self, name: &str) -> f64 {
        match name {
            "Dice" => self.dice,
            "IoU" => self.iou,
            "FN" => self.fn_ as f64,
            "FP" => self.fp as f64,
            "TN" => self.tn as f64,
            "TP" => self.tp as f64,
            "n_pred" => self.n_pred as f64,
            "n_ref" => self.n_ref as f64,
            "HD95" => self.hd95.unwrap_or(f64::NAN),
            "NSD" => self.nsd.unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }
}

/// Metrics of every target for one case; voxels whose reference is the ignore label don't count.
///
/// Panics if the two maps differ in length (callers check shapes and report the files).
pub fn case_metrics(
    reference: &[i16],
    prediction: &[i16],
    targets: &[Target],
    ignore_label: Option<i64>,
) -> Vec<Metrics> {
    assert_eq!(
        reference.len(),
        prediction.len(),
        "label maps differ in size"
    );
    targets
        .iter()
        .map(|target| {
            let (mut tp, mut fp, mut fn_, mut tn) = (0u64, 0u64, 0u64, 0u64);
            for (&r, &p) in reference.iter().zip(prediction) {
                if ignore_label.is_some_and(|i| i64::from(r) == i) {
                    continue;
                }
                match (target.contains(r), target.contains(p)) {
                    (true, true) => tp += 1,
                    (false, true) => fp += 1,
                    (true, false) => fn_ += 1,
                    (false, false) => tn += 1,
                }
            }
            Metrics::from_counts(tp, fp, fn_, tn)
        })
        .collect()
}

/// Adds HD95 and NSD to `metrics` (one per target, from [`case_metrics`]); voxels whose
/// reference is the ignore label belong to neither mask.
pub fn add_surface_metrics(
    metrics: &mut [Metrics],
    reference: &nnunet_core::LabelMap,
    prediction: &nnunet_core::LabelMap,
    targets: &[Target],
    ignore_label: Option<i64>,
    options: SurfaceOptions,
) {
    let ignored = |r: i16| ignore_label.is_some_and(|i| i64::from(r) == i);
    for (m, target) in metrics.iter_mut().zip(targets) {
        let mask = |values: &[i16]| -> Vec<bool> {
            values
                .iter()
                .zip(&reference.data)
                .map(|(&v, &r)| !ignored(r) && target.contains(v))
                .collect()
        };
        let s = crate::surface::surface_metrics(
            &mask(&reference.data),
            &mask(&prediction.data),
            reference.shape,
            reference.geometry.spacing,
            options.tolerance_mm,
        );
        m.hd95 = Some(s.hd95);
        m.nsd = Some(s.nsd);
    }
}

/// One case's entry in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseEntry {
    pub metrics: BTreeMap<String, Metrics>,
    pub prediction_file: String,
    pub reference_file: String,
}

/// `summary.json`: per case, mean per target over cases (NaN skipped), and the foreground mean.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub foreground_mean: BTreeMap<String, f64>,
    pub mean: BTreeMap<String, BTreeMap<String, f64>>,
    pub metric_per_case: Vec<CaseEntry>,
    /// The NSD tolerance in mm, with surface metrics only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsd_tolerance_mm: Option<f64>,
}

fn nan_mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Builds the summary from per-case metrics (`cases[i][t]` for `targets[t]`).
pub fn summarize(targets: &[Target], cases: Vec<(String, String, Vec<Metrics>)>) -> Summary {
    let keys: Vec<String> = targets.iter().map(Target::key).collect();
    let surface = cases.iter().any(|c| c.2.iter().any(|m| m.hd95.is_some()));
    let names: Vec<&str> = METRIC_NAMES
        .iter()
        .chain(
            surface
                .then_some(&SURFACE_METRIC_NAMES)
                .into_iter()
                .flatten(),
        )
        .copied()
        .collect();
    let mut mean = BTreeMap::new();
    for (t, key) in keys.iter().enumerate() {
        let per_metric: BTreeMap<String, f64> = names
            .iter()
            .map(|&m| (m.to_string(), nan_mean(cases.iter().map(|c| c.2[t].get(m)))))
            .collect();
        mean.insert(key.clone(), per_metric);
    }
    // nnU-Net: plain mean (not nanmean) over targets other than label 0.
    let foreground_mean = names
        .iter()
        .map(|&m| {
            let values: Vec<f64> = keys
                .iter()
                .filter(|k| k.as_str() != "0")
                .map(|k| mean[k][m])
                .collect();
            let value = if values.is_empty() {
                f64::NAN
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            };
            (m.to_string(), value)
        })
        .collect();
    let metric_per_case = cases
        .into_iter()
        .map(|(reference_file, prediction_file, metrics)| CaseEntry {
            metrics: keys.iter().cloned().zip(metrics).collect(),
            prediction_file,
            reference_file,
        })
        .collect();
    Summary {
        foreground_mean,
        mean,
        metric_per_case,
        nsd_tolerance_mm: None,
    }
}

/// serde_json writes non-finite floats as `null`; nnU-Net writes `NaN`. A summary has no real
/// nulls, so this formatter writes every null as `NaN`.
struct NanFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for NanFormatter {
    fn write_null<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"NaN")
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// The summary as nnU-Net writes it: sorted keys, 4-space indent, `NaN` for undefined values.
pub fn summary_json(summary: &Summary) -> Vec<u8> {
    let mut buf = Vec::new();
    let formatter = NanFormatter(serde_json::ser::PrettyFormatter::with_indent(b"    "));
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    summary
        .serialize(&mut ser)
        .expect("a summary serialises: it holds only maps, strings and numbers");
    buf
}

/// Writes `summary.json` atomically.
pub fn write_summary(path: &Path, summary: &Summary) -> Result<()> {
    nnunet_core::atomic::write_bytes(path, &summary_json(summary))
}

/// The names of the files in `dir` ending in `ending` (hidden files skipped), sorted.
pub fn files_with_ending(dir: &Path, ending: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| nnunet_core::Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ending) && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// Scores every prediction in `prediction` (files ending in the dataset's `file_ending`) against
/// the file of the same name in `reference`, as `nnUNetv2_evaluate_folder`; every reference
/// file must have a prediction. Writes `summary.json` to `output` when given.
pub fn evaluate_folders(
    reference: &Path,
    prediction: &Path,
    dataset: &DatasetDescriptor,
    output: Option<&Path>,
) -> Result<Summary> {
    evaluate_folders_with(reference, prediction, dataset, output, None)
}

/// [`evaluate_folders`], with surface metrics when `surface` is given.
pub fn evaluate_folders_with(
    reference: &Path,
    prediction: &Path,
    dataset: &DatasetDescriptor,
    output: Option<&Path>,
    surface: Option<SurfaceOptions>,
) -> Result<Summary> {
    let ending = &dataset.file_ending;
    let predicted = files_with_ending(prediction, ending)?;
    let missing: Vec<String> = files_with_ending(reference, ending)?
        .into_iter()
        .filter(|n| !predicted.contains(n))
        .collect();
    if !missing.is_empty() {
        return Err(nnunet_core::Error::invalid_file(
            prediction,
            format!(
                "{} reference case(s) have no prediction: {}",
                missing.len(),
                missing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    evaluate_cases_with(reference, prediction, &predicted, dataset, output, surface)
}

/// Scores the files `names` of `prediction` against the files of the same names in
/// `reference` (nnU-Net's `compute_metrics_on_folder` with `chill=True` over these cases).
/// Writes `summary.json` to `output` when given.
pub fn evaluate_cases(
    reference: &Path,
    prediction: &Path,
    names: &[String],
    dataset: &DatasetDescriptor,
    output: Option<&Path>,
) -> Result<Summary> {
    evaluate_cases_with(reference, prediction, names, dataset, output, None)
}

/// [`evaluate_cases`], with surface metrics when `surface` is given.
pub fn evaluate_cases_with(
    reference: &Path,
    prediction: &Path,
    names: &[String],
    dataset: &DatasetDescriptor,
    output: Option<&Path>,
    surface: Option<SurfaceOptions>,
) -> Result<Summary> {
    use rayon::prelude::*;
    let targets = targets(dataset)?;
    let ignore = dataset.ignore_label();
    let cases = names
        .par_iter()
        .map(|name| {
            let ref_path = reference.join(name);
            let pred_path = prediction.join(name);
            let r = nnunet_datasets::io::read_label(&ref_path)?;
            let p = nnunet_datasets::io::read_label(&pred_path)?;
            let mut metrics = score_case(&r, &p, &pred_path, &targets, ignore)?;
            if let Some(options) = surface {
                add_surface_metrics(&mut metrics, &r, &p, &targets, ignore, options);
            }
            Ok((
                ref_path.display().to_string(),
                pred_path.display().to_string(),
                metrics,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut summary = summarize(&targets, cases);
    summary.nsd_tolerance_mm = surface.map(|s| s.tolerance_mm);
    if let Some(path) = output {
        write_summary(path, &summary)?;
    }
    Ok(summary)
}

/// The metrics of `prediction` (read from `pred_path`) against `reference`; the shapes must agree.
pub fn score_case(
    reference: &nnunet_core::LabelMap,
    prediction: &nnunet_core::LabelMap,
    pred_path: &Path,
    targets: &[Target],
    ignore: Option<i64>,
) -> Result<Vec<Metrics>> {
    if reference.shape != prediction.shape {
        return Err(nnunet_core::Error::invalid_file(
            pred_path,
            format!(
                "shape {:?} differs from the reference's {:?}",
                prediction.shape, reference.shape
            ),
        ));
    }
    Ok(case_metrics(
        &reference.data,
        &prediction.data,
        targets,
        ignore,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_scores_follow_nnunet() {
        let reference = [0, 1, 1, 2, 2, 0];
        let prediction = [0, 1, 0, 2, 1, 1];
        let m = case_metrics(&reference, &prediction, &[Target::Label(1)], None)[0];
        assert_eq!((m.tp, m.fp, m.fn_, m.tn), (1, 2, 1, 2));
        assert_eq!((m.n_pred, m.n_ref), (3, 2));
        assert!((m.dice - 2.0 / 5.0).abs() < 1e-12);
        assert!((m.iou - 1.0 / 4.0).abs() < 1e-12);
        let region = case_metrics(&reference, &prediction, &[Target::Region(vec![1, 2])], None)[0];
        assert_eq!((region.tp, region.fp, region.fn_), (3, 1, 1));
    }

    #[test]
    fn ignore_label_voxels_are_skipped_and_absent_labels_are_nan() {
        let reference = [3, 3, 1, 0];
        let prediction = [1, 1, 1, 0];
        let m = case_metrics(
            &reference,
            &prediction,
            &[Target::Label(1), Target::Label(2)],
            Some(3),
        );
        assert_eq!((m[0].tp, m[0].fp, m[0].tn), (1, 0, 1));
        assert!(m[1].dice.is_nan() && m[1].iou.is_nan());
        assert_eq!(m[1].tn, 2);
    }

    #[test]
    fn summary_uses_nanmean_per_label_and_writes_nan() {
        let targets = [Target::Label(1), Target::Label(2)];
        let a = case_metrics(&[1, 2], &[1, 0], &targets, None);
        let b = case_metrics(&[1, 0], &[0, 0], &targets, None);
        let s = summarize(
            &targets,
            vec![
                ("r/a".into(), "p/a".into(), a),
                ("r/b".into(), "p/b".into(), b),
            ],
        );
        // Label 1: Dice 1 and 0 → 0.5. Label 2: Dice 0 and NaN → 0 (NaN skipped).
        assert_eq!(s.mean["1"]["Dice"], 0.5);
        assert_eq!(s.mean["2"]["Dice"], 0.0);
        assert_eq!(s.foreground_mean["Dice"], 0.25);
        let text = String::from_utf8(summary_json(&s)).unwrap();
        assert!(text.contains("\"Dice\": NaN"), "{text}");
        assert!(text.find("\"foreground_mean\"").unwrap() < text.find("\"mean\"").unwrap());
    }

    #[test]
    fn region_keys_are_python_tuples() {
        assert_eq!(Target::Region(vec![1, 2]).key(), "(1, 2)");
        assert_eq!(Target::Region(vec![3]).key(), "(3,)");
        assert_eq!(Target::Label(2).key(), "2");
    }
}
