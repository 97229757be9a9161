//! Images plus binary masks, one mask per structure (`organ/CASE.png`, `tumor/CASE.png`, or
//! `CASE_1stHO.png` beside `CASE.jpg`), from a folder or a zip → `DatasetNNN_Name`.
//!
//! * Files are picked by patterns with one `{case}` placeholder, relative to the source.
//! * Each mask is binary: its values are `{0, m}` for some `m` (0/1, 0/255, 0/65535, a 1-bit
//!   PNG); anything else is refused unless a threshold is given (`value >= threshold` is
//!   foreground), which JPEG masks need.
//! * Structure `k` (1-based, in the order given) paints value `k` where its mask is set; later
//!   structures overwrite earlier ones. A single structure turns 0/255 masks into 0/1 labels.
//! * A case with no mask at all goes to `imagesTs`; a case with some masks missing is an error
//!   unless missing masks may count as empty.
//! * Images: volumes (NIfTI, NRRD, MetaImage, GIPL) keep their format (one pattern per
//!   channel): single files are copied unchanged, detached headers (`.nhdr`, `.mhd`) are
//!   rewritten as `.nrrd` / `.mha`; pictures (JPEG, PNG, BMP, TIF) are decoded and written as PNG
//!   ([`super::photo`]). Label maps are written in the images' format.

use super::photo::{decode_picture, default_channel_names, picture_to_png};
use super::source::{Pattern, Source};
use super::target::{Existing, TargetDataset, copy_file};
use nnunet_core::{DatasetDescriptor, Error, LabelMap, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One structure: its label name and the pattern of its mask files.
#[derive(Clone, Debug)]
pub struct Structure {
    pub name: String,
    pub pattern: String,
}

/// Options of a masks conversion.
#[derive(Clone, Debug)]
pub struct MasksOptions {
    pub raw: PathBuf,
    pub id: u32,
    pub name: String,
    /// One pattern per channel, e.g. `["{case}.jpg"]` or `["t1/{case}.nii.gz", "t2/{case}.nii.gz"]`.
    pub images: Vec<String>,
    /// Structures in label order (value 1, 2, …).
    pub structures: Vec<Structure>,
    /// Channel names; `None` picks R/G/B or `grey` for pictures, `image0`, … for volumes.
    pub channel_names: Option<Vec<String>>,
    /// Foreground threshold for non-binary masks.
    pub threshold: Option<f32>,
    /// Count a missing mask as empty instead of failing.
    pub allow_missing: bool,
    pub existing: Existing,
}

/// How a case's files are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A volume format, written with this ending (copied when the source has it too).
    Volume(&'static str),
    /// Decoded and written as PNG.
    Picture,
}

fn kind_of(name: &str) -> Result<Kind> {
    match crate::io::file_ending(Path::new(name)) {
        Some(".nhdr") => Ok(Kind::Volume(".nrrd")),
        Some(".mhd") => Ok(Kind::Volume(".mha")),
        Some(e @ (".nii.gz" | ".nii" | ".nrrd" | ".mha" | ".gipl.gz" | ".gipl")) => {
            Ok(Kind::Volume(e))
        }
        _ if super::photo::is_picture_name(name) => Ok(Kind::Picture),
        _ => Err(Error::invalid_file(
            name,
            "unsupported image type (NIfTI, NRRD, MetaImage, GIPL, JPEG, PNG, BMP or TIF)",
        )),
    }
}

/// Converts; returns the new dataset's folder.
pub fn convert_masks(source: &Path, options: &MasksOptions) -> Result<PathBuf> {
    if options.images.is_empty() || options.structures.is_empty() {
        return Err(Error::Invalid(
            "give at least one image pattern and one structure".into(),
        ));
    }
    let src = Source::open(source)?;
    let image_patterns: Vec<Pattern> = options
        .images
        .iter()
        .map(|p| Pattern::parse(p))
        .collect::<Result<_>>()?;
    let mask_patterns: Vec<Pattern> = options
        .structures
        .iter()
        .map(|s| Pattern::parse(&s.pattern))
        .collect::<Result<_>>()?;
    let images: Vec<BTreeMap<String, String>> =
        image_patterns.iter().map(|p| src.matches(p)).collect();
    let masks: Vec<BTreeMap<String, String>> =
        mask_patterns.iter().map(|p| src.matches(p)).collect();
    if images[0].is_empty() {
        return Err(Error::invalid_file(
            source,
            format!("no file matches the image pattern {}", image_patterns[0]),
        ));
    }

    // Plan every case before writing anything, collecting all problems.
    let mut problems = Vec::new();
    let mut training = Vec::new();
    let mut test = Vec::new();
    let mut kind = None;
    for case in images[0].keys() {
        let files: Vec<String> = images
            .iter()
            .zip(&image_patterns)
            .filter_map(|(m, p)| {
                let f = m.get(case).cloned();
                if f.is_none() {
                    problems.push(format!(
                        "{}: missing (channel of case {case})",
                        p.name_of(case)
                    ));
                }
                f
            })
            .collect();
        for f in &files {
            match kind_of(f) {
                Ok(k) if kind.is_none_or(|first| first == k) => kind = Some(k),
                Ok(_) => problems.push(format!(
                    "{f}: mixes file types; all images must have one volume format, or all be \
                     pictures"
                )),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let case_masks: Vec<Option<String>> = masks.iter().map(|m| m.get(case).cloned()).collect();
        let present = case_masks.iter().filter(|m| m.is_some()).count();
        if present == 0 {
            test.push((case.clone(), files));
        } else {
            if present < case_masks.len() && !options.allow_missing {
                for (m, p) in case_masks.iter().zip(&mask_patterns) {
                    if m.is_none() {
                        problems.push(format!(
                            "{}: mask missing for case {case} (other structures have one; \
                             allow missing masks to count them as empty)",
                            p.name_of(case)
                        ));
                    }
                }
            }
            training.push((case.clone(), files, case_masks));
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid_file(source, problems.join("\n")));
    }
    let Some(kind) = kind else {
        return Err(Error::invalid_file(source, "no images"));
    };
    if training.is_empty() {
        return Err(Error::invalid_file(
            source,
            "no case has a mask: nothing to train on",
        ));
    }
    let ending = match kind {
        Kind::Volume(e) => e,
        Kind::Picture => ".png",
    };

    let target = TargetDataset::create(&options.raw, options.id, &options.name, options.existing)?;
    let images_tr = target.folder("imagesTr")?;
    let labels_tr = target.folder("labelsTr")?;
    let write_images = |case: &str, files: &[String], out: &Path| -> Result<usize> {
        let mut channels = 0;
        for file in files {
            let to = out.join(format!("{case}_{channels:04}{ending}"));
            match kind {
                Kind::Volume(e) if crate::io::file_ending(Path::new(file)) == Some(e) => {
                    copy_file(&src.path(file), &to)?;
                    channels += 1;
                }
                Kind::Volume(_) => {
                    // a detached header: rewrite it as one file
                    let image = crate::io::read_image(&[src.path(file)])?;
                    crate::io::write_image(&to, &image)?;
                    channels += 1;
                }
                Kind::Picture => {
                    // an RGB picture is three channels in one file, as nnU-Net's PNG reader expects
                    channels += picture_to_png(&src.path(file), &to)?.channels.len();
                }
            }
        }
        Ok(channels)
    };
    use rayon::prelude::*;
    let channel_counts: Vec<usize> = training
        .par_iter()
        .map(|(case, files, case_masks)| {
            let n = write_images(case, files, &images_tr)?;
            let label = merge_case(&src, case, case_masks, options.threshold)?;
            crate::io::write_label(&labels_tr.join(format!("{case}{ending}")), &label)?;
            Ok(n)
        })
        .collect::<Result<_>>()?;
    if !test.is_empty() {
        let images_ts = target.folder("imagesTs")?;
        for (case, files) in &test {
            write_images(case, files, &images_ts)?;
        }
    }
    let channels = channel_counts[0];
    if let Some(i) = channel_counts.iter().position(|&n| n != channels) {
        return Err(Error::invalid_file(
            src.path(&training[i].1[0]),
            format!(
                "has {} channels, case {} has {channels}",
                channel_counts[i], training[0].0
            ),
        ));
    }
    let names = match &options.channel_names {
        Some(names) if names.len() == channels => names.clone(),
        Some(names) => {
            return Err(Error::Invalid(format!(
                "{} channel names given, the images have {channels} channels",
                names.len()
            )));
        }
        None if kind == Kind::Picture && channels == 3 => default_channel_names(3),
        None if kind == Kind::Picture && channels == 1 => default_channel_names(1),
        None => (0..channels).map(|i| format!("image{i}")).collect(),
    };
    let structure_names: Vec<&str> = options.structures.iter().map(|s| s.name.as_str()).collect();
    let descriptor = descriptor(&names, &structure_names, training.len(), ending)?;
    target.finish(&descriptor)
}

/// The `dataset.json` of a converted dataset: background 0 and the structures 1, 2, ….
pub fn descriptor(
    channel_names: &[String],
    structures: &[&str],
    num_training: usize,
    file_ending: &str,
) -> Result<DatasetDescriptor> {
    let mut labels = serde_json::Map::new();
    labels.insert("background".into(), 0.into());
    for (i, name) in structures.iter().enumerate() {
        if labels.insert(name.to_string(), (i + 1).into()).is_some() {
            return Err(Error::Invalid(format!("label name {name:?} given twice")));
        }
    }
    let channels: serde_json::Map<String, serde_json::Value> = channel_names
        .iter()
        .enumerate()
        .map(|(i, n)| (i.to_string(), n.as_str().into()))
        .collect();
    serde_json::from_value(serde_json::json!({
        "channel_names": channels,
        "labels": labels,
        "numTraining": num_training,
        "file_ending": file_ending,
    }))
    .map_err(|e| Error::Invalid(format!("dataset.json: {e}")))
}

/// Reads a case's masks and merges them into one label map.
fn merge_case(
    src: &Source,
    case: &str,
    masks: &[Option<String>],
    threshold: Option<f32>,
) -> Result<LabelMap> {
    let mut merged: Option<LabelMap> = None;
    let mut first_path = PathBuf::new();
    for (k, mask) in masks.iter().enumerate() {
        let Some(mask) = mask else { continue };
        let path = src.path(mask);
        let (map, values) = read_mask(&path)?;
        let foreground = binarize(&values, threshold).map_err(|m| Error::invalid_file(&path, m))?;
        let merged = merged.get_or_insert_with(|| {
            first_path = path.clone();
            LabelMap {
                data: vec![0; values.len()],
                ..map.clone()
            }
        });
        if map.shape != merged.shape {
            return Err(Error::invalid_file(
                &path,
                format!(
                    "shape {:?} differs from {:?} of {}",
                    map.shape,
                    merged.shape,
                    first_path.display()
                ),
            ));
        }
        paint(&mut merged.data, &foreground, (k + 1) as i16);
    }
    merged.ok_or_else(|| Error::Invalid(format!("case {case} has no mask")))
}

/// A mask as a label map (for its shape and geometry) and its values. Lossless files go through
/// the dataset readers; JPEG masks are decoded to grey here.
fn read_mask(path: &Path) -> Result<(LabelMap, Vec<f32>)> {
    if crate::io::file_ending(path).is_some() {
        let map = crate::io::read_label(path)?;
        let values = map.data.iter().map(|&v| v as f32).collect();
        return Ok((map, values));
    }
    let picture = decode_picture(path)?;
    // a colour mask is set where any channel is
    let values: Vec<f32> = (0..picture.voxels())
        .map(|i| picture.channels.iter().map(|c| c[i]).fold(0.0, f32::max))
        .collect();
    let map = LabelMap {
        shape: picture.shape,
        data: Vec::new(),
        geometry: picture.geometry,
        is_2d: true,
    };
    Ok((map, values))
}

/// Foreground of a mask: `values == m` for a `{0, m}` mask, or `values >= threshold`.
pub fn binarize(values: &[f32], threshold: Option<f32>) -> std::result::Result<Vec<bool>, String> {
    if let Some(t) = threshold {
        return Ok(values.iter().map(|&v| v >= t).collect());
    }
    let mut distinct: Vec<f32> = Vec::new();
    for &v in values {
        if v != 0.0 && !distinct.contains(&v) {
            distinct.push(v);
            if distinct.len() > 8 {
                break;
            }
        }
    }
    if distinct.len() > 1 {
        distinct.sort_by(f32::total_cmp);
        let listed: Vec<String> = distinct.iter().take(8).map(|v| v.to_string()).collect();
        return Err(format!(
            "not a binary mask: it holds the values {}{} besides 0 (a JPEG mask, or a label \
             map); give a threshold to binarise it",
            listed.join(", "),
            if distinct.len() > 8 { ", …" } else { "" }
        ));
    }
    Ok(values.iter().map(|&v| v != 0.0).collect())
}

/// Sets `value` where `foreground` is set (later structures overwrite earlier ones).
pub fn paint(labels: &mut [i16], foreground: &[bool], value: i16) {
    for (l, &f) in labels.iter_mut().zip(foreground) {
        if f {
            *l = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_masks_of_any_scale_become_foreground() {
        assert_eq!(
            binarize(&[0.0, 255.0, 255.0, 0.0], None).unwrap(),
            vec![false, true, true, false]
        );
        assert_eq!(binarize(&[0.0, 1.0], None).unwrap(), vec![false, true]);
        assert_eq!(binarize(&[0.0, 0.0], None).unwrap(), vec![false, false]);
        let err = binarize(&[0.0, 254.0, 255.0, 3.0], None).unwrap_err();
        assert!(err.contains("3, 254, 255"), "{err}");
        assert_eq!(
            binarize(&[0.0, 254.0, 3.0], Some(128.0)).unwrap(),
            vec![false, true, false]
        );
    }

    #[test]
    fn later_structures_overwrite_earlier_ones() {
        let mut labels = vec![0i16; 4];
        paint(&mut labels, &[true, true, true, false], 1);
        paint(&mut labels, &[false, true, false, false], 2);
        assert_eq!(labels, vec![1, 2, 1, 0]);
        let d = descriptor(&["CT".into()], &["organ", "tumor"], 3, ".nii.gz").unwrap();
        assert_eq!(
            serde_json::to_value(&d.labels).unwrap(),
            serde_json::json!({"background": 0, "organ": 1, "tumor": 2})
        );
        assert!(descriptor(&["CT".into()], &["a", "a"], 3, ".png").is_err());
    }
}
