//! One training sample while it moves through the pipeline: core's [`Sample`] (plugin
//! augmentations see the same type), and the voxel count of a `[z, y, x]` shape.

pub use nnunet_core::augmentation::Sample;
pub use nnunet_core::image::voxel_count;
