//! `nnunet convert mip`: a 3D raw dataset → a 2D raw dataset of MIPs whose labels mark the
//! landmark's rows (label 1, `landmark`).
//!
//! Training cases need their 3D label (the landmark is its centroid: [`landmark_row`]); test
//! cases in `imagesTs` are projected too, and their `labelsTs` (when the source has them, as the
//! phantoms do) become band labels for scoring. Images are written as 2D `.nii.gz` (the MIP's
//! geometry keeps the world z of every row, see [`super::mip`]).

use super::landmark::{band_label, landmark_row};
use super::mip::{MipOptions, mip};
use crate::convert::target::{Existing, TargetDataset};
use crate::raw::{labelled_cases, load_descriptor, unlabelled_cases};
use crate::{read_image, read_label, write_image, write_label};
use nnunet_core::{DatasetDescriptor, Error, Result};
use std::path::{Path, PathBuf};

/// Options of `nnunet convert mip`.
#[derive(Clone, Debug)]
pub struct MipDatasetOptions {
    /// The 3D raw dataset folder.
    pub source: PathBuf,
    /// The `nnUNet_raw` folder to write into.
    pub raw: PathBuf,
    pub id: u32,
    pub name: String,
    pub mip: MipOptions,
    /// The landmark's label value (`None`: all foreground).
    pub label_value: Option<i16>,
    /// Half the band's height in rows: rows `round(row) ± half_width` are labelled.
    pub half_width: usize,
    pub existing: Existing,
}

/// Projects one case; writes the image and, when there is a 3D label, the band label.
fn convert_case(
    options: &MipDatasetOptions,
    image: &Path,
    label: Option<&Path>,
    out_image: &Path,
    out_label: &Path,
) -> Result<()> {
    let volume = read_image(&[image])?;
    let projected =
        mip(&volume, &options.mip).map_err(|e| Error::invalid_file(image, e.to_string()))?;
    if let Some(label) = label {
        let map = read_label(label)?;
        if map.shape != volume.shape {
            return Err(Error::invalid_file(
                label,
                format!(
                    "label shape {:?} differs from the image's {:?}",
                    map.shape, volume.shape
                ),
            ));
        }
        let row =
            landmark_row(&map, options.label_value, options.mip.pixel_mm).ok_or_else(|| {
                Error::invalid_file(label, "no landmark voxel (label value) in this label map")
            })?;
        let [_, rows, cols] = projected.shape;
        let band = band_label(
            rows,
            cols,
            row,
            options.half_width,
            projected.geometry.clone(),
        );
        write_label(out_label, &band)?;
    }
    write_image(out_image, &projected)
}

/// Writes the MIP dataset; returns its folder.
pub fn convert_mip(options: &MipDatasetOptions) -> Result<PathBuf> {
    let source = &options.source;
    let descriptor = load_descriptor(&source.join("dataset.json"))?;
    let ending = descriptor.file_ending.clone();
    let target = TargetDataset::create(&options.raw, options.id, &options.name, options.existing)?;
    let out = ".nii.gz";
    let mut splits = vec![(
        "imagesTr",
        "labelsTr",
        labelled_cases(&source.join("imagesTr"), &source.join("labelsTr"), &ending)?,
    )];
    if source.join("imagesTs").is_dir() {
        let labels = source.join("labelsTs");
        let cases = if labels.is_dir() {
            labelled_cases(&source.join("imagesTs"), &labels, &ending)?
        } else {
            unlabelled_cases(&source.join("imagesTs"), &ending)?
        };
        splits.push(("imagesTs", "labelsTs", cases));
    }
    let mut training = 0;
    for (images, labels, cases) in &splits {
        let (image_dir, label_dir) = (target.folder(images)?, target.folder(labels)?);
        for case in cases {
            let first = case.images.first().ok_or_else(|| {
                Error::invalid_file(source, format!("case {} has no image", case.id))
            })?;
            let label = case
                .label
                .as_deref()
                .filter(|l| *images == "imagesTr" || l.is_file());
            convert_case(
                options,
                first,
                label,
                &image_dir.join(format!("{}_0000{out}", case.id)),
                &label_dir.join(format!("{}{out}", case.id)),
            )?;
        }
        if *images == "imagesTr" {
            training = cases.len();
        }
    }
    let channel = descriptor
        .channel_names
        .get("0")
        .cloned()
        .unwrap_or_else(|| "CT".into());
    let descriptor: DatasetDescriptor = serde_json::from_value(serde_json::json!({
        "channel_names": {"0": channel},
        "labels": {"background": 0, "landmark": 1},
        "numTraining": training,
        "file_ending": out,
        "name": options.name,
        "description": format!(
            "{:?} maximum-intensity projections at {} mm of {} (window {:?}); label 1 marks the \
             landmark's rows ± {} (label value {:?} of the source, centroid). Made by \
             `nnunet convert mip`.",
            options.mip.plane, options.mip.pixel_mm, source.display(), options.mip.window,
            options.half_width, options.label_value
        ),
    }))
    .map_err(|e| Error::Invalid(format!("MIP dataset.json: {e}")))?;
    target.finish(&descriptor)
}
