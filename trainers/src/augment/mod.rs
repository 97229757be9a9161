//! nnU-Net's augmentation pipeline (`nnUNetTrainer.get_training_transforms` /
//! `get_validation_transforms`, batchgeneratorsv2), one small module per transform.
//!
//! Training order: spatial (rotation/scaling + crop) → Gaussian noise (p .1) → Gaussian blur
//! (p .2) → multiplicative brightness (p .15) → contrast (p .15) → low resolution (p .25) →
//! inverted gamma (p .1) → gamma (p .3) → mirroring → mask outside the crop (channels
//! normalised with a mask) → label −1 → 0 → cascade one-hot channels, random binary operator
//! (p .4), component removal (p .2) → regions (if any) → deep-supervision targets.
//! Validation: label −1 → 0 → cascade one-hot → regions → deep-supervision targets.
//!
//! Every probability and range comes from the run's
//! [`AugmentationOptions`](nnunet_core::trainer::AugmentationOptions) ([`AugmentConfig::from_options`]);
//! plugin transforms ([`nnunet_core::Augmentation`]) run after the step they name
//! ([`PluginSteps`]).

pub mod blur;
pub mod brightness;
pub mod cascade;
pub mod contrast;
pub mod deep_supervision;
pub mod gamma;
pub mod labels;
pub mod low_resolution;
pub mod mirror;
pub mod morphology;
pub mod noise;
pub mod spatial;
pub mod stats;
#[cfg(test)]
pub(crate) mod test_support;

use std::f64::consts::PI;

use nnunet_core::trainer::AugmentationOptions;
use nnunet_core::{Augmentation, AugmentationStage, Error, Result};
use rand::Rng;
use std::sync::Arc;

use crate::patch_sampling::initial_patch_size;
use crate::random::chance;
use crate::sample::Sample;
use deep_supervision::{SegTarget, downsample_seg};
use spatial::SpatialConfig;

/// nnU-Net's `ANISO_THRESHOLD`: a 3D patch whose largest edge exceeds 3× its first edge is
/// augmented in 2D ("dummy 2D").
pub const ANISO_THRESHOLD: f64 = 3.0;

pub use nnunet_core::trainer::IntensityConfig;

/// Everything the augmentation of one configuration needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentConfig {
    /// Final patch `[z, y, x]` (`z = 1` in 2D).
    pub patch_size: [usize; 3],
    /// Enlarged patch the loader crops before the spatial transform.
    pub initial_patch_size: [usize; 3],
    /// 2 or 3: the network's dimensionality.
    pub ndim: usize,
    /// 3D patch augmented in-plane (anisotropic patch).
    pub dummy_2d: bool,
    pub spatial: SpatialConfig,
    pub intensity: IntensityConfig,
    /// Mirrored axes of `[z, y, x]`.
    pub mirror_axes: Vec<usize>,
    /// Per image channel: normalised within the nonzero mask (plans' `use_mask_for_norm`).
    pub use_mask_for_norm: Vec<bool>,
    /// Cascade: foreground labels of the previous stage, one extra input channel each.
    pub cascade_labels: Option<Vec<i16>>,
    /// Region-based training: the label sets of each region (plus the ignore label as its own
    /// region when there is one, as nnU-Net passes it); targets become one channel per region.
    pub regions: Option<Vec<Vec<i16>>>,
    /// Deep-supervision scales per output (per network axis); `None` = one full-size target.
    pub deep_supervision_scales: Option<Vec<Vec<f64>>>,
    /// `false`: no augmentation (`nnUNetTrainerNoDA`): training batches are cut at the final
    /// patch size and get the validation transforms.
    pub enabled: bool,
    /// Plugin transforms, each after the built-in step it names.
    pub plugins: PluginSteps,
}

/// Plugin augmentations in the order they run, each with the step it follows.
#[derive(Clone, Default)]
pub struct PluginSteps(pub Vec<(AugmentationStage, String, Arc<dyn Augmentation>)>);

impl std::fmt::Debug for PluginSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(stage, name, _)| (stage, name)))
            .finish()
    }
}

impl PartialEq for PluginSteps {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.0 == b.0 && a.1 == b.1 && Arc::ptr_eq(&a.2, &b.2))
    }
}

impl PluginSteps {
    /// Runs the transforms placed after `stage` on `sample`, each with its own seed from `rng`.
    fn run<R: Rng>(
        &self,
        stage: AugmentationStage,
        rng: &mut R,
        sample: &mut Sample,
    ) -> Result<()> {
        for (at, _, transform) in &self.0 {
            if *at == stage {
                let seed = rand::RngCore::next_u64(rng);
                transform.apply(sample, seed)?;
            }
        }
        Ok(())
    }
}

impl AugmentConfig {
    /// nnU-Net's `configure_rotation_dummyDA_mirroring_and_inital_patch_size` for `patch`
    /// (2 or 3 axes, as in the plans).
    pub fn nnunet(patch: &[usize]) -> Result<Self> {
        Self::with_rotation(patch, None)
    }

    /// As [`AugmentConfig::nnunet`], with the rotation range `rotation` (radians) instead of
    /// nnU-Net's rule when given.
    fn with_rotation(patch: &[usize], rotation: Option<(f64, f64)>) -> Result<Self> {
        let deg = |d: f64| d / 360.0 * 2.0 * PI;
        let range = |r: f64| rotation.unwrap_or((-r, r));
        let widest = |r: (f64, f64)| r.0.abs().max(r.1.abs());
        let (patch3, ndim, dummy_2d, rotation, mirror_axes, initial) = match *patch {
            [y, x] => {
                let aspect = y.max(x) as f64 / y.min(x) as f64;
                let r = range(if aspect > 1.5 { deg(15.0) } else { deg(180.0) });
                let ip = initial_patch_size(patch, widest(r));
                ([1, y, x], 2, false, r, vec![1, 2], [1, ip[0], ip[1]])
            }
            [z, y, x] => {
                let dummy = (y.max(x).max(z) as f64 / z as f64) > ANISO_THRESHOLD;
                let r = range(if dummy { deg(180.0) } else { deg(30.0) });
                let mut ip = initial_patch_size(patch, widest(r));
                if dummy {
                    ip[0] = z;
                }
                ([z, y, x], 3, dummy, r, vec![0, 1, 2], [ip[0], ip[1], ip[2]])
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "patch size {patch:?}: expected 2 or 3 axes"
                )));
            }
        };
        if patch.contains(&0) {
            return Err(Error::Invalid(format!(
                "patch size {patch:?} has an empty axis"
            )));
        }
        let spatial_dims = if ndim == 2 || dummy_2d { 2 } else { 3 };
        Ok(AugmentConfig {
            patch_size: patch3,
            initial_patch_size: initial,
            ndim,
            dummy_2d,
            spatial: SpatialConfig::nnunet(rotation, spatial_dims),
            intensity: IntensityConfig::default(),
            mirror_axes,
            use_mask_for_norm: Vec::new(),
            cascade_labels: None,
            regions: None,
            deep_supervision_scales: None,
            enabled: true,
            plugins: PluginSteps::default(),
        })
    }

    /// The augmentation a run's [`AugmentationOptions`] describe for `patch` (2 or 3 axes).
    pub fn from_options(patch: &[usize], options: &AugmentationOptions) -> Result<Self> {
        let rotation = options
            .rotation_degrees
            .map(|(lo, hi)| (lo.to_radians(), hi.to_radians()));
        let mut cfg = Self::with_rotation(patch, rotation)?;
        cfg.spatial.p_rotation = options.p_rotation;
        cfg.spatial.p_scaling = options.p_scaling;
        cfg.spatial.scaling = options.scaling;
        cfg.intensity = options.intensity.clone();
        if let Some(axes) = &options.mirror_axes {
            let offset = 3 - patch.len();
            cfg.mirror_axes = axes
                .iter()
                .map(|&a| {
                    if a < patch.len() {
                        Ok(a + offset)
                    } else {
                        Err(Error::Invalid(format!(
                            "augmentation.mirror_axes: axis {a} does not exist in a {}D patch \
                             (axes 0..{})",
                            patch.len(),
                            patch.len() - 1
                        )))
                    }
                })
                .collect::<Result<_>>()?;
            cfg.mirror_axes.sort_unstable();
            cfg.mirror_axes.dedup();
        }
        if !options.enabled {
            // nnUNetTrainerNoDA: final-size patches, validation transforms, no mirroring.
            cfg.enabled = false;
            cfg.initial_patch_size = cfg.patch_size;
            cfg.mirror_axes.clear();
        }
        Ok(cfg)
    }

    /// The mirroring axes numbered over the patch's axes, as nnU-Net saves them for
    /// inference (`inference_allowed_mirroring_axes`).
    pub fn inference_mirror_axes(&self) -> Vec<usize> {
        let offset = 3 - self.ndim;
        self.mirror_axes.iter().map(|a| a - offset).collect()
    }

    /// The network's spatial axes of `[z, y, x]`.
    pub fn network_axes(&self) -> Vec<usize> {
        ((3 - self.ndim)..3).collect()
    }
}

/// A sample after augmentation: the network input (`sample.image`) and one target per
/// deep-supervision output (full size first).
#[derive(Debug, Clone, PartialEq)]
pub struct Augmented {
    pub image: Vec<f32>,
    pub channels: usize,
    pub shape: [usize; 3],
    pub targets: Vec<SegTarget>,
}

/// The steps both pipelines end with: label −1 → 0, cascade one-hot, targets.
fn finish<R: Rng>(mut s: Sample, cfg: &AugmentConfig, rng: Option<&mut R>) -> Augmented {
    labels::remove_label(&mut s, -1, 0);
    if let Some(fg) = &cfg.cascade_labels {
        let first = s.channels;
        cascade::move_seg_as_one_hot(&mut s, 1, fg);
        if let Some(rng) = rng {
            let chans: Vec<usize> = (first..s.channels).collect();
            let ic = &cfg.intensity;
            if chance(rng, ic.p_binary_operator) {
                cascade::random_binary_operator(rng, &mut s, &chans, (1.0, 8.0), 0.5);
            }
            if chance(rng, ic.p_remove_component) {
                cascade::remove_random_component(rng, &mut s, &chans, 0.15, 0.5);
            }
        }
    }
    if let Some(regions) = &cfg.regions {
        labels::to_regions(&mut s, regions);
    }
    let axes = cfg.network_axes();
    let targets = match &cfg.deep_supervision_scales {
        Some(scales) => {
            let mut t: Vec<SegTarget> = scales
                .iter()
                .skip(1)
                .map(|sc| downsample_seg(&s.seg, s.seg_channels, s.shape, &axes, sc))
                .collect();
            // the full-size target (scale 1, nnU-Net's first) takes the labels without a copy
            match scales.first() {
                Some(sc) if sc.iter().all(|&v| v == 1.0) => t.insert(
                    0,
                    SegTarget {
                        data: s.seg,
                        channels: s.seg_channels,
                        shape: s.shape,
                    },
                ),
                Some(sc) => t.insert(
                    0,
                    downsample_seg(&s.seg, s.seg_channels, s.shape, &axes, sc),
                ),
                None => {}
            }
            t
        }
        None => vec![SegTarget {
            data: s.seg,
            channels: s.seg_channels,
            shape: s.shape,
        }],
    };
    Augmented {
        image: s.image,
        channels: s.channels,
        shape: s.shape,
        targets,
    }
}

/// The training transforms for one sample cropped at `cfg.initial_patch_size`.
pub fn train_transform<R: Rng>(
    rng: &mut R,
    cfg: &AugmentConfig,
    sample: Sample,
) -> Result<Augmented> {
    let matrix = spatial::sample_matrix(rng, &cfg.spatial);
    let s = spatial::apply(&sample, cfg.patch_size, matrix.as_ref());
    drop(sample);
    train_after_spatial(rng, cfg, s)
}

/// The training transforms after the spatial one, for a sample already at `cfg.patch_size`.
/// Plugin transforms run after the step they name; an error from one is the sample's error.
pub fn train_after_spatial<R: Rng>(
    rng: &mut R,
    cfg: &AugmentConfig,
    mut s: Sample,
) -> Result<Augmented> {
    use AugmentationStage as At;
    let ic = &cfg.intensity;
    let steps = &cfg.plugins;
    steps.run(At::Spatial, rng, &mut s)?;
    if chance(rng, ic.p_noise) {
        noise::gaussian_noise(rng, &mut s, ic.noise_sigma);
    }
    steps.run(At::Noise, rng, &mut s)?;
    if chance(rng, ic.p_blur) {
        blur::gaussian_blur(rng, &mut s, ic.blur_sigma, ic.blur_p_per_channel);
    }
    steps.run(At::Blur, rng, &mut s)?;
    if chance(rng, ic.p_brightness) {
        brightness::multiplicative_brightness(rng, &mut s, ic.brightness);
    }
    steps.run(At::Brightness, rng, &mut s)?;
    if chance(rng, ic.p_contrast) {
        contrast::contrast(rng, &mut s, ic.contrast);
    }
    steps.run(At::Contrast, rng, &mut s)?;
    if chance(rng, ic.p_low_resolution) {
        let ignore: &[usize] = if cfg.dummy_2d { &[0] } else { &[] };
        low_resolution::simulate_low_resolution(
            rng,
            &mut s,
            ic.low_resolution_scale,
            ic.low_resolution_p_per_channel,
            ignore,
        );
    }
    steps.run(At::LowResolution, rng, &mut s)?;
    if chance(rng, ic.p_inverted_gamma) {
        gamma::gamma(rng, &mut s, ic.gamma, true, true);
    }
    steps.run(At::InvertedGamma, rng, &mut s)?;
    if chance(rng, ic.p_gamma) {
        gamma::gamma(rng, &mut s, ic.gamma, false, true);
    }
    steps.run(At::Gamma, rng, &mut s)?;
    mirror::mirror(rng, &mut s, &cfg.mirror_axes);
    steps.run(At::Mirror, rng, &mut s)?;
    let masked: Vec<usize> = (0..s.channels)
        .filter(|&c| cfg.use_mask_for_norm.get(c).copied().unwrap_or(false))
        .collect();
    if !masked.is_empty() {
        labels::mask_image(&mut s, &masked, 0.0);
    }
    steps.run(At::Mask, rng, &mut s)?;
    let (image_len, seg_len) = (s.image.len(), s.seg.len());
    let expected = (s.channels * s.voxels(), s.seg_channels * s.voxels());
    if (image_len, seg_len) != expected {
        return Err(Error::Invalid(format!(
            "a plugin augmentation changed the sample's size: {image_len} image and {seg_len} \
             label values for {} and {} channel(s) of {:?}",
            s.channels, s.seg_channels, s.shape
        )));
    }
    Ok(finish(s, cfg, Some(rng)))
}

/// The validation transforms (no augmentation) for one sample cropped at `cfg.patch_size`.
pub fn validation_transform(cfg: &AugmentConfig, sample: Sample) -> Augmented {
    finish::<crate::random::PipelineRng>(sample, cfg, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nnunet_configuration_rules() {
        let c = AugmentConfig::nnunet(&[40, 56, 40]).unwrap();
        assert!(!c.dummy_2d);
        assert_eq!(c.initial_patch_size, [73, 80, 64]);
        assert!((c.spatial.rotation.1 - 30f64.to_radians()).abs() < 1e-12);
        assert_eq!(c.mirror_axes, vec![0, 1, 2]);

        let d = AugmentConfig::nnunet(&[20, 160, 160]).unwrap();
        assert!(d.dummy_2d);
        assert_eq!(d.initial_patch_size[0], 20);
        assert_eq!(d.spatial.dims, 2);
        assert!((d.spatial.rotation.1 - PI).abs() < 1e-12);

        // Hippocampus 2d: aspect 1.4 ≤ 1.5 → ±180°
        let e = AugmentConfig::nnunet(&[56, 40]).unwrap();
        assert_eq!(
            (e.ndim, e.patch_size, e.initial_patch_size),
            (2, [1, 56, 40], [1, 65, 65])
        );
        assert!((e.spatial.rotation.1 - PI).abs() < 1e-12);
        assert_eq!(e.mirror_axes, vec![1, 2]);
        let g = AugmentConfig::nnunet(&[80, 40]).unwrap();
        assert!((g.spatial.rotation.1 - 15f64.to_radians()).abs() < 1e-12);
        assert_eq!(g.initial_patch_size, [1, 103, 47]);

        let f = AugmentConfig::nnunet(&[1024, 1024]).unwrap();
        assert_eq!(f.initial_patch_size, [1, 1204, 1204]);
        assert!(AugmentConfig::nnunet(&[4]).is_err());
    }

    #[test]
    fn options_set_mirroring_rotation_and_switch_augmentation_off() {
        let default = AugmentationOptions::default();
        assert_eq!(
            AugmentConfig::from_options(&[56, 40], &default).unwrap(),
            AugmentConfig::nnunet(&[56, 40]).unwrap()
        );
        let options = AugmentationOptions {
            mirror_axes: Some(vec![1]),
            rotation_degrees: Some((-15.0, 15.0)),
            ..Default::default()
        };
        let c = AugmentConfig::from_options(&[56, 40], &options).unwrap();
        assert_eq!(c.mirror_axes, vec![2], "patch axis 1 of a 2D patch is x");
        assert_eq!(c.inference_mirror_axes(), vec![1]);
        assert!((c.spatial.rotation.1 - 15f64.to_radians()).abs() < 1e-12);
        // nnU-Net's get_patch_size for ±15°: 56·cos15° + 40·sin15° = 64.4 → /0.85 → 75
        assert_eq!(c.initial_patch_size, [1, 75, 47]);
        let bad = AugmentationOptions {
            mirror_axes: Some(vec![2]),
            ..Default::default()
        };
        let err = AugmentConfig::from_options(&[56, 40], &bad).unwrap_err();
        assert!(err.to_string().contains("mirror_axes: axis 2"), "{err}");
        let off = AugmentationOptions {
            enabled: false,
            ..Default::default()
        };
        let c = AugmentConfig::from_options(&[8, 12, 12], &off).unwrap();
        assert!(!c.enabled && c.mirror_axes.is_empty());
        assert_eq!(c.initial_patch_size, c.patch_size);
    }
}
