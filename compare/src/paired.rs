//! The per-case view of a comparison: every network's foreground Dice per validation case
//! (paired by fold and case name), each network's mean rank across cases, and the Wilcoxon
//! signed-rank test of every network against the baseline with Holm's correction across those
//! tests. Written as `comparison_cases.csv` and `comparison_stats.json`.

use crate::cases::CaseDice;
use crate::stats;
use serde::Serialize;

/// Foreground Dice per (fold, case) and network; `None` where a network has no defined Dice.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseTable {
    pub networks: Vec<String>,
    /// `(fold, case)`, in the order first seen.
    pub cases: Vec<(String, String)>,
    /// `dice[case][network]`.
    pub dice: Vec<Vec<Option<f64>>>,
}

impl CaseTable {
    /// `runs[network]` = that network's `(fold, cases)` list.
    pub fn new(networks: Vec<String>, runs: &[Vec<(String, Vec<CaseDice>)>]) -> Self {
        let mut cases: Vec<(String, String)> = Vec::new();
        let mut dice: Vec<Vec<Option<f64>>> = Vec::new();
        for (j, folds) in runs.iter().enumerate() {
            for (fold, list) in folds {
                for c in list {
                    let key = (fold.clone(), c.case.clone());
                    let i = match cases.iter().position(|k| *k == key) {
                        Some(i) => i,
                        None => {
                            cases.push(key);
                            dice.push(vec![None; networks.len()]);
                            cases.len() - 1
                        }
                    };
                    dice[i][j] = c.foreground;
                }
            }
        }
        CaseTable {
            networks,
            cases,
            dice,
        }
    }

    /// The defined values of network `j`.
    pub fn column(&self, j: usize) -> Vec<f64> {
        self.dice.iter().filter_map(|row| row[j]).collect()
    }

    /// Pairs `(a, b)` of the cases where both networks have a defined Dice.
    pub fn pairs(&self, a: usize, b: usize) -> (Vec<f64>, Vec<f64>) {
        self.dice
            .iter()
            .filter_map(|row| Some((row[a]?, row[b]?)))
            .unzip()
    }

    /// Mean rank of each network over the cases where every network has a defined Dice (rank 1
    /// = the highest Dice of the case, ties sharing the average rank), and that number of cases.
    pub fn mean_ranks(&self) -> (Vec<Option<f64>>, usize) {
        let complete: Vec<Vec<f64>> = self
            .dice
            .iter()
            .filter_map(|row| row.iter().copied().collect::<Option<Vec<f64>>>())
            .collect();
        let mut sums = vec![0.0; self.networks.len()];
        for row in &complete {
            let negated: Vec<f64> = row.iter().map(|d| -d).collect();
            let (ranks, _) = stats::average_ranks(&negated);
            for (s, r) in sums.iter_mut().zip(ranks) {
                *s += r;
            }
        }
        let n = complete.len();
        (
            sums.into_iter()
                .map(|s| (n > 0).then(|| s / n as f64))
                .collect(),
            n,
        )
    }
}

/// One network tested against the baseline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedTest {
    pub network: String,
    pub baseline: String,
    /// Cases where both have a defined Dice.
    pub n: usize,
    /// Mean of (network − baseline) over those cases.
    pub mean_difference: Option<f64>,
    /// `min(R⁺, R⁻)` of the signed-rank test.
    pub statistic: f64,
    pub p_value: Option<f64>,
    /// Holm-adjusted across the networks tested against the baseline.
    pub p_holm: Option<f64>,
    /// `exact`, `permutation` or `asymptotic` (scipy's `method="auto"` choice).
    pub method: String,
}

/// What `comparison_stats.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Statistics {
    pub baseline: String,
    pub test: String,
    pub correction: String,
    pub dice: String,
    /// Cases where every network has a defined Dice (the mean ranks' cases).
    pub ranked_cases: usize,
    pub mean_rank: Vec<(String, Option<f64>)>,
    pub tests: Vec<PairedTest>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Every other network against `baseline` (an index into the table's networks).
pub fn statistics(table: &CaseTable, baseline: usize) -> Statistics {
    let mut tests: Vec<PairedTest> = Vec::new();
    for j in (0..table.networks.len()).filter(|&j| j != baseline) {
        let (x, y) = table.pairs(j, baseline);
        let w = stats::wilcoxon(&x, &y);
        let n = x.len();
        let mean_difference =
            (n > 0).then(|| x.iter().zip(&y).map(|(a, b)| a - b).sum::<f64>() / n as f64);
        tests.push(PairedTest {
            network: table.networks[j].clone(),
            baseline: table.networks[baseline].clone(),
            n,
            mean_difference,
            statistic: w.statistic,
            p_value: finite(w.p_value),
            p_holm: None,
            method: if n == 0 {
                "-".into()
            } else {
                w.method.name().into()
            },
        });
    }
    let raw: Vec<f64> = tests
        .iter()
        .map(|t| t.p_value.unwrap_or(f64::NAN))
        .collect();
    for (t, p) in tests.iter_mut().zip(stats::holm(&raw)) {
        t.p_holm = finite(p);
    }
    let (ranks, ranked_cases) = table.mean_ranks();
    Statistics {
        baseline: table.networks[baseline].clone(),
        test: "Wilcoxon signed-rank, two-sided, paired by fold and case (scipy.stats.wilcoxon \
               defaults: zero_method=wilcox, method=auto)"
            .into(),
        correction: "Holm across the networks tested against the baseline".into(),
        dice: "per case: mean of the foreground labels' Dice, undefined (NaN) labels left out"
            .into(),
        ranked_cases,
        mean_rank: table.networks.iter().cloned().zip(ranks).collect(),
        tests,
    }
}

/// `comparison_cases.csv`: `fold,case,<network>…`, empty cells where undefined.
pub fn cases_csv(table: &CaseTable) -> String {
    let mut out = String::from("fold,case");
    for n in &table.networks {
        out.push(',');
        out.push_str(&crate::report::csv_field(n));
    }
    out.push('\n');
    for ((fold, case), row) in table.cases.iter().zip(&table.dice) {
        out.push_str(&format!("{fold},{}", crate::report::csv_field(case)));
        for d in row {
            out.push(',');
            if let Some(d) = d {
                out.push_str(&d.to_string());
            }
        }
        out.push('\n');
    }
    out
}

/// Markdown text of a test's p-value: `0.012 (Holm 0.024)`.
pub fn p_text(test: Option<&PairedTest>) -> String {
    match test {
        None => "baseline".into(),
        Some(t) => match (t.p_value, t.p_holm) {
            (Some(p), Some(h)) => format!("{} (raw {})", p_format(h), p_format(p)),
            _ => "-".into(),
        },
    }
}

fn p_format(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(values: &[(&str, Option<f64>)]) -> Vec<CaseDice> {
        values
            .iter()
            .map(|(c, d)| CaseDice {
                case: c.to_string(),
                foreground: *d,
            })
            .collect()
    }

    #[test]
    fn pairs_by_fold_and_case_ranks_and_tests() {
        let a = vec![(
            "0".to_string(),
            cases(&[("x", Some(0.8)), ("y", Some(0.6)), ("z", Some(0.7))]),
        )];
        let b = vec![(
            "0".to_string(),
            cases(&[("z", Some(0.9)), ("x", Some(0.9)), ("y", None)]),
        )];
        let table = CaseTable::new(vec!["A".into(), "B".into()], &[a, b]);
        assert_eq!(table.cases.len(), 3);
        assert_eq!(table.pairs(1, 0), (vec![0.9, 0.9], vec![0.8, 0.7]));
        let (ranks, n) = table.mean_ranks();
        assert_eq!((ranks, n), (vec![Some(2.0), Some(1.0)], 2));
        let s = statistics(&table, 0);
        assert_eq!(s.tests.len(), 1);
        let t = &s.tests[0];
        assert_eq!(
            (t.network.as_str(), t.n, t.method.as_str()),
            ("B", 2, "exact")
        );
        assert!((t.mean_difference.unwrap() - 0.15).abs() < 1e-12);
        // n = 2, both positive: exact two-sided p = 2 · 1/4.
        assert_eq!((t.p_value, t.p_holm), (Some(0.5), Some(0.5)));
        let csv = cases_csv(&table);
        assert!(csv.starts_with("fold,case,A,B\n0,x,0.8,0.9\n"), "{csv}");
        assert!(csv.contains("0,y,0.6,\n"), "{csv}");
        assert_eq!(p_text(None), "baseline");
        assert_eq!(p_text(Some(t)), "0.500 (raw 0.500)");
    }
}
