//! The [`Augmentation`] trait: a data-augmentation transform that runs inside the training data
//! pipeline's worker threads, on one [`Sample`] at a time, at a named place of nnU-Net's order
//! ([`AugmentationStage`]).
//!
//! A transform sees the sample after the built-in transform it follows: image channels and
//! segmentation channels over the same `[z, y, x]` grid (`z = 1` in 2D). It may change values
//! in place and must keep the shapes and the number of channels. Randomness comes from the
//! `seed` it is given (one per sample and transform, derived from the run's seed), so batches
//! stay a pure function of the seed and their index, whichever worker builds them.

use crate::Result;
use crate::image::voxel_count;
use serde::{Deserialize, Serialize};

/// An image/segmentation pair, channel-first, C-contiguous.
///
/// Spatial shapes are always stored as three axes `[z, y, x]`; a 2D configuration has `z = 1`
/// and `ndim = 2`, so every transform works on one memory layout and knows which axes are
/// spatial for the network (`spatial_axes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// `(channels, z, y, x)` intensities.
    pub image: Vec<f32>,
    pub channels: usize,
    /// `(seg_channels, z, y, x)` labels; channel 0 is the target, channel 1 (cascade only) the
    /// previous stage's segmentation. −1 marks voxels outside the nonzero crop or the image.
    pub seg: Vec<i16>,
    pub seg_channels: usize,
    pub shape: [usize; 3],
    /// 2 for 2D configurations (then `shape[0] == 1`), 3 otherwise.
    pub ndim: usize,
}

impl Sample {
    /// Voxels per channel.
    pub fn voxels(&self) -> usize {
        voxel_count(self.shape)
    }

    /// The axes (of `[z, y, x]`) that are spatial for the network: `1..3` in 2D, `0..3` in 3D.
    pub fn spatial_axes(&self) -> std::ops::Range<usize> {
        (3 - self.ndim)..3
    }

    /// Channel `c` of the image.
    pub fn image_channel(&self, c: usize) -> &[f32] {
        let n = self.voxels();
        &self.image[c * n..(c + 1) * n]
    }

    /// Channel `c` of the image, mutable.
    pub fn image_channel_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.voxels();
        &mut self.image[c * n..(c + 1) * n]
    }

    /// Channel `c` of the segmentation.
    pub fn seg_channel(&self, c: usize) -> &[i16] {
        let n = self.voxels();
        &self.seg[c * n..(c + 1) * n]
    }
}

/// The named places of nnU-Net's training transforms, in their order. A plugin transform runs
/// right after the one it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentationStage {
    /// Rotation and scaling, with the crop to the final patch.
    Spatial,
    Noise,
    Blur,
    Brightness,
    Contrast,
    LowResolution,
    InvertedGamma,
    Gamma,
    Mirror,
    /// Masking outside the crop (channels normalised within a mask): the last step on the image
    /// before labels become targets.
    Mask,
}

impl AugmentationStage {
    pub const ALL: [AugmentationStage; 10] = [
        AugmentationStage::Spatial,
        AugmentationStage::Noise,
        AugmentationStage::Blur,
        AugmentationStage::Brightness,
        AugmentationStage::Contrast,
        AugmentationStage::LowResolution,
        AugmentationStage::InvertedGamma,
        AugmentationStage::Gamma,
        AugmentationStage::Mirror,
        AugmentationStage::Mask,
    ];
}

/// A data-augmentation transform from a plugin (or a built-in crate).
pub trait Augmentation: Send + Sync {
    /// Transforms `sample` in place; `seed` is this sample's own random seed for this transform.
    fn apply(&self, sample: &mut Sample, seed: u64) -> Result<()>;
}
