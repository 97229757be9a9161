//! [`CaseSource`] over a preprocessed folder (`nnUNet_preprocessed/DatasetXXX/<data_identifier>/`,
//! the format of `nnunet_planning::preprocessed_format`).
//!
//! Cases are read on first use and kept in memory while the cache stays under its byte budget
//! (default 4 GiB); past it, cases are read from disk each time they are drawn, so a large
//! dataset costs disk reads, not a RAM blow-up.
//!
//! For the cascade, [`PreprocessedCases::with_previous_stage`] also reads each case's
//! previous-stage segmentation from the lowres stage's `predicted_next_stage/<configuration>`
//! folder: `CASE.seg`, raw little-endian `i16` in the shape of the case's preprocessed arrays
//! (the same layout as the preprocessed `CASE.seg`).

use crate::case_source::{CaseData, CaseSource};
use nnunet_core::{Error, Result};
use nnunet_planning::preprocessed_format::{case_paths, read_case, read_seg};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Default in-memory cache budget.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 30;

/// Preprocessed cases of one configuration, for the given identifiers.
pub struct PreprocessedCases {
    folder: PathBuf,
    identifiers: Vec<String>,
    cache: Vec<OnceLock<Arc<CaseData>>>,
    cached_bytes: AtomicUsize,
    cache_budget: usize,
    /// Cascade: the folder with the previous stage's segmentations.
    previous_stage: Option<PathBuf>,
    /// When set, the values a preprocessed segmentation may hold (sorted).
    label_values: Option<Vec<i16>>,
}

impl PreprocessedCases {
    /// Opens `identifiers` in `folder`; every case must have been preprocessed.
    pub fn open(folder: &Path, identifiers: Vec<String>, cache_budget: usize) -> Result<Self> {
        let missing: Vec<&String> = identifiers
            .iter()
            .filter(|id| !case_paths(folder, id)[2].exists())
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_file(
                folder,
                format!(
                    "{} case(s) are not preprocessed: {} (run `nnunet preprocess`)",
                    missing.len(),
                    first_few(&missing, "")
                ),
            ));
        }
        Ok(PreprocessedCases {
            folder: folder.to_path_buf(),
            cache: identifiers.iter().map(|_| OnceLock::new()).collect(),
            identifiers,
            cached_bytes: AtomicUsize::new(0),
            cache_budget,
            previous_stage: None,
            label_values: None,
        })
    }

    /// Checks every case's segmentation as it is read against the labels `dataset` declares
    /// (plus -1, nnU-Net's mark for background outside the non-zero mask), so that a bad value
    /// fails naming the case instead of deep in the loss.
    pub fn with_labels_of(mut self, dataset: &nnunet_core::DatasetDescriptor) -> Result<Self> {
        let mut values = nnunet_datasets::case_image::declared_label_values(dataset)?;
        values.push(-1);
        values.sort_unstable();
        self.label_values = Some(values);
        Ok(self)
    }

    /// Also serves each case's previous-stage segmentation (cascade) from `folder`; every case
    /// must have one. `hint` says how to produce them and is part of the error when some are
    /// missing.
    pub fn with_previous_stage(mut self, folder: &Path, hint: &str) -> Result<Self> {
        let missing: Vec<&String> = self
            .identifiers
            .iter()
            .filter(|id| !previous_stage_path(folder, id).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_file(
                folder,
                format!(
                    "the previous stage's segmentation is missing for {} case(s): {} ({hint})",
                    missing.len(),
                    first_few(&missing, ".seg")
                ),
            ));
        }
        self.previous_stage = Some(folder.to_path_buf());
        Ok(self)
    }

    fn read(&self, index: usize) -> Result<CaseData> {
        let id = &self.identifiers[index];
        let case = read_case(&self.folder, id)?;
        if let Some(allowed) = &self.label_values {
            let seg_path = &case_paths(&self.folder, id)[1];
            nnunet_datasets::case_image::check_label_values(id, seg_path, &case.seg, allowed)?;
        }
        let p = &case.properties;
        let [channels, z, y, x] = p.data_shape;
        let class_locations = p
            .class_locations
            .iter()
            .map(|(key, locs)| {
                let class = key
                    .split(',')
                    .next()
                    .and_then(|k| k.trim().parse::<i16>().ok())
                    .ok_or_else(|| {
                        Error::invalid_file(
                            case_paths(&self.folder, id)[2].clone(),
                            format!("class key {key:?} is not a label or region"),
                        )
                    })?;
                let locs = locs
                    .iter()
                    .map(|l| [l[0] as usize, l[1] as usize, l[2] as usize])
                    .collect();
                Ok((class, locs))
            })
            .collect::<Result<Vec<_>>>()?;
        let data = CaseData::new(
            id.clone(),
            case.data,
            channels,
            [z, y, x],
            case.seg,
            class_locations,
        )?;
        match &self.previous_stage {
            None => Ok(data),
            Some(folder) => {
                let path = previous_stage_path(folder, id);
                let what = format!(
                    "int16 of the preprocessed shape {:?} (predicted with other plans?)",
                    data.shape
                );
                let prev = read_seg(&path, data.seg.len(), &what)?;
                data.with_previous_stage(prev)
            }
        }
    }
}

/// The first five of `ids`, each followed by `suffix`, comma-separated (`…` if there are more).
fn first_few(ids: &[&String], suffix: &str) -> String {
    let mut text = ids
        .iter()
        .take(5)
        .map(|id| format!("{id}{suffix}"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 5 {
        text.push_str(", …");
    }
    text
}

/// Where the previous stage's segmentation of `case` lies in `folder`: `CASE.seg`.
pub fn previous_stage_path(folder: &Path, case: &str) -> PathBuf {
    case_paths(folder, case)[1].clone()
}

impl CaseSource for PreprocessedCases {
    fn len(&self) -> usize {
        self.identifiers.len()
    }

    fn identifier(&self, index: usize) -> &str {
        &self.identifiers[index]
    }

    fn load(&self, index: usize) -> Result<Arc<CaseData>> {
        if index >= self.identifiers.len() {
            return Err(Error::Invalid(format!(
                "case index {index} out of range ({} cases)",
                self.identifiers.len()
            )));
        }
        if let Some(case) = self.cache[index].get() {
            return Ok(Arc::clone(case));
        }
        let case = Arc::new(self.read(index)?);
        let bytes = case.data.len() * 4
            + case.seg.len() * 2
            + case.seg_prev.as_ref().map_or(0, |s| s.len() * 2);
        if self.cached_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes <= self.cache_budget {
            let _ = self.cache[index].set(Arc::clone(&case));
        } else {
            self.cached_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        Ok(case)
    }
}
