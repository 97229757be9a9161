//! `nnunet convert roi`: the dataset a two-stage pipeline's fine model trains on, built from a
//! labelled raw dataset. Each training case's label map gives connected components, each
//! component a box enlarged as at prediction time ([`super::boxes`]); each box becomes one case
//! `CASE_roiK` (images and label cropped, origin moved so every voxel keeps its world position),
//! and `dataset.json` keeps the source's channels and labels.

use super::boxes::{RoiOptions, crop_image, crop_label, roi_boxes};
use nnunet_core::{Error, Image, Result};
use nnunet_datasets::convert::Existing;
use nnunet_datasets::convert::target::{TargetDataset, check_id_and_name};
use nnunet_datasets::raw::{RawDataset, dataset_id_of};
use std::path::{Path, PathBuf};

/// What `convert roi` wrote.
#[derive(Debug)]
pub struct RoiDatasetSummary {
    pub folder: PathBuf,
    /// Source cases read.
    pub source_cases: usize,
    /// Crops written (the new dataset's training cases).
    pub crops: usize,
}

/// The id and name of a dataset folder path `.../DatasetNNN_Name`.
fn id_and_name(target: &Path) -> Result<(u32, String)> {
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parsed = dataset_id_of(&base).and_then(|id| {
        let name = base.get("Dataset000_".len()..)?;
        (base.as_bytes().get(10) == Some(&b'_') && !name.is_empty()).then(|| (id, name.to_string()))
    });
    let (id, name) = parsed.ok_or_else(|| {
        Error::invalid_file(
            target,
            "the new dataset's folder must be named DatasetNNN_Name (e.g. Dataset902_RoiCrops)",
        )
    })?;
    check_id_and_name(id, &name)?;
    Ok((id, name))
}

/// Writes `image` as the channel files of `case` under `folder`: one file per channel, or, when
/// the source holds all channels in one file (an RGB PNG), one file.
fn write_case_images(
    folder: &Path,
    case: &str,
    ending: &str,
    image: &Image,
    files: usize,
) -> Result<()> {
    if files == 1 {
        return nnunet_datasets::io::write_image(
            &folder.join(format!("{case}_0000{ending}")),
            image,
        );
    }
    for (k, channel) in image.channels.iter().enumerate() {
        let one = Image {
            shape: image.shape,
            channels: vec![channel.clone()],
            geometry: image.geometry.clone(),
            is_2d: image.is_2d,
        };
        nnunet_datasets::io::write_image(&folder.join(format!("{case}_{k:04}{ending}")), &one)?;
    }
    Ok(())
}

/// Builds the crop dataset `target` (`nnUNet_raw/DatasetNNN_Name`) from the labelled dataset
/// folder `source`.
pub fn convert_roi(
    source: &Path,
    target: &Path,
    options: &RoiOptions,
    existing: Existing,
) -> Result<RoiDatasetSummary> {
    options.check()?;
    let (id, name) = id_and_name(target)?;
    let dataset = RawDataset::open(source)?;
    let mut descriptor = nnunet_core::Dataset::descriptor(&dataset).clone();
    let ending = descriptor.file_ending.clone();
    let channels = descriptor.num_channels();
    let raw = target.parent().unwrap_or(Path::new("."));
    let out = TargetDataset::create(raw, id, &name, existing)?;
    let (images_dir, labels_dir) = (out.folder("imagesTr")?, out.folder("labelsTr")?);
    let (mut sources, mut crops) = (0, 0);
    for case in dataset.raw_cases() {
        let label_file = case.label.as_ref().ok_or_else(|| {
            Error::invalid_file(source, format!("case {}: no label map", case.id))
        })?;
        let image = nnunet_datasets::read_case_image(&case.id, &case.images, channels)?;
        let label = nnunet_datasets::io::read_label(label_file)?;
        if label.shape != image.shape {
            return Err(Error::invalid_file(
                label_file,
                format!(
                    "label of shape {:?}, image of {:?}",
                    label.shape, image.shape
                ),
            ));
        }
        sources += 1;
        for (k, bbox) in roi_boxes(&label, options).iter().enumerate() {
            let crop_case = format!("{}_roi{k:02}", case.id);
            let cropped = crop_image(&image, bbox)?;
            write_case_images(
                &images_dir,
                &crop_case,
                &ending,
                &cropped,
                case.images.len(),
            )?;
            let path = labels_dir.join(format!("{crop_case}{ending}"));
            nnunet_datasets::io::write_label(&path, &crop_label(&label, bbox)?)?;
            crops += 1;
        }
    }
    if crops == 0 {
        return Err(Error::invalid_file(
            source,
            "no foreground component in any label map: nothing to crop",
        ));
    }
    descriptor.num_training = crops;
    descriptor.dataset = None;
    descriptor.extra.insert("name".into(), name.clone().into());
    descriptor.extra.insert(
        "description".into(),
        format!(
            "ROI crops of {} (nnunet convert roi: components of {}, boxes enlarged {}×, \
             components under {} voxel(s) left out)",
            dataset.name(),
            if options.per_label {
                "each label"
            } else {
                "all foreground labels"
            },
            options.enlarge,
            options.min_size
        )
        .into(),
    );
    Ok(RoiDatasetSummary {
        folder: out.finish(&descriptor)?,
        source_cases: sources,
        crops,
    })
}
