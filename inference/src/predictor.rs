//! Sliding-window prediction of one preprocessed image, as nnU-Net's
//! `predict_sliding_window_return_logits`: pad to at least the patch, run the network on every
//! tile (with mirroring test-time augmentation), weight each tile's logits by the Gaussian
//! importance map, and divide by the summed weights.
//!
//! A 2D network on a 3D image predicts it slice by slice, as nnU-Net's `2d` configuration does.
//!
//! The network runs in the window's [`Precision`] (its parameters must already be of
//! [`Precision::parameter_kind`]); each tile's logits are cast to float32 before they are
//! mirrored back, weighted and summed.

use crate::sliding_window::{gaussian_importance, tiles};
use nnunet_core::tch::{self, Device, Kind, Tensor};
use nnunet_core::{Error, Network, Precision, Result};

/// How to slide.
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    /// The network's patch size, 2 or 3 axes.
    pub patch_size: Vec<usize>,
    /// Tile step as a fraction of the patch (nnU-Net: 0.5).
    pub step_size: f64,
    /// Spatial axes (0-based, of the patch) to mirror for test-time augmentation; empty = off.
    pub mirror_axes: Vec<usize>,
    /// Number of output channels of the network.
    pub num_outputs: i64,
    pub device: Device,
    /// The network's arithmetic.
    pub precision: Precision,
    /// At most how many of a tile's network passes (the unflipped one and the mirrored ones)
    /// run as one batch; 1 runs them one by one as nnU-Net does
    /// ([`crate::predict::PASSES_PER_BATCH`] says what `predict` uses).
    pub passes_per_batch: usize,
    /// The kind the weighted logits, the Gaussian and the weights are summed in: `Float`, or
    /// `Half` as nnU-Net's `predict_sliding_window_return_logits` does (its `predicted_logits`,
    /// `n_predictions` and `compute_gaussian` are float16), which reproduces nnU-Net's outputs
    /// to float16 rounding.
    pub accumulate: Kind,
}

/// Every non-empty combination of `axes`, as nnU-Net enumerates them (by size, then order).
pub fn mirror_combinations(axes: &[usize]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for size in 1..=axes.len() {
        combinations(axes, size, 0, &mut Vec::new(), &mut out);
    }
    out
}

fn combinations(
    axes: &[usize],
    k: usize,
    start: usize,
    cur: &mut Vec<usize>,
    out: &mut Vec<Vec<usize>>,
) {
    if cur.len() == k {
        out.push(cur.clone());
        return;
    }
    for i in start..axes.len() {
        cur.push(axes[i]);
        combinations(axes, k, i + 1, cur, out);
        cur.pop();
    }
}

/// The network's first (highest-resolution) output for a batch, in float32. `x` is already of
/// the precision's parameter kind.
fn forward(network: &dyn Network, x: &Tensor, precision: Precision) -> Result<Tensor> {
    let mut outputs = tch::autocast(precision == Precision::CudaAutocast, || {
        network.forward_t(x, false)
    })?;
    if outputs.is_empty() {
        return Err(Error::Invalid("the network returned no output".into()));
    }
    Ok(outputs.swap_remove(0).f_to_kind(Kind::Float)?)
}

/// Logits for a batch of tiles `(B, C, *patch)` (float32), averaged over the unflipped pass
/// and every mirror combination. Up to `passes_per_batch` of these passes run as one batch
/// (summed in nnU-Net's order all the same).
fn predict_tile(
    network: &dyn Network,
    x: &Tensor,
    mirror_axes: &[usize],
    precision: Precision,
    passes_per_batch: usize,
) -> Result<Tensor> {
    let x = x.f_to_kind(precision.parameter_kind())?;
    let b = x.size()[0];
    // The flipped tensor dims of each pass; the first pass flips nothing.
    let flips: Vec<Vec<i64>> = std::iter::once(Vec::new())
        .chain(
            mirror_combinations(mirror_axes)
                .iter()
                .map(|combo| combo.iter().map(|&a| a as i64 + 2).collect()),
        )
        .collect();
    let flip = |t: &Tensor, dims: &[i64]| -> Result<Tensor> {
        Ok(if dims.is_empty() {
            t.shallow_clone()
        } else {
            t.f_flip(dims)?
        })
    };
    // As few batches as the limit allows, evenly filled (8 passes at most 7 a batch: 4 + 4).
    let batches = flips.len().div_ceil(passes_per_batch.max(1));
    let mut sum: Option<Tensor> = None;
    for group in flips.chunks(flips.len().div_ceil(batches)) {
        let inputs = group
            .iter()
            .map(|dims| flip(&x, dims))
            .collect::<Result<Vec<_>>>()?;
        let batch = match inputs.as_slice() {
            [single] => single.shallow_clone(),
            many => Tensor::f_cat(many, 0)?,
        };
        let outputs = forward(network, &batch, precision)?;
        for (i, dims) in group.iter().enumerate() {
            let logits = flip(&outputs.f_narrow(0, i as i64 * b, b)?, dims)?;
            sum = Some(match sum {
                None => logits,
                Some(s) => s + logits,
            });
        }
    }
    let sum = sum.ok_or_else(|| Error::Invalid("no network passes".into()))?;
    Ok(sum / flips.len() as f64)
}

/// The Gaussian in the accumulation kind; in float16 the values that underflow to 0 become the
/// smallest non-zero one, as `compute_gaussian` does after its cast.
fn accumulation_gaussian(gaussian: Tensor, kind: Kind) -> Result<Tensor> {
    if kind == Kind::Float {
        return Ok(gaussian);
    }
    let g = gaussian.f_to_kind(kind)?;
    let nonzero = g.f_ne(0.0)?;
    let smallest = g.f_masked_select(&nonzero)?.f_min()?;
    Ok(g.f_where_self(&nonzero, &smallest)?)
}

impl SlidingWindow {
    /// Predicts logits `(num_outputs, *spatial)` for `image` `(C, *spatial)` (2 or 3 spatial
    /// axes). The image may be on any device; the result is on `self.device`, in float32.
    pub fn predict(&self, network: &dyn Network, image: &Tensor) -> Result<Tensor> {
        tch::no_grad(|| self.predict_inner(network, image))
    }

    fn predict_inner(&self, network: &dyn Network, image: &Tensor) -> Result<Tensor> {
        let shape = image.size();
        let spatial: Vec<usize> = shape[1..].iter().map(|&s| s as usize).collect();
        let patch = &self.patch_size;
        if !(patch.len() == spatial.len() || (patch.len() == 2 && spatial.len() == 3)) {
            return Err(Error::Invalid(format!(
                "patch {patch:?} does not fit an image with spatial shape {spatial:?}"
            )));
        }
        // A 2D patch on a 3D image: tile each slice (z stays 1-wide in the tile).
        let slice_mode = patch.len() < spatial.len();
        let tile: Vec<usize> = if slice_mode {
            std::iter::once(1).chain(patch.iter().cloned()).collect()
        } else {
            patch.clone()
        };
        // Pad to at least the tile (constant 0, centred as acvl_utils' pad_nd_image).
        let padded_shape: Vec<usize> = spatial.iter().zip(&tile).map(|(&s, &t)| s.max(t)).collect();
        let before: Vec<usize> = spatial
            .iter()
            .zip(&padded_shape)
            .map(|(&s, &p)| (p - s) / 2)
            .collect();
        let mut pad = Vec::new();
        for axis in (0..spatial.len()).rev() {
            let total = padded_shape[axis] - spatial[axis];
            pad.push(before[axis] as i64);
            pad.push((total - before[axis]) as i64);
        }
        let image = image.to_device(self.device).to_kind(Kind::Float);
        let data = if pad.iter().any(|&p| p > 0) {
            image.f_constant_pad_nd(&pad)?
        } else {
            image
        };

        let gaussian_vec = gaussian_importance(patch, 1.0 / 8.0, 10.0);
        let patch_i64: Vec<i64> = patch.iter().map(|&p| p as i64).collect();
        let gaussian = accumulation_gaussian(
            Tensor::from_slice(&gaussian_vec)
                .view(patch_i64.as_slice())
                .to_device(self.device),
            self.accumulate,
        )?;
        let mut out_shape = vec![self.num_outputs];
        out_shape.extend(padded_shape.iter().map(|&s| s as i64));
        let logits = Tensor::zeros(out_shape.as_slice(), (self.accumulate, self.device));
        let weights = Tensor::zeros(
            &padded_shape.iter().map(|&s| s as i64).collect::<Vec<_>>()[..],
            (self.accumulate, self.device),
        );

        for corner in tiles(&padded_shape, &tile, self.step_size) {
            let mut x = data.shallow_clone();
            for (axis, (&c, &t)) in corner.iter().zip(&tile).enumerate() {
                x = x.f_narrow(axis as i64 + 1, c as i64, t as i64)?;
            }
            if slice_mode {
                x = x.f_squeeze_dim(1)?;
            }
            let pred = predict_tile(
                network,
                &x.f_unsqueeze(0)?,
                &self.mirror_axes,
                self.precision,
                self.passes_per_batch,
            )?;
            let pred = pred.f_squeeze_dim(0)? * &gaussian;
            let pred = if slice_mode {
                pred.f_unsqueeze(1)?
            } else {
                pred
            };
            let mut target = logits.shallow_clone();
            let mut weight_target = weights.shallow_clone();
            for (axis, (&c, &t)) in corner.iter().zip(&tile).enumerate() {
                target = target.f_narrow(axis as i64 + 1, c as i64, t as i64)?;
                weight_target = weight_target.f_narrow(axis as i64, c as i64, t as i64)?;
            }
            let _ = target.f_add_(&pred)?;
            let g = if slice_mode {
                gaussian.f_unsqueeze(0)?
            } else {
                gaussian.shallow_clone()
            };
            let _ = weight_target.f_add_(&g)?;
        }
        let mut logits = (logits / weights.f_unsqueeze(0)?).f_to_kind(Kind::Float)?;
        // Undo the padding.
        for (axis, (&b, &s)) in before.iter().zip(&spatial).enumerate() {
            logits = logits.f_narrow(axis as i64 + 1, b as i64, s as i64)?;
        }
        Ok(logits.contiguous())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "network" that returns a per-voxel function of its input, so sliding-window results
    /// can be checked exactly: output channel k = input × (k + 1).
    struct Scale(i64);
    impl Network for Scale {
        fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Vec<Tensor>> {
            let outs: Vec<Tensor> = (0..self.0)
                .map(|k| x.narrow(1, 0, 1) * (k + 1) as f64)
                .collect();
            Ok(vec![Tensor::cat(&outs, 1)])
        }
        fn set_deep_supervision(&mut self, _: bool) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn mirror_combinations_follow_itertools() {
        assert_eq!(
            mirror_combinations(&[0, 1, 2]),
            vec![
                vec![0],
                vec![1],
                vec![2],
                vec![0, 1],
                vec![0, 2],
                vec![1, 2],
                vec![0, 1, 2]
            ]
        );
    }

    #[test]
    fn a_voxelwise_network_is_reproduced_exactly_3d_with_padding_and_tta() {
        let image = Tensor::randn([1, 7, 13, 20], (Kind::Float, Device::Cpu));
        let sw = SlidingWindow {
            patch_size: vec![8, 8, 8],
            step_size: 0.5,
            mirror_axes: vec![0, 1, 2],
            num_outputs: 2,
            device: Device::Cpu,
            precision: Precision::Float32,
            // 8 passes at most 3 a batch: 3, 3 and 2
            passes_per_batch: 3,
            accumulate: Kind::Float,
        };
        let logits = sw.predict(&Scale(2), &image).unwrap();
        assert_eq!(logits.size(), [2, 7, 13, 20]);
        let expected = Tensor::cat(&[&image * 1.0, &image * 2.0], 0);
        let err = (&logits - &expected).abs().max().double_value(&[]);
        assert!(err < 1e-5, "max error {err}");
    }

    #[test]
    fn a_2d_patch_predicts_a_3d_image_slice_by_slice() {
        let image = Tensor::randn([1, 3, 10, 9], (Kind::Float, Device::Cpu));
        let sw = SlidingWindow {
            patch_size: vec![8, 8],
            step_size: 0.5,
            mirror_axes: vec![0, 1],
            num_outputs: 3,
            device: Device::Cpu,
            precision: Precision::Float32,
            passes_per_batch: 1,
            accumulate: Kind::Float,
        };
        let logits = sw.predict(&Scale(3), &image).unwrap();
        assert_eq!(logits.size(), [3, 3, 10, 9]);
        let err = (logits.narrow(0, 2, 1) - &image * 3.0)
            .abs()
            .max()
            .double_value(&[]);
        assert!(err < 1e-5, "max error {err}");
    }

    #[test]
    fn float16_accumulation_rounds_as_nnunet_and_returns_float32() {
        let image = Tensor::randn([1, 6, 10, 9], (Kind::Float, Device::Cpu));
        let mut sw = SlidingWindow {
            patch_size: vec![4, 8, 8],
            step_size: 0.5,
            mirror_axes: vec![],
            num_outputs: 1,
            device: Device::Cpu,
            precision: Precision::Float32,
            passes_per_batch: 1,
            accumulate: Kind::Half,
        };
        let half = sw.predict(&Scale(1), &image).unwrap();
        assert_eq!(half.kind(), Kind::Float);
        sw.accumulate = Kind::Float;
        let float = sw.predict(&Scale(1), &image).unwrap();
        let diff = (&half - &float).abs();
        let (max, mean) = (
            diff.max().double_value(&[]),
            diff.mean(Kind::Float).double_value(&[]),
        );
        // float16 keeps 11 significant bits; where only the Gaussian's small tails cover a
        // voxel, the rounding of the sums is divided by a small weight and grows (as in
        // nnU-Net, whose outputs `cli/tests/nnunet_interop.rs` compares).
        assert!(max > 0.0 && max < 0.5, "max error {max}");
        assert!(mean < 1e-2, "mean error {mean}");
    }
}
