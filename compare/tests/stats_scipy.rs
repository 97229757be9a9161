//! `nnunet_compare::stats` against scipy and Holm on fixtures: every branch of scipy's
//! `wilcoxon(method="auto")` (exact, exact permutation with ties or zeros, normal approximation
//! with tie correction for 13 < n ≤ 50 with ties or zeros and for n > 50), each p-value and
//! statistic to 1e-10 relative. Fixtures: `fixtures/stats_scipy.json`, written by
//! `fixtures/make_stats_fixtures.py` (scipy 1.17.1).

use nnunet_compare::stats::{holm, wilcoxon};
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats_scipy.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-10 * b.abs().max(1e-300)
}

#[test]
fn wilcoxon_equals_scipy() {
    let f = fixtures();
    let cases = f["wilcoxon"].as_array().unwrap();
    assert!(cases.len() >= 10);
    let mut methods = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let w = wilcoxon(&x, &y);
        let (stat, p) = (
            case["statistic"].as_f64().unwrap(),
            case["pvalue"].as_f64().unwrap_or(f64::NAN),
        );
        assert!(
            close(w.statistic, stat),
            "{name}: statistic {} vs scipy {stat}",
            w.statistic
        );
        assert!(
            close(w.p_value, p),
            "{name}: p {} vs scipy {p} ({:?})",
            w.p_value,
            w.method
        );
        methods.insert(w.method.name());
    }
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        ["asymptotic", "exact", "permutation"]
    );
}

#[test]
fn holm_equals_statsmodels() {
    let f = fixtures();
    for case in f["holm"].as_array().unwrap() {
        let (p, want) = (floats(&case["p"]), floats(&case["adjusted"]));
        let got = holm(&p);
        for (g, w) in got.iter().zip(&want) {
            assert!(close(*g, *w), "{p:?}: {got:?} vs {want:?}");
        }
    }
}
