//! Channel statistics the intensity transforms need (sum, mean and standard deviation in
//! `f64`, minimum and maximum), each over 8 independent lanes so the loops vectorise and the
//! additions pipeline instead of waiting on one running sum. Results equal the one-by-one
//! sums up to `f64` rounding (a few ulp).

const LANES: usize = 8;

/// Sum of `f(v)` over `x` in `f64`.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f64>() + rest
}

/// Mean of `x` in `f64` (0 for an empty slice).
pub fn mean(x: &[f32]) -> f64 {
    lane_sum(x, |v| v as f64) / x.len().max(1) as f64
}

/// Mean and unbiased standard deviation (as torch's `std`), in `f64`.
pub fn mean_std(x: &[f32]) -> (f64, f64) {
    let m = mean(x);
    let var = lane_sum(x, |v| (v as f64 - m) * (v as f64 - m)) / (x.len() as f64 - 1.0).max(1.0);
    (m, var.sqrt())
}

/// Smallest and largest value (`(inf, -inf)` for an empty slice; NaN is not expected).
pub fn min_max(x: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    for &v in chunks.remainder() {
        lo[0] = lo[0].min(v);
        hi[0] = hi[0].max(v);
    }
    for c in chunks {
        // plain comparisons (`minps`/`maxps`); `f32::min` also handles NaN, which costs more
        for k in 0..LANES {
            lo[k] = if c[k] < lo[k] { c[k] } else { lo[k] };
            hi[k] = if c[k] > hi[k] { c[k] } else { hi[k] };
        }
    }
    (
        lo.iter().copied().fold(f32::INFINITY, f32::min),
        hi.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_statistics_equal_the_plain_ones() {
        for n in [1usize, 7, 8, 9, 1001] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 613) as f32 / 61.0 - 3.7)
                .collect();
            let m0 = x.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let v0 =
                x.iter().map(|&v| (v as f64 - m0).powi(2)).sum::<f64>() / (n as f64 - 1.0).max(1.0);
            let (m, s) = mean_std(&x);
            assert!(
                (m - m0).abs() < 1e-12 && (s - v0.sqrt()).abs() < 1e-12,
                "n {n}"
            );
            let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(min_max(&x), (lo, hi), "n {n}");
        }
    }
}
