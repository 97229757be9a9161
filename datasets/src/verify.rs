//! `nnunet verify`: every check of nnU-Net's `verify_dataset_integrity`, plus NaN/Inf voxels,
//! empty label maps, stray files and truncated or corrupt files — all problems of a dataset in
//! one run, each naming its file.
//!
//! nnU-Net's checks, and how each is reported here:
//!
//! | nnU-Net (`verify_dataset_integrity.py`) | here |
//! |---|---|
//! | `dataset.json` exists, has `labels`, `channel_names`, `numTraining`, `file_ending` | error per missing key |
//! | `imagesTr`/`labelsTr` exist (no `dataset` map) | error |
//! | number of training cases = `numTraining` | error (and, when no file matches `file_ending`, the endings found) |
//! | every case has its label (files of the `dataset` map exist) | error per missing file |
//! | labels: background = 0, consecutive, ignore label an integer = max + 1, regions need `regions_class_order` of the right length | error |
//! | a reader exists for `file_ending` | error (lossy `.jpg` refused with the reason) |
//! | label values all declared | error listing the undeclared values |
//! | only background in a label map | warning |
//! | NaN in images or labels | error (Inf too; label values must be whole numbers) |
//! | image/label shape, spacing (`allclose`) | error |
//! | number of channels = `channel_names` | error |
//! | origin / direction differ (`allclose`) | warning, as in nnU-Net |
//!
//! Added: each expected channel file `CASE_XXXX` present and no extra ones; channel files of a
//! case agree in shape and spacing; labels without images; files in `imagesTr` not named
//! `CASE_XXXX<ending>` (warning); unreadable, truncated or corrupt files; test images in
//! `imagesTs` readable with the right channels.

use crate::io::{allclose, file_ending, read_image, read_label};
use crate::raw::{self, RawCase};
use indicatif::{ProgressBar, ProgressStyle};
use nnunet_core::{Geometry, Result};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a finding is: errors make `verify` fail, warnings are printed only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding: the file it concerns and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{tag}: {}: {}", self.file.display(), self.message)
    }
}

/// Everything `verify` found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Training cases whose files were read.
    pub training_cases: usize,
    /// Test cases whose files were read.
    pub test_cases: usize,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    /// True when there is no error (warnings allowed).
    pub fn passed(&self) -> bool {
        self.errors().next().is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        write!(
            f,
            "{} training and {} test cases checked: {errors} error{}, {warnings} warning{}",
            self.training_cases,
            self.test_cases,
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
        )
    }
}

/// Collects findings.
#[derive(Default)]
struct Findings(Vec<Problem>);

impl Findings {
    fn error(&mut self, file: &Path, message: impl Into<String>) {
        self.push(Severity::Error, file, message);
    }

    fn warning(&mut self, file: &Path, message: impl Into<String>) {
        self.push(Severity::Warning, file, message);
    }

    fn push(&mut self, severity: Severity, file: &Path, message: impl Into<String>) {
        self.0.push(Problem {
            severity,
            file: file.to_path_buf(),
            message: message.into(),
        });
    }
}

/// What `dataset.json` says, read leniently so that one missing key does not hide the others.
struct Declared {
    file_ending: Option<String>,
    num_channels: Option<usize>,
    num_training: Option<usize>,
    /// Label values a label map may hold (all labels, regions' members, the ignore label).
    expected_labels: Option<BTreeSet<i64>>,
    descriptor: Option<nnunet_core::DatasetDescriptor>,
}

fn read_declared(json_path: &Path, findings: &mut Findings) -> Option<Declared> {
    if !json_path.is_file() {
        findings.error(json_path, "missing: every dataset needs a dataset.json");
        return None;
    }
    let json: serde_json::Value = match nnunet_core::atomic::read_json(json_path) {
        Ok(json) => json,
        Err(e) => {
            findings.error(json_path, format!("cannot be read: {e}"));
            return None;
        }
    };
    for key in raw::missing_required_keys(&json) {
        findings.error(json_path, format!("missing required key \"{key}\""));
    }
    let file_ending = match json.get("file_ending") {
        Some(serde_json::Value::String(e)) => {
            let probe = PathBuf::from(format!("x{e}"));
            if e.eq_ignore_ascii_case(".jpg") || e.eq_ignore_ascii_case(".jpeg") {
                findings.error(
                    json_path,
                    format!(
                        "file_ending \"{e}\": JPEG is lossy (artefacts change intensities and \
                         labels); convert to PNG"
                    ),
                );
            } else if file_ending(&probe).map(|f| f.eq_ignore_ascii_case(e)) != Some(true) {
                findings.error(
                    json_path,
                    format!(
                        "file_ending \"{e}\" is not a format we read (supported: {})",
                        crate::io::SUPPORTED_ENDINGS.join(", ")
                    ),
                );
            }
            Some(e.clone())
        }
        Some(other) => {
            findings.error(
                json_path,
                format!("file_ending must be a string, got {other}"),
            );
            None
        }
        None => None,
    };
    if let (Some(serde_json::Value::String(name)), Some(ending)) =
        (json.get("overwrite_image_reader_writer"), &file_ending)
        && let Err(e) = crate::io::plugin_io::check_override(name, ending)
    {
        findings.error(json_path, e.to_string());
    }
    let channels = json.get("channel_names").or_else(|| json.get("modality"));
    let num_channels = match channels {
        Some(serde_json::Value::Object(map)) => {
            let indices: BTreeSet<usize> = map.keys().filter_map(|k| k.parse().ok()).collect();
            if indices.len() != map.len() || indices.iter().copied().ne(0..map.len()) {
                findings.error(
                    json_path,
                    "channel_names keys must be \"0\", \"1\", … without gaps",
                );
            }
            Some(map.len())
        }
        Some(_) => {
            findings.error(json_path, "channel_names must be an object {\"0\": name}");
            None
        }
        None => None,
    };
    let num_training = match json.get("numTraining") {
        Some(v) => match v.as_u64() {
            Some(n) => Some(n as usize),
            None => {
                findings.error(json_path, format!("numTraining must be a count, got {v}"));
                None
            }
        },
        None => None,
    };
    let descriptor: Option<nnunet_core::DatasetDescriptor> = raw::missing_required_keys(&json)
        .is_empty()
        .then(|| serde_json::from_value(json.clone()).ok())
        .flatten();
    let expected_labels = json
        .get("labels")
        .and_then(|labels| check_labels(json_path, labels, &json, findings));
    Some(Declared {
        file_ending,
        num_channels,
        num_training,
        expected_labels,
        descriptor,
    })
}

/// nnU-Net's `LabelManager` rules. Returns the values a label map may hold.
fn check_labels(
    json_path: &Path,
    labels: &serde_json::Value,
    json: &serde_json::Value,
    findings: &mut Findings,
) -> Option<BTreeSet<i64>> {
    let Some(map) = labels.as_object() else {
        findings.error(json_path, "labels must be an object {name: value}");
        return None;
    };
    let mut all = BTreeSet::new();
    let mut ok = true;
    if let Err(message) = nnunet_core::dataset::check_unique_label_values(map) {
        findings.error(json_path, message);
        ok = false;
    }
    for (name, value) in map {
        let values: Vec<i64> = match value {
            serde_json::Value::Number(n) if n.as_i64().is_some() => vec![n.as_i64().unwrap_or(0)],
            serde_json::Value::Array(items) if items.iter().all(|i| i.as_i64().is_some()) => {
                items.iter().filter_map(|i| i.as_i64()).collect()
            }
            _ => {
                findings.error(
                    json_path,
                    format!(
                        "label \"{name}\" must be an integer or a list of integers, got {value}"
                    ),
                );
                ok = false;
                continue;
            }
        };
        if name == "ignore" {
            if value.is_array() {
                findings.error(
                    json_path,
                    "the ignore label must be one integer, not a region",
                );
                ok = false;
            }
            continue;
        }
        all.extend(values);
    }
    match map.get("background") {
        None => {
            findings.error(json_path, "labels: no \"background\" label (it must be 0)");
            ok = false;
        }
        Some(v) if v.as_i64() != Some(0) => {
            findings.error(json_path, format!("labels: background must be 0, got {v}"));
            ok = false;
        }
        _ => {}
    }
    let sorted: Vec<i64> = all.iter().copied().collect();
    let mut expected = sorted.clone();
    if let Some(ignore) = map.get("ignore").and_then(|v| v.as_i64()) {
        let max = sorted.last().copied().unwrap_or(0);
        if ignore != max + 1 {
            findings.error(
                json_path,
                format!("labels: the ignore label must be the highest value, {} (max label + 1); got {ignore}", max + 1),
            );
            ok = false;
        }
        expected.push(ignore);
    }
    let gaps: Vec<i64> = expected
        .windows(2)
        .filter(|w| w[1] - w[0] != 1)
        .map(|w| w[1])
        .collect();
    if !gaps.is_empty() {
        findings.error(
            json_path,
            format!("labels must be consecutive (0, 1, 2, …); {gaps:?} break the sequence"),
        );
        ok = false;
    }
    if map
        .values()
        .any(|v| v.as_array().is_some_and(|a| a.len() > 1))
    {
        let non_background = map
            .iter()
            .filter(|(k, v)| {
                k.as_str() != "ignore"
                    && !(v.as_i64() == Some(0)
                        || v.as_array()
                            .is_some_and(|a| a.iter().all(|x| x.as_i64() == Some(0))))
            })
            .count();
        match json.get("regions_class_order").and_then(|v| v.as_array()) {
            None => {
                findings.error(
                    json_path,
                    "labels define regions (lists), so regions_class_order is required",
                );
                ok = false;
            }
            Some(order) if order.len() != non_background => {
                findings.error(
                    json_path,
                    format!(
                        "regions_class_order has {} entries but there are {non_background} regions",
                        order.len()
                    ),
                );
                ok = false;
            }
            _ => {}
        }
    }
    ok.then(|| expected.into_iter().collect())
}

/// What the per-case check needs to know.
struct CaseRules<'a> {
    num_channels: Option<usize>,
    ending: &'a str,
    /// Files follow `imagesTr/CASE_XXXX<ending>` (no explicit `dataset` map).
    by_folder: bool,
    expected_labels: Option<&'a BTreeSet<i64>>,
}

/// The channel index `XXXX` of `CASE_XXXX<ending>`.
fn channel_index(path: &Path, ending: &str) -> Option<usize> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let (_, index) = name.strip_suffix(ending)?.rsplit_once('_')?;
    index.parse().ok()
}

/// When a case's channel count is wrong: names the missing or extra channel files when the
/// files are one channel each and follow `CASE_XXXX`, else states the counts.
fn check_channel_count(case: &RawCase, channels: usize, rules: &CaseRules<'_>, f: &mut Findings) {
    let Some(n) = rules.num_channels else { return };
    if channels == n {
        return;
    }
    let first = case
        .images
        .first()
        .map(PathBuf::as_path)
        .unwrap_or(Path::new(""));
    let indices: Vec<Option<usize>> = case
        .images
        .iter()
        .map(|p| channel_index(p, rules.ending))
        .collect();
    let one_each = channels == case.images.len() && indices.iter().all(Option::is_some);
    if one_each && rules.by_folder && channels < n {
        let folder = first.parent().unwrap_or(Path::new(""));
        for c in (0..n).filter(|c| !indices.contains(&Some(*c))) {
            let expected = folder.join(format!("{}_{c:04}{}", case.id, rules.ending));
            f.error(
                &expected,
                format!(
                    "missing channel file (channel {c} of {n} of case {})",
                    case.id
                ),
            );
        }
    } else if one_each && channels > n {
        for (path, index) in case.images.iter().zip(&indices) {
            if index.is_some_and(|i| i >= n) {
                f.error(
                    path,
                    format!("channel file beyond the {n} channel(s) of channel_names"),
                );
            }
        }
    } else {
        f.error(
            first,
            format!(
                "case {} has {channels} channel(s), channel_names declares {n}",
                case.id
            ),
        );
    }
}

/// Reads and checks one case's files.
fn check_case(case: &RawCase, rules: &CaseRules<'_>) -> Vec<Problem> {
    let mut f = Findings::default();
    let mut channels = 0;
    let mut first: Option<(PathBuf, [usize; 3], Geometry)> = None;
    for path in &case.images {
        if !path.is_file() {
            f.error(path, "missing image file");
            continue;
        }
        let image = match read_image(&[path]) {
            Ok(image) => image,
            Err(e) => {
                f.error(
                    path,
                    format!("unreadable: {}", strip_path(&e.to_string(), path)),
                );
                continue;
            }
        };
        channels += image.channels.len();
        let nan: usize = image
            .channels
            .iter()
            .map(|c| c.iter().filter(|v| v.is_nan()).count())
            .sum();
        let inf: usize = image
            .channels
            .iter()
            .map(|c| c.iter().filter(|v| v.is_infinite()).count())
            .sum();
        if nan > 0 {
            f.error(
                path,
                format!("{nan} NaN voxel(s); replace them with a real value"),
            );
        }
        if inf > 0 {
            f.error(path, format!("{inf} infinite voxel(s)"));
        }
        match &first {
            None => first = Some((path.clone(), image.shape, image.geometry)),
            Some((first_path, shape, geometry)) => {
                compare_geometry(
                    &mut f,
                    path,
                    image.shape,
                    &image.geometry,
                    first_path,
                    *shape,
                    geometry,
                );
            }
        }
    }
    if !f.0.iter().any(|p| p.severity == Severity::Error) {
        check_channel_count(case, channels, rules, &mut f);
    }
    let Some(label_path) = &case.label else {
        return f.0;
    };
    if !label_path.is_file() {
        f.error(
            label_path,
            format!("missing label file for case {}", case.id),
        );
        return f.0;
    }
    let label = match read_label(label_path) {
        Ok(label) => label,
        Err(e) => {
            f.error(
                label_path,
                format!(
                    "unreadable label map: {}",
                    strip_path(&e.to_string(), label_path)
                ),
            );
            return f.0;
        }
    };
    let mut present = BTreeSet::new();
    for &v in &label.data {
        present.insert(v as i64);
    }
    if let Some(expected) = rules.expected_labels {
        let unexpected: Vec<i64> = present.difference(expected).copied().collect();
        if !unexpected.is_empty() {
            f.error(
                label_path,
                format!(
                    "label value(s) {unexpected:?} not declared in dataset.json (declared: {:?})",
                    expected.iter().collect::<Vec<_>>()
                ),
            );
        }
    }
    if present.iter().all(|&v| v == 0) {
        f.warning(
            label_path,
            "empty label map: only background (0); intentional?",
        );
    }
    if let Some((first_path, shape, geometry)) = &first {
        compare_geometry(
            &mut f,
            label_path,
            label.shape,
            &label.geometry,
            first_path,
            *shape,
            geometry,
        );
    }
    f.0
}

/// Shape and spacing must match (error); origin and direction should (warning, as nnU-Net).
fn compare_geometry(
    f: &mut Findings,
    path: &Path,
    shape: [usize; 3],
    geometry: &Geometry,
    reference_path: &Path,
    reference_shape: [usize; 3],
    reference: &Geometry,
) {
    let name = reference_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if shape != reference_shape {
        f.error(
            path,
            format!("shape {shape:?} (z, y, x) differs from {reference_shape:?} of {name}"),
        );
    }
    if !allclose(&geometry.spacing, &reference.spacing) {
        f.error(
            path,
            format!(
                "spacing {:?} (z, y, x) differs from {:?} of {name}",
                geometry.spacing, reference.spacing
            ),
        );
    }
    if !allclose(&geometry.origin, &reference.origin) {
        f.warning(
            path,
            format!(
                "origin {:?} differs from {:?} of {name}; check that they overlap",
                geometry.origin, reference.origin
            ),
        );
    }
    if !allclose(&geometry.direction, &reference.direction) {
        f.warning(
            path,
            format!(
                "direction {:?} differs from {:?} of {name}; check that they overlap",
                geometry.direction, reference.direction
            ),
        );
    }
}

/// An error message without its leading `path: ` (the problem names the file already).
fn strip_path(message: &str, path: &Path) -> String {
    message
        .strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(message)
        .to_string()
}

/// Endings of the files in a folder (to explain a `file_ending` that matches nothing).
fn endings_in(folder: &Path) -> BTreeSet<String> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                return None;
            }
            file_ending(Path::new(&name))
                .map(str::to_string)
                .or_else(|| name.find('.').map(|i| name[i..].to_string()))
        })
        .collect()
}

/// Verifies the dataset folder `root`. Only an unreadable folder is an `Err`; everything
/// wrong with the dataset is in the report.
pub fn verify_dataset(root: &Path) -> Result<Report> {
    let mut findings = Findings::default();
    let json_path = root.join("dataset.json");
    let Some(declared) = read_declared(&json_path, &mut findings) else {
        return Ok(Report {
            problems: findings.0,
            ..Default::default()
        });
    };
    let has_map = declared
        .descriptor
        .as_ref()
        .is_some_and(|d| d.dataset.is_some());
    let images_tr = root.join("imagesTr");
    let labels_tr = root.join("labelsTr");
    if !has_map {
        for folder in [&images_tr, &labels_tr] {
            if !folder.is_dir() {
                findings.error(folder, "missing folder");
            }
        }
    }
    let Some(ending) = declared.file_ending.clone() else {
        return Ok(Report {
            problems: findings.0,
            ..Default::default()
        });
    };
    // Training cases: from the map when the descriptor parsed, else from the folders.
    let training: Vec<RawCase> = match &declared.descriptor {
        Some(descriptor) => match raw::training_cases(root, descriptor) {
            Ok(cases) => cases,
            Err(e) => {
                findings.error(&json_path, e.to_string());
                Vec::new()
            }
        },
        None => raw::labelled_cases(&images_tr, &labels_tr, &ending)?,
    };
    if let Some(n) = declared.num_training
        && n != training.len()
    {
        findings.error(
            &json_path,
            format!(
                "numTraining is {n} but {} training case(s) were found",
                training.len()
            ),
        );
    }
    if training.is_empty() && images_tr.is_dir() && !has_map {
        let endings = endings_in(&images_tr);
        if !endings.contains(&ending) {
            findings.error(
                &json_path,
                format!(
                    "file_ending \"{ending}\" matches no file in imagesTr (endings found there: {})",
                    endings.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    if !has_map {
        check_folder_names(&images_tr, &ending, true, &mut findings);
        let cases: BTreeSet<&str> = training.iter().map(|c| c.id.as_str()).collect();
        for name in sorted_names(&labels_tr) {
            match name.strip_suffix(ending.as_str()) {
                Some(id) if cases.contains(id) => {}
                Some(_) => findings.error(
                    &labels_tr.join(&name),
                    "label map without images in imagesTr",
                ),
                None if crate::io::is_companion(&name, &ending) => {}
                None => findings.warning(
                    &labels_tr.join(&name),
                    format!("not a \"{ending}\" file; ignored"),
                ),
            }
        }
    }
    let images_ts = root.join("imagesTs");
    let test = raw::unlabelled_cases(&images_ts, &ending)?;
    check_folder_names(&images_ts, &ending, false, &mut findings);
    let rules = CaseRules {
        num_channels: declared.num_channels,
        ending: &ending,
        by_folder: !has_map,
        expected_labels: declared.expected_labels.as_ref(),
    };
    let all: Vec<&RawCase> = training.iter().chain(&test).collect();
    let progress = ProgressBar::new(all.len() as u64).with_style(
        ProgressStyle::with_template("verify {bar:40} {pos}/{len} cases {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let per_case: Vec<Vec<Problem>> = all
        .par_iter()
        .map(|case| {
            let problems = check_case(case, &rules);
            progress.inc(1);
            problems
        })
        .collect();
    progress.finish_and_clear();
    findings.0.extend(per_case.into_iter().flatten());
    Ok(Report {
        problems: findings.0,
        training_cases: training.len(),
        test_cases: test.len(),
    })
}

fn sorted_names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Files in an images folder must be `CASE_XXXX<ending>`.
fn check_folder_names(folder: &Path, ending: &str, training: bool, f: &mut Findings) {
    for name in sorted_names(folder) {
        let path = folder.join(&name);
        if file_ending(&path).is_none() && name.contains('.') {
            let lower = name.to_ascii_lowercase();
            if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
                f.error(&path, "JPEG is lossy and not accepted; convert it to PNG");
                continue;
            }
        }
        match name.strip_suffix(ending) {
            Some(stem) => {
                let channel = stem.rsplit_once('_').map(|(_, c)| c);
                if !channel.is_some_and(|c| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit())) {
                    f.error(
                        &path,
                        "image files must be named CASE_XXXX<ending> (XXXX = channel index)",
                    );
                }
            }
            None if training && !crate::io::is_companion(&name, ending) => {
                f.warning(&path, format!("not a \"{ending}\" file; ignored"))
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
