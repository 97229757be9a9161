//! Reading a case's image for a pipeline stage (fingerprint, preprocess, training data, predict),
//! with the checks every stage needs, so that no stage passes on a case that a later one chokes
//! on:
//!
//! * the channels read add up to the channels `dataset.json` (or the model) declares; a missing
//!   `CASE_XXXX` channel file is named;
//! * label maps hold only the values `dataset.json` declares ([`check_label_values`]);
//! * every voxel is finite. nnU-Net's `verify_dataset_integrity` refuses NaN voxels too ("Images
//!   contain NaN pixel values"); its preprocessing and prediction do not check, so a NaN spreads
//!   through the normalisation into the whole case. We refuse NaN and ±Inf everywhere.

use crate::io::read_image;
use nnunet_core::{DatasetDescriptor, Error, Image, LabelValue, Result};
use std::path::{Path, PathBuf};

/// The channel index `XXXX` of `CASE_XXXX<ending>`.
fn channel_index(case: &str, path: &Path) -> Option<(usize, String)> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let rest = name.strip_prefix(case)?.strip_prefix('_')?;
    let digits = rest.get(..4)?;
    let ending = rest.get(4..)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok().map(|i| (i, ending.to_string())))
        .flatten()
}

/// The error for a case whose files give `got` channels instead of `expected`: names the
/// missing `CASE_XXXX` files when every file is one channel, else states the counts.
pub fn channel_count_error(case: &str, files: &[PathBuf], got: usize, expected: usize) -> Error {
    let first = files.first().cloned().unwrap_or_default();
    let indices: Option<Vec<(usize, String)>> =
        files.iter().map(|p| channel_index(case, p)).collect();
    if let Some(indices) = indices.filter(|_| got == files.len() && got < expected) {
        let ending = indices.first().map(|(_, e)| e.clone()).unwrap_or_default();
        let missing: Vec<String> = (0..expected)
            .filter(|c| !indices.iter().any(|(i, _)| i == c))
            .map(|c| format!("{case}_{c:04}{ending}"))
            .collect();
        if !missing.is_empty() {
            let folder = first.parent().unwrap_or(Path::new("."));
            return Error::invalid_file(
                folder,
                format!(
                    "case {case}: missing channel file{} {} (dataset.json declares {expected} \
                     channel(s), {got} found)",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", ")
                ),
            );
        }
    }
    Error::invalid_file(
        first,
        format!(
            "case {case}: {got} channel(s) read from {} file(s), {expected} expected",
            files.len()
        ),
    )
}

/// The first channel holding a NaN or infinite voxel, with its count, as an error naming the
/// file it came from (when files and channels correspond one to one) or the case's files.
pub fn check_finite(case: &str, files: &[PathBuf], image: &Image) -> Result<()> {
    for (c, channel) in image.channels.iter().enumerate() {
        let bad = channel.iter().filter(|v| !v.is_finite()).count();
        if bad == 0 {
            continue;
        }
        let nan = channel.iter().filter(|v| v.is_nan()).count();
        let file = if files.len() == image.channels.len() {
            files[c].clone()
        } else {
            files.first().cloned().unwrap_or_default()
        };
        return Err(Error::invalid_file(
            file,
            format!(
                "case {case}: channel {c} holds {nan} NaN and {} infinite voxel value(s) of {}; \
                 replace them with values that make sense for the image (nnU-Net's \
                 verify_dataset_integrity refuses NaN too)",
                bad - nan,
                channel.len()
            ),
        ));
    }
    Ok(())
}

/// Reads the image of case `case` from its channel files, checking that it has
/// `expected_channels` channels and only finite voxels.
pub fn read_case_image(case: &str, files: &[PathBuf], expected_channels: usize) -> Result<Image> {
    let image = read_image(files)?;
    if image.channels.len() != expected_channels {
        return Err(channel_count_error(
            case,
            files,
            image.channels.len(),
            expected_channels,
        ));
    }
    check_finite(case, files, &image)?;
    Ok(image)
}

/// Every value `dataset.json` declares a label map may hold (background, labels, region
/// members, the ignore label), sorted.
pub fn declared_label_values(dataset: &DatasetDescriptor) -> Result<Vec<i16>> {
    let mut values: Vec<i16> = dataset
        .label_values()?
        .into_iter()
        .flat_map(|(_, value)| match value {
            LabelValue::Single(v) => vec![v],
            LabelValue::Region(vs) => vs,
        })
        .map(|v| v as i16)
        .collect();
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// Checks that the label map `data` of case `case` (read from `file`) holds only `allowed`
/// values, naming the case, the file and the first value that is not declared.
pub fn check_label_values(case: &str, file: &Path, data: &[i16], allowed: &[i16]) -> Result<()> {
    let mut seen = [false; 1 << 16];
    for &v in data {
        seen[(v as u16) as usize] = true;
    }
    let undeclared: Vec<i16> = (0..seen.len())
        .filter(|&i| seen[i])
        .map(|i| i as u16 as i16)
        .filter(|v| allowed.binary_search(v).is_err())
        .collect();
    if undeclared.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_file(
        file,
        format!(
            "case {case}: label value(s) {undeclared:?} are not declared in dataset.json \
             (declared: {allowed:?})"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_channel_files_are_named() {
        let files = vec![PathBuf::from("/d/imagesTr/la_003_0000.nii.gz")];
        let err = channel_count_error("la_003", &files, 1, 3).to_string();
        assert!(
            err.contains("la_003_0001.nii.gz, la_003_0002.nii.gz") && err.contains("imagesTr"),
            "{err}"
        );
        let rgb = vec![PathBuf::from("/d/x_0000.png")];
        let err = channel_count_error("x", &rgb, 3, 1).to_string();
        assert!(
            err.contains("3 channel(s) read from 1 file(s), 1 expected"),
            "{err}"
        );
    }

    #[test]
    fn non_finite_voxels_name_the_file() {
        let image = Image {
            shape: [1, 1, 3],
            channels: vec![vec![1.0, 2.0, 3.0], vec![f32::NAN, f32::INFINITY, 0.0]],
            geometry: nnunet_core::Geometry::default(),
            is_2d: true,
        };
        let files = vec![PathBuf::from("a_0000.png"), PathBuf::from("a_0001.png")];
        let err = check_finite("a", &files, &image).unwrap_err().to_string();
        assert!(
            err.contains("a_0001.png") && err.contains("1 NaN and 1 infinite"),
            "{err}"
        );
    }
}
