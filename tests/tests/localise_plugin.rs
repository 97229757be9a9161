//! The slice-localisation plugin (`plugins/localise`), loaded from its file as the host loads
//! it: the heat-map loss against values computed by hand, the `localise` trainer preset, and
//! the `slice-localise` postprocessor on known probabilities.

use nnunet_core::serde_json::{Value, json};
use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{LabelMap, LossSpec, Registry, TrainingOptions};
use nnunet_tests::plugin_path;

fn registry() -> Registry {
    let mut registry = Registry::empty();
    registry
        .load_plugin(&plugin_path("nnunet_plugin_localise"))
        .unwrap();
    registry
}

fn softplus(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

/// Mean BCE-with-logits of `scores` against `targets`.
fn bce(scores: &[f64], targets: &[f64]) -> f64 {
    let n = scores.len() as f64;
    scores
        .iter()
        .zip(targets)
        .map(|(s, t)| softplus(*s) - t * s)
        .sum::<f64>()
        / n
}

#[test]
fn the_heatmap_loss_is_bce_against_a_gaussian_on_the_band_centre() {
    let registry = registry();
    let spec = LossSpec {
        options: json!({"sigma": 1.0}),
        ..Default::default()
    };
    let loss = registry.build_loss("heatmap", &spec).unwrap();
    // (1, 2, 5, 2): background logit 0, landmark logit row h: h − 2 in column 0, 3·(h − 2) in 1
    let (rows, cols) = (5, 2);
    let mut values = vec![0f32; rows * cols];
    for h in 0..rows {
        values.push(h as f32 - 2.0);
        values.push(3.0 * (h as f32 - 2.0));
    }
    let logits = Tensor::from_slice(&values).view([1, 2, rows as i64, cols as i64]);
    // band: rows 1..=3 → centre 2
    let mut band = vec![0i64; rows * cols];
    band[2..8].fill(1);
    let target = Tensor::from_slice(&band).view([1, 1, rows as i64, cols as i64]);
    let got = loss.compute(&logits, &target).unwrap().double_value(&[]);
    let scores: Vec<f64> = (0..rows).map(|h| 2.0 * (h as f64 - 2.0)).collect();
    let heat: Vec<f64> = (0..rows)
        .map(|h| (-((h as f64 - 2.0).powi(2)) / 2.0).exp())
        .collect();
    assert!(
        (got - bce(&scores, &heat)).abs() < 1e-5,
        "{got} vs {}",
        bce(&scores, &heat)
    );
    // no landmark in the patch: every row towards 0
    let empty = Tensor::zeros([1, 1, rows as i64, cols as i64], (Kind::Int64, Device::Cpu));
    let got = loss.compute(&logits, &empty).unwrap().double_value(&[]);
    assert!((got - bce(&scores, &[0.0; 5])).abs() < 1e-5);
    // 3D logits and unknown options are refused by name
    let volume = Tensor::zeros([1, 2, 2, 2, 2], (Kind::Float, Device::Cpu));
    let target3 = Tensor::zeros([1, 1, 2, 2, 2], (Kind::Int64, Device::Cpu));
    let err = loss.compute(&volume, &target3).unwrap_err().to_string();
    assert!(err.contains("2D logits"), "{err}");
    let bad = LossSpec {
        options: json!({"sigmaa": 1.0}),
        ..Default::default()
    };
    let err = registry
        .build_loss("heatmap", &bad)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown option \"sigmaa\""), "{err}");
}

#[test]
fn the_localise_trainer_sets_the_mip_preset() {
    let registry = registry();
    let trainer =
        (registry.trainer("localise").unwrap().make)(&json!({"batch_size": 4, "sigma": 3.0}))
            .unwrap();
    let mut options = TrainingOptions::default();
    trainer.configure(&mut options).unwrap();
    assert!(!options.deep_supervision);
    assert_eq!(options.batch_size, Some(4));
    assert_eq!(options.augmentation.mirror_axes, Some(vec![1]));
    assert_eq!(options.augmentation.rotation_degrees, Some((-10.0, 10.0)));
    let loss = trainer.loss().unwrap().unwrap();
    assert_eq!(loss.expression, "ce+heatmap");
    assert_eq!(loss.options, json!({"heatmap": {"sigma": 3.0}}));
}

#[test]
fn slice_localise_labels_the_best_row_of_the_probabilities() {
    let registry = registry();
    let post = (registry.postprocessor("slice-localise").unwrap().make)(&Value::Null).unwrap();
    // (2, 1, 6, 3): landmark probability 0.9 in row 4 (two of three columns), 0.2 elsewhere,
    // except one 0.99 pixel in row 1 whose row mean logit stays lower
    let (rows, cols) = (6, 3);
    let mut p1 = vec![0.2f32; rows * cols];
    p1[4 * cols] = 0.9;
    p1[4 * cols + 1] = 0.9;
    p1[cols] = 0.99;
    let p0: Vec<f32> = p1.iter().map(|p| 1.0 - p).collect();
    let probabilities =
        Tensor::from_slice(&[p0, p1].concat()).view([2, 1, rows as i64, cols as i64]);
    let mut seg = LabelMap {
        shape: [1, rows, cols],
        data: vec![1; rows * cols],
        geometry: Default::default(),
        is_2d: true,
    };
    post.apply(&mut seg, Some(&probabilities)).unwrap();
    let labelled: Vec<usize> = (0..rows * cols).filter(|&i| seg.data[i] == 1).collect();
    assert_eq!(labelled, vec![12, 13, 14], "row 4 only");
    let err = post.apply(&mut seg, None).unwrap_err().to_string();
    assert!(
        err.contains("needs the prediction's probabilities"),
        "{err}"
    );
}
