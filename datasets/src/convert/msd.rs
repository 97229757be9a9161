//! Medical Segmentation Decathlon task folders (`TaskNN_Name` with `imagesTr`, `labelsTr`,
//! `imagesTs` and an MSD `dataset.json`) → `DatasetNNN_Name`, as `nnUNetv2_convert_MSD_dataset`
//! does: each 4D multi-channel image is split into one 3D file per channel (`_0000`, `_0001`, …),
//! a 3D image becomes `_0000`, labels are copied unchanged.
//!
//! The split keeps each channel's stored datatype and header (spacing, qform/sform, units,
//! description) exactly; only `dim` changes. A file whose `scl_slope`/`scl_inter` rescale the
//! values is written as float32 with the rescaling applied, because the `nifti` writer stores
//! slope 1 and intercept 0.

use super::legacy_json::LegacyJson;
use super::target::{TargetDataset, TaskOptions, copy_file};
use nifti::writer::WriterOptions;
use nifti::{NiftiHeader, NiftiObject, NiftiType, ReaderOptions};
use nnunet_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Converts an MSD task folder; returns the new dataset's folder.
pub fn convert_msd(task: &Path, options: &TaskOptions) -> Result<PathBuf> {
    let (id, name) = options.id_and_name(task, &["imagesTr", "labelsTr"])?;
    let legacy = LegacyJson::read(&task.join("dataset.json"))?;
    let training = match legacy.training()? {
        Some(list) => list
            .into_iter()
            .map(|e| (task.join(e.image), task.join(e.label)))
            .collect(),
        None => list_nifti(&task.join("labelsTr"))?
            .into_iter()
            .map(|label| {
                let name = label.file_name().unwrap_or_default().to_owned();
                (task.join("imagesTr").join(name), label)
            })
            .collect::<Vec<_>>(),
    };
    let test: Vec<PathBuf> = match legacy.test()? {
        Some(list) => list.into_iter().map(|p| task.join(p)).collect(),
        None => list_nifti(&task.join("imagesTs"))?,
    };

    let channels = legacy.to_v2(training.len())?.num_channels();
    let target = TargetDataset::create(&options.raw, id, &name, options.existing)?;
    let split = |image: &Path, out: &Path, case: &str| -> Result<()> {
        let found = split_4d(image, out, case)?;
        if found != channels {
            return Err(Error::invalid_file(
                image,
                format!("has {found} channels, dataset.json's modality lists {channels}"),
            ));
        }
        Ok(())
    };
    let images_tr = target.folder("imagesTr")?;
    let labels_tr = target.folder("labelsTr")?;
    let cases: Vec<(PathBuf, PathBuf)> = training;
    let results: Vec<Result<()>> = {
        use rayon::prelude::*;
        cases
            .par_iter()
            .map(|(image, label)| {
                let case = case_name(label)?;
                split(image, &images_tr, &case)?;
                copy_file(label, &labels_tr.join(format!("{case}.nii.gz")))
            })
            .collect()
    };
    results.into_iter().collect::<Result<Vec<()>>>()?;
    if !test.is_empty() {
        let images_ts = target.folder("imagesTs")?;
        for image in &test {
            split(image, &images_ts, &case_name(image)?)?;
        }
    }
    let descriptor = legacy.to_v2(cases.len())?;
    target.finish(&descriptor)
}

/// `.nii.gz` files of a folder, sorted, skipping names that start with `.` or `_` (macOS
/// resource forks such as `._la_003.nii.gz` ship inside the MSD tarballs).
fn list_nifti(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.ends_with(".nii.gz") && !name.starts_with('.') && !name.starts_with('_')
        })
        .collect();
    files.sort();
    Ok(files)
}

/// `la_003.nii.gz` → `la_003`.
fn case_name(path: &Path) -> Result<String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.strip_suffix(".nii.gz")
        .map(str::to_string)
        .ok_or_else(|| Error::invalid_file(path, "expected a .nii.gz file"))
}

/// Writes each channel of a 3D or 4D NIfTI file as `<out>/<case>_XXXX.nii.gz`; returns the
/// number of channels.
pub fn split_4d(path: &Path, out: &Path, case: &str) -> Result<usize> {
    let header = NiftiHeader::from_file(path)
        .map_err(|e| Error::invalid_file(path, format!("cannot read the NIfTI header: {e}")))?;
    let rank = header.dim[0];
    if rank <= 3 {
        copy_file(path, &out.join(format!("{case}_0000.nii.gz")))?;
        return Ok(1);
    }
    if rank != 4 || header.dim[5..].iter().any(|&d| d > 1) {
        return Err(Error::invalid_file(
            path,
            format!(
                "cannot split a {rank}D image (dim {:?}); expected 3D or 4D",
                &header.dim[..=(rank as usize).min(7)]
            ),
        ));
    }
    let object = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| Error::invalid_file(path, format!("cannot read the NIfTI volume: {e}")))?;
    let header = object.header().clone();
    let datatype = header
        .data_type()
        .map_err(|e| Error::invalid_file(path, format!("unknown datatype: {e}")))?;
    let [nx, ny, nz, nt] = [1, 2, 3, 4].map(|i| header.dim[i] as usize);
    let raw = object.into_volume().into_raw_data();
    let per_volume = nx * ny * nz * datatype.size_of();
    if raw.len() != per_volume * nt {
        return Err(Error::invalid_file(
            path,
            format!(
                "volume holds {} bytes, expected {}",
                raw.len(),
                per_volume * nt
            ),
        ));
    }
    let rescaled = header.scl_slope != 0.0 && (header.scl_slope != 1.0 || header.scl_inter != 0.0);
    let mut channel_header = header.clone();
    channel_header.dim = [3, nx as u16, ny as u16, nz as u16, 1, 1, 1, 1];
    for t in 0..nt {
        let bytes = raw[t * per_volume..(t + 1) * per_volume].to_vec();
        let target = out.join(format!("{case}_{t:04}.nii.gz"));
        nnunet_core::atomic::write_via_path(&target, ".nii.gz", |tmp| {
            write_volume(
                tmp,
                &channel_header,
                datatype,
                bytes,
                [nx, ny, nz],
                rescaled,
            )
            .map_err(|e| format!("cannot write channel {t} of {}: {e}", path.display()))
        })?;
    }
    Ok(nt)
}

/// Writes one 3D volume given as raw bytes in the file's byte order.
fn write_volume(
    path: &Path,
    header: &NiftiHeader,
    datatype: NiftiType,
    bytes: Vec<u8>,
    [nx, ny, nz]: [usize; 3],
    rescaled: bool,
) -> std::result::Result<(), nifti::NiftiError> {
    use ndarray::ShapeBuilder;
    let writer = WriterOptions::new(path).reference_header(header);
    let endianness = header.endianness;
    macro_rules! write_as {
        ($t:ty) => {{
            let values: Vec<$t> =
                <$t as nifti::DataElement>::from_raw_vec_validated(bytes, endianness, datatype)?;
            if rescaled {
                let (slope, inter) = (header.scl_slope as f64, header.scl_inter as f64);
                let values: Vec<f32> = values
                    .into_iter()
                    .map(|v| (v as f64 * slope + inter) as f32)
                    .collect();
                let array = ndarray::Array3::from_shape_vec((nx, ny, nz).f(), values)
                    .map_err(|_| nifti::NiftiError::IncompatibleLength(nx * ny * nz, 0))?;
                writer.write_nifti_with_type(&array, NiftiType::Float32)
            } else {
                let array = ndarray::Array3::from_shape_vec((nx, ny, nz).f(), values)
                    .map_err(|_| nifti::NiftiError::IncompatibleLength(nx * ny * nz, 0))?;
                writer.write_nifti_with_type(&array, datatype)
            }
        }};
    }
    match datatype {
        NiftiType::Uint8 => write_as!(u8),
        NiftiType::Int8 => write_as!(i8),
        NiftiType::Uint16 => write_as!(u16),
        NiftiType::Int16 => write_as!(i16),
        NiftiType::Uint32 => write_as!(u32),
        NiftiType::Int32 => write_as!(i32),
        NiftiType::Uint64 => write_as!(u64),
        NiftiType::Int64 => write_as!(i64),
        NiftiType::Float32 => write_as!(f32),
        NiftiType::Float64 => write_as!(f64),
        other => Err(nifti::NiftiError::UnsupportedDataType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes an uncompressed 4D int16 NIfTI `(x, y, z, t) = (3, 2, 2, 2)` with the given
    /// `scl_slope` / `scl_inter` patched into its header.
    fn write_4d(path: &Path, slope: f32, inter: f32) -> Vec<i16> {
        use ndarray::ShapeBuilder;
        let values: Vec<i16> = (0..24).map(|i| i * 7 - 50).collect();
        let array = ndarray::Array4::from_shape_vec((3, 2, 2, 2).f(), values.clone()).unwrap();
        let header = NiftiHeader {
            pixdim: [1.0, 0.5, 0.75, 2.5, 1.0, 0.0, 0.0, 0.0],
            ..Default::default()
        };
        WriterOptions::new(path)
            .reference_header(&header)
            .write_nifti(&array)
            .unwrap();
        let mut bytes = std::fs::read(path).unwrap();
        bytes[112..116].copy_from_slice(&slope.to_le_bytes());
        bytes[116..120].copy_from_slice(&inter.to_le_bytes());
        std::fs::write(path, bytes).unwrap();
        values
    }

    #[test]
    fn rescaled_channels_become_float32_with_the_scaling_applied() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("scaled.nii");
        let values = write_4d(&source, 2.0, -5.0);
        assert_eq!(split_4d(&source, dir.path(), "case").unwrap(), 2);
        for t in 0..2 {
            let path = dir.path().join(format!("case_{t:04}.nii.gz"));
            let header = NiftiHeader::from_file(&path).unwrap();
            assert_eq!(header.datatype, NiftiType::Float32 as i16);
            assert_eq!((header.scl_slope, header.scl_inter), (1.0, 0.0));
            let image = crate::io::read_image(&[&path]).unwrap();
            assert_eq!(image.shape, [2, 2, 3]);
            assert_eq!(image.geometry.spacing, [2.5, 0.75, 0.5]);
            let expected: Vec<f32> = values[t * 12..(t + 1) * 12]
                .iter()
                .map(|&v| v as f32 * 2.0 - 5.0)
                .collect();
            assert_eq!(image.channels[0], expected);
        }
    }

    #[test]
    fn unscaled_channels_keep_their_datatype() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("plain.nii");
        let values = write_4d(&source, 1.0, 0.0);
        split_4d(&source, dir.path(), "case").unwrap();
        let path = dir.path().join("case_0001.nii.gz");
        let header = NiftiHeader::from_file(&path).unwrap();
        assert_eq!(header.datatype, NiftiType::Int16 as i16);
        let image = crate::io::read_image(&[&path]).unwrap();
        let expected: Vec<f32> = values[12..].iter().map(|&v| v as f32).collect();
        assert_eq!(image.channels[0], expected);
    }
}
