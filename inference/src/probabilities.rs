//! Saved class probabilities, as `nnUNetv2_predict --save_probabilities` writes them: for each
//! case `<case>.npz` holding one float32 array `probabilities` of shape `(C, z, y, x)` — the
//! softmax (or per-region sigmoid) in the input's own geometry and array order, after the crop
//! box is undone (background probability 1 outside it) and the transpose reverted — so numpy and
//! nnU-Net's `nnUNetv2_ensemble` read our files and we read theirs.
//!
//! Deviation: nnU-Net also writes `<case>.pkl`, a pickle of the case's properties. We write
//! `<case>.json` instead ([`LabelGrid`]: array shape, spacing, origin, direction, the 2D flag
//! and the source file's header), which is what writing the label map of an ensemble needs.
//!
//! The npz is written with `ndarray-npy` (deflate-compressed, as `np.savez_compressed`) into
//! memory, then to disk atomically ([`nnunet_core::atomic`]).

use base64::Engine;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};
use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{Error, Geometry, LabelMap, Result, atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of the array inside the npz (nnU-Net's key).
pub const ARRAY_NAME: &str = "probabilities";

/// Identifies our sidecar JSON files.
const SIDECAR_FORMAT: &str = "nnunet-rs probabilities v1";

/// Where a label map lies: everything of a [`LabelMap`] but its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelGrid {
    /// `(z, y, x)`, nnU-Net's array order.
    pub shape: [usize; 3],
    pub geometry: Geometry,
    pub is_2d: bool,
}

impl LabelGrid {
    /// The grid of an existing label map.
    pub fn of(label: &LabelMap) -> Self {
        LabelGrid {
            shape: label.shape,
            geometry: label.geometry.clone(),
            is_2d: label.is_2d,
        }
    }

    /// A label map on this grid.
    pub fn label_map(&self, data: Vec<i16>) -> LabelMap {
        LabelMap {
            shape: self.shape,
            data,
            geometry: self.geometry.clone(),
            is_2d: self.is_2d,
        }
    }
}

/// `<case>.json`: the grid, with the source header as base64 (it is not serialised by core).
#[derive(Serialize, Deserialize)]
struct Sidecar {
    format: String,
    shape: [usize; 3],
    is_2d: bool,
    geometry: Geometry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_header: Option<String>,
}

/// Probabilities read back, with the grid to write their label map on.
#[derive(Debug)]
pub struct SavedProbabilities {
    /// `(C, z, y, x)` float32 on the CPU.
    pub probabilities: Tensor,
    pub grid: LabelGrid,
}

/// The npz and json paths of `case` in `dir`.
pub fn probability_paths(dir: &Path, case: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{case}.npz")),
        dir.join(format!("{case}.json")),
    )
}

/// Writes `probabilities` `(C, z, y, x)` (any device and float kind; stored as float32) as
/// `dir/<case>.npz` and the grid as `dir/<case>.json`; returns the npz path.
pub fn write_probabilities(
    dir: &Path,
    case: &str,
    probabilities: &Tensor,
    grid: &LabelGrid,
) -> Result<PathBuf> {
    let (npz, json) = probability_paths(dir, case);
    let size = probabilities.size();
    let expected: Vec<i64> = grid.shape.iter().map(|&s| s as i64).collect();
    if size.len() != 4 || size[1..] != expected[..] {
        return Err(Error::invalid_file(
            &npz,
            format!(
                "probabilities of shape {size:?} do not match the label grid {:?} (expected (C, z, y, x))",
                grid.shape
            ),
        ));
    }
    let host = probabilities
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?;
    let values = Vec::<f32>::try_from(host.f_flatten(0, -1)?)
        .map_err(|e| Error::invalid_file(&npz, format!("probabilities to host: {e}")))?;
    let shape: Vec<usize> = size.iter().map(|&s| s as usize).collect();
    let array = ArrayD::from_shape_vec(IxDyn(&shape), values)
        .map_err(|e| Error::invalid_file(&npz, format!("probabilities array: {e}")))?;
    let mut writer = NpzWriter::new_compressed(std::io::Cursor::new(Vec::new()));
    writer
        .add_array(ARRAY_NAME, &array)
        .map_err(|e| Error::invalid_file(&npz, format!("writing npz: {e}")))?;
    let bytes = writer
        .finish()
        .map_err(|e| Error::invalid_file(&npz, format!("writing npz: {e}")))?
        .into_inner();
    atomic::write_bytes(&npz, &bytes)?;
    let sidecar = Sidecar {
        format: SIDECAR_FORMAT.into(),
        shape: grid.shape,
        is_2d: grid.is_2d,
        geometry: grid.geometry.clone(),
        source_header: grid
            .geometry
            .source_header
            .as_ref()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h.as_slice())),
    };
    atomic::write_json(&json, &sidecar)?;
    Ok(npz)
}

/// Reads only the `probabilities` array of an npz (ours or nnU-Net's), as `(C, z, y, x)`
/// float32 on the CPU.
pub fn read_probability_array(npz: &Path) -> Result<Tensor> {
    let file = std::fs::File::open(npz).map_err(|e| Error::io(npz, e))?;
    let mut reader = NpzReader::new(std::io::BufReader::new(file))
        .map_err(|e| Error::invalid_file(npz, format!("not an npz file: {e}")))?;
    let array: ArrayD<f32> = reader.by_name(ARRAY_NAME).map_err(|e| {
        Error::invalid_file(
            npz,
            format!("no float32 array {ARRAY_NAME:?} could be read: {e}"),
        )
    })?;
    if array.ndim() != 4 {
        return Err(Error::invalid_file(
            npz,
            format!(
                "{ARRAY_NAME:?} has shape {:?}, expected (C, z, y, x)",
                array.shape()
            ),
        ));
    }
    let shape: Vec<i64> = array.shape().iter().map(|&s| s as i64).collect();
    // Logical (C-order) iteration also handles Fortran-ordered arrays.
    let values: Vec<f32> = match array.as_slice() {
        Some(slice) => slice.to_vec(),
        None => array.iter().copied().collect(),
    };
    Ok(Tensor::from_slice(&values).view(shape.as_slice()))
}

/// Reads `<case>.npz` and the `<case>.json` beside it.
pub fn read_probabilities(npz: &Path) -> Result<SavedProbabilities> {
    let json = npz.with_extension("json");
    if !json.is_file() {
        return Err(Error::invalid_file(
            npz,
            format!(
                "{} is missing: nnunet-rs needs it to write the label map (nnU-Net's .pkl \
                 properties are not read; `nnunet ensemble` also takes the grid from the \
                 segmentation file beside the npz)",
                json.display()
            ),
        ));
    }
    let sidecar: Sidecar = atomic::read_json(&json)?;
    if sidecar.format != SIDECAR_FORMAT {
        return Err(Error::invalid_file(
            &json,
            format!("format {:?}, expected {SIDECAR_FORMAT:?}", sidecar.format),
        ));
    }
    let mut geometry = sidecar.geometry;
    if let Some(header) = sidecar.source_header {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(header)
            .map_err(|e| Error::invalid_file(&json, format!("source_header: {e}")))?;
        geometry.source_header = Some(Arc::new(bytes));
    }
    let probabilities = read_probability_array(npz)?;
    let expected: Vec<i64> = sidecar.shape.iter().map(|&s| s as i64).collect();
    if probabilities.size()[1..] != expected[..] {
        return Err(Error::invalid_file(
            npz,
            format!(
                "probabilities of shape {:?} do not match the shape {:?} in {}",
                probabilities.size(),
                sidecar.shape,
                json.display()
            ),
        ));
    }
    Ok(SavedProbabilities {
        probabilities,
        grid: LabelGrid {
            shape: sidecar.shape,
            geometry,
            is_2d: sidecar.is_2d,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> LabelGrid {
        LabelGrid {
            shape: [2, 3, 4],
            geometry: Geometry {
                spacing: [3.0, 0.5, 0.25],
                origin: [1.0, -2.0, 7.5],
                direction: [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
                source_header: Some(Arc::new(vec![0, 1, 2, 255, 128])),
            },
            is_2d: false,
        }
    }

    #[test]
    fn round_trip_keeps_values_shape_and_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let probs = Tensor::rand([3, 2, 3, 4], (Kind::Float, Device::Cpu));
        let path = write_probabilities(dir.path(), "case_001", &probs, &grid()).unwrap();
        assert_eq!(path, dir.path().join("case_001.npz"));
        assert!(dir.path().join("case_001.json").is_file());
        let back = read_probabilities(&path).unwrap();
        assert_eq!(back.probabilities.size(), [3, 2, 3, 4]);
        assert!(back.probabilities.equal(&probs));
        assert_eq!(back.grid, grid());
        assert_eq!(
            back.grid.geometry.source_header.as_deref(),
            Some(&vec![0u8, 1, 2, 255, 128])
        );
        // Nothing but the two files (no temporary left behind).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_shape_mismatch_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let probs = Tensor::rand([3, 2, 3, 5], (Kind::Float, Device::Cpu));
        let err = write_probabilities(dir.path(), "c", &probs, &grid()).unwrap_err();
        assert!(err.to_string().contains("c.npz"), "{err}");
    }

    #[test]
    fn a_missing_sidecar_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let probs = Tensor::rand([2, 2, 3, 4], (Kind::Float, Device::Cpu));
        let path = write_probabilities(dir.path(), "c", &probs, &grid()).unwrap();
        std::fs::remove_file(dir.path().join("c.json")).unwrap();
        let err = read_probabilities(&path).unwrap_err().to_string();
        assert!(err.contains("c.json"), "{err}");
        // The array alone still reads.
        assert!(read_probability_array(&path).unwrap().equal(&probs));
    }

    /// numpy reads our file: right key, shape, dtype and values (skipped without the venv).
    #[test]
    fn numpy_reads_our_npz_and_we_read_numpys() {
        let Some(python) = nnunet_core::test_data::peer_python() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let probs = Tensor::arange(24, (Kind::Float, Device::Cpu)).view([2, 1, 3, 4]) / 24.0;
        let g = LabelGrid {
            shape: [1, 3, 4],
            ..grid()
        };
        let path = write_probabilities(dir.path(), "c", &probs, &g).unwrap();
        let theirs = dir.path().join("theirs.npz");
        let script = format!(
            "import numpy as np\n\
             a = np.load({ours:?})['probabilities']\n\
             assert a.dtype == np.float32, a.dtype\n\
             assert a.shape == (2, 1, 3, 4), a.shape\n\
             assert np.allclose(a.ravel(), np.arange(24) / 24.0)\n\
             b = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 1, 3, 4))\n\
             np.savez_compressed({theirs:?}, probabilities=b)\n",
            ours = path.to_str().unwrap(),
            theirs = theirs.to_str().unwrap(),
        );
        let out = std::process::Command::new(&python)
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A Fortran-ordered numpy array is read in logical order.
        let back = read_probability_array(&theirs).unwrap();
        let expected = Tensor::arange(24, (Kind::Float, Device::Cpu)).view([2, 1, 3, 4]);
        assert!(back.equal(&expected));
    }
}
