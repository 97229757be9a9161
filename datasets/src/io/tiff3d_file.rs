//! 3D TIFF as nnU-Net's `Tiff3DIO` reads and writes it: one page per slice (z), grey samples,
//! and the spacing `(z, y, x)` in a sidecar `.json` (`{"spacing": [z, y, x]}`) named after the
//! case: `case.tif` → `case.json`, and for an image without its channel suffix,
//! `case_0000.tif` → `case.json`. Without a sidecar the spacing is `(1, 1, 1)`, with a warning,
//! as nnU-Net does. TIFF stores no origin or direction: they read as 0 and identity,
//! and writing any other origin or direction is refused rather than silently dropped.
//!
//! A `.tif`/`.tiff` file with one page and no sidecar is a 2D picture ([`super::raster_file`]),
//! like nnU-Net's `NaturalImage2DIO`; several pages (or a sidecar) make it a volume.

use super::Decoded;
use super::bounds::checked_volume;
use super::scalar::Voxels;
use nnunet_core::{Error, Geometry, Result};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype};

/// The file name without its ending: `case_0000.tif` → `case_0000`.
fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.rsplit_once('.')
        .map_or(name.clone(), |(stem, _)| stem.to_string())
}

/// `stem` without a `_XXXX` channel suffix, if it has one.
fn without_channel(stem: &str) -> Option<&str> {
    let (case, channel) = stem.rsplit_once('_')?;
    (channel.len() == 4 && channel.bytes().all(|b| b.is_ascii_digit())).then_some(case)
}

/// The sidecar written for `path`: `case.tif` → `case.json`, `case_0000.tif` → `case.json`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let stem = stem(path);
    let case = without_channel(&stem).unwrap_or(&stem);
    path.with_file_name(format!("{case}.json"))
}

fn corrupt(path: &Path) -> impl Fn(tiff::TiffError) -> Error + '_ {
    move |e| Error::invalid_file(path, format!("corrupt TIFF: {e}"))
}

fn samples(result: DecodingResult) -> Vec<f64> {
    match result {
        DecodingResult::U8(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U64(v) => v.into_iter().map(|x| x as f64).collect(),
        DecodingResult::F16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::F32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::F64(v) => v,
        DecodingResult::I8(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I64(v) => v.into_iter().map(|x| x as f64).collect(),
    }
}

/// The spacing `(z, y, x)` of the sidecar (`<stem>.json` as nnU-Net's segmentation reader
/// looks for it, else the image reader's `<stem without _XXXX>.json`), `None` without one.
fn sidecar_spacing(path: &Path) -> Result<Option<[f64; 3]>> {
    let own = path.with_file_name(format!("{}.json", stem(path)));
    let Some(sidecar) = [own, sidecar_path(path)].into_iter().find(|p| p.is_file()) else {
        return Ok(None);
    };
    #[derive(serde::Deserialize)]
    struct Sidecar {
        spacing: Vec<f64>,
    }
    let parsed: Sidecar = nnunet_core::atomic::read_json(&sidecar)?;
    match parsed.spacing[..] {
        [z, y, x] if [z, y, x].iter().all(|s| s.is_finite() && *s > 0.0) => Ok(Some([z, y, x])),
        _ => Err(Error::invalid_file(
            &sidecar,
            format!(
                "spacing must be three positive numbers, got {:?}",
                parsed.spacing
            ),
        )),
    }
}

/// Reads a `.tif`/`.tiff`: a volume when it has several pages or a sidecar, else a 2D picture.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut decoder = Decoder::new(Cursor::new(&bytes[..])).map_err(corrupt(path))?;
    let spacing = sidecar_spacing(path)?;
    if !decoder.more_images() && spacing.is_none() {
        return super::raster_file::read(path);
    }
    decoder = decoder.with_limits(Limits::default());
    let (width, height) = decoder.dimensions().map_err(corrupt(path))?;
    let mut voxels = Vec::new();
    let mut depth = 0u64;
    loop {
        if decoder.dimensions().map_err(corrupt(path))? != (width, height) {
            return Err(Error::invalid_file(
                path,
                format!("page {depth} differs in size from page 0 ({width} x {height})"),
            ));
        }
        match decoder.colortype().map_err(corrupt(path))? {
            tiff::ColorType::Gray(_) => {}
            other => {
                return Err(Error::invalid_file(
                    path,
                    format!("a 3D TIFF must hold grey pages, page {depth} is {other:?}"),
                ));
            }
        }
        depth += 1;
        checked_volume(path, &[width as u64, height as u64, depth], 1)?;
        voxels.extend(samples(decoder.read_image().map_err(corrupt(path))?));
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(corrupt(path))?;
    }
    if spacing.is_none() {
        tracing::warn!(
            "{}: no spacing sidecar {}; assuming spacing (1, 1, 1) as nnU-Net does",
            path.display(),
            sidecar_path(path).display()
        );
    }
    Ok(Decoded {
        shape: [depth as usize, height as usize, width as usize],
        channels: vec![voxels],
        geometry: Geometry {
            spacing: spacing.unwrap_or([1.0; 3]),
            ..Geometry::default()
        },
        is_2d: false,
    })
}

/// Writes a volume as a multi-page, deflate-compressed TIFF and its spacing sidecar (the
/// sidecar first, both atomically).
pub(super) fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    _is_2d: bool,
) -> Result<()> {
    let default = Geometry::default();
    if geometry.origin != default.origin || geometry.direction != default.direction {
        return Err(Error::invalid_file(
            path,
            format!(
                "a 3D TIFF stores no origin or direction (origin {:?}, direction {:?}): write \
                 NRRD, MetaImage or NIfTI instead",
                geometry.origin, geometry.direction
            ),
        ));
    }
    let (width, height) = (shape[2] as u32, shape[1] as u32);
    let plane = shape[1] * shape[2];
    let mut buffer = Cursor::new(Vec::new());
    let encode = |buffer: &mut Cursor<Vec<u8>>| -> tiff::TiffResult<()> {
        let mut encoder = TiffEncoder::new(buffer)?
            .with_compression(Compression::Deflate(DeflateLevel::Balanced));
        for z in 0..shape[0] {
            let range = z * plane..(z + 1) * plane;
            match data {
                Voxels::U8(d) => {
                    encoder.write_image::<colortype::Gray8>(width, height, &d[range])?
                }
                Voxels::I16(d) => {
                    encoder.write_image::<colortype::GrayI16>(width, height, &d[range])?
                }
                Voxels::F32(d) => {
                    encoder.write_image::<colortype::Gray32Float>(width, height, &d[range])?
                }
            }
        }
        Ok(())
    };
    encode(&mut buffer)
        .map_err(|e| Error::invalid_file(path, format!("cannot write TIFF: {e}")))?;
    nnunet_core::atomic::write_json(
        &sidecar_path(path),
        &serde_json::json!({ "spacing": geometry.spacing }),
    )?;
    nnunet_core::atomic::write_bytes(path, buffer.get_ref())
}
