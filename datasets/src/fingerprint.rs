//! The dataset fingerprint (`dataset_fingerprint.json`), computed as nnU-Net's
//! `DatasetFingerprintExtractor` does:
//!
//! * per training case: crop to the bounding box of the non-zero voxels of any channel (the
//!   hole filling of nnU-Net's mask cannot change a bounding box, so it is skipped here); record
//!   the spacing `(z, y, x)`, the shape after cropping and the cropped fraction of voxels;
//! * foreground intensities: the voxels of the crop with label > 0, sampled with replacement,
//!   `int(10e7 // n_cases)` per case and channel, from a fresh `np.random.RandomState(1234)` per
//!   case (channels drawn in order from the same generator). [`crate::numpy_random`]
//!   reproduces numpy's draws exactly, so the samples are nnU-Net's samples.
//! * pooled per channel: mean, median, std (population), min, max, 0.5th and 99.5th percentile
//!   (numpy's default linear interpolation); `median_relative_size_after_cropping`.
//!
//! Samples are kept as (value, count) pairs instead of nnU-Net's array of 10^8 values per channel;
//! statistics are accumulated in `f64` (nnU-Net's numpy reductions run in `float32`, so the
//! last digits of mean and std differ slightly). A case without non-zero voxels keeps its full
//! shape (nnU-Net fails on it). Cases run in parallel (rayon) with a progress bar.

use crate::case_image::read_case_image;
use crate::io::read_label;
use crate::numpy_compat::{lerp, median};
use crate::numpy_random::RandomState;
use crate::raw::{RawCase, RawDataset, find_dataset};
use indicatif::{ProgressBar, ProgressStyle};
use nnunet_core::fingerprint::IntensityStats;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Dataset, Error, Fingerprint, Image, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// nnU-Net's total number of foreground samples per channel (`10e7`).
pub const FOREGROUND_SAMPLES_TOTAL: usize = 100_000_000;
/// nnU-Net's seed for the per-case foreground sampling.
pub const SAMPLING_SEED: u32 = 1234;

/// Sampled intensities as `(value, how often)`, sorted by value, values distinct.
pub type Samples = Vec<(f32, u64)>;

/// What one case contributes to the fingerprint.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseAnalysis {
    pub spacing: [f64; 3],
    pub shape_after_crop: [usize; 3],
    pub relative_size_after_cropping: f64,
    /// Per channel.
    pub samples: Vec<Samples>,
}

/// The `[start, end)` box per axis `(z, y, x)` of voxels non-zero in any channel; the whole
/// image when there is none.
pub fn nonzero_bbox(image: &Image) -> [(usize, usize); 3] {
    let [nz, ny, nx] = image.shape;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for z in 0..nz {
        for y in 0..ny {
            let row = (z * ny + y) * nx;
            let first = (0..nx).find(|&x| image.channels.iter().any(|c| c[row + x] != 0.0));
            let Some(first) = first else { continue };
            let last = (first..nx)
                .rev()
                .find(|&x| image.channels.iter().any(|c| c[row + x] != 0.0))
                .unwrap_or(first);
            lo = [lo[0].min(z), lo[1].min(y), lo[2].min(first)];
            hi = [hi[0].max(z + 1), hi[1].max(y + 1), hi[2].max(last + 1)];
        }
    }
    if lo[0] == usize::MAX {
        return [(0, nz), (0, ny), (0, nx)];
    }
    [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])]
}

/// Sorts and merges `(value, count)` pairs.
fn merge_samples(mut pairs: Vec<(f32, u64)>) -> Samples {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Samples = Vec::with_capacity(pairs.len());
    for (value, count) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == value => last.1 += count,
            _ => out.push((value, count)),
        }
    }
    out
}

/// Analyses one case (which must hold `num_channels` channels of finite voxels, with a finite
/// spacing): crop, spacing, and `num_samples` foreground samples per channel.
pub fn analyze_case(
    case: &RawCase,
    num_channels: usize,
    num_samples: usize,
) -> Result<CaseAnalysis> {
    let image = read_case_image(&case.id, &case.images, num_channels)?;
    if let Some(s) = image.geometry.spacing.iter().find(|s| !s.is_finite()) {
        return Err(Error::invalid_file(
            &case.images[0],
            format!("case {}: spacing {s} is not a finite number", case.id),
        ));
    }
    let label_path = case.label.as_deref().ok_or_else(|| {
        Error::Invalid(format!(
            "case {}: a training case needs a label map",
            case.id
        ))
    })?;
    let label = read_label(label_path)?;
    if label.shape != image.shape {
        return Err(Error::invalid_file(
            label_path,
            format!(
                "shape {:?} differs from the image's {:?} (run nnunet verify)",
                label.shape, image.shape
            ),
        ));
    }
    let bbox = nonzero_bbox(&image);
    let [_, ny, nx] = image.shape;
    let mut foreground = Vec::new();
    for z in bbox[0].0..bbox[0].1 {
        for y in bbox[1].0..bbox[1].1 {
            let row = (z * ny + y) * nx;
            foreground.extend((row + bbox[2].0..row + bbox[2].1).filter(|&i| label.data[i] > 0));
        }
    }
    let mut rng = RandomState::new(SAMPLING_SEED);
    let mut counts = vec![0u64; foreground.len()];
    let samples = image
        .channels
        .iter()
        .map(|channel| {
            if foreground.is_empty() {
                return Vec::new();
            }
            counts.iter_mut().for_each(|c| *c = 0);
            for _ in 0..num_samples {
                counts[rng.randint(foreground.len() as u32) as usize] += 1;
            }
            merge_samples(
                foreground
                    .iter()
                    .zip(&counts)
                    .filter(|(_, c)| **c > 0)
                    .map(|(&i, &c)| (channel[i], c))
                    .collect(),
            )
        })
        .collect();
    let shape_after_crop = bbox.map(|(a, b)| b - a);
    let before: usize = image.shape.iter().product();
    let after: usize = shape_after_crop.iter().product();
    Ok(CaseAnalysis {
        spacing: image.geometry.spacing,
        shape_after_crop,
        relative_size_after_cropping: after as f64 / before as f64,
        samples,
    })
}

/// The value at sorted position `k` of the multiset `samples`.
fn value_at(samples: &Samples, k: u64) -> f64 {
    let mut seen = 0;
    for &(value, count) in samples {
        seen += count;
        if k < seen {
            return value as f64;
        }
    }
    samples.last().map_or(f64::NAN, |s| s.0 as f64)
}

/// `np.percentile(samples, q)` (method `linear`) of a multiset.
pub fn percentile(samples: &Samples, q: f64) -> f64 {
    let n: u64 = samples.iter().map(|s| s.1).sum();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    let lo = virtual_index.floor();
    let gamma = virtual_index - lo;
    let lo = lo as u64;
    let hi = (lo + 1).min(n - 1);
    lerp(value_at(samples, lo), value_at(samples, hi), gamma)
}

/// The pooled statistics of one channel.
pub fn intensity_stats(samples: &Samples) -> IntensityStats {
    let n: u64 = samples.iter().map(|s| s.1).sum();
    let nf = n as f64;
    let mean = samples
        .iter()
        .map(|&(v, c)| v as f64 * c as f64)
        .sum::<f64>()
        / nf;
    let variance = samples
        .iter()
        .map(|&(v, c)| (v as f64 - mean).powi(2) * c as f64)
        .sum::<f64>()
        / nf;
    IntensityStats {
        max: samples.last().map_or(f64::NAN, |s| s.0 as f64),
        mean,
        median: percentile(samples, 50.0),
        min: samples.first().map_or(f64::NAN, |s| s.0 as f64),
        percentile_00_5: percentile(samples, 0.5),
        percentile_99_5: percentile(samples, 99.5),
        std: variance.sqrt(),
    }
}

/// Computes the fingerprint of the training cases of `dataset`. `threads` = `None` uses
/// rayon's global pool; a progress bar is drawn on stderr when `progress` is set.
pub fn extract_fingerprint(
    dataset: &RawDataset,
    threads: Option<usize>,
    progress: bool,
) -> Result<Fingerprint> {
    let cases: Vec<&RawCase> = dataset.raw_cases().collect();
    if cases.is_empty() {
        return Err(Error::invalid_file(
            dataset.root(),
            "no training cases (run nnunet verify)",
        ));
    }
    let num_samples = FOREGROUND_SAMPLES_TOTAL / cases.len();
    let num_channels = dataset.descriptor().num_channels();
    let bar = if progress {
        ProgressBar::new(cases.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("fingerprint {bar:40} {pos}/{len} cases {elapsed}<{eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let work = || -> Result<Vec<CaseAnalysis>> {
        cases
            .par_iter()
            .map(|case| {
                let analysis = analyze_case(case, num_channels, num_samples);
                bar.inc(1);
                analysis
            })
            .collect()
    };
    let analyses = match threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start {n} threads: {e}")))?
            .install(work)?,
        None => work()?,
    };
    bar.finish_and_clear();
    let mut properties = BTreeMap::new();
    for channel in 0..num_channels {
        let pooled = merge_samples(
            analyses
                .iter()
                .filter_map(|a| a.samples.get(channel))
                .flatten()
                .copied()
                .collect(),
        );
        properties.insert(channel.to_string(), intensity_stats(&pooled));
    }
    let relative: Vec<f64> = analyses
        .iter()
        .map(|a| a.relative_size_after_cropping)
        .collect();
    Ok(Fingerprint {
        foreground_intensity_properties_per_channel: properties,
        median_relative_size_after_cropping: if relative.is_empty() {
            f64::NAN
        } else {
            median(&relative)
        },
        shapes_after_crop: analyses
            .iter()
            .map(|a| a.shape_after_crop.to_vec())
            .collect(),
        spacings: analyses.iter().map(|a| a.spacing.to_vec()).collect(),
    })
}

/// `nnUNet_preprocessed/<dataset name>/dataset_fingerprint.json`.
pub fn fingerprint_path(preprocessed: &Path, dataset_name: &str) -> PathBuf {
    preprocessed
        .join(dataset_name)
        .join("dataset_fingerprint.json")
}

/// What `nnunet fingerprint` did.
pub struct FingerprintRun {
    pub path: PathBuf,
    pub fingerprint: Fingerprint,
    /// False when an existing file was kept (no `overwrite`).
    pub computed: bool,
}

/// `nnunet fingerprint -d ID`: finds the dataset, computes its fingerprint and writes it
/// atomically to `nnUNet_preprocessed/DatasetXXX_Name/dataset_fingerprint.json`. Like nnU-Net,
/// an existing file is kept unless `overwrite` is set.
pub fn run_fingerprint(
    paths: &NnunetPaths,
    name_or_id: &str,
    threads: Option<usize>,
    overwrite: bool,
    progress: bool,
) -> Result<FingerprintRun> {
    let root = find_dataset(paths, name_or_id)?;
    let dataset = RawDataset::open(&root)?;
    let preprocessed = paths.preprocessed.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "{} is not set: it names the folder the fingerprint is written to",
            nnunet_core::paths::PREPROCESSED_VAR
        ))
    })?;
    let path = fingerprint_path(preprocessed, &dataset.name());
    if path.is_file() && !overwrite {
        return Ok(FingerprintRun {
            fingerprint: nnunet_core::atomic::read_json(&path)?,
            path,
            computed: false,
        });
    }
    let fingerprint = extract_fingerprint(&dataset, threads, progress)?;
    nnunet_core::atomic::write_json(&path, &fingerprint)?;
    Ok(FingerprintRun {
        path,
        fingerprint,
        computed: true,
    })
}

#[cfg(test)]
mod tests;
