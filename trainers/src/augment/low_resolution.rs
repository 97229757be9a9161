//! Low-resolution simulation (batchgeneratorsv2 `SimulateLowResolutionTransform`, nnU-Net:
//! p 0.25, each channel with p 0.5, one zoom factor in (0.5, 1) for all axes, axis 0 left
//! alone in dummy-2D mode): downsample with `nearest-exact`, upsample back with (tri)linear
//! interpolation (`align_corners=False`), both separable and done axis by axis here.

use rand::Rng;

use crate::random::{chance, round_half_even, uniform};
use crate::sample::Sample;

/// Source index of output `i` for torch's `nearest-exact` from `n_in` to `n_out` samples.
fn nearest_exact(i: usize, n_in: usize, n_out: usize) -> usize {
    (((i as f64 + 0.5) * n_in as f64 / n_out as f64).floor() as usize).min(n_in - 1)
}

/// Resamples `src` of `shape` along `axis` to `new_len` samples, nearest-exact or linear.
/// The volume is seen as `(outer, n, inner)`, so each output row is one vectorisable blend.
fn resize_axis(
    src: &[f32],
    shape: [usize; 3],
    axis: usize,
    new_len: usize,
    linear: bool,
) -> Vec<f32> {
    let n_in = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    // per output position: (i0, i1, weight of i1)
    let taps: Vec<(usize, usize, f32)> = (0..new_len)
        .map(|i| {
            if linear {
                let s = ((i as f64 + 0.5) * n_in as f64 / new_len as f64 - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                (i0, i1, (s - i0 as f64) as f32)
            } else {
                let i0 = nearest_exact(i, n_in, new_len);
                (i0, i0, 0.0)
            }
        })
        .collect();
    let mut out = vec![0f32; outer * new_len * inner];
    if inner == 1 {
        // along the last axis: voxel by voxel, with no per-voxel slicing
        for (src_row, out_row) in src.chunks_exact(n_in).zip(out.chunks_exact_mut(new_len)) {
            for (d, &(i0, i1, w)) in out_row.iter_mut().zip(&taps) {
                let x = src_row[i0];
                *d = if w == 0.0 {
                    x
                } else {
                    x + (src_row[i1] - x) * w
                };
            }
        }
        return out;
    }
    for o in 0..outer {
        let src_block = &src[o * n_in * inner..(o + 1) * n_in * inner];
        let out_block = &mut out[o * new_len * inner..(o + 1) * new_len * inner];
        for (k, &(i0, i1, w)) in taps.iter().enumerate() {
            let a = &src_block[i0 * inner..(i0 + 1) * inner];
            let b = &src_block[i1 * inner..(i1 + 1) * inner];
            let dst = &mut out_block[k * inner..(k + 1) * inner];
            if w == 0.0 {
                dst.copy_from_slice(a);
            } else {
                for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                    *d = x + (y - x) * w;
                }
            }
        }
    }
    out
}

/// Downsamples one channel by `scale` on `axes` (nearest-exact) and upsamples it back (linear).
pub fn simulate_low_resolution_channel(
    ch: &mut [f32],
    shape: [usize; 3],
    axes: &[usize],
    scale: f64,
) {
    let mut small = ch.to_vec();
    let mut small_shape = shape;
    for &axis in axes {
        let new_len = round_half_even(shape[axis] as f64 * scale).max(1) as usize;
        if new_len != shape[axis] {
            small = resize_axis(&small, small_shape, axis, new_len, false);
            small_shape[axis] = new_len;
        }
    }
    for &axis in axes {
        if small_shape[axis] != shape[axis] {
            small = resize_axis(&small, small_shape, axis, shape[axis], true);
            small_shape[axis] = shape[axis];
        }
    }
    ch.copy_from_slice(&small);
}

/// Applies low-resolution simulation to each channel with probability `p_per_channel`;
/// `ignore_axes` (of `[z, y, x]`) keep their resolution.
pub fn simulate_low_resolution(
    rng: &mut impl Rng,
    sample: &mut Sample,
    scale_range: (f64, f64),
    p_per_channel: f64,
    ignore_axes: &[usize],
) {
    let apply: Vec<bool> = (0..sample.channels)
        .map(|_| chance(rng, p_per_channel))
        .collect();
    let axes: Vec<usize> = sample
        .spatial_axes()
        .filter(|a| !ignore_axes.contains(a))
        .collect();
    let shape = sample.shape;
    for (c, _) in apply.iter().enumerate().filter(|(_, a)| **a) {
        let scale = uniform(rng, scale_range.0, scale_range.1);
        simulate_low_resolution_channel(sample.image_channel_mut(c), shape, &axes, scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_exact_indices_as_torch() {
        // torch.nn.functional.interpolate(arange(10), 5, mode='nearest-exact') → 0 2 4 6 8 (+0.5·2 − …)
        let idx: Vec<usize> = (0..5).map(|i| nearest_exact(i, 10, 5)).collect();
        assert_eq!(idx, vec![1, 3, 5, 7, 9]);
        let idx: Vec<usize> = (0..4).map(|i| nearest_exact(i, 7, 4)).collect();
        assert_eq!(idx, vec![0, 2, 4, 6]);
    }

    #[test]
    fn low_resolution_keeps_constants_and_smooths_detail() {
        let shape = [4, 8, 8];
        let mut c = vec![3.0f32; 256];
        simulate_low_resolution_channel(&mut c, shape, &[0, 1, 2], 0.5);
        assert!(c.iter().all(|&v| (v - 3.0).abs() < 1e-6));
        // alternating stripes along x lose their contrast at half resolution
        let mut s: Vec<f32> = (0..256).map(|i| (i % 2) as f32).collect();
        simulate_low_resolution_channel(&mut s, shape, &[2], 0.5);
        let row = &s[..8];
        assert!(row.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{row:?}");
    }

    #[test]
    fn last_axis_path_equals_the_row_blend_path() {
        // resizing along x (voxel path) equals resizing the transpose along y (row path)
        let (rows, n) = (3usize, 23usize);
        let a: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 7919) % 97) as f32 / 9.0)
            .collect();
        let t: Vec<f32> = (0..n * rows)
            .map(|i| a[(i % rows) * n + i / rows])
            .collect();
        for (new_len, linear) in [(11, false), (17, true), (23, true), (40, true)] {
            let x = resize_axis(&a, [1, rows, n], 2, new_len, linear);
            let y = resize_axis(&t, [1, n, rows], 1, new_len, linear);
            let y_back: Vec<f32> = (0..rows * new_len)
                .map(|i| y[(i % new_len) * rows + i / new_len])
                .collect();
            assert_eq!(x, y_back, "{new_len} {linear}");
        }
    }

    #[test]
    fn ignored_axes_are_untouched() {
        let shape = [4, 4, 4];
        let orig: Vec<f32> = (0..64).map(|i| ((i / 16) % 2) as f32).collect();
        let mut c = orig.clone();
        simulate_low_resolution_channel(&mut c, shape, &[1, 2], 0.5);
        assert_eq!(c, orig);
    }
}
