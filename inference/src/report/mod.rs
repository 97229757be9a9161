//! `nnunet report`: one static HTML page about a folder of predictions, to open from disk —
//! a sortable per-case table (Dice, IoU, precision, recall, HD95, NSD, volumes per label), a box
//! plot per label, an overlay per case, and the training curves of a model folder when given.
//!
//! The output folder gets `index.html`, `overlays/CASE.png` (drawn by [`crate::overlay`]) and
//! `summary.json` (nnU-Net's, with HD95 and NSD: [`crate::evaluation`]); every file is written
//! atomically, and a failed run removes what it added.

pub mod curves;
pub mod html;
pub mod svg;

use crate::evaluation::{self, Metrics, SurfaceOptions, Target};
use crate::overlay::{self, SliceChoice};
use nnunet_core::{DatasetDescriptor, Error, Image, LabelMap, Result, atomic};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the report is made from.
pub struct ReportInputs<'a> {
    /// Folders of images (`CASE_XXXX<ending>`) for the overlays; for a case in none of them the
    /// overlay shows the contours on black.
    pub images: &'a [PathBuf],
    pub reference: &'a Path,
    pub prediction: &'a Path,
    pub dataset: &'a DatasetDescriptor,
    /// A model folder (`trainer__plans__configuration` or one fold) for the training curves.
    pub model: Option<&'a Path>,
    pub output: &'a Path,
    pub tolerance_mm: f64,
    pub slice: SliceChoice,
}

/// One scored case.
struct Scored {
    reference_file: String,
    prediction_file: String,
    metrics: Vec<Metrics>,
    /// mm³ (3D) or mm² (2D) per voxel.
    voxel_size: f64,
    two_d: bool,
    overlay: String,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// Reads, scores and draws one case.
fn score(
    inputs: &ReportInputs,
    images: &BTreeMap<String, Vec<PathBuf>>,
    targets: &[Target],
    name: &str,
) -> Result<Scored> {
    let ending = &inputs.dataset.file_ending;
    let id = &name[..name.len() - ending.len()];
    let (ref_path, pred_path) = (inputs.reference.join(name), inputs.prediction.join(name));
    if !ref_path.is_file() {
        return Err(Error::invalid_file(
            &pred_path,
            format!("no reference {} for this prediction", ref_path.display()),
        ));
    }
    let r = nnunet_datasets::io::read_label(&ref_path)?;
    let p = nnunet_datasets::io::read_label(&pred_path)?;
    let ignore = inputs.dataset.ignore_label();
    let mut metrics = evaluation::score_case(&r, &p, &pred_path, targets, ignore)?;
    let options = SurfaceOptions {
        tolerance_mm: inputs.tolerance_mm,
    };
    evaluation::add_surface_metrics(&mut metrics, &r, &p, targets, ignore, options);
    let image = match images.get(id) {
        Some(channels) => nnunet_datasets::io::read_image(channels)?,
        None => black_image(&r),
    };
    let picture = overlay::render(&image, Some(&r), &p, inputs.slice)
        .map_err(|e| Error::invalid_file(&pred_path, e.to_string()))?;
    let overlay = format!("overlays/{id}.png");
    overlay::write_png(&inputs.output.join(&overlay), &picture)?;
    let s = r.geometry.spacing;
    let voxel_size = if r.shape[0] == 1 {
        s[1] * s[2]
    } else {
        s[0] * s[1] * s[2] / 1000.0
    };
    Ok(Scored {
        reference_file: ref_path.display().to_string(),
        prediction_file: pred_path.display().to_string(),
        metrics,
        voxel_size,
        two_d: r.shape[0] == 1,
        overlay,
    })
}

/// A one-channel black image of a label map's shape (no image found for the case).
fn black_image(labels: &LabelMap) -> Image {
    Image {
        shape: labels.shape,
        channels: vec![vec![0.0; labels.voxels()]],
        geometry: labels.geometry.clone(),
        is_2d: labels.is_2d,
    }
}

fn figures(m: &Metrics, voxel_size: f64) -> html::TargetFigures {
    html::TargetFigures {
        dice: m.dice,
        iou: m.iou,
        precision: ratio(m.tp, m.tp + m.fp),
        recall: ratio(m.tp, m.tp + m.fn_),
        hd95: m.hd95.unwrap_or(f64::NAN),
        nsd: m.nsd.unwrap_or(f64::NAN),
        volume_reference: m.n_ref as f64 * voxel_size,
        volume_prediction: m.n_pred as f64 * voxel_size,
    }
}

/// The box plot of one target over all cases.
fn box_plot(name: &str, rows: &[html::CaseRow], t: usize) -> String {
    let series = |f: fn(&html::TargetFigures) -> f64| -> Vec<f64> {
        rows.iter().map(|r| f(&r.targets[t])).collect()
    };
    svg::box_plot(
        name,
        &[
            ("Dice", series(|f| f.dice)),
            ("IoU", series(|f| f.iou)),
            ("Precision", series(|f| f.precision)),
            ("Recall", series(|f| f.recall)),
            ("NSD", series(|f| f.nsd)),
        ],
    )
}

/// The training curves' HTML: two charts per fold with a log, nnU-Net's picture otherwise
/// (copied into the output folder).
fn curves_html(model: &Path, output: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for fold in curves::find(model)? {
        match fold {
            curves::FoldCurves::Log { fold, log } => {
                let e = &log.epochs;
                let col = |f: fn(&nnunet_trainers::progress::EpochRecord) -> f64| -> Vec<f64> {
                    e.iter().map(f).collect()
                };
                let losses = svg::line_chart(
                    &format!("{fold}: loss"),
                    "epoch",
                    &[
                        ("train loss", "#1f77b4", col(|r| r.train_loss)),
                        ("validation loss", "#d62728", col(|r| r.val_loss)),
                    ],
                );
                let dice = svg::line_chart(
                    &format!("{fold}: pseudo-Dice"),
                    "epoch",
                    &[
                        ("pseudo-Dice", "#2ca02c", col(|r| r.mean_pseudo_dice())),
                        ("EMA", "#ff7f0e", col(|r| r.ema_pseudo_dice)),
                    ],
                );
                let title = svg::escape(&fold);
                out.push(format!(
                    "<figure class=\"fold-curves\">{losses}{dice}<figcaption>{title}: {} epoch(s)</figcaption></figure>",
                    e.len()
                ));
            }
            curves::FoldCurves::Png { fold, path } => {
                let name = format!("progress_{fold}.png");
                atomic::copy(&path, &output.join(&name))?;
                out.push(format!(
                    "<figure class=\"fold-curves\"><img src=\"{}\" alt=\"progress\"><figcaption>{}: nnU-Net's progress.png</figcaption></figure>",
                    svg::escape(&name),
                    svg::escape(&fold)
                ));
            }
        }
    }
    Ok(out)
}

/// Writes the report into `inputs.output`; returns the page's path.
pub fn write_report(inputs: &ReportInputs) -> Result<PathBuf> {
    let ending = &inputs.dataset.file_ending;
    let names = evaluation::files_with_ending(inputs.prediction, ending)?;
    if names.is_empty() {
        return Err(Error::invalid_file(
            inputs.prediction,
            format!("no predictions ending in {ending}"),
        ));
    }
    let targets = evaluation::targets(inputs.dataset)?;
    let mut images = BTreeMap::new();
    for dir in inputs.images {
        images.extend(nnunet_datasets::raw::cases_in_folder(dir, ending)?);
    }
    let guard = atomic::OutputGuard::create(inputs.output)?;
    let overlays = inputs.output.join("overlays");
    std::fs::create_dir_all(&overlays).map_err(|e| Error::io(&overlays, e))?;
    let scored = names
        .par_iter()
        .map(|name| score(inputs, &images, &targets, name))
        .collect::<Result<Vec<_>>>()?;
    let rows: Vec<html::CaseRow> = names
        .iter()
        .zip(&scored)
        .map(|(name, s)| html::CaseRow {
            case: name[..name.len() - ending.len()].to_string(),
            overlay: Some(s.overlay.clone()),
            targets: s.metrics.iter().map(|m| figures(m, s.voxel_size)).collect(),
        })
        .collect();
    let two_d = scored.iter().all(|s| s.two_d);
    let mut summary = evaluation::summarize(
        &targets,
        scored
            .into_iter()
            .map(|s| (s.reference_file, s.prediction_file, s.metrics))
            .collect(),
    );
    summary.nsd_tolerance_mm = Some(inputs.tolerance_mm);
    evaluation::write_summary(&inputs.output.join("summary.json"), &summary)?;
    let target_names = target_names(inputs.dataset, &targets)?;
    let box_plots = target_names
        .iter()
        .enumerate()
        .map(|(t, (_, name))| box_plot(name, &rows, t))
        .collect();
    let curves = match inputs.model {
        Some(model) => curves_html(model, inputs.output)?,
        None => Vec::new(),
    };
    let page = html::Page {
        title: format!(
            "{} — {}",
            inputs
                .dataset
                .extra
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("Report"),
            inputs.prediction.display()
        ),
        targets: target_names,
        volume_unit: if two_d { "mm²" } else { "mL" }.into(),
        tolerance_mm: inputs.tolerance_mm,
        cases: rows,
        box_plots,
        curves,
    };
    let path = inputs.output.join("index.html");
    atomic::write_bytes(&path, html::render(&page).as_bytes())?;
    guard.commit();
    Ok(path)
}

/// (summary key, display name) per target: the label's name in dataset.json, with its key.
fn target_names(dataset: &DatasetDescriptor, targets: &[Target]) -> Result<Vec<(String, String)>> {
    let labels = dataset.label_values()?;
    Ok(targets
        .iter()
        .map(|t| {
            let key = t.key();
            let name = labels
                .iter()
                .find(|(_, v)| match (v, t) {
                    (nnunet_core::LabelValue::Single(v), Target::Label(l)) => v == l,
                    (nnunet_core::LabelValue::Region(vs), Target::Region(r)) => vs == r,
                    _ => false,
                })
                .map_or_else(|| key.clone(), |(n, _)| format!("{n} ({key})"));
            (key, name)
        })
        .collect())
}
