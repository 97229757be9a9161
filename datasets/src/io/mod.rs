//! Image IO: one reader/writer interface for NIfTI-1 (`.nii`, `.nii.gz`), PNG, BMP and TIF,
//! chosen by file ending, giving [`Image`]s and [`LabelMap`]s in nnU-Net's axis order `(z, y, x)`.
//!
//! * **NIfTI** ([`nifti_file`]): any common datatype (u8/i8/i16/u16/i32/u32/i64/u64/f32/f64),
//!   `scl_slope`/`scl_inter` applied. Spacing, origin and direction are reported as SimpleITK
//!   reports them (LPS world, qform preferred over sform), spacing reversed to `(z, y, x)`. The
//!   348-byte header is kept in [`Geometry::source_header`] and reused when writing, so a read →
//!   write → read round trip is exact in data and geometry. Images are written as float32,
//!   label maps as uint8 when every value fits, else int16. A 2D NIfTI (`dim[0] = 2`) reads as
//!   `is_2d` with z spacing `999 × max(in-plane spacing)`, like nnU-Net's `SimpleITKIO`.
//! * **PNG** ([`png_file`], the `png` crate): grey 1–16 bit, grey+alpha, RGB, RGBA; every sample of
//!   a pixel is a channel (an RGB PNG gives 3 channels from one file). Palette PNGs are read as
//!   palette *indices* (label maps drawn with a palette). Bit depths below 8 give the raw sample
//!   values (a 1-bit mask reads 0/1). Written: grey u8 (u16 when a value exceeds 255) or RGB.
//! * **BMP, TIF/TIFF** ([`raster_file`], the `image` crate): 2D only, grey or colour.
//! * 2D images follow nnU-Net's `NaturalImage2DIO`: `z = 1`, spacing `(999, 1, 1)`, origin 0,
//!   identity direction.
//! * Lossy formats (`.jpg`, `.jpeg`) are refused: compression artefacts change label values and
//!   intensities, so nnU-Net refuses them too. Convert them first (`nnunet convert`).
//!
//! * Plugin formats ([`plugin_io`]): any ending an installed [`nnunet_core::ImageIo`] handles.
//!
//! Every error names the file.

mod nifti_file;
pub mod plugin_io;
mod png_file;
mod raster_file;

use nnunet_core::{Error, Image, LabelMap, Result};
use std::path::Path;

pub use nifti_file::{NIFTI_HEADER_LEN, read_nifti_header_geometry};

/// File endings we read and write, longest first so that `.nii.gz` wins over `.gz`.
pub const SUPPORTED_ENDINGS: [&str; 6] = [".nii.gz", ".nii", ".png", ".bmp", ".tiff", ".tif"];

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

/// The format behind an ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Nifti,
    Png,
    Raster,
}

fn format_of(path: &Path) -> Result<Format> {
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
    match file_ending(path) {
        Some(".nii.gz" | ".nii") => Ok(Format::Nifti),
        Some(".png") => Ok(Format::Png),
        Some(_) => Ok(Format::Raster),
        None => Err(Error::invalid_file(
            path,
            format!(
                "unsupported file type (supported endings: {})",
                SUPPORTED_ENDINGS.join(", ")
            ),
        )),
    }
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
    match format_of(path)? {
        Format::Nifti => nifti_file::read(path),
        Format::Png => png_file::read(path),
        Format::Raster => raster_file::read(path),
    }
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

/// Writes an image atomically, in the format of `path`'s ending. NIfTI: float32, with the
/// source header when the geometry carries one, else a header built from the geometry.
/// PNG/BMP/TIF: 2D only, grey (one channel) or RGB (three channels), whole values 0–255
/// (PNG grey also 0–65535).
pub fn write_image(path: &Path, image: &Image) -> Result<()> {
    if let Some(io) = plugin_io::for_path(path) {
        return nnunet_core::atomic::write_bytes(path, &io.encode_image(image)?);
    }
    match format_of(path)? {
        Format::Nifti => {
            if image.channels.len() != 1 {
                return Err(Error::invalid_file(
                    path,
                    format!(
                        "NIfTI holds one channel per file, the image has {}; write one file per channel",
                        image.channels.len()
                    ),
                ));
            }
            nifti_file::write(
                path,
                nifti_file::Voxels::F32(&image.channels[0]),
                image.shape,
                &image.geometry,
                image.is_2d,
            )
        }
        Format::Png => png_file::write_image(path, image),
        Format::Raster => raster_file::write_image(path, image),
    }
}

/// Writes a label map atomically. NIfTI: uint8 when all values fit, else int16, with the
/// source header when there is one. PNG: uint8 when the maximum is below 255, else uint16
/// (nnU-Net's rule). BMP/TIF: uint8.
pub fn write_label(path: &Path, label: &LabelMap) -> Result<()> {
    if let Some(io) = plugin_io::for_path(path) {
        return nnunet_core::atomic::write_bytes(path, &io.encode_label(label)?);
    }
    let min = label.data.iter().copied().min().unwrap_or(0);
    let max = label.data.iter().copied().max().unwrap_or(0);
    match format_of(path)? {
        Format::Nifti => {
            if min >= 0 && max <= u8::MAX as i16 {
                let data: Vec<u8> = label.data.iter().map(|&v| v as u8).collect();
                nifti_file::write(
                    path,
                    nifti_file::Voxels::U8(&data),
                    label.shape,
                    &label.geometry,
                    label.is_2d,
                )
            } else {
                nifti_file::write(
                    path,
                    nifti_file::Voxels::I16(&label.data),
                    label.shape,
                    &label.geometry,
                    label.is_2d,
                )
            }
        }
        format => {
            if min < 0 {
                return Err(Error::invalid_file(
                    path,
                    format!("label value {min} cannot be stored in an image file; use NIfTI"),
                ));
            }
            if format == Format::Png {
                png_file::write_label(path, label, max)
            } else {
                raster_file::write_label(path, label, max)
            }
        }
    }
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

/// Writes a file atomically: `write` fills a temporary file in the same folder whose name ends
/// in `ending` (e.g. `.nii.gz`), so writers that pick their encoding from the name keep doing
/// so; it is then renamed over `path`. On error the temporary file is removed and `path` is
/// untouched.
pub(crate) fn write_via_temp(
    path: &Path,
    ending: &str,
    write: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = parent.join(format!(".tmp-{}-{n}{ending}", std::process::id()));
    match write(&tmp) {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        }),
        Err(message) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::invalid_file(path, message))
        }
    }
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
