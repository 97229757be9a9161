//! Contrast (batchgeneratorsv2 `ContrastTransform`, nnU-Net: p 0.15, per channel factor from
//! `BGContrast((0.75, 1.25))`, `preserve_range=True`): `(x − mean)·f + mean`, clipped to the
//! channel's former min/max.

use rand::Rng;

use super::stats;
use crate::random::bg_contrast;
use crate::sample::Sample;

/// Applies contrast to one channel with factor `f`.
pub fn contrast_channel(x: &mut [f32], f: f32, preserve_range: bool) {
    let mean = stats::mean(x) as f32;
    let (lo, hi) = stats::min_max(x);
    for v in x.iter_mut() {
        *v = (*v - mean) * f + mean;
        if preserve_range {
            *v = v.clamp(lo, hi);
        }
    }
}

/// Contrast on every channel with its own factor drawn from `range`; returns the factors.
pub fn contrast(rng: &mut impl Rng, sample: &mut Sample, range: (f64, f64)) -> Vec<f32> {
    (0..sample.channels)
        .map(|c| {
            let f = bg_contrast(rng, range.0, range.1) as f32;
            contrast_channel(sample.image_channel_mut(c), f, true);
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_keeps_mean_scales_spread_and_range() {
        let orig: Vec<f32> = (0..100).map(|i| i as f32 / 10.0).collect();
        let mut x = orig.clone();
        contrast_channel(&mut x, 0.8, true);
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean(&x) - mean(&orig)).abs() < 1e-4);
        assert!(((x[99] - x[0]) - 0.8 * (orig[99] - orig[0])).abs() < 1e-4);
        let mut y = orig.clone();
        contrast_channel(&mut y, 1.2, true);
        assert_eq!(y[0], 0.0);
        assert_eq!(y[99], 9.9);
        assert!(((y[60] - y[40]) - 1.2 * (orig[60] - orig[40])).abs() < 1e-4);
    }
}
