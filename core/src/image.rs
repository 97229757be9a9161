//! Images and label maps as they travel between pipeline stages, with their geometry.
//!
//! Arrays are C-order in nnU-Net's axis order `(z, y, x)`; a 2D image has `z = 1`. Spacing follows
//! the array axes; origin and direction are world coordinates as ITK reports them, so that a
//! prediction can be written back in exactly the input's geometry.

use serde::{Deserialize, Serialize};

/// Where the voxels sit in the world.
///
/// Equality compares `spacing`, `origin` and `direction` only; `source_header` is ignored.
/// Build one with `Geometry { spacing, origin, direction, ..Default::default() }`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Geometry {
    /// Voxel size per array axis `(z, y, x)`, in mm (1 for photographs without a pixel size).
    pub spacing: [f64; 3],
    /// World position of voxel (0, 0, 0), `(x, y, z)`.
    pub origin: [f64; 3],
    /// Row-major 3×3 direction cosines, world `(x, y, z)` by image `(i, j, k)`.
    pub direction: [f64; 9],
    /// The file's own header, opaque to core (e.g. the 348 bytes of a NIfTI-1 header), kept so
    /// that an image or prediction is written back with exactly its input's header. Set by the
    /// reader in `nnunet-datasets`; `None` for images made in memory. Never serialised.
    #[serde(skip)]
    pub source_header: Option<std::sync::Arc<Vec<u8>>>,
}

impl PartialEq for Geometry {
    fn eq(&self, other: &Self) -> bool {
        self.spacing == other.spacing
            && self.origin == other.origin
            && self.direction == other.direction
    }
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            spacing: [1.0; 3],
            origin: [0.0; 3],
            direction: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            source_header: None,
        }
    }
}

/// Number of voxels of a `(z, y, x)` shape.
pub fn voxel_count(shape: [usize; 3]) -> usize {
    shape.iter().product()
}

/// A multi-channel image: one `f32` array per channel, all of the same shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub shape: [usize; 3],
    pub channels: Vec<Vec<f32>>,
    pub geometry: Geometry,
    /// True for 2D inputs (PNG, or NIfTI with one slice read as 2D).
    pub is_2d: bool,
}

impl Image {
    pub fn voxels(&self) -> usize {
        voxel_count(self.shape)
    }
}

/// A label map. `-1` marks voxels outside the non-zero crop mask after preprocessing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelMap {
    pub shape: [usize; 3],
    pub data: Vec<i16>,
    pub geometry: Geometry,
    pub is_2d: bool,
}

impl LabelMap {
    pub fn voxels(&self) -> usize {
        voxel_count(self.shape)
    }

    /// The labels present, sorted, `-1` excluded.
    pub fn present_labels(&self) -> Vec<i16> {
        let mut seen = std::collections::BTreeSet::new();
        for &v in &self.data {
            if v >= 0 {
                seen.insert(v);
            }
        }
        seen.into_iter().collect()
    }
}
