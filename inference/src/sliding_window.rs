//! Sliding-window geometry, as nnU-Net's `sliding_window_prediction.py`: where the tiles go, and
//! the Gaussian importance map that weights each tile's logits towards its centre.

use nnunet_core::{Error, Result};

/// Checks a sliding-window step size (a fraction of the tile): nnU-Net requires
/// `0 < step <= 1`. Every command that takes one calls this before doing any work.
pub fn check_step_size(step: f64) -> Result<()> {
    if step > 0.0 && step <= 1.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "step size {step} is invalid: it is a fraction of the tile and must lie in (0, 1] \
             (nnU-Net's default is 0.5)"
        )))
    }
}

/// Tile start positions per axis: `ceil((size − tile) / (tile · step)) + 1` evenly spread tiles
/// from 0 to `size − tile`, rounded half to even as numpy does.
///
/// Panics if an axis is smaller than the tile (pad the image first) or `step` is outside (0, 1].
pub fn tile_starts(image_size: &[usize], tile_size: &[usize], step: f64) -> Vec<Vec<usize>> {
    assert!(
        step > 0.0 && step <= 1.0,
        "step size must be in (0, 1], got {step}"
    );
    image_size
        .iter()
        .zip(tile_size)
        .map(|(&size, &tile)| {
            assert!(
                size >= tile,
                "image axis {size} is smaller than the tile {tile}"
            );
            let target_step = tile as f64 * step;
            let n = ((size - tile) as f64 / target_step).ceil() as usize + 1;
            let max_start = (size - tile) as f64;
            let actual = if n > 1 {
                max_start / (n - 1) as f64
            } else {
                0.0
            };
            (0..n)
                .map(|i| (actual * i as f64).round_ties_even() as usize)
                .collect()
        })
        .collect()
}

/// Every tile's start corner: the Cartesian product of [`tile_starts`].
pub fn tiles(image_size: &[usize], tile_size: &[usize], step: f64) -> Vec<Vec<usize>> {
    let per_axis = tile_starts(image_size, tile_size, step);
    per_axis.iter().fold(vec![Vec::new()], |acc, starts| {
        acc.iter()
            .flat_map(|prefix| {
                starts.iter().map(move |&s| {
                    let mut corner = prefix.clone();
                    corner.push(s);
                    corner
                })
            })
            .collect()
    })
}

/// The Gaussian importance map of a tile, C-order, peak `peak` (nnU-Net uses 10) at the centre
/// `size // 2`, σ = `sigma_scale` × size per axis (nnU-Net: 1/8).
///
/// nnU-Net filters a delta with `scipy.ndimage.gaussian_filter` (truncate 4): that is the
/// separable product of sampled, truncated 1-D Gaussians, which is computed here directly.
/// Zeros (beyond the truncation radius) are replaced by the smallest non-zero value.
pub fn gaussian_importance(tile_size: &[usize], sigma_scale: f64, peak: f64) -> Vec<f32> {
    let axes: Vec<Vec<f64>> = tile_size
        .iter()
        .map(|&n| {
            let sigma = n as f64 * sigma_scale;
            let radius = (4.0 * sigma + 0.5) as i64;
            let centre = (n / 2) as i64;
            (0..n as i64)
                .map(|i| {
                    let d = i - centre;
                    if d.abs() > radius {
                        0.0
                    } else {
                        (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()
                    }
                })
                .collect()
        })
        .collect();
    let mut map = vec![1.0f64];
    for axis in &axes {
        map = map
            .iter()
            .flat_map(|&m| axis.iter().map(move |&a| m * a))
            .collect();
    }
    let max = map.iter().cloned().fold(0.0, f64::max);
    let mut out: Vec<f32> = map.iter().map(|&v| (v / max * peak) as f32).collect();
    let min_nonzero = out
        .iter()
        .cloned()
        .filter(|&v| v > 0.0)
        .fold(f32::INFINITY, f32::min);
    for v in out.iter_mut().filter(|v| **v == 0.0) {
        *v = min_nonzero;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_sizes_outside_0_1_are_errors() {
        for bad in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            let err = check_step_size(bad).unwrap_err().to_string();
            assert!(err.contains("(0, 1]"), "{err}");
        }
        assert!(check_step_size(0.5).is_ok() && check_step_size(1.0).is_ok());
    }

    #[test]
    fn tile_starts_match_nnunet() {
        // nnU-Net's own example: image 110, patch 64, step 0.5 → 0, 23, 46.
        assert_eq!(tile_starts(&[110], &[64], 0.5), vec![vec![0, 23, 46]]);
        // Exact fit: one tile.
        assert_eq!(tile_starts(&[64], &[64], 0.5), vec![vec![0]]);
        // Hippocampus-like: 36×50×35 padded to the 40×56×40 patch → one tile per axis.
        assert_eq!(
            tiles(&[40, 56, 40], &[40, 56, 40], 0.5),
            vec![vec![0, 0, 0]]
        );
        // Rounding half to even, as numpy: 3 steps over 5 → 0, 2.5→2, 5.
        assert_eq!(tile_starts(&[9], &[4], 1.0), vec![vec![0, 2, 5]]);
        assert_eq!(tiles(&[6, 6], &[4, 4], 0.5).len(), 4);
    }

    #[test]
    fn gaussian_peaks_at_centre_and_has_no_zeros() {
        let g = gaussian_importance(&[8, 16], 1.0 / 8.0, 10.0);
        assert_eq!(g.len(), 128);
        let centre = 4 * 16 + 8;
        assert!((g[centre] - 10.0).abs() < 1e-6);
        assert!(g.iter().all(|&v| v > 0.0 && v <= 10.0));
        // Symmetric about the centre along x: offsets ±1.
        assert!((g[centre - 1] - g[centre + 1]).abs() < 1e-6);
        // σ = 2 along x: exp(-1/8) at distance 1.
        assert!((g[centre + 1] / 10.0 - (-1.0f32 / 8.0).exp()).abs() < 1e-6);
    }
}
