//! The landmark as a row of the MIP: from a 3D label map (the centroid of the landmark's
//! voxels), to a band label map a 2D network trains on, and back from a (predicted) 2D label
//! map to a row.
//!
//! The landmark slice is stored as a label so that the ordinary dataset layout works: 3D
//! `labelsTr` mark the landmark structure (the phantom's L3 vertebra, Hippocampus's label), and
//! the MIP dataset's labels mark the rows `round(row) ± half_width` across the whole width. The
//! band's centre row is the landmark; the heat-map loss (plugin `localise`) reads it back with
//! [`band_centre`] semantics.

use nnunet_core::{Geometry, LabelMap};

/// The landmark's MIP row (continuous, pixels of `pixel_mm`): the centroid along z of the voxels
/// labelled `value` (any foreground when `None`). `None` when no voxel has the label.
pub fn landmark_row(label: &LabelMap, value: Option<i16>, pixel_mm: f64) -> Option<f64> {
    let [_, ny, nx] = label.shape;
    let plane = ny * nx;
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, &v) in label.data.iter().enumerate() {
        let hit = match value {
            Some(want) => v == want,
            None => v > 0,
        };
        if hit {
            sum += (i / plane) as f64;
            count += 1;
        }
    }
    (count > 0).then(|| {
        let k = sum / count as f64;
        (k + 0.5) * label.geometry.spacing[0] / pixel_mm - 0.5
    })
}

/// A `(1, rows, cols)` label map with the rows `round(row) ± half_width` set to 1.
pub fn band_label(
    rows: usize,
    cols: usize,
    row: f64,
    half_width: usize,
    geometry: Geometry,
) -> LabelMap {
    let centre = row.round().clamp(0.0, (rows.max(1) - 1) as f64) as usize;
    let (first, last) = (
        centre.saturating_sub(half_width),
        (centre + half_width).min(rows - 1),
    );
    let mut data = vec![0i16; rows * cols];
    for r in first..=last {
        data[r * cols..(r + 1) * cols].fill(1);
    }
    LabelMap {
        shape: [1, rows, cols],
        data,
        geometry,
        is_2d: true,
    }
}

/// The centre row of a 2D label map's foreground: the mean row of its foreground pixels (the
/// band's centre, or the single row the `slice-localise` postprocessor marks). `None` when the
/// map has no foreground.
pub fn band_centre(label: &LabelMap) -> Option<f64> {
    let cols = label.shape[2].max(1);
    let rows = label.shape[0] * label.shape[1];
    let (mut sum, mut count) = (0.0, 0usize);
    for r in 0..rows {
        let n = label.data[r * cols..(r + 1) * cols]
            .iter()
            .filter(|&&v| v > 0)
            .count();
        sum += (r % label.shape[1]) as f64 * n as f64;
        count += n;
    }
    (count > 0).then(|| sum / count as f64)
}
