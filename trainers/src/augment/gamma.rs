//! Gamma and inverted gamma (batchgeneratorsv2 `GammaTransform`, nnU-Net: inverted p 0.1,
//! plain p 0.3, per channel γ from `BGContrast((0.7, 1.5))`, statistics retained): the channel
//! is rescaled to [0, 1], raised to γ, scaled back, then (retain stats) shifted and scaled to
//! its former mean and standard deviation (unbiased, as torch's `std`).
//!
//! The power is [`pow_unit`], hand-written: libm's `powf` is a call per voxel that does not
//! vectorise and was the pipeline's second-largest cost on 2D images of 3 × 1024² voxels;
//! `2^(γ·log2 x)` with short polynomials is branch-free, vectorises, and stays within
//! 1e-6 of `powf` on [0, 1] (torch's own vectorised `pow` is also a polynomial, SLEEF's).

use rand::Rng;

use super::stats::{mean_std, min_max};
use crate::random::bg_contrast;
use crate::sample::Sample;

/// `x^g` for `x` in `[0, 1]` (a little above 1 is fine) and `g` in `(0, 8)`: `2^(g·log2 x)`.
/// `log2` from the exponent bits and an odd series in `(m − 1)/(m + 1)`, `m ∈ [√½, √2)`;
/// `2^y` from an integer power of two and a degree-7 Taylor polynomial on `[−½, ½]`.
/// Absolute error below 1e-6, relative below 2e-6 for `x ≥ 1e-5` (below that the rounding of
/// `g·log2 x` dominates: a few ulp of the exponent); 0 maps to 0; results below 2^−126 come out
/// as about 1e-38.
#[inline(always)]
pub fn pow_unit(x: f32, g: f32) -> f32 {
    use std::f32::consts::{LN_2, LOG2_E, SQRT_2};
    let bits = x.max(f32::MIN_POSITIVE).to_bits();
    let m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000); // [1, 2)
    let big = m > SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = ((bits >> 23) as i32 - 127 + big as i32) as f32;
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
    let log2 = e + 2.0 * LOG2_E * t * series;
    let y = (g * log2).clamp(-126.0, 126.0);
    // round to nearest by the 1.5·2^23 trick; its low mantissa bits hold the integer
    const MAGIC: f32 = 12_582_912.0;
    let shifted = y + MAGIC;
    let n = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    let f = (y - (shifted - MAGIC)) * LN_2;
    let p = 1.0
        + f * (1.0
            + f * (1.0 / 2.0
                + f * (1.0 / 6.0
                    + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f / 5040.0))))));
    let r = p * f32::from_bits(((n + 127) as u32) << 23);
    if x > 0.0 { r } else { 0.0 }
}

/// Gamma on one channel.
pub fn gamma_channel(x: &mut [f32], gamma: f64, invert: bool, retain_stats: bool) {
    const EPS: f64 = 1e-7;
    if invert {
        x.iter_mut().for_each(|v| *v = -*v);
    }
    let stats = retain_stats.then(|| mean_std(x));
    let (lo, hi) = min_max(x);
    let range = hi - lo;
    let inv_denom = 1.0 / range.max(EPS as f32);
    let g = gamma as f32;
    for v in x.iter_mut() {
        *v = pow_unit((*v - lo) * inv_denom, g) * range + lo;
    }
    if let Some((mean, std)) = stats {
        let (m_here, s_here) = mean_std(x);
        let f = std / s_here.max(EPS);
        x.iter_mut()
            .for_each(|v| *v = ((*v as f64 - m_here) * f + mean) as f32);
    }
    if invert {
        x.iter_mut().for_each(|v| *v = -*v);
    }
}

/// Gamma on every channel, each with its own γ from `range`; returns the γs.
pub fn gamma(
    rng: &mut impl Rng,
    sample: &mut Sample,
    range: (f64, f64),
    invert: bool,
    retain_stats: bool,
) -> Vec<f64> {
    (0..sample.channels)
        .map(|c| {
            let g = bg_contrast(rng, range.0, range.1);
            gamma_channel(sample.image_channel_mut(c), g, invert, retain_stats);
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<f32> {
        (0..1000)
            .map(|i| ((i * 37 % 101) as f32 / 20.0) - 1.3)
            .collect()
    }

    /// The straightforward gamma: libm `powf`, one running sum.
    fn gamma_plain(x: &mut [f32], gamma: f64, invert: bool) {
        let plain_stats = |x: &[f32]| {
            let n = x.len() as f64;
            let m = x.iter().map(|&v| v as f64).sum::<f64>() / n;
            let v = x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (n - 1.0);
            (m, v.sqrt())
        };
        if invert {
            x.iter_mut().for_each(|v| *v = -*v);
        }
        let (mean, std) = plain_stats(x);
        let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let range = hi - lo;
        for v in x.iter_mut() {
            *v = ((*v - lo) / range).powf(gamma as f32) * range + lo;
        }
        let (m_here, s_here) = plain_stats(x);
        x.iter_mut()
            .for_each(|v| *v = ((*v as f64 - m_here) * (std / s_here) + mean) as f32);
        if invert {
            x.iter_mut().for_each(|v| *v = -*v);
        }
    }

    #[test]
    fn pow_unit_matches_powf() {
        let mut worst = 0f32;
        for g in [0.7f32, 0.8, 1.0, 1.13, 1.25, 1.5, 2.0] {
            for i in 0..=100_000 {
                let x = i as f32 / 100_000.0;
                let (a, b) = (pow_unit(x, g), x.powf(g));
                worst = worst.max((a - b).abs());
                assert!((a - b).abs() <= 2e-6 * b + 1e-30, "{x}^{g}: {a} vs {b}");
            }
            // tiny and exactly representable inputs (relative error grows with |g·log2 x|)
            for x in [0.0f32, 1e-30, 1e-10, 3e-5, 0.5, 0.25, 1.0, 1.000_000_1] {
                let (a, b) = (pow_unit(x, g), x.powf(g));
                assert!((a - b).abs() <= 1e-5 * b + 1e-30, "{x}^{g}: {a} vs {b}");
            }
        }
        assert!(worst < 1e-6, "worst absolute error {worst}");
        assert_eq!(pow_unit(1.0, 1.3), 1.0);
        assert_eq!(pow_unit(0.0, 0.7), 0.0);
    }

    #[test]
    fn fast_gamma_equals_the_plain_one() {
        for invert in [false, true] {
            for g in [0.7, 0.93, 1.5] {
                let mut a = data();
                let mut b = data();
                gamma_channel(&mut a, g, invert, true);
                gamma_plain(&mut b, g, invert);
                let d = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max);
                assert!(d < 1e-5, "γ {g} invert {invert}: differs by {d}");
            }
        }
    }

    #[test]
    fn gamma_retains_mean_and_std() {
        for invert in [false, true] {
            for g in [0.7, 1.5] {
                let orig = data();
                let mut x = orig.clone();
                gamma_channel(&mut x, g, invert, true);
                let (m0, s0) = mean_std(&orig);
                let (m1, s1) = mean_std(&x);
                assert!(
                    (m0 - m1).abs() < 1e-4 && (s0 - s1).abs() < 1e-4,
                    "{m0} {m1} {s0} {s1}"
                );
                assert!(x.iter().zip(&orig).any(|(a, b)| (a - b).abs() > 1e-3));
            }
        }
    }

    #[test]
    fn gamma_without_stats_keeps_the_range() {
        let orig = data();
        let mut x = orig.clone();
        gamma_channel(&mut x, 1.5, false, false);
        let (lo, hi) = (-1.3f32, 100.0 / 20.0 - 1.3);
        assert!(x.iter().all(|&v| v >= lo - 1e-5 && v <= hi + 1e-5));
        // γ > 1 pulls mid values down
        let (m0, _) = mean_std(&orig);
        let (m1, _) = mean_std(&x);
        assert!(m1 < m0);
        // inverted γ > 1 pushes them up
        let mut y = orig.clone();
        gamma_channel(&mut y, 1.5, true, false);
        assert!(mean_std(&y).0 > m0);
    }
}
