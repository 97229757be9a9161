//! BMP and TIF/TIFF (2D) through the `image` crate: grey, grey+alpha, RGB, RGBA, 8/16-bit and
//! float; every sample of a pixel becomes a channel. Multi-page (3D) TIFF is not read.

use super::{Decoded, deinterleave, natural_2d_geometry, png_file::interleave, require_2d};
use image::{DynamicImage, ExtendedColorType, ImageFormat};
use nnunet_core::{Error, Image, LabelMap, Result};
use std::path::Path;

/// Reads a BMP or TIF file.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let open = || {
        image::ImageReader::open(path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| Error::io(path, e))
    };
    let (width, height) = open()?
        .into_dimensions()
        .map_err(|e| Error::invalid_file(path, format!("cannot decode: {e}")))?;
    super::limits::check_declared_size(path, &[height as u64, width as u64], 1)?;
    let decoded = open()?
        .decode()
        .map_err(|e| Error::invalid_file(path, format!("cannot decode: {e}")))?;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let channels = decoded.color().channel_count() as usize;
    let samples: Vec<f64> = match &decoded {
        DynamicImage::ImageLuma8(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageLumaA8(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageRgb8(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageRgba8(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageLuma16(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageLumaA16(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageRgb16(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageRgba16(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageRgb32F(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        DynamicImage::ImageRgba32F(b) => b.as_raw().iter().map(|&v| v as f64).collect(),
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported pixel type {:?}", other.color()),
            ));
        }
    };
    Ok(Decoded {
        shape: [1, height, width],
        channels: deinterleave(&samples, channels),
        geometry: natural_2d_geometry(),
        is_2d: true,
    })
}

fn format_of(path: &Path) -> ImageFormat {
    if super::file_ending(path) == Some(".bmp") {
        ImageFormat::Bmp
    } else {
        ImageFormat::Tiff
    }
}

fn save(path: &Path, bytes: &[u8], shape: [usize; 3], color: ExtendedColorType) -> Result<()> {
    let format = format_of(path);
    let ending = super::file_ending(path).unwrap_or(".tif");
    nnunet_core::atomic::write_via_path(path, ending, |tmp| {
        image::save_buffer_with_format(tmp, bytes, shape[2] as u32, shape[1] as u32, color, format)
            .map_err(|e| format!("cannot encode: {e}"))
    })
}

fn whole_u8(path: &Path, samples: &[f32]) -> Result<Vec<u8>> {
    samples
        .iter()
        .map(|&v| {
            if v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
                Ok(v as u8)
            } else {
                Err(Error::invalid_file(
                    path,
                    format!("value {v} is not a whole number in 0..=255; write NIfTI instead"),
                ))
            }
        })
        .collect()
}

/// Writes a grey or RGB 8-bit image.
pub(super) fn write_image(path: &Path, image: &Image) -> Result<()> {
    require_2d(path, image.shape)?;
    let color = match image.channels.len() {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        n => {
            return Err(Error::invalid_file(
                path,
                format!("images are written with 1 or 3 channels, the image has {n}"),
            ));
        }
    };
    let bytes = whole_u8(path, &interleave(&image.channels))?;
    save(path, &bytes, image.shape, color)
}

/// Writes a label map: 8-bit grey, or 16-bit grey TIFF when a value exceeds 255.
pub(super) fn write_label(path: &Path, label: &LabelMap, max: i16) -> Result<()> {
    require_2d(path, label.shape)?;
    if max <= 255 {
        let bytes: Vec<u8> = label.data.iter().map(|&v| v as u8).collect();
        save(path, &bytes, label.shape, ExtendedColorType::L8)
    } else if format_of(path) == ImageFormat::Tiff {
        let bytes: Vec<u8> = label
            .data
            .iter()
            .flat_map(|&v| (v as u16).to_ne_bytes())
            .collect();
        save(path, &bytes, label.shape, ExtendedColorType::L16)
    } else {
        Err(Error::invalid_file(
            path,
            format!("label value {max} does not fit in an 8-bit BMP; use PNG, TIF or NIfTI"),
        ))
    }
}
