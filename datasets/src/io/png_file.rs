//! PNG through the `png` crate, read without colour transformations so that palette images give
//! their indices (label maps drawn with a palette) and 16-bit samples keep their values.
//! Samples below 8 bits are unpacked unscaled (a 1-bit mask reads 0/1).

use super::{Decoded, deinterleave, natural_2d_geometry, require_2d};
use nnunet_core::{Error, Image, LabelMap, Result};
use png::{BitDepth, ColorType, Transformations};
use std::path::Path;

/// Deflate's largest expansion (258-byte matches at 2 bits each is ~1032:1), with margin.
const MAX_DEFLATE_RATIO: usize = 1100;

/// Reads a PNG: every sample of a pixel becomes a channel.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file_len = bytes.len();
    let corrupt = |e: png::DecodingError| Error::invalid_file(path, format!("corrupt PNG: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let info = reader.info();
    let samples_per_pixel = info.color_type.samples() as u64;
    let dims = [info.height as u64, info.width as u64];
    super::limits::check_declared_size(path, &dims, samples_per_pixel)?;
    // Deflate expands at most 1032:1, so a header claiming more pixel bytes than that is refused
    // before its buffer is allocated (a 60000² header in a small file would abort the process).
    let claimed = reader.output_buffer_size();
    if claimed > file_len.saturating_mul(MAX_DEFLATE_RATIO) + (1 << 16) {
        let (width, height) = reader.info().size();
        return Err(Error::invalid_file(
            path,
            format!(
                "header claims {width}×{height} pixels ({claimed} bytes), more than its \
                 {file_len}-byte file can hold compressed"
            ),
        ));
    }
    let mut buf = vec![0; claimed];
    let frame = reader.next_frame(&mut buf).map_err(corrupt)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = match frame.color_type {
        ColorType::Grayscale | ColorType::Indexed => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
    };
    let per_row = width * channels;
    let mut samples = Vec::with_capacity(per_row * height);
    for row in buf.chunks_exact(frame.line_size).take(height) {
        match frame.bit_depth {
            BitDepth::Eight => samples.extend(row[..per_row].iter().map(|&v| v as f64)),
            BitDepth::Sixteen => samples.extend(
                row[..per_row * 2]
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as f64),
            ),
            depth => {
                let bits = depth as usize;
                let mask = (1u16 << bits) - 1;
                samples.extend((0..per_row).map(|k| {
                    let bit = k * bits;
                    let shift = 8 - bits - bit % 8;
                    ((row[bit / 8] as u16 >> shift) & mask) as f64
                }));
            }
        }
    }
    Ok(Decoded {
        shape: [1, height, width],
        channels: deinterleave(&samples, channels),
        geometry: natural_2d_geometry(),
        is_2d: true,
    })
}

fn encode(
    path: &Path,
    shape: [usize; 3],
    color: ColorType,
    depth: BitDepth,
    bytes: &[u8],
) -> Result<()> {
    nnunet_core::atomic::write_with(path, |out| {
        let mut encoder = png::Encoder::new(out, shape[2] as u32, shape[1] as u32);
        encoder.set_color(color);
        encoder.set_depth(depth);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(bytes)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })
}

/// Whole-number samples as bytes: u8, or big-endian u16 when `sixteen`.
fn to_bytes(path: &Path, samples: &[f32], sixteen: bool) -> Result<Vec<u8>> {
    let max = if sixteen { 65535.0 } else { 255.0 };
    let mut out = Vec::with_capacity(samples.len() * if sixteen { 2 } else { 1 });
    for &v in samples {
        if v.fract() != 0.0 || !(0.0..=max).contains(&v) {
            return Err(Error::invalid_file(
                path,
                format!("value {v} is not a whole number in 0..={max}; write NIfTI instead"),
            ));
        }
        if sixteen {
            out.extend((v as u16).to_be_bytes());
        } else {
            out.push(v as u8);
        }
    }
    Ok(out)
}

/// Interleaves channels into pixel order.
pub(super) fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    let n = channels.first().map_or(0, Vec::len);
    (0..n)
        .flat_map(|i| channels.iter().map(move |c| c[i]))
        .collect()
}

/// Writes a grey (u8, or u16 when a value exceeds 255) or RGB (u8) PNG.
pub(super) fn write_image(path: &Path, image: &Image) -> Result<()> {
    require_2d(path, image.shape)?;
    match image.channels.len() {
        1 => {
            let sixteen = image.channels[0].iter().any(|&v| v > 255.0);
            let bytes = to_bytes(path, &image.channels[0], sixteen)?;
            let depth = if sixteen {
                BitDepth::Sixteen
            } else {
                BitDepth::Eight
            };
            encode(path, image.shape, ColorType::Grayscale, depth, &bytes)
        }
        3 => {
            let bytes = to_bytes(path, &interleave(&image.channels), false)?;
            encode(path, image.shape, ColorType::Rgb, BitDepth::Eight, &bytes)
        }
        n => Err(Error::invalid_file(
            path,
            format!("PNG images are written with 1 or 3 channels, the image has {n}"),
        )),
    }
}

/// Writes a label map as grey PNG: u8 when the maximum is below 255, else u16 (nnU-Net's rule).
pub(super) fn write_label(path: &Path, label: &LabelMap, max: i16) -> Result<()> {
    require_2d(path, label.shape)?;
    let (depth, bytes) = if max < 255 {
        (
            BitDepth::Eight,
            label.data.iter().map(|&v| v as u8).collect::<Vec<u8>>(),
        )
    } else {
        (
            BitDepth::Sixteen,
            label
                .data
                .iter()
                .flat_map(|&v| (v as u16).to_be_bytes())
                .collect(),
        )
    };
    encode(path, label.shape, ColorType::Grayscale, depth, &bytes)
}
