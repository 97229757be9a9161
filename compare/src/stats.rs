//! Paired statistics of a comparison: the Wilcoxon signed-rank test (two-sided) on per-case
//! Dice differences, and Holm's step-down correction across the comparisons against the
//! baseline.
//!
//! [`wilcoxon`] is `scipy.stats.wilcoxon(x, y)` with its defaults (scipy 1.17:
//! `zero_method="wilcox"`, `correction=False`, `alternative="two-sided"`, `method="auto"`):
//!
//! - zero differences are dropped from the ranks (Wilcoxon's method), ties get average ranks;
//! - `method="auto"` chooses, from the number of pairs `n` *including* zero differences:
//!   - `n > 50`: the normal approximation, `z = (R⁺ − n'(n'+1)/4) / σ` with
//!     `σ² = (n'(n'+1)(2n'+1) − Σ(t³ − t)/2) / 24` (n' non-zero differences, t the tie group
//!     sizes), no continuity correction, `p = 2·Φ(−|z|)`;
//!   - `n ≤ 50` without ties or zeros: the exact null distribution of R⁺,
//!     `p = 2·min(P(R⁺ ≥ r), P(R⁺ ≤ r))`, clipped to 1;
//!   - `n ≤ 13` with ties or zeros: the exact permutation test over all 2ⁿ sign flips
//!     (scipy's `permutation_test`, deterministic for `2ⁿ ≤ 9999`);
//!   - `13 < n ≤ 50` with ties or zeros: the normal approximation.
//! - the reported statistic is `min(R⁺, R⁻)`.
//!
//! Checked against scipy on fixtures in `compare/tests/stats_scipy.rs`
//! (`compare/tests/fixtures/make_stats_fixtures.py`).

/// How a p-value was computed (scipy's `method="auto"` choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WilcoxonMethod {
    Exact,
    Permutation,
    Asymptotic,
}

impl WilcoxonMethod {
    pub fn name(self) -> &'static str {
        match self {
            WilcoxonMethod::Exact => "exact",
            WilcoxonMethod::Permutation => "permutation",
            WilcoxonMethod::Asymptotic => "asymptotic",
        }
    }
}

/// A two-sided Wilcoxon signed-rank test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wilcoxon {
    /// `min(R⁺, R⁻)`.
    pub statistic: f64,
    /// NaN when undefined (no pairs; every difference zero with more than 13 pairs).
    pub p_value: f64,
    /// Pairs, zero differences included.
    pub n: usize,
    pub method: WilcoxonMethod,
}

/// Average ranks (1-based) of `values`, and the sizes of the tie groups.
pub fn average_ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share the average of ranks i+1..=j.
        let rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        ties.push(j - i);
        i = j;
    }
    (ranks, ties)
}

/// Upper tail of the standard normal distribution, `P(Z ≥ z)`.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Number of subsets of `{1, …, n}` with each sum `0 ..= n(n+1)/2`: the null distribution of
/// R⁺ without ties, times `2ⁿ`.
fn signed_rank_counts(n: usize) -> Vec<u64> {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0u64; max + 1];
    counts[0] = 1;
    for k in 1..=n {
        for s in (k..=max).rev() {
            counts[s] += counts[s - k];
        }
    }
    counts
}

/// Two-sided Wilcoxon signed-rank test of the paired samples `x` and `y` (differences
/// `x − y`), as `scipy.stats.wilcoxon(x, y)`. Pairs must have the same length; NaN is not
/// expected (drop such pairs first).
pub fn wilcoxon(x: &[f64], y: &[f64]) -> Wilcoxon {
    let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
    wilcoxon_differences(&d)
}

/// [`wilcoxon`] of the differences `d`.
pub fn wilcoxon_differences(d: &[f64]) -> Wilcoxon {
    let n = d.len();
    let nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let zeros = n - nonzero.len();
    let count = nonzero.len() as f64;
    let abs: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let r_plus = r_plus(&nonzero, &ranks, 0);
    let r_minus = count * (count + 1.0) / 2.0 - r_plus;
    let statistic = r_plus.min(r_minus);
    if n == 0 {
        return Wilcoxon {
            statistic: f64::NAN,
            p_value: f64::NAN,
            n,
            method: WilcoxonMethod::Asymptotic,
        };
    }
    let has_ties = ties.iter().any(|&t| t > 1);
    let method = if n > 50 {
        WilcoxonMethod::Asymptotic
    } else if !has_ties && zeros == 0 {
        WilcoxonMethod::Exact
    } else if n <= 13 {
        WilcoxonMethod::Permutation
    } else {
        WilcoxonMethod::Asymptotic
    };
    let p_value = match method {
        WilcoxonMethod::Asymptotic => {
            let mean = count * (count + 1.0) / 4.0;
            let tie_term: f64 = ties.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
            let var = (count * (count + 1.0) * (2.0 * count + 1.0) - tie_term / 2.0) / 24.0;
            let z = (r_plus - mean) / var.sqrt();
            2.0 * normal_sf(z.abs())
        }
        WilcoxonMethod::Exact => {
            let counts = signed_rank_counts(nonzero.len());
            let total = 2f64.powi(nonzero.len() as i32);
            // Integral without ties; scipy rounds down for the upper tail, up for the lower.
            let hi = r_plus.floor() as usize;
            let lo = r_plus.ceil() as usize;
            let upper: u64 = counts[hi.min(counts.len())..].iter().sum();
            let lower: u64 = counts[..=lo.min(counts.len() - 1)].iter().sum();
            (2.0 * upper.min(lower) as f64 / total).min(1.0)
        }
        WilcoxonMethod::Permutation => permutation_p(&nonzero, &ranks, r_plus),
    };
    Wilcoxon {
        statistic,
        p_value,
        n,
        method,
    }
}

/// R⁺ of the non-zero differences with the signs flipped where `flips` has a bit set.
fn r_plus(nonzero: &[f64], ranks: &[f64], flips: u64) -> f64 {
    nonzero
        .iter()
        .zip(ranks)
        .enumerate()
        .filter(|&(i, (&v, _))| (v > 0.0) != ((flips >> i) & 1 == 1))
        .map(|(_, (_, &r))| r)
        .sum()
}

/// scipy's exact `permutation_test` (`permutation_type="samples"`): every one of the `2ⁿ`
/// sign flips of all `n` differences (zeros included, which only repeats each value), with
/// its relative tolerance `100·ε·|R⁺|` for equal statistics.
fn permutation_p(nonzero: &[f64], ranks: &[f64], observed: f64) -> f64 {
    let gamma = (100.0 * f64::EPSILON * observed).abs();
    let (mut le, mut ge) = (0u64, 0u64);
    for flips in 0..1u64 << nonzero.len() {
        let r = r_plus(nonzero, ranks, flips);
        le += u64::from(r <= observed + gamma);
        ge += u64::from(r >= observed - gamma);
    }
    // Flipping a zero changes nothing: each value above appears 2^zeros times, which the
    // ratio cancels.
    let total = (1u64 << nonzero.len()) as f64;
    (2.0 * le.min(ge) as f64 / total).clamp(0.0, 1.0)
}

/// Holm's step-down adjusted p-values (as `statsmodels`' `multipletests(method="holm")`), in
/// the input order. NaN p-values stay NaN and do not count among the hypotheses.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        let (r, t) = average_ranks(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, vec![1, 1, 2]);
    }

    #[test]
    fn exact_distribution_sums_to_two_to_the_n() {
        for n in [1usize, 5, 20, 50] {
            let c = signed_rank_counts(n);
            assert_eq!(c.iter().sum::<u64>(), 1u64 << n);
            assert_eq!(c.len(), n * (n + 1) / 2 + 1);
        }
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.04 → 3·0.01, 2·0.02, 1·0.04 (monotone).
        let a = holm(&[0.04, 0.01, 0.02]);
        let want = [0.04, 0.03, 0.04];
        for (x, y) in a.iter().zip(want) {
            assert!((x - y).abs() < 1e-15, "{a:?}");
        }
        assert!(holm(&[f64::NAN, 0.5])[0].is_nan());
        assert_eq!(holm(&[f64::NAN, 0.5])[1], 0.5);
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
    }

    #[test]
    fn no_pairs_is_nan() {
        assert!(wilcoxon(&[], &[]).p_value.is_nan());
    }
}
