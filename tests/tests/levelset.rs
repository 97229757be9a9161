//! The `levelset` postprocessor plugin (`plugins/levelset`), loaded from its `.so` as the host
//! loads it: it recovers a known disc (2D) and ball (3D, anisotropic spacing) from noisy
//! probability maps better than their argmax, leaves the argmax alone without its length term,
//! refines only the labels it is told to, and refuses bad options and missing probabilities.

use nnunet_core::serde_json::{Value, json};
use nnunet_core::tch::Tensor;
use nnunet_core::{Geometry, LabelMap, Postprocessor, Registry};
use nnunet_tests::plugin_path;

fn levelset(options: Value) -> Box<dyn Postprocessor> {
    let mut registry = Registry::empty();
    registry
        .load_plugin(&plugin_path("nnunet_plugin_levelset"))
        .unwrap();
    (registry.postprocessor("levelset").unwrap().make)(&options).unwrap()
}

/// Uniform noise in `[-1, 1)` from a fixed linear congruential generator.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A known shape and a noisy two-class probability map of it.
struct Case {
    truth: Vec<bool>,
    probabilities: Tensor,
    argmax: LabelMap,
}

/// `inside(z, y, x)` on `shape` with `spacing`; the foreground probability is 0.8 inside and
/// 0.2 outside plus uniform noise of ±`noise`, clamped to [0, 1].
fn noisy_case(
    shape: [usize; 3],
    spacing: [f64; 3],
    is_2d: bool,
    noise: f32,
    inside: impl Fn([f64; 3]) -> bool,
) -> Case {
    let mut rng = Noise(12345);
    let mut truth = Vec::new();
    let mut fg = Vec::new();
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                let t = inside([z, y, x].map(|c| c as f64));
                truth.push(t);
                let p = if t { 0.8 } else { 0.2 } + noise * rng.next();
                fg.push(p.clamp(0.0, 1.0));
            }
        }
    }
    let bg: Vec<f32> = fg.iter().map(|p| 1.0 - p).collect();
    let dims = [2, shape[0] as i64, shape[1] as i64, shape[2] as i64];
    let probabilities = Tensor::from_slice(&[bg, fg.clone()].concat()).reshape(dims);
    let argmax = LabelMap {
        shape,
        data: fg.iter().map(|&p| i16::from(p > 0.5)).collect(),
        geometry: Geometry {
            spacing,
            ..Default::default()
        },
        is_2d,
    };
    Case {
        truth,
        probabilities,
        argmax,
    }
}

fn dice(seg: &[i16], truth: &[bool]) -> f64 {
    let inter = seg
        .iter()
        .zip(truth)
        .filter(|&(&s, &t)| s == 1 && t)
        .count();
    let total = seg.iter().filter(|&&s| s == 1).count() + truth.iter().filter(|&&t| t).count();
    2.0 * inter as f64 / total as f64
}

/// Refines the case's argmax; returns (argmax Dice, refined Dice, voxels wrong after).
fn refine(case: &Case, options: Value) -> (f64, f64, usize) {
    let mut seg = case.argmax.clone();
    levelset(options)
        .apply(&mut seg, Some(&case.probabilities))
        .unwrap();
    let wrong = seg
        .data
        .iter()
        .zip(&case.truth)
        .filter(|&(&s, &t)| (s == 1) != t)
        .count();
    (
        dice(&case.argmax.data, &case.truth),
        dice(&seg.data, &case.truth),
        wrong,
    )
}

#[test]
fn recovers_a_disc_from_a_noisy_probability_map_in_2d() {
    let case = noisy_case([1, 64, 64], [1.0, 0.5, 0.5], true, 0.45, |[_, y, x]| {
        (y - 31.5).powi(2) + (x - 31.5).powi(2) <= 18.0f64.powi(2)
    });
    let (before, after, wrong) = refine(&case, json!({}));
    eprintln!("2D disc: argmax Dice {before:.4}, levelset {after:.4}, {wrong} pixels wrong");
    assert!(
        before < 0.95,
        "the noise should make the argmax jagged: {before}"
    );
    assert!(after > 0.985 && after > before + 0.03, "{before} → {after}");
}

#[test]
fn recovers_a_ball_with_anisotropic_spacing_in_3d() {
    // 3 mm slices, 1 mm pixels: a ball of radius 12 mm spans 9 slices; its truth is in mm.
    let case = noisy_case([12, 40, 40], [3.0, 1.0, 1.0], false, 0.45, |[z, y, x]| {
        ((z - 5.5) * 3.0).powi(2) + (y - 19.5).powi(2) + (x - 19.5).powi(2) <= 144.0
    });
    let (before, after, wrong) = refine(&case, json!({"iterations": 150}));
    eprintln!("3D ball: argmax Dice {before:.4}, levelset {after:.4}, {wrong} voxels wrong");
    assert!(before < 0.95, "{before}");
    assert!(after > 0.97 && after > before + 0.03, "{before} → {after}");
}

#[test]
fn without_the_length_term_the_argmax_stays() {
    let case = noisy_case([1, 32, 32], [1.0; 3], true, 0.45, |[_, y, x]| {
        (y - 15.5).abs() < 8.0 && (x - 15.5).abs() < 10.0
    });
    let mut seg = case.argmax.clone();
    let post = levelset(json!({"mu": 0.0, "iterations": 300}));
    post.apply(&mut seg, Some(&case.probabilities)).unwrap();
    assert_eq!(seg.data, case.argmax.data);
}

#[test]
fn only_the_named_labels_are_refined_and_others_keep_their_voxels() {
    // Labels 1 (left) and 2 (right), each a noisy square; only label 2 is refined.
    let shape = [1, 32, 64];
    let mut rng = Noise(7);
    let n = 32 * 64;
    let mut p = vec![vec![0.0f32; n]; 3];
    let mut seg = vec![0i16; n];
    for i in 0..n {
        let (y, x) = (i / 64, i % 64);
        let square = (8..24).contains(&y) && ((4..28).contains(&x) || (36..60).contains(&x));
        let label = if square { 1 + usize::from(x >= 32) } else { 0 };
        let sure = 0.6 + 0.35 * rng.next();
        for (c, pc) in p.iter_mut().enumerate() {
            pc[i] = if c == label { sure } else { (1.0 - sure) / 2.0 };
        }
        seg[i] = (0..3).max_by(|&a, &b| p[a][i].total_cmp(&p[b][i])).unwrap() as i16;
    }
    let probabilities = Tensor::from_slice(&p.concat()).reshape([3, 1, 32, 64]);
    let map = LabelMap {
        shape,
        data: seg.clone(),
        geometry: Geometry::default(),
        is_2d: true,
    };
    let mut refined = map.clone();
    levelset(json!({"labels": [2], "mu": 1.0}))
        .apply(&mut refined, Some(&probabilities))
        .unwrap();
    for (i, (&a, &b)) in seg.iter().zip(&refined.data).enumerate() {
        if a == 1 {
            assert_eq!(b, 1, "pixel {i} of label 1 changed");
        }
        assert!(b != 1 || a == 1, "pixel {i} became label 1");
    }
    let left: Vec<i16> = refined.data.iter().map(|&v| i16::from(v == 2)).collect();
    assert!(
        left != seg.iter().map(|&v| i16::from(v == 2)).collect::<Vec<_>>(),
        "label 2 was not refined"
    );
}

#[test]
fn refuses_bad_options_and_a_call_without_probabilities() {
    let mut registry = Registry::empty();
    registry
        .load_plugin(&plugin_path("nnunet_plugin_levelset"))
        .unwrap();
    let error = |options: Value| {
        (registry.postprocessor("levelset").unwrap().make)(&options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let msg = error(json!({"iteration": 10}));
    assert!(msg.contains("unknown option \"iteration\""), "{msg}");
    assert!(
        msg.contains("iterations, mu, lambda, dt, epsilon, labels"),
        "{msg}"
    );
    let msg = error(json!({"mu": "smooth"}));
    assert!(msg.contains("\"mu\" must be a number"), "{msg}");
    let msg = error(json!({"dt": 0}));
    assert!(msg.contains("\"dt\" must be > 0"), "{msg}");
    let msg = error(json!({"labels": [0]}));
    assert!(
        msg.contains("\"labels\" must be a list of labels >= 1"),
        "{msg}"
    );

    let post = levelset(json!({"labels": [3]}));
    let case = noisy_case([1, 8, 8], [1.0; 3], true, 0.0, |[_, y, _]| y < 4.0);
    let mut seg = case.argmax.clone();
    let msg = post
        .apply(&mut seg, Some(&case.probabilities))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("label 3 has no probability channel"), "{msg}");
    let msg = levelset(json!({}))
        .apply(&mut seg, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("needs the prediction's probabilities"),
        "{msg}"
    );
}
