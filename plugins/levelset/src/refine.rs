//! One-vs-rest refinement of a label map from its probabilities: every refined label gets its
//! own level set, initialised from the signed distance of its predicted mask and driven by
//! how much more probable the label is than its strongest rival; then each voxel goes to the
//! most probable label whose level set (or, for labels left alone, whose prediction) claims it,
//! and to background when none does.

use crate::chan_vese::evolve;
use crate::distance::signed_distance;
use crate::grid::{Grid, Window};
use crate::options::Options;
use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Error, LabelMap, Result};

fn invalid(message: String) -> Error {
    Error::Invalid(format!("levelset: {message}"))
}

/// The probabilities as one `Vec<f32>` per channel, checked against the label map.
fn channels(seg: &LabelMap, probabilities: &Tensor) -> Result<Vec<Vec<f32>>> {
    let size = probabilities.size();
    let [_, z, y, x] = size[..] else {
        return Err(invalid(format!(
            "probabilities of shape {size:?}, expected (C, z, y, x)"
        )));
    };
    if [z, y, x].map(|s| s as usize) != seg.shape || size[0] < 2 {
        return Err(invalid(format!(
            "probabilities of shape {size:?} for a label map of shape {:?}; need background \
             and at least one label over the same voxels",
            seg.shape
        )));
    }
    let flat = probabilities
        .f_to_kind(Kind::Float)?
        .f_contiguous()?
        .f_flatten(0, -1)?;
    let flat = Vec::<f32>::try_from(&flat)?;
    Ok(flat.chunks(seg.voxels()).map(<[f32]>::to_vec).collect())
}

/// The labels to refine: those the options name (each must have a channel), present in `seg`.
fn labels_to_refine(seg: &LabelMap, options: &Options, classes: usize) -> Result<Vec<i16>> {
    if let Some(&l) = options
        .labels
        .iter()
        .flatten()
        .find(|&&l| l as usize >= classes)
    {
        return Err(invalid(format!(
            "label {l} has no probability channel (the prediction has {classes}: background \
             and labels 1 to {})",
            classes - 1
        )));
    }
    if let Some(&v) = seg
        .data
        .iter()
        .find(|&&v| v < -1 || v as i64 >= classes as i64)
    {
        return Err(invalid(format!(
            "the label map holds label {v}, but the probabilities have {classes} channels"
        )));
    }
    let present = seg.present_labels();
    Ok(present
        .into_iter()
        .filter(|&l| l > 0 && options.refines(l))
        .collect())
}

/// Per voxel: how much more probable `label` is than the most probable other channel.
fn margin(probabilities: &[Vec<f32>], label: usize) -> Vec<f32> {
    let n = probabilities[label].len();
    (0..n)
        .map(|i| {
            let rival = probabilities
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != label)
                .map(|(_, p)| p[i])
                .fold(f32::NEG_INFINITY, f32::max);
            probabilities[label][i] - rival
        })
        .collect()
}

/// How far (in voxels of the finest axis) a label's level set is evolved beyond its predicted
/// mask's bounding box: at least 8, and far enough that the region force cannot lift `φ` from
/// `−m` to zero — it moves `φ` by at most `dt λ δε(φ) ≤ dt λ ε / (π m²)` a step, so
/// `m³ ≥ 2 iterations dt λ ε / π` keeps the total under `m / 2`. The window saves time without
/// changing the result.
fn window_margin(options: &Options) -> f64 {
    let reach = 2.0 * options.iterations as f64 * options.dt * options.lambda * options.epsilon
        / std::f64::consts::PI;
    reach.cbrt().max(8.0)
}

/// The voxels `label`'s level set ends inside of, over the whole grid.
fn evolve_label(
    grid: &Grid,
    seg: &LabelMap,
    probabilities: &[Vec<f32>],
    label: i16,
    options: &Options,
) -> Vec<bool> {
    let mask: Vec<bool> = seg.data.iter().map(|&v| v == label).collect();
    let mut inside = vec![false; mask.len()];
    let Some(window) = Window::around(grid, &mask, window_margin(options)) else {
        return inside;
    };
    let mut phi = signed_distance(&window.grid, &window.gather(&mask));
    let force = window.gather(&margin(probabilities, label as usize));
    evolve(&window.grid, &mut phi, &force, options);
    for (i, p) in phi.into_iter().enumerate() {
        inside[window.parent_index(i)] = p > 0.0;
    }
    inside
}

/// Refines `seg` in place.
pub fn refine(seg: &mut LabelMap, probabilities: &Tensor, options: &Options) -> Result<()> {
    let grid = Grid::of(seg)?;
    let probabilities = channels(seg, probabilities)?;
    let refined = labels_to_refine(seg, options, probabilities.len())?;
    if refined.is_empty() || grid.is_empty() {
        return Ok(());
    }
    let inside: Vec<Vec<bool>> = refined
        .iter()
        .map(|&label| evolve_label(&grid, seg, &probabilities, label, options))
        .collect();
    for (i, v) in seg.data.iter_mut().enumerate() {
        if *v < 0 {
            continue; // outside the crop mask: not ours to change
        }
        let kept = (*v > 0 && !refined.contains(v)).then_some(*v);
        let claims = refined
            .iter()
            .zip(&inside)
            .filter(|(_, ins)| ins[i])
            .map(|(&l, _)| l);
        *v = kept
            .into_iter()
            .chain(claims)
            .max_by(|&a, &b| probabilities[a as usize][i].total_cmp(&probabilities[b as usize][i]))
            .unwrap_or(0);
    }
    Ok(())
}
