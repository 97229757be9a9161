//! Gaussian blur (batchgeneratorsv2 `GaussianBlurTransform`, nnU-Net: p 0.2, each channel with
//! p 0.5, σ uniform in (0.5, 1) drawn per axis). Separable 1D kernels of size
//! `round_to_odd(6σ + 0.5)`, normalised, with reflect padding (edge not repeated), as
//! `blur_dimension` does. Hand-written: a 3–7 tap separable filter is a few lines.

use rand::Rng;

use crate::random::{chance, round_half_even, uniform};
use crate::sample::Sample;

/// batchgeneratorsv2's kernel: size from `_compute_kernel_size(σ, truncate=6)`.
pub fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let n = sigma * 6.0 + 0.5;
    let r = round_half_even(n);
    let size = if r % 2 == 1 {
        r
    } else if n - r as f64 >= 0.0 {
        r + 1
    } else {
        r - 1
    }
    .max(1) as usize;
    let half = (size as f64 - 1.0) / 2.0;
    let pdf: Vec<f64> = (0..size)
        .map(|i| (-0.5 * ((i as f64 - half) / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = pdf.iter().sum();
    pdf.iter().map(|&p| (p / sum) as f32).collect()
}

/// Reflect index `i` into `0..n` (numpy/torch "reflect": `-1 → 1`, `n → n − 2`).
fn reflect(mut i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    i = i.rem_euclid(period);
    (if i >= n { period - i } else { i }) as usize
}

/// Convolves one channel `(z, y, x)` along `axis` with `kernel` (reflect padding). Along
/// `x` each row is padded and filtered; along `z`/`y` whole rows are blended at once.
pub fn blur_axis(data: &mut [f32], shape: [usize; 3], axis: usize, kernel: &[f32]) {
    let n = shape[axis];
    let half = kernel.len() / 2;
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    if inner == 1 {
        // Each row is padded once; then each tap adds its shifted copy to the whole row, a
        // loop that vectorises (the same additions, in the same order, as tap by tap per voxel).
        let mut padded = vec![0f32; n + 2 * half];
        for row in data.chunks_exact_mut(n) {
            if n > half {
                padded[half..half + n].copy_from_slice(row);
                for k in (0..half).chain(n + half..n + 2 * half) {
                    padded[k] = row[reflect(k as i64 - half as i64, n as i64)];
                }
            } else {
                for (k, v) in padded.iter_mut().enumerate() {
                    *v = row[reflect(k as i64 - half as i64, n as i64)];
                }
            }
            row.fill(0.0);
            for (t, &w) in kernel.iter().enumerate() {
                for (out, &x) in row.iter_mut().zip(&padded[t..t + n]) {
                    *out += x * w;
                }
            }
        }
        return;
    }
    let mut block_copy = vec![0f32; n * inner];
    for o in 0..outer {
        let block = &mut data[o * n * inner..(o + 1) * n * inner];
        block_copy.copy_from_slice(block);
        for k in 0..n {
            let dst = &mut block[k * inner..(k + 1) * inner];
            dst.fill(0.0);
            for (t, &w) in kernel.iter().enumerate() {
                let src = reflect(k as i64 + t as i64 - half as i64, n as i64);
                let row = &block_copy[src * inner..(src + 1) * inner];
                for (d, &x) in dst.iter_mut().zip(row) {
                    *d += w * x;
                }
            }
        }
    }
}

/// Blurs each channel with probability `p_per_channel`, σ per axis from `sigma_range`.
pub fn gaussian_blur(
    rng: &mut impl Rng,
    sample: &mut Sample,
    sigma_range: (f64, f64),
    p_per_channel: f64,
) {
    let apply: Vec<bool> = (0..sample.channels)
        .map(|_| chance(rng, p_per_channel))
        .collect();
    let shape = sample.shape;
    let axes = sample.spatial_axes();
    for (c, _) in apply.iter().enumerate().filter(|(_, a)| **a) {
        let sigmas: Vec<f64> = axes
            .clone()
            .map(|_| uniform(rng, sigma_range.0, sigma_range.1))
            .collect();
        let ch = sample.image_channel_mut(c);
        for (axis, sigma) in axes.clone().zip(sigmas) {
            blur_axis(ch, shape, axis, &gaussian_kernel(sigma));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sizes_as_batchgenerators() {
        assert_eq!(gaussian_kernel(0.5).len(), 3);
        assert_eq!(gaussian_kernel(1.0).len(), 7);
        assert_eq!(gaussian_kernel(0.75).len(), 5);
        let k = gaussian_kernel(1.0);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(k[3] > k[2] && (k[2] - k[4]).abs() < 1e-7);
    }

    #[test]
    fn blur_preserves_constants_and_spreads_an_impulse() {
        let shape = [5, 7, 9];
        let mut c = vec![2.5f32; 5 * 7 * 9];
        blur_axis(&mut c, shape, 2, &gaussian_kernel(1.0));
        assert!(c.iter().all(|&v| (v - 2.5).abs() < 1e-5));
        // an impulse away from the borders keeps its mass and spreads along every axis
        let shape = [9, 11, 13];
        let mut d = vec![0f32; 9 * 11 * 13];
        let centre = (4 * 11 + 5) * 13 + 6;
        d[centre] = 1.0;
        for axis in 0..3 {
            blur_axis(&mut d, shape, axis, &gaussian_kernel(0.8));
        }
        assert!((d.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(d[centre] < 0.2);
        assert!(d[centre + 1] > 0.0 && d[centre + 13] > 0.0 && d[centre + 143] > 0.0);
    }

    #[test]
    fn row_filter_equals_the_per_voxel_window() {
        for (n, sigma) in [
            (1usize, 1.0),
            (2, 1.0),
            (3, 0.9),
            (4, 1.0),
            (29, 0.6),
            (64, 1.0),
        ] {
            let shape = [2, 3, n];
            let orig: Vec<f32> = (0..6 * n)
                .map(|i| ((i * 7919) % 101) as f32 / 10.0 - 5.0)
                .collect();
            let k = gaussian_kernel(sigma);
            let half = k.len() / 2;
            let mut want = orig.clone();
            for (row, src) in want.chunks_exact_mut(n).zip(orig.chunks_exact(n)) {
                for (i, out) in row.iter_mut().enumerate() {
                    *out = k
                        .iter()
                        .enumerate()
                        .map(|(t, w)| w * src[reflect(i as i64 + t as i64 - half as i64, n as i64)])
                        .sum();
                }
            }
            let mut got = orig.clone();
            blur_axis(&mut got, shape, 2, &k);
            assert_eq!(got, want, "n {n}");
        }
    }

    #[test]
    fn reflect_indices() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(-6, 5), 2);
        assert_eq!(reflect(3, 1), 0);
    }
}
