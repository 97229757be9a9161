//! Saved class probabilities, as `nnUNetv2_predict --save_probabilities` writes them: for each
//! case `<case>.npz` holding one float32 array `probabilities` of shape `(C, z, y, x)` — the
//! softmax (or per-region sigmoid) in the input's own geometry and array order, after the crop
//! box is undone (background probability 1 outside it) and the transpose reverted — so numpy and
//! nnU-Net's `nnUNetv2_ensemble` read our files and we read theirs.
//!
//! Deviation: nnU-Net also writes `<case>.pkl`, a pickle of the case's properties. We write
//! `<case>.npz.json` instead ([`LabelGrid`]: array shape, spacing, origin, direction, the 2D
//! flag and the source file's header), which is what writing the label map of an ensemble
//! needs; [`sidecar_path`] is the one place its name comes from. It is named after the npz, not
//! the case, because `<case>.json` is the spacing sidecar of a 3D TIFF segmentation
//! (nnU-Net's `Tiff3DIO`) in the same folder. Folders written before read on: an old
//! `<case>.json` is still read when it is ours (its `format`) and `<case>.npz.json` is absent.
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

/// `<case>.npz.json`: the grid, with the source header as base64 (it is not serialised by
/// core).
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

/// The npz and sidecar paths of `case` in `dir`: `<case>.npz`, `<case>.npz.json`.
pub fn probability_paths(dir: &Path, case: &str) -> (PathBuf, PathBuf) {
    let npz = dir.join(format!("{case}.npz"));
    let json = sidecar_path(&npz);
    (npz, json)
}

/// The geometry sidecar of a probability file: `<case>.npz` → `<case>.npz.json`.
pub fn sidecar_path(npz: &Path) -> PathBuf {
    let mut name = npz.file_name().unwrap_or_default().to_os_string();
    name.push(".json");
    npz.with_file_name(name)
}

/// The sidecar name of earlier versions, `<case>.json`: read only when it is ours.
fn legacy_sidecar_path(npz: &Path) -> PathBuf {
    npz.with_extension("json")
}

/// Writes `probabilities` `(C, z, y, x)` (any device and float kind; stored as float32) as
/// `dir/<case>.npz` and the grid as `dir/<case>.npz.json`; returns the npz path.
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

/// The grid saved beside `npz`, and the file it came from: `<case>.npz.json`, else an older
/// `<case>.json` when it is ours (a 3D TIFF's spacing sidecar or another file of that name is
/// not); `None` when there is neither.
pub fn read_saved_grid(npz: &Path) -> Result<Option<(LabelGrid, PathBuf)>> {
    let json = sidecar_path(npz);
    if json.is_file() {
        let sidecar: Sidecar = atomic::read_json(&json)?;
        if sidecar.format != SIDECAR_FORMAT {
            return Err(Error::invalid_file(
                &json,
                format!("format {:?}, expected {SIDECAR_FORMAT:?}", sidecar.format),
            ));
        }
        return Ok(Some((grid_of(sidecar, &json)?, json)));
    }
    let legacy = legacy_sidecar_path(npz);
    let ours = std::fs::read(&legacy)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Sidecar>(&bytes).ok())
        .filter(|s| s.format == SIDECAR_FORMAT);
    match ours {
        Some(sidecar) => Ok(Some((grid_of(sidecar, &legacy)?, legacy))),
        None => Ok(None),
    }
}

fn grid_of(sidecar: Sidecar, json: &Path) -> Result<LabelGrid> {
    let mut geometry = sidecar.geometry;
    if let Some(header) = sidecar.source_header {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(header)
            .map_err(|e| Error::invalid_file(json, format!("source_header: {e}")))?;
        geometry.source_header = Some(Arc::new(bytes));
    }
    Ok(LabelGrid {
        shape: sidecar.shape,
        geometry,
        is_2d: sidecar.is_2d,
    })
}

/// Refuses probabilities `(C, z, y, x)` whose `(z, y, x)` is not `grid`'s; `source` names
/// where the grid came from.
pub fn check_shape(
    npz: &Path,
    probabilities: &Tensor,
    grid: &LabelGrid,
    source: &Path,
) -> Result<()> {
    let expected: Vec<i64> = grid.shape.iter().map(|&s| s as i64).collect();
    if probabilities.size()[1..] != expected[..] {
        return Err(Error::invalid_file(
            npz,
            format!(
                "probabilities of shape {:?} do not match the shape {:?} of {}",
                probabilities.size(),
                grid.shape,
                source.display()
            ),
        ));
    }
    Ok(())
}

/// Reads `<case>.npz` and its sidecar ([`read_saved_grid`]).
pub fn read_probabilities(npz: &Path) -> Result<SavedProbabilities> {
    let Some((grid, json)) = read_saved_grid(npz)? else {
        return Err(Error::invalid_file(
            npz,
            format!(
                "{} is missing: nnunet-rs needs it to write the label map (nnU-Net's .pkl \
                 properties are not read; `nnunet ensemble` also takes the grid from the \
                 segmentation file beside the npz)",
                sidecar_path(npz).display()
            ),
        ));
    };
    let probabilities = read_probability_array(npz)?;
    check_shape(npz, &probabilities, &grid, &json)?;
    Ok(SavedProbabilities {
        probabilities,
        grid,
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
        assert!(dir.path().join("case_001.npz.json").is_file());
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
        std::fs::remove_file(dir.path().join("c.npz.json")).unwrap();
        let err = read_probabilities(&path).unwrap_err().to_string();
        assert!(err.contains("c.npz.json"), "{err}");
        // The array alone still reads.
        assert!(read_probability_array(&path).unwrap().equal(&probs));
    }

    #[test]
    fn an_old_sidecar_is_read_when_it_is_ours_and_a_tiff_sidecar_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let probs = Tensor::rand([2, 2, 3, 4], (Kind::Float, Device::Cpu));
        let path = write_probabilities(dir.path(), "c", &probs, &grid()).unwrap();
        assert_eq!(sidecar_path(&path), dir.path().join("c.npz.json"));
        // as earlier versions named it
        std::fs::rename(dir.path().join("c.npz.json"), dir.path().join("c.json")).unwrap();
        let back = read_probabilities(&path).unwrap();
        assert_eq!(back.grid, grid());
        // a 3D TIFF's spacing sidecar of that name is not ours: the new name is missing
        std::fs::write(
            dir.path().join("c.json"),
            br#"{"spacing": [3.0, 0.5, 0.25]}"#,
        )
        .unwrap();
        assert!(read_saved_grid(&path).unwrap().is_none());
        let err = read_probabilities(&path).unwrap_err().to_string();
        assert!(err.contains("c.npz.json"), "{err}");
        // the new sidecar wins over an old one
        write_probabilities(dir.path(), "c", &probs, &grid()).unwrap();
        assert_eq!(
            read_saved_grid(&path).unwrap().unwrap().1,
            dir.path().join("c.npz.json")
        );
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
