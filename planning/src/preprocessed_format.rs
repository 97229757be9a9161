//! The on-disk format of a preprocessed case, in
//! `nnUNet_preprocessed/DatasetXXX/<data_identifier>/`:
//!
//! * `CASE.data` — the image, raw little-endian `f32`, C order, shape `[C, Z, Y, X]`;
//! * `CASE.seg` — the label map, raw little-endian `i16`, shape `[1, Z, Y, X]` (−1 = outside the
//!   non-zero mask);
//! * `CASE.json` — [`CaseProperties`]: shapes, spacing, the crop box, the source geometry,
//!   foreground `class_locations`, and the digest of the plans it was made with.
//!
//! Raw arrays can be memory-mapped or read with one `read` call; patches are plain strided
//! reads. The JSON is written last (each file atomically), so a case is complete exactly when
//! its JSON exists with the right digest and the two arrays have the sizes it states.

use nnunet_core::{Error, Geometry, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Format tag written into every sidecar.
pub const FORMAT: &str = "nnunet-rs preprocessed v1";

/// Everything known about a preprocessed case besides its voxels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseProperties {
    pub format: String,
    /// `[C, Z, Y, X]` of `CASE.data` (the seg has one channel).
    pub data_shape: [usize; 4],
    pub data_dtype: String,
    pub seg_dtype: String,
    /// Spacing of the raw image, array order `(z, y, x)` before transposing (nnU-Net's `spacing`).
    pub spacing: [f64; 3],
    /// Spacing of the preprocessed arrays (transposed, after resampling).
    pub spacing_after_resampling: [f64; 3],
    /// Source geometry, to write predictions back in the input's space.
    pub geometry: Geometry,
    pub is_2d: bool,
    /// Shape after transposing, before cropping.
    pub shape_before_cropping: [usize; 3],
    /// `[[start, end), …]` per transposed axis.
    pub bbox_used_for_cropping: [[usize; 2]; 3],
    pub shape_after_cropping_and_before_resampling: [usize; 3],
    /// Class key (`"1"`, or `"1,2"` for a region) → sampled `(z, y, x)` voxels.
    pub class_locations: BTreeMap<String, Vec<[u32; 3]>>,
    /// SHA-256 of what the case depends on in the plans (see `preprocess::plans_digest`).
    pub plans_digest: String,
}

/// A case read back.
#[derive(Clone, Debug)]
pub struct PreprocessedCase {
    pub properties: CaseProperties,
    pub data: Vec<f32>,
    pub seg: Vec<i16>,
}

/// The three files of a case.
pub fn case_paths(folder: &Path, case: &str) -> [PathBuf; 3] {
    [
        folder.join(format!("{case}.data")),
        folder.join(format!("{case}.seg")),
        folder.join(format!("{case}.json")),
    ]
}

/// Writes a case: arrays first, sidecar last, each atomically.
pub fn write_case(
    folder: &Path,
    case: &str,
    properties: &CaseProperties,
    data: &[f32],
    seg: &[i16],
) -> Result<()> {
    let [data_path, seg_path, json_path] = case_paths(folder, case);
    let voxels: usize = properties.data_shape[1..].iter().product();
    if data.len() != voxels * properties.data_shape[0] || seg.len() != voxels {
        return Err(Error::Invalid(format!(
            "case {case}: {} data and {} seg values do not fit shape {:?}",
            data.len(),
            seg.len(),
            properties.data_shape
        )));
    }
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    nnunet_core::atomic::write_bytes(&data_path, &bytes)?;
    write_seg(&seg_path, seg)?;
    nnunet_core::atomic::write_json(&json_path, properties)
}

/// The sidecar of a case if the case is complete for `digest` (resume check).
pub fn finished_case(folder: &Path, case: &str, digest: &str) -> Option<CaseProperties> {
    let [data_path, seg_path, json_path] = case_paths(folder, case);
    let properties: CaseProperties = nnunet_core::atomic::read_json(&json_path).ok()?;
    let voxels: usize = properties.data_shape[1..].iter().product();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len() as usize).ok();
    let complete = properties.format == FORMAT
        && properties.plans_digest == digest
        && size(&data_path) == Some(voxels * properties.data_shape[0] * 4)
        && size(&seg_path) == Some(voxels * 2);
    complete.then_some(properties)
}

/// Reads a case back.
pub fn read_case(folder: &Path, case: &str) -> Result<PreprocessedCase> {
    let [data_path, seg_path, json_path] = case_paths(folder, case);
    let properties: CaseProperties = nnunet_core::atomic::read_json(&json_path)?;
    if properties.format != FORMAT {
        return Err(Error::invalid_file(
            &json_path,
            format!("format {:?}, expected {FORMAT:?}", properties.format),
        ));
    }
    let voxels: usize = properties.data_shape[1..].iter().product();
    let shape = format!("shape {:?}", properties.data_shape);
    let data = read_sized(&data_path, voxels * properties.data_shape[0] * 4, &shape)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let seg = read_seg(&seg_path, voxels, &shape)?;
    Ok(PreprocessedCase {
        properties,
        data,
        seg,
    })
}

/// Reads a raw little-endian `i16` label map of `voxels` voxels: a `CASE.seg`, or a previous
/// stage's segmentation in `predicted_next_stage`. `what` says in an error what shape the size
/// was expected from.
pub fn read_seg(path: &Path, voxels: usize, what: &str) -> Result<Vec<i16>> {
    Ok(read_sized(path, voxels * 2, what)?
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// Writes a label map as raw little-endian `i16` (the format [`read_seg`] reads), atomically.
pub fn write_seg(path: &Path, seg: &[i16]) -> Result<()> {
    let bytes: Vec<u8> = seg.iter().flat_map(|v| v.to_le_bytes()).collect();
    nnunet_core::atomic::write_bytes(path, &bytes)
}

/// A file's bytes, which must number `expected`.
fn read_sized(path: &Path, expected: usize, what: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() != expected {
        return Err(Error::invalid_file(
            path,
            format!("{} bytes, expected {expected} for {what}", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// The case identifiers of a preprocessed data folder (one per `CASE.json`), sorted.
pub fn case_identifiers(folder: &Path) -> Result<Vec<String>> {
    let mut ids: Vec<String> = std::fs::read_dir(folder)
        .map_err(|e| Error::io(folder, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}
