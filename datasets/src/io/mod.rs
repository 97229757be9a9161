//! Image IO: one reader/writer interface for the formats nnU-Net reads, chosen by file ending
//! from one table ([`FORMATS`]), giving [`Image`]s and [`LabelMap`]s in nnU-Net's axis order
//! `(z, y, x)` with spacing, origin and direction as SimpleITK reports them (LPS world).
//!
//! * **NIfTI** ([`nifti_file`], NIfTI-2 in [`nifti2_file`]): `.nii`, `.nii.gz`; any common
//!   datatype, `scl_slope`/`scl_inter` applied; qform preferred over sform. The header is kept
//!   in [`Geometry::source_header`] and reused when writing, so a read → write → read round trip
//!   is exact in data and geometry (a NIfTI-2 file is written back as NIfTI-2). A 2D NIfTI
//!   (`dim[0] = 2`) reads as `is_2d` with z spacing `999 × max(in-plane spacing)`, like nnU-Net's
//!   `SimpleITKIO`.
//! * **NRRD** ([`nrrd_file`]): `.nrrd`, detached `.nhdr`; raw, gzip and ASCII encodings.
//! * **MetaImage** ([`metaimage_file`]): `.mha`, `.mhd` (+ data file), compressed or not.
//! * **GIPL** ([`gipl_file`]): `.gipl`, `.gipl.gz`; origin but no direction.
//! * **3D TIFF** ([`tiff3d_file`]): multi-page `.tif`/`.tiff` with nnU-Net's `.json` spacing
//!   sidecar (`Tiff3DIO`); single-page TIFF stays a 2D picture.
//! * **PNG** ([`png_file`], the `png` crate): grey 1–16 bit, grey+alpha, RGB, RGBA; every sample of
//!   a pixel is a channel (an RGB PNG gives 3 channels from one file). Palette PNGs are read as
//!   palette *indices* (label maps drawn with a palette). Bit depths below 8 give the raw sample
//!   values (a 1-bit mask reads 0/1). Written: grey u8 (u16 when a value exceeds 255) or RGB.
//! * **BMP, 2D TIF/TIFF** ([`raster_file`], the `image` crate): grey or colour.
//! * 2D images follow nnU-Net's `NaturalImage2DIO`: `z = 1`, spacing `(999, 1, 1)`, origin 0,
//!   identity direction.
//! * Volumes are written as float32 images and uint8 (int16 when a value does not fit) label
//!   maps, compressed where the format allows.
//! * Lossy formats (`.jpg`, `.jpeg`) are refused: compression artefacts change label values and
//!   intensities, so nnU-Net refuses them too. Convert them first (`nnunet convert`).
//!
//! * Plugin formats ([`plugin_io`]): any ending an installed [`nnunet_core::ImageIo`] handles.
//!
//! Every error names the file. Every reader checks the size its header declares against
//! [`limits::max_voxels`] before allocating or decompressing ([`bounds`] for the hand-written
//! volume readers), and decompresses no more than the header promises ([`compress`]).

mod bounds;
mod compress;
mod gipl_file;
pub mod limits;
mod metaimage_file;
mod nifti2_file;
mod nifti_file;
mod nifti_geometry;
mod nrrd_file;
pub mod plugin_io;
mod png_file;
mod raster_file;
mod scalar;
mod text_header;
mod tiff3d_file;

use nnunet_core::{Error, Geometry, Image, LabelMap, Result};
use scalar::Voxels;
use std::path::Path;

pub use nifti_file::{NIFTI_HEADER_LEN, read_nifti_header_geometry};
pub use tiff3d_file::sidecar_path as tiff_sidecar_path;

/// File endings we read and write, longest first so that `.nii.gz` wins over `.nii`.
pub const SUPPORTED_ENDINGS: [&str; 12] = [
    ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".gipl.gz", ".gipl", ".png", ".bmp",
    ".tiff", ".tif",
];

/// Lossy endings we refuse to read as images or labels.
const LOSSY_ENDINGS: [&str; 2] = [".jpg", ".jpeg"];

/// The supported file ending of `path` (lower-cased match), e.g. `".nii.gz"`.
pub fn file_ending(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if let Some(ending) = plugin_io::ending_of(&name) {
        return Some(ending);
    }
    SUPPORTED_ENDINGS
        .into_iter()
        .find(|ending| name.ends_with(ending))
}

/// Reads one file's pixels.
type Reader = fn(&Path) -> Result<Decoded>;
/// Writes one channel with its geometry: `(path, voxels, shape (z, y, x), geometry, is_2d)`;
/// `is_2d` only with one slice, and the voxels fill the shape ([`write_volume`] checks both).
type VolumeWriter = fn(&Path, Voxels<'_>, [usize; 3], &Geometry, bool) -> Result<()>;

/// How a format is written.
#[derive(Clone, Copy)]
enum Writer {
    /// One channel per file, with geometry.
    Volume(VolumeWriter),
    /// 2D PNG pictures.
    Png,
    /// 2D pictures through the `image` crate.
    Raster,
    /// A 2D picture when the image is 2D, else a 3D TIFF volume.
    Tiff,
}

/// One supported format: its endings, reader and writer.
struct Format {
    endings: &'static [&'static str],
    read: Reader,
    write: Writer,
}

/// Every built-in format; dispatch is by file ending alone.
const FORMATS: [Format; 7] = [
    Format {
        endings: &[".nii.gz", ".nii"],
        read: nifti_file::read,
        write: Writer::Volume(nifti_file::write),
    },
    Format {
        endings: &[".nrrd", ".nhdr"],
        read: nrrd_file::read,
        write: Writer::Volume(nrrd_file::write),
    },
    Format {
        endings: &[".mha", ".mhd"],
        read: metaimage_file::read,
        write: Writer::Volume(metaimage_file::write),
    },
    Format {
        endings: &[".gipl.gz", ".gipl"],
        read: gipl_file::read,
        write: Writer::Volume(gipl_file::write),
    },
    Format {
        endings: &[".png"],
        read: png_file::read,
        write: Writer::Png,
    },
    Format {
        endings: &[".bmp"],
        read: raster_file::read,
        write: Writer::Raster,
    },
    Format {
        endings: &[".tiff", ".tif"],
        read: tiff3d_file::read,
        write: Writer::Tiff,
    },
];

/// Files that belong to a file of an ending without sharing it: detached data files (as we and
/// SimpleITK name them, `<stem>.raw.gz`, `<stem>.zraw`, …) and 3D TIFF spacing sidecars.
const COMPANIONS: [(&str, &[&str]); 4] = [
    (".nhdr", &[".raw.gz", ".raw"]),
    (".mhd", &[".zraw", ".raw"]),
    (".tif", &[".json"]),
    (".tiff", &[".json"]),
];

/// Whether a file named `name` is a companion (data file, sidecar) of the files of a dataset
/// whose `file_ending` is `ending`, so that folder checks do not count it as a stray file.
pub fn is_companion(name: &str, ending: &str) -> bool {
    let name = name.to_ascii_lowercase();
    COMPANIONS.iter().any(|(e, companions)| {
        e.eq_ignore_ascii_case(ending) && companions.iter().any(|c| name.ends_with(c))
    })
}

/// Copies a label map file to `to` (same ending) atomically: byte for byte when the format is
/// one self-contained file, else read and written again, so that its detached data file or
/// sidecar is written beside `to`.
pub fn copy_label(from: &Path, to: &Path) -> Result<()> {
    let ending = file_ending(from);
    if ending.is_some_and(|e| COMPANIONS.iter().any(|(c, _)| *c == e)) {
        return write_label(to, &read_label(from)?);
    }
    let bytes = std::fs::read(from).map_err(|e| Error::io(from, e))?;
    nnunet_core::atomic::write_bytes(to, &bytes)
}

fn format_of(path: &Path) -> Result<&'static Format> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if LOSSY_ENDINGS.iter().any(|e| name.ends_with(e)) {
        return Err(Error::invalid_file(
            path,
            "JPEG is lossy: compression artefacts change intensities and label values, so \
             nnU-Net does not accept it; convert it to PNG first (nnunet convert)",
        ));
    }
    file_ending(path)
        .and_then(|ending| FORMATS.iter().find(|f| f.endings.contains(&ending)))
        .ok_or_else(|| {
            Error::invalid_file(
                path,
                format!(
                    "unsupported file type (supported endings: {})",
                    SUPPORTED_ENDINGS.join(", ")
                ),
            )
        })
}

/// Pixels of one file: its channels (C-order `(z, y, x)` each), shape and geometry.
pub(crate) struct Decoded {
    pub shape: [usize; 3],
    pub channels: Vec<Vec<f64>>,
    pub geometry: nnunet_core::Geometry,
    pub is_2d: bool,
}

fn decode(path: &Path) -> Result<Decoded> {
    if let Some(io) = plugin_io::for_path(path) {
        let image = plugin_io::read(io.as_ref(), path)?;
        return Ok(Decoded {
            shape: image.shape,
            channels: image
                .channels
                .into_iter()
                .map(|c| c.into_iter().map(f64::from).collect())
                .collect(),
            geometry: image.geometry,
            is_2d: image.is_2d,
        });
    }
    (format_of(path)?.read)(path)
}

/// Reads one image from one file per channel (an RGB PNG gives three channels from one file),
/// stacking the channels in the order given. All files must have the same shape.
pub fn read_image(paths: &[impl AsRef<Path>]) -> Result<Image> {
    let Some(first) = paths.first() else {
        return Err(Error::Invalid("read_image: no files given".into()));
    };
    let first = first.as_ref();
    let mut image: Option<Image> = None;
    for path in paths {
        let path = path.as_ref();
        let decoded = decode(path)?;
        let channels = decoded
            .channels
            .into_iter()
            .map(|c| c.into_iter().map(|v| v as f32).collect());
        match &mut image {
            None => {
                image = Some(Image {
                    shape: decoded.shape,
                    channels: channels.collect(),
                    geometry: decoded.geometry,
                    is_2d: decoded.is_2d,
                })
            }
            Some(image) => {
                if decoded.shape != image.shape {
                    return Err(Error::invalid_file(
                        path,
                        format!(
                            "shape {:?} differs from {:?} of {}",
                            decoded.shape,
                            image.shape,
                            first.display()
                        ),
                    ));
                }
                if !allclose(&decoded.geometry.spacing, &image.geometry.spacing) {
                    return Err(Error::invalid_file(
                        path,
                        format!(
                            "spacing {:?} differs from {:?} of {}",
                            decoded.geometry.spacing,
                            image.geometry.spacing,
                            first.display()
                        ),
                    ));
                }
                image.channels.extend(channels);
            }
        }
    }
    image.ok_or_else(|| Error::Invalid("read_image: no files given".into()))
}

/// Reads a label map (one channel). Values must be whole numbers in the `i16` range, whatever
/// the stored datatype (float32 label maps are accepted).
pub fn read_label(path: &Path) -> Result<LabelMap> {
    let mut decoded = decode(path)?;
    // A grey BMP is stored with a palette that decoders expand to RGB: take one of its equal
    // channels.
    if file_ending(path) == Some(".bmp")
        && decoded.channels.len() == 3
        && decoded.channels[0] == decoded.channels[1]
        && decoded.channels[0] == decoded.channels[2]
    {
        decoded.channels.truncate(1);
    }
    if decoded.channels.len() != 1 {
        return Err(Error::invalid_file(
            path,
            format!(
                "a label map must have one channel, this file has {}",
                decoded.channels.len()
            ),
        ));
    }
    let mut data = Vec::with_capacity(decoded.channels[0].len());
    for &v in &decoded.channels[0] {
        if v.fract() != 0.0 || !(i16::MIN as f64..=i16::MAX as f64).contains(&v) {
            return Err(Error::invalid_file(
                path,
                format!("label value {v} is not a whole number in the int16 range"),
            ));
        }
        data.push(v as i16);
    }
    Ok(LabelMap {
        shape: decoded.shape,
        data,
        geometry: decoded.geometry,
        is_2d: decoded.is_2d,
    })
}

/// Writes an image atomically, in the format of `path`'s ending. Volumes: one channel,
/// float32, with the source header when the geometry carries one of the same format.
/// PNG/BMP/2D TIF: grey (one channel) or RGB (three channels), whole values 0–255 (PNG grey
/// also 0–65535).
pub fn write_image(path: &Path, image: &Image) -> Result<()> {
    if let Some(io) = plugin_io::for_path(path) {
        return nnunet_core::atomic::write_bytes(path, &io.encode_image(image)?);
    }
    let volume = |writer: VolumeWriter| {
        if image.channels.len() != 1 {
            return Err(Error::invalid_file(
                path,
                format!(
                    "this format holds one channel per file, the image has {}; write one file per channel",
                    image.channels.len()
                ),
            ));
        }
        write_volume(
            path,
            writer,
            Voxels::F32(&image.channels[0]),
            image.shape,
            &image.geometry,
            image.is_2d,
        )
    };
    match format_of(path)?.write {
        Writer::Volume(writer) => volume(writer),
        Writer::Tiff if !image.is_2d => volume(tiff3d_file::write),
        Writer::Png => png_file::write_image(path, image),
        Writer::Raster | Writer::Tiff => raster_file::write_image(path, image),
    }
}

/// Writes a label map atomically. Volumes: uint8 when all values fit, else int16, with the
/// source header when there is one. PNG: uint8 when the maximum is below 255, else uint16
/// (nnU-Net's rule). BMP/2D TIF: uint8 (16-bit TIF above 255).
pub fn write_label(path: &Path, label: &LabelMap) -> Result<()> {
    if let Some(io) = plugin_io::for_path(path) {
        return nnunet_core::atomic::write_bytes(path, &io.encode_label(label)?);
    }
    let min = label.data.iter().copied().min().unwrap_or(0);
    let max = label.data.iter().copied().max().unwrap_or(0);
    let volume = |writer: VolumeWriter| {
        if min >= 0 && max <= u8::MAX as i16 {
            let data: Vec<u8> = label.data.iter().map(|&v| v as u8).collect();
            write_volume(
                path,
                writer,
                Voxels::U8(&data),
                label.shape,
                &label.geometry,
                label.is_2d,
            )
        } else {
            write_volume(
                path,
                writer,
                Voxels::I16(&label.data),
                label.shape,
                &label.geometry,
                label.is_2d,
            )
        }
    };
    let picture = match format_of(path)?.write {
        Writer::Volume(writer) => return volume(writer),
        Writer::Tiff if !label.is_2d => return volume(tiff3d_file::write),
        picture => picture,
    };
    if min < 0 {
        return Err(Error::invalid_file(
            path,
            format!("label value {min} cannot be stored in an image file; use NIfTI"),
        ));
    }
    match picture {
        Writer::Png => png_file::write_label(path, label, max),
        _ => raster_file::write_label(path, label, max),
    }
}

/// Checks that the voxels fill `shape`, then writes them.
fn write_volume(
    path: &Path,
    writer: VolumeWriter,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    let expected = shape.iter().product::<usize>();
    if data.len() != expected {
        return Err(Error::invalid_file(
            path,
            format!(
                "{} voxels do not fill the shape {shape:?} ({expected})",
                data.len()
            ),
        ));
    }
    writer(path, data, shape, geometry, is_2d && shape[0] == 1)
}

/// Checks that a 2D image (z = 1) is being written to a 2D format.
pub(crate) fn require_2d(path: &Path, shape: [usize; 3]) -> Result<()> {
    if shape[0] != 1 {
        return Err(Error::invalid_file(
            path,
            format!(
                "this format holds 2D images only, the array has {} slices; use NIfTI",
                shape[0]
            ),
        ));
    }
    Ok(())
}

/// numpy's `allclose` (rtol 1e-5, atol 1e-8), as nnU-Net compares geometries.
pub fn allclose(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-8 + 1e-5 * y.abs())
}

/// Splits pixel-interleaved samples into `channels` planes.
pub(crate) fn deinterleave(samples: &[f64], channels: usize) -> Vec<Vec<f64>> {
    if channels == 1 {
        return vec![samples.to_vec()];
    }
    (0..channels)
        .map(|c| samples.iter().skip(c).step_by(channels).copied().collect())
        .collect()
}

/// 2D geometry as nnU-Net's `NaturalImage2DIO` reports it.
pub(crate) fn natural_2d_geometry() -> nnunet_core::Geometry {
    nnunet_core::Geometry {
        spacing: [999.0, 1.0, 1.0],
        ..Default::default()
    }
}

#[cfg(test)]
pub(crate) mod tests;
