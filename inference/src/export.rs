//! From logits in preprocessed space back to a label map in the input's own geometry, as
//! nnU-Net's `convert_predicted_logits_to_segmentation_with_correct_shape`: resample the logits
//! to the cropped shape (linear; in-plane then nearest out-of-plane for anisotropic spacing),
//! softmax and argmax (or sigmoid and region painting, [`crate::label_handling`]), paste into
//! the crop box, undo the transpose. Optionally the probabilities too, pasted the same way with
//! background probability 1 outside the box, as `--save_probabilities` stores them.
//!
//! The resampling runs as tch ops (`upsample_trilinear3d` / `upsample_bilinear2d` with
//! `align_corners = false`, which is skimage's order-1 `resize` with edge mode), on whatever
//! device the logits are — on a GPU this removes nnU-Net's slow CPU export.

use crate::label_handling::LabelHandling;
use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{Error, LabelMap, Result};
use nnunet_planning::preprocessed_format::CaseProperties;
use nnunet_planning::resample::separate_z_axis;

/// Resizes `(K, a, b, c)` logits to `new_shape`. With `separate_axis`, that axis is resampled by
/// nearest neighbour (nnU-Net's `order_z = 0`) and the other two bilinearly per slice.
pub fn resample_logits(
    logits: &Tensor,
    new_shape: [usize; 3],
    separate_axis: Option<usize>,
) -> Result<Tensor> {
    let size = logits.size();
    let old: [i64; 3] = [size[1], size[2], size[3]];
    let new: [i64; 3] = new_shape.map(|v| v as i64);
    if old == new {
        return Ok(logits.shallow_clone());
    }
    let Some(axis) = separate_axis else {
        return Ok(logits
            .f_unsqueeze(0)?
            .f_upsample_trilinear3d(new, false, None, None, None)?
            .f_squeeze_dim(0)?);
    };
    // Separate axis first: (K, A, B, C) → (A, K, B, C), bilinear in-plane per slice.
    let moved = logits.f_movedim(&[axis as i64 + 1][..], &[1][..])?;
    let plane: Vec<i64> = (0..3).filter(|&a| a != axis).map(|a| new[a]).collect();
    let mut x = moved.f_transpose(0, 1)?;
    if x.size()[2..] != plane[..] {
        x = x.f_upsample_bilinear2d(&plane[..], false, None, None)?;
    }
    // Out of plane: map_coordinates(order=0, mode='nearest') at scale·(i + 0.5) − 0.5.
    let (a_old, a_new) = (old[axis], new[axis]);
    if a_old != a_new {
        let scale = a_old as f64 / a_new as f64;
        let index: Vec<i64> = (0..a_new)
            .map(|i| ((scale * (i as f64 + 0.5) - 0.5).round() as i64).clamp(0, a_old - 1))
            .collect();
        let index = Tensor::from_slice(&index).to_device(x.device());
        x = x.f_index_select(0, &index)?;
    }
    Ok(x.f_transpose(0, 1)?
        .f_movedim(&[1][..], &[axis as i64 + 1][..])?
        .contiguous())
}

/// A prediction in the input's own geometry.
#[derive(Debug)]
pub struct Exported {
    pub segmentation: LabelMap,
    /// `(C, z, y, x)` float32 on the CPU, when asked for: the softmax (or region sigmoids),
    /// background 1 outside the crop box (0 for regions), transpose undone — what nnU-Net
    /// saves with `--save_probabilities`.
    pub probabilities: Option<Tensor>,
}

/// Pastes `(K, *crop)` into `(K, *full)` at `bbox` (channel `k` filled with `fill(k)` outside)
/// and undoes the transpose: numpy `transpose([0, *(b + 1 for b in backward)])`.
fn uncrop_and_untranspose(
    cropped: &Tensor,
    full: [usize; 3],
    bbox: [[usize; 2]; 3],
    fill: impl Fn(usize) -> f64,
    backward: [usize; 3],
) -> Result<Tensor> {
    let channels = cropped.size()[0];
    let mut shape = vec![channels];
    shape.extend(full.iter().map(|&s| s as i64));
    let out = Tensor::f_zeros(shape.as_slice(), (cropped.kind(), cropped.device()))?;
    for k in 0..channels {
        let value = fill(k as usize);
        if value != 0.0 {
            let _ = out.f_select(0, k)?.f_fill_(value)?;
        }
    }
    let mut window = out.shallow_clone();
    for (axis, [start, end]) in bbox.iter().enumerate() {
        window = window.f_narrow(axis as i64 + 1, *start as i64, (end - start) as i64)?;
    }
    window.f_copy_(cropped)?;
    let order: Vec<i64> = std::iter::once(0)
        .chain(backward.iter().map(|&b| b as i64 + 1))
        .collect();
    Ok(out.f_permute(order.as_slice())?.f_contiguous()?)
}

/// The label map (and, with `with_probabilities`, the probabilities) in the input's geometry for
/// `logits` `(K, *preprocessed shape)` of a case with `properties`, under a plans' transposes,
/// as nnU-Net's `convert_predicted_logits_to_segmentation_with_correct_shape`.
pub fn export_prediction(
    logits: &Tensor,
    properties: &CaseProperties,
    transpose_forward: [usize; 3],
    transpose_backward: [usize; 3],
    labels: &LabelHandling,
    with_probabilities: bool,
) -> Result<Exported> {
    let t = transpose_forward;
    let original_spacing = [
        properties.spacing[t[0]],
        properties.spacing[t[1]],
        properties.spacing[t[2]],
    ];
    let cropped = properties.shape_after_cropping_and_before_resampling;
    let axis = separate_z_axis(&properties.spacing_after_resampling, &original_spacing);
    let logits = resample_logits(&logits.f_to_kind(Kind::Float)?, cropped, axis)?;
    let (seg, probabilities) = if with_probabilities {
        let p = labels.probabilities(&logits)?;
        (labels.segmentation(&p)?, Some(p))
    } else {
        (labels.segmentation_from_logits(&logits)?, None)
    };
    drop(logits);
    let full = properties.shape_before_cropping;
    let bbox = properties.bbox_used_for_cropping;
    let seg = uncrop_and_untranspose(
        &seg.f_unsqueeze(0)?,
        full,
        bbox,
        |_| 0.0,
        transpose_backward,
    )?
    .f_to_device(Device::Cpu)?;
    let shape = [
        full[transpose_backward[0]],
        full[transpose_backward[1]],
        full[transpose_backward[2]],
    ];
    let data: Vec<i16> = Vec::<i16>::try_from(seg.f_flatten(0, -1)?)
        .map_err(|e| Error::Invalid(format!("segmentation to host: {e}")))?;
    let probabilities = probabilities
        .map(|p| {
            uncrop_and_untranspose(
                &p,
                full,
                bbox,
                |k| labels.outside_crop(k),
                transpose_backward,
            )?
            .f_to_device(Device::Cpu)
            .map_err(Error::from)
        })
        .transpose()?;
    Ok(Exported {
        segmentation: LabelMap {
            shape,
            data,
            geometry: properties.geometry.clone(),
            is_2d: properties.is_2d,
        },
        probabilities,
    })
}

/// The label map of a softmax (non-region) model, in the input's geometry; see
/// [`export_prediction`] for region-based datasets and probabilities.
pub fn export_segmentation(
    logits: &Tensor,
    properties: &CaseProperties,
    transpose_forward: [usize; 3],
    transpose_backward: [usize; 3],
) -> Result<LabelMap> {
    Ok(export_prediction(
        logits,
        properties,
        transpose_forward,
        transpose_backward,
        &LabelHandling::Softmax,
        false,
    )?
    .segmentation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trilinear_resampling_keeps_constants_and_shape() {
        let logits = Tensor::ones([2, 4, 6, 8], (Kind::Float, Device::Cpu)) * 3.0;
        let out = resample_logits(&logits, [5, 7, 9], None).unwrap();
        assert_eq!(out.size(), [2, 5, 7, 9]);
        assert!((out - 3.0).abs().max().double_value(&[]) < 1e-6);
    }

    #[test]
    fn separate_axis_is_nearest_neighbour() {
        // Along axis 0, values 0..4; resampled 4 → 8 by nearest: each slice twice.
        let values = Tensor::arange(4, (Kind::Float, Device::Cpu))
            .view([1, 4, 1, 1])
            .expand([1, 4, 3, 3], false)
            .contiguous();
        let out = resample_logits(&values, [8, 6, 6], Some(0)).unwrap();
        assert_eq!(out.size(), [1, 8, 6, 6]);
        let column: Vec<f32> = Vec::try_from(out.select(2, 0).select(2, 0).flatten(0, -1)).unwrap();
        assert_eq!(column, vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    }

    fn properties(full: [usize; 3], bbox: [[usize; 2]; 3]) -> CaseProperties {
        let crop = [
            bbox[0][1] - bbox[0][0],
            bbox[1][1] - bbox[1][0],
            bbox[2][1] - bbox[2][0],
        ];
        CaseProperties {
            format: String::new(),
            data_shape: [1, crop[0], crop[1], crop[2]],
            data_dtype: String::new(),
            seg_dtype: String::new(),
            spacing: [1.0; 3],
            spacing_after_resampling: [1.0; 3],
            geometry: Default::default(),
            is_2d: false,
            shape_before_cropping: full,
            bbox_used_for_cropping: bbox,
            shape_after_cropping_and_before_resampling: crop,
            class_locations: Default::default(),
            plans_digest: String::new(),
        }
    }

    #[test]
    fn probabilities_are_pasted_with_background_one_and_transposed_back() {
        // Transposed (preprocessed-space) full shape (3, 4, 5); the crop box is 2×2×2.
        let props = properties([3, 4, 5], [[1, 3], [1, 3], [2, 4]]);
        let logits = Tensor::randn([3, 2, 2, 2], (Kind::Float, Device::Cpu));
        // transpose_forward (1, 0, 2) is its own inverse.
        let out = export_prediction(
            &logits,
            &props,
            [1, 0, 2],
            [1, 0, 2],
            &LabelHandling::Softmax,
            true,
        )
        .unwrap();
        assert_eq!(out.segmentation.shape, [4, 3, 5]);
        let probs = out.probabilities.unwrap();
        assert_eq!(probs.size(), [3, 4, 3, 5]);
        let sums = probs.sum_dim_intlist(0, false, Kind::Float);
        assert!((sums - 1.0).abs().max().double_value(&[]) < 1e-5);
        // Outside the box: background probability 1, label 0.
        assert_eq!(probs.double_value(&[0, 0, 0, 0]), 1.0);
        assert_eq!(probs.double_value(&[1, 3, 2, 4]), 0.0);
        // Inside: voxel (z, y, x) = (0, 1, 0) of the crop sits at transposed (1, 2, 2), i.e.
        // original (2, 1, 2); its probabilities are the softmax of its logits.
        let expected = logits
            .select(1, 0)
            .select(1, 1)
            .select(1, 0)
            .softmax(0, Kind::Float);
        let got = probs.select(1, 2).select(1, 1).select(1, 2);
        assert!((got - &expected).abs().max().double_value(&[]) < 1e-6);
        // The segmentation is the argmax of the saved probabilities everywhere.
        let seg = Tensor::from_slice(&out.segmentation.data).view([4, 3, 5]);
        assert!(seg.equal(&probs.argmax(0, false).to_kind(Kind::Int16)));
        // Without probabilities the same segmentation comes out.
        let plain = export_segmentation(&logits, &props, [1, 0, 2], [1, 0, 2]).unwrap();
        assert_eq!(plain.data, out.segmentation.data);
    }

    #[test]
    fn regions_are_zero_outside_the_box() {
        let props = properties([2, 2, 2], [[0, 1], [0, 2], [0, 2]]);
        let logits = Tensor::full([2, 1, 2, 2], 3.0, (Kind::Float, Device::Cpu));
        let regions = LabelHandling::Regions {
            class_order: vec![1, 2],
        };
        let out = export_prediction(&logits, &props, [0, 1, 2], [0, 1, 2], &regions, true).unwrap();
        let probs = out.probabilities.unwrap();
        assert_eq!(probs.double_value(&[0, 1, 0, 0]), 0.0);
        assert!(probs.double_value(&[0, 0, 0, 0]) > 0.9);
        assert_eq!(out.segmentation.data, vec![2, 2, 2, 2, 0, 0, 0, 0]);
    }
}
