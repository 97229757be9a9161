//! Parity with a reference implementation on fixed weights: the weights both sides compute from
//! a hash of the tensor name (never stored), loading them into our network under the reference's
//! state_dict names, and the output check. Used by every architecture's `*_reference.rs` test;
//! the fixture scripts beside their fixtures compute the same `fixed_weights` in Python.

use nnunet_core::tch::{Kind, Tensor, nn, no_grad};
use std::collections::HashMap;

fn fnv1a(name: &str) -> u32 {
    name.bytes().fold(0x811C_9DC5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// The fixture scripts' `fixed_weights`: `q / 1024 · 2^-k`, `q` in `[-1000, 1000]` from a hash of
/// the name and index, `k = ⌊log2(fan-in) / 2⌋` (`2^-k` about `1 / sqrt(fan-in)`; `k = 3` for
/// vectors).
pub fn fixed_weights(name: &str, shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    let h = fnv1a(name);
    let fan = if shape.len() >= 2 { n / shape[0] } else { 1 };
    let k = if fan > 1 { (fan.ilog2() / 2) as i32 } else { 3 };
    let scale = 2f64.powi(-k) / 1024.0;
    let values: Vec<f32> = (0..n as u64)
        .map(|i| {
            let mut x = h ^ (i.wrapping_mul(2_654_435_761) as u32);
            x = x.wrapping_mul(0x9E37_79B1);
            x ^= x >> 15;
            let q = (x % 2001) as i64 - 1000;
            (q as f64 * scale) as f32
        })
        .collect();
    Tensor::from_slice(&values).view(shape)
}

/// Checks that `vs` holds exactly the reference's tensors (names with `prefix` stripped, shapes
/// equal) and sets each to [`fixed_weights`].
pub fn load_fixed_weights(vs: &nn::VarStore, prefix: &str, expected: &HashMap<String, Vec<i64>>) {
    let ours: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k.strip_prefix(prefix).unwrap_or(&k).to_string(), v))
        .collect();
    let mut names: Vec<&String> = ours.keys().collect();
    let mut reference: Vec<&String> = expected.keys().collect();
    names.sort();
    reference.sort();
    assert_eq!(names, reference, "our tensor names against the reference's");
    no_grad(|| {
        for (name, mut tensor) in ours {
            assert_eq!(tensor.size(), expected[&name], "{name}");
            tensor.copy_(&fixed_weights(&name, &expected[&name]));
        }
    });
}

/// Asserts `ours` equals `reference` to `tolerance` relative to the reference's largest
/// magnitude (at least 1), and prints the difference.
pub fn assert_close(label: &str, ours: &Tensor, reference: &Tensor, tolerance: f64) {
    assert_eq!(ours.size(), reference.size(), "{label}: shape");
    let scale = reference.abs().max().double_value(&[]).max(1.0);
    let diff = (ours.to_kind(Kind::Float) - reference)
        .abs()
        .max()
        .double_value(&[]);
    assert!(
        diff <= tolerance * scale,
        "{label}: max |ours - reference| = {diff:.3e} (largest |reference| {scale:.3})"
    );
    eprintln!("{label}: max |diff| {diff:.2e}, largest |reference| {scale:.3}");
}
