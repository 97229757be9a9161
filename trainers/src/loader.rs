//! Batch assembly, as nnU-Net's `nnUNetDataLoader.generate_train_batch`: cases drawn at random
//! with replacement, the last `oversample_foreground_percent` (33% by default, the run's
//! `oversample_foreground`) of each batch forced to contain foreground (centred on a
//! random voxel of a random present class), patches cut at the enlarged initial size (training)
//! or the final size (validation) with padding (image 0, labels −1), then transformed.
//!
//! Batch `i` is a pure function of `(base seed, i)`: the case choice uses the batch's generator
//! and each sample its own (see [`crate::random`]), so any worker can build any batch.

use std::sync::Arc;

use nnunet_core::{Error, Result};
use rand::Rng;

use crate::augment::{
    AugmentConfig, Augmented, spatial, train_after_spatial, validation_transform,
};
use crate::batch::{Batch, TargetBatch};
use crate::case_source::{CaseData, CaseSource};
use crate::data_parallel::Shard;
use crate::patch_sampling::{
    OVERSAMPLE_FOREGROUND_PERCENT, crop_and_pad, force_foreground, sample_bbox,
};
use crate::random::{batch_rng, sample_rng};
use crate::sample::Sample;

/// What a loader produces.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub oversample_foreground_percent: f64,
    /// Training (enlarged crop + training transforms) or validation (final crop, no augmentation).
    pub training: bool,
    pub augment: AugmentConfig,
    /// The samples of each batch this rank builds (data-parallel training; default: all).
    pub shard: Shard,
}

impl LoaderConfig {
    /// nnU-Net's training loader for `augment` and `batch_size` (33% foreground oversampling;
    /// set `oversample_foreground_percent` for another fraction).
    pub fn training(augment: AugmentConfig, batch_size: usize) -> Self {
        LoaderConfig {
            batch_size,
            oversample_foreground_percent: OVERSAMPLE_FOREGROUND_PERCENT,
            training: true,
            augment,
            shard: Shard::default(),
        }
    }

    /// nnU-Net's validation loader (same oversampling, no augmentation).
    pub fn validation(augment: AugmentConfig, batch_size: usize) -> Self {
        LoaderConfig {
            training: false,
            ..Self::training(augment, batch_size)
        }
    }
}

/// Builds batches from a [`CaseSource`].
pub struct DataLoader {
    source: Arc<dyn CaseSource>,
    config: LoaderConfig,
    seed: u64,
}

impl DataLoader {
    pub fn new(source: Arc<dyn CaseSource>, config: LoaderConfig, seed: u64) -> Result<Self> {
        if source.is_empty() {
            return Err(Error::Invalid("data loader: no cases to draw from".into()));
        }
        if config.batch_size == 0 {
            return Err(Error::Invalid(
                "data loader: batch size must be at least 1".into(),
            ));
        }
        config.shard.samples(config.batch_size)?;
        Ok(DataLoader {
            source,
            config,
            seed,
        })
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Which case each sample of batch `index` uses.
    pub fn case_indices(&self, index: u64) -> Vec<usize> {
        let mut rng = batch_rng(self.seed, index);
        (0..self.config.batch_size)
            .map(|_| rng.gen_range(0..self.source.len()))
            .collect()
    }

    /// Builds batch `index`: this rank's samples of it (all of them in a single process).
    pub fn batch(&self, index: u64) -> Result<Batch> {
        let cases = self.case_indices(index);
        let samples = self.config.shard.samples(self.config.batch_size)?;
        let local_size = samples.len();
        let mut keys = Vec::with_capacity(local_size);
        let mut batch: Option<Batch> = None;
        for j in samples {
            let case = cases[j];
            let data = self.source.load(case)?;
            keys.push(data.identifier.clone());
            let out = self.sample(index, j, &data)?;
            let b = batch.get_or_insert_with(|| {
                Batch::empty(index, &out, local_size, self.config.augment.ndim)
            });
            b.push(&out);
        }
        let mut b = batch.expect("batch size is at least 1");
        b.keys = keys;
        Ok(b)
    }

    /// Sample `j` of batch `index`, drawn from `case`.
    pub fn sample(&self, index: u64, j: usize, case: &CaseData) -> Result<Augmented> {
        let cfg = &self.config;
        let aug = &cfg.augment;
        let mut rng = sample_rng(self.seed, index, j as u64);
        let force_fg = force_foreground(j, cfg.batch_size, cfg.oversample_foreground_percent);
        let (patch, need_to_pad) = if cfg.training {
            let need: [usize; 3] = std::array::from_fn(|d| {
                aug.initial_patch_size[d].saturating_sub(aug.patch_size[d])
            });
            (aug.initial_patch_size, need)
        } else {
            (aug.patch_size, [0; 3])
        };
        let centre = if force_fg {
            let eligible: Vec<&Vec<[usize; 3]>> = case
                .class_locations
                .iter()
                .map(|(_, locs)| locs)
                .filter(|l| !l.is_empty())
                .collect();
            if eligible.is_empty() {
                None
            } else {
                let locs = eligible[rng.gen_range(0..eligible.len())];
                Some(locs[rng.gen_range(0..locs.len())])
            }
        } else {
            None
        };
        let lower = sample_bbox(&mut rng, case.shape, patch, need_to_pad, centre);
        if !cfg.training || !aug.enabled {
            return Ok(validation_transform(aug, crop(case, aug, lower, patch)?));
        }
        // Without rotation/scaling the spatial transform is a centre crop of the enlarged
        // patch: cut the final patch straight from the case instead (same voxels, same padding).
        let matrix = spatial::sample_matrix(&mut rng, &aug.spatial);
        let sample = match &matrix {
            None => {
                let at: [i64; 3] = std::array::from_fn(|d| {
                    lower[d] + (patch[d] / 2) as i64 - (aug.patch_size[d] / 2) as i64
                });
                crop(case, aug, at, aug.patch_size)?
            }
            Some(m) => {
                // read the enlarged patch straight from the case (no copy of it)
                let w = spatial::Window::of_case(case, lower, patch, aug.cascade_labels.is_some())?;
                spatial::apply_window(&w, aug.patch_size, m, aug.ndim)
            }
        };
        train_after_spatial(&mut rng, aug, sample)
    }
}

/// The box `[lower, lower + patch)` of a case, padded (image 0, labels −1), with the previous
/// stage's segmentation as a second label channel for the cascade.
fn crop(
    case: &CaseData,
    aug: &AugmentConfig,
    lower: [i64; 3],
    patch: [usize; 3],
) -> Result<Sample> {
    let image = crop_and_pad(&case.data, case.channels, case.shape, lower, patch, 0.0);
    let mut seg = crop_and_pad(&case.seg, 1, case.shape, lower, patch, -1i16);
    let mut seg_channels = 1;
    if aug.cascade_labels.is_some() {
        let prev = case.seg_prev.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "case {}: the cascade needs the previous stage's segmentation",
                case.identifier
            ))
        })?;
        seg.extend(crop_and_pad(prev, 1, case.shape, lower, patch, -1i16));
        seg_channels = 2;
    }
    Ok(Sample {
        image,
        channels: case.channels,
        seg,
        seg_channels,
        shape: patch,
        ndim: aug.ndim,
    })
}

impl TargetBatch {
    fn push(&mut self, data: &[i16]) {
        self.data.extend_from_slice(data);
    }
}

impl Batch {
    fn empty(index: u64, first: &Augmented, batch_size: usize, ndim: usize) -> Batch {
        let spatial = |s: [usize; 3]| -> Vec<usize> { s[3 - ndim..].to_vec() };
        let mut data_shape = vec![batch_size, first.channels];
        data_shape.extend(spatial(first.shape));
        let targets = first
            .targets
            .iter()
            .map(|t| {
                let mut shape = vec![batch_size, t.channels];
                shape.extend(spatial(t.shape));
                TargetBatch {
                    data: Vec::with_capacity(shape.iter().product()),
                    shape,
                }
            })
            .collect();
        Batch {
            index,
            data: Vec::with_capacity(data_shape.iter().product()),
            data_shape,
            targets,
            keys: Vec::new(),
        }
    }

    fn push(&mut self, sample: &Augmented) {
        self.data.extend_from_slice(&sample.image);
        for (t, s) in self.targets.iter_mut().zip(&sample.targets) {
            t.push(&s.data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::spatial::centre_crop;
    use crate::synthetic::ellipsoid_cases;

    #[test]
    fn direct_final_crop_equals_centre_crop_of_the_enlarged_patch() {
        let case = &ellipsoid_cases(1, 2, [9, 20, 17], [9, 20, 17], 3)[0];
        let aug = AugmentConfig::nnunet(&[6, 10, 8]).unwrap();
        let (big, small) = (aug.initial_patch_size, aug.patch_size);
        for lower in [
            [0i64, 0, 0],
            [-5, -7, -3],
            [4, 12, 11],
            [-2, 3, 15],
            [8, -20, 0],
        ] {
            let via_big = centre_crop(&crop(case, &aug, lower, big).unwrap(), small);
            let at: [i64; 3] =
                std::array::from_fn(|d| lower[d] + (big[d] / 2) as i64 - (small[d] / 2) as i64);
            assert_eq!(
                crop(case, &aug, at, small).unwrap(),
                via_big,
                "lower {lower:?}"
            );
        }
    }
}
