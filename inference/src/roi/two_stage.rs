//! Two-stage prediction (`nnunet predict-roi`): a coarse model segments the whole image; each
//! connected component of its foreground gives a box, enlarged ([`super::boxes`]); a fine model
//! predicts each crop; the crops' probabilities are pasted back into the full image.
//!
//! Overlapping crops: the probabilities of every crop covering a voxel are **averaged**, and
//! the label is taken from the average (argmax, or region thresholds). This is how nnU-Net
//! merges several predictions of one voxel everywhere else (sliding-window tiles, folds,
//! `nnunet ensemble`); it is symmetric and independent of the crops' order, and leaves no seam
//! where one crop's edge lies inside another (keeping the most confident crop per voxel would
//! switch between crops voxel by voxel). Voxels outside every crop are background.

use super::boxes::{BoundingBox, RoiOptions, crop_image, paste_with, roi_boxes};
use crate::export::{Exported, export_prediction};
use crate::predict::{Model, input_cases};
use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Error, Image, LabelMap, Result, atomic};
use nnunet_planning::crop::box_shape;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One image predicted in memory by one model, in the image's own geometry (with the
/// probabilities when asked for).
pub fn predict_image(model: &Model, image: Image, with_probabilities: bool) -> Result<Exported> {
    if model.cascade_labels.is_some() {
        return Err(Error::Invalid(format!(
            "configuration {:?} is a cascade stage: two-stage ROI prediction takes ordinary \
             configurations",
            model.configuration
        )));
    }
    let out = model.job.run_case(image, None)?;
    let logits = model
        .logits(&out.data, &out.properties)?
        .f_to_kind(Kind::Float)?;
    let (forward, backward) = model.transposes()?;
    export_prediction(
        &logits,
        &out.properties,
        forward,
        backward,
        &model.labels,
        with_probabilities,
    )
}

/// A two-stage prediction of one image.
#[derive(Debug)]
pub struct RoiPrediction {
    /// The coarse model's segmentation.
    pub coarse: LabelMap,
    /// The crops the fine model predicted (enlarged component boxes of `coarse`).
    pub boxes: Vec<BoundingBox>,
    /// The fine predictions pasted together; background outside every crop.
    pub segmentation: LabelMap,
}

/// Adds `part` (C order over `bbox`'s shape) into `full` (C order over `shape`) at `bbox`.
fn add_into(full: &mut [f32], shape: [usize; 3], part: &[f32], bbox: &BoundingBox) {
    paste_with(full, shape, part, bbox, |f, p| *f += p);
}

/// Predicts `image` in two stages; see the module documentation.
pub fn predict_two_stage(
    coarse: &Model,
    fine: &Model,
    image: &Image,
    options: &RoiOptions,
) -> Result<RoiPrediction> {
    options.check()?;
    let coarse_seg = predict_image(coarse, image.clone(), false)?.segmentation;
    let boxes = roi_boxes(&coarse_seg, options);
    let voxels = image.voxels();
    let channels = fine.dataset.num_segmentation_heads()?;
    let mut sum = vec![0f32; channels * voxels];
    let mut count = vec![0f32; voxels];
    for bbox in &boxes {
        let crop = crop_image(image, bbox)?;
        let probabilities = predict_image(fine, crop, true)?
            .probabilities
            .ok_or_else(|| Error::Invalid("the fine model returned no probabilities".into()))?;
        let expected = [channels as i64]
            .into_iter()
            .chain(box_shape(bbox).map(|s| s as i64))
            .collect::<Vec<_>>();
        if probabilities.size() != expected {
            return Err(Error::Invalid(format!(
                "fine prediction of shape {:?} for a crop of {expected:?}",
                probabilities.size()
            )));
        }
        let values = Vec::<f32>::try_from(probabilities.f_flatten(0, -1)?)
            .map_err(|e| Error::Invalid(format!("probabilities to host: {e}")))?;
        let per_channel = values.len() / channels;
        for (k, part) in values.chunks_exact(per_channel).enumerate() {
            add_into(
                &mut sum[k * voxels..(k + 1) * voxels],
                image.shape,
                part,
                bbox,
            );
        }
        add_into(&mut count, image.shape, &vec![1f32; per_channel], bbox);
    }
    for (k, channel) in sum.chunks_exact_mut(voxels).enumerate() {
        let outside = fine.labels.outside_crop(k) as f32;
        for (v, &n) in channel.iter_mut().zip(&count) {
            *v = if n > 0.0 { *v / n } else { outside };
        }
    }
    let [nz, ny, nx] = image.shape.map(|s| s as i64);
    let probabilities = Tensor::from_slice(&sum).view([channels as i64, nz, ny, nx]);
    let seg = fine.labels.segmentation(&probabilities)?;
    let data = Vec::<i16>::try_from(seg.f_flatten(0, -1)?)
        .map_err(|e| Error::Invalid(format!("segmentation to host: {e}")))?;
    Ok(RoiPrediction {
        coarse: coarse_seg,
        boxes,
        segmentation: LabelMap {
            shape: image.shape,
            data,
            geometry: image.geometry.clone(),
            is_2d: image.is_2d,
        },
    })
}

/// What `roi_boxes.json` records per case.
#[derive(Debug, Serialize)]
pub struct CaseBoxes {
    /// `[start, end)` per axis `(z, y, x)`.
    pub boxes: Vec<BoundingBox>,
}

/// Predicts every case of `input` in two stages into `output` (`CASE<ending>`, plus
/// `dataset.json` of the fine model and `roi_boxes.json` with each case's crops); with
/// `save_coarse` also the coarse segmentations into `output/coarse`. Returns the written
/// segmentations.
pub fn predict_roi_folder(
    coarse: &Model,
    fine: &Model,
    input: &Path,
    output: &Path,
    options: &RoiOptions,
    save_coarse: bool,
) -> Result<Vec<PathBuf>> {
    options.check()?;
    let ending = &fine.dataset.file_ending;
    let channels = fine.dataset.num_channels();
    if coarse.dataset.file_ending != *ending || coarse.dataset.num_channels() != channels {
        return Err(Error::Invalid(format!(
            "the coarse model reads {} channel(s) of {:?}, the fine model {channels} of {ending:?}: \
             both must read the same images",
            coarse.dataset.num_channels(),
            coarse.dataset.file_ending
        )));
    }
    let cases = input_cases(input, ending)?;
    let guard = atomic::OutputGuard::create(output)?;
    atomic::write_json(&output.join("dataset.json"), &fine.dataset)?;
    let coarse_dir = output.join("coarse");
    if save_coarse {
        std::fs::create_dir_all(&coarse_dir).map_err(|e| Error::io(&coarse_dir, e))?;
    }
    let mut written = Vec::new();
    let mut record = BTreeMap::new();
    for case in &cases {
        let image = nnunet_datasets::read_case_image(&case.id, &case.images, channels)?;
        let prediction = predict_two_stage(coarse, fine, &image, options)
            .map_err(|e| Error::Invalid(format!("case {}: {e}", case.id)))?;
        let path = output.join(format!("{}{ending}", case.id));
        nnunet_datasets::io::write_label(&path, &prediction.segmentation)?;
        if save_coarse {
            let file = coarse_dir.join(format!("{}{ending}", case.id));
            nnunet_datasets::io::write_label(&file, &prediction.coarse)?;
        }
        record.insert(
            case.id.clone(),
            CaseBoxes {
                boxes: prediction.boxes,
            },
        );
        written.push(path);
    }
    atomic::write_json(&output.join("roi_boxes.json"), &record)?;
    guard.commit();
    Ok(written)
}
