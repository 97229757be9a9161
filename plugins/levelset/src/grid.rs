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

/// A box of a grid, `lo..hi` per axis, and the grid of its voxels.
pub struct Window {
    pub lo: [usize; 3],
    pub grid: Grid,
    parent: [usize; 3],
}

impl Window {
    /// The bounding box of `mask` grown by `margin` voxels of the finest axis along each moving
    /// axis (clipped to the grid); `None` for an empty mask.
    pub fn around(grid: &Grid, mask: &[bool], margin: f64) -> Option<Window> {
        let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
        for (i, _) in mask.iter().enumerate().filter(|&(_, &m)| m) {
            let c = grid.coords(i);
            for a in 0..3 {
                lo[a] = lo[a].min(c[a]);
                hi[a] = hi[a].max(c[a] + 1);
            }
        }
        if lo[0] == usize::MAX {
            return None;
        }
        for &a in &grid.axes {
            let grow = (margin / grid.h[a]).ceil() as usize;
            lo[a] = lo[a].saturating_sub(grow);
            hi[a] = (hi[a] + grow).min(grid.shape[a]);
        }
        let shape = [0, 1, 2].map(|a| hi[a] - lo[a]);
        let window = Grid {
            shape,
            axes: grid.axes.clone(),
            h: grid.h,
            strides: [shape[1] * shape[2], shape[2], 1],
        };
        Some(Window {
            lo,
            grid: window,
            parent: grid.strides,
        })
    }

    /// The index in the parent grid of the window's voxel `i`.
    pub fn parent_index(&self, i: usize) -> usize {
        let c = self.grid.coords(i);
        (0..3).map(|a| (c[a] + self.lo[a]) * self.parent[a]).sum()
    }

    /// The window's part of a parent-grid array.
    pub fn gather<T: Copy>(&self, values: &[T]) -> Vec<T> {
        (0..self.grid.len())
            .map(|i| values[self.parent_index(i)])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_grows_the_bounding_box_by_the_margin_in_each_axis_spacing() {
        let grid = Grid {
            shape: [6, 20, 30],
            axes: vec![0, 1, 2],
            h: [3.0, 1.0, 1.0],
            strides: [600, 30, 1],
        };
        let mut mask = vec![false; grid.len()];
        mask[3 * 600 + 10 * 30 + 15] = true;
        let window = Window::around(&grid, &mask, 4.0).unwrap();
        // z: 4 / 3 → 2 slices each way; y, x: 4 voxels, x clipped at nothing.
        assert_eq!(window.lo, [1, 6, 11]);
        assert_eq!(window.grid.shape, [5, 9, 9]);
        let values: Vec<usize> = (0..grid.len()).collect();
        let inner = window.gather(&values);
        assert_eq!(inner[0], 600 + 6 * 30 + 11);
        for (i, &v) in inner.iter().enumerate() {
            assert_eq!(window.parent_index(i), v);
        }
        assert!(Window::around(&grid, &vec![false; grid.len()], 4.0).is_none());
    }
}
