//! The voxel grid a level set lives on: shape `(z, y, x)`, the axes it moves along (2D maps:
//! `y` and `x` only, so a stack of 2D slices is refined slice by slice) and the spacing of each
//! axis relative to the finest one, so that anisotropic voxels are respected while the options
//! keep the same meaning whether a pixel is 0.1 mm or 1 mm wide.

use nnunet_core::{Error, LabelMap, Result};

/// Shape, moving axes and relative spacing of a label map.
#[derive(Clone, Debug)]
pub struct Grid {
    pub shape: [usize; 3],
    /// The axes distances and curvature are measured along.
    pub axes: Vec<usize>,
    /// Spacing of each axis divided by the finest moving axis' spacing (1 for the finest).
    pub h: [f64; 3],
    pub strides: [usize; 3],
}

impl Grid {
    /// The grid of `seg`: its shape, `is_2d` and `geometry.spacing`.
    pub fn of(seg: &LabelMap) -> Result<Grid> {
        let axes: Vec<usize> = if seg.is_2d { vec![1, 2] } else { vec![0, 1, 2] };
        let spacing = seg.geometry.spacing;
        if let Some(&a) = axes
            .iter()
            .find(|&&a| !(spacing[a].is_finite() && spacing[a] > 0.0))
        {
            return Err(Error::Invalid(format!(
                "levelset: spacing {spacing:?} has a non-positive value on axis {a}"
            )));
        }
        let finest = axes
            .iter()
            .map(|&a| spacing[a])
            .fold(f64::INFINITY, f64::min);
        let h = [0, 1, 2].map(|a| spacing[a] / finest);
        let [_, ny, nx] = seg.shape;
        Ok(Grid {
            shape: seg.shape,
            axes,
            h,
            strides: [ny * nx, nx, 1],
        })
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the grid has no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Coordinates `(z, y, x)` of voxel `i`.
    pub fn coords(&self, i: usize) -> [usize; 3] {
        let [_, ny, nx] = self.shape;
        [i / (ny * nx), (i / nx) % ny, i % nx]
    }

    /// The neighbour of voxel `i` (at `c`) one step forward along axis `a`, if inside.
    #[inline]
    pub fn next(&self, i: usize, c: &[usize; 3], a: usize) -> Option<usize> {
        (c[a] + 1 < self.shape[a]).then(|| i + self.strides[a])
    }

    /// The neighbour of voxel `i` (at `c`) one step back along axis `a`, if inside.
    #[inline]
    pub fn prev(&self, i: usize, c: &[usize; 3], a: usize) -> Option<usize> {
        (c[a] > 0).then(|| i - self.strides[a])
    }

    /// Calls `f(i, coords)` for every voxel in C order.
    pub fn for_each(&self, mut f: impl FnMut(usize, &[usize; 3])) {
        let [nz, ny, nx] = self.shape;
        let mut i = 0;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    f(i, &[z, y, x]);
                    i += 1;
                }
            }
        }
    }
}
