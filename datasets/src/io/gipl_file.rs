//! GIPL (`.gipl`, `.gipl.gz`), hand-written: a fixed 256-byte big-endian header (ITK's
//! `GiplImageIO` layout) followed by the samples, the whole file optionally gzipped.
//!
//! * Geometry as SimpleITK reports it: spacing from `pixdim` (float32), origin from the
//!   `origin` doubles, identity direction (GIPL has no direction that ITK reads).
//! * Write: float32 images, uint8/int16 labels, big endian, gzipped for `.gipl.gz`. A geometry
//!   with a direction other than identity is refused rather than silently dropped (write NRRD,
//!   MetaImage or NIfTI instead); spacing is stored as float32, as the format demands.

use super::Decoded;
use super::bounds::{checked_volume, require_header, slice_exact};
use super::compress::{Compression, deflate, inflate_exact};
use super::scalar::{Scalar, Voxels};
use nnunet_core::{Error, Geometry, Result};
use std::path::Path;

const HEADER_LEN: usize = 256;
const MAGIC: u32 = 0xEFFF_E9B0;
const MAGIC2: u32 = 0x2AE3_89B8;

fn be<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[at..at + N]);
    a
}

fn scalar_of(path: &Path, code: u16) -> Result<Scalar> {
    Ok(match code {
        1 | 8 => Scalar::U8,
        7 => Scalar::I8,
        15 => Scalar::I16,
        16 => Scalar::U16,
        31 => Scalar::U32,
        32 => Scalar::I32,
        64 => Scalar::F32,
        65 => Scalar::F64,
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported GIPL image type {other}"),
            ));
        }
    })
}

/// The file's bytes, gunzipped when it starts with the gzip magic; at most what the header
/// promises is inflated.
fn file_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let header = inflate_exact(path, &raw, Compression::Gzip, HEADER_LEN)?;
    let (_, scalar, sizes) = parse(path, &header)?;
    let (_, size) = checked_volume(path, &sizes, scalar.size())?;
    inflate_exact(path, &raw, Compression::Gzip, HEADER_LEN + size)
}

/// Dimension count, sample type and sizes `(x, y, z)` from the header.
fn parse(path: &Path, bytes: &[u8]) -> Result<(usize, Scalar, [u64; 3])> {
    require_header(path, bytes, HEADER_LEN, "GIPL")?;
    let magic = u32::from_be_bytes(be(bytes, 252));
    if magic != MAGIC && magic != MAGIC2 {
        return Err(Error::invalid_file(
            path,
            "not a GIPL file (bad magic number)",
        ));
    }
    let dims: [u16; 4] = std::array::from_fn(|i| u16::from_be_bytes(be(bytes, 2 * i)));
    if dims[3] > 1 {
        return Err(Error::invalid_file(
            path,
            format!(
                "4D GIPL ({} frames): nnU-Net wants one 3D file per channel",
                dims[3]
            ),
        ));
    }
    let ndims = dims[..3].iter().filter(|&&d| d > 0).count();
    let scalar = scalar_of(path, u16::from_be_bytes(be(bytes, 8)))?;
    let sizes = [dims[0] as u64, dims[1] as u64, dims[2].max(1) as u64];
    Ok((ndims, scalar, sizes))
}

/// Reads a GIPL file into one channel.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let bytes = file_bytes(path)?;
    let (ndims, scalar, sizes) = parse(path, &bytes)?;
    let (_, size) = checked_volume(path, &sizes, scalar.size())?;
    let voxels = scalar.decode(slice_exact(path, &bytes, HEADER_LEN, size)?, true);
    let pixdim: [f64; 3] =
        std::array::from_fn(|i| f32::from_be_bytes(be(&bytes, 10 + 4 * i)) as f64);
    let origin: [f64; 3] =
        std::array::from_fn(|i| f64::from_be_bytes(be(&bytes, 204 + 8 * i)) + 0.0);
    let is_2d = ndims == 2;
    let spacing = if is_2d {
        [999.0 * pixdim[0].max(pixdim[1]), pixdim[1], pixdim[0]]
    } else {
        [pixdim[2], pixdim[1], pixdim[0]]
    };
    if let Some(bad) = spacing.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(Error::invalid_file(path, format!("invalid spacing {bad}")));
    }
    Ok(Decoded {
        shape: [sizes[2] as usize, sizes[1] as usize, sizes[0] as usize],
        channels: vec![voxels],
        geometry: Geometry {
            spacing,
            origin: if is_2d {
                [origin[0], origin[1], 0.0]
            } else {
                origin
            },
            ..Geometry::default()
        },
        is_2d,
    })
}

/// Writes one channel as GIPL (gzipped for `.gipl.gz`).
pub(super) fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    if geometry.direction != Geometry::default().direction {
        return Err(Error::invalid_file(
            path,
            format!(
                "GIPL cannot store the direction {:?} (only identity): write NRRD, MetaImage or \
                 NIfTI instead",
                geometry.direction
            ),
        ));
    }
    let dims: Vec<u16> = [shape[2], shape[1], shape[0]]
        .iter()
        .map(|&s| u16::try_from(s))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::invalid_file(
                path,
                format!("GIPL sizes are below 65536, the image is {shape:?}"),
            )
        })?;
    let mut header = vec![0u8; HEADER_LEN];
    let mut put = |at: usize, value: &[u8]| header[at..at + value.len()].copy_from_slice(value);
    put(0, &dims[0].to_be_bytes());
    put(2, &dims[1].to_be_bytes());
    put(4, &(if is_2d { 0 } else { dims[2] }).to_be_bytes()); // 0: a 2D image for ITK
    put(6, &1u16.to_be_bytes());
    let code: u16 = match data.scalar() {
        Scalar::U8 => 8,
        Scalar::I16 => 15,
        _ => 64,
    };
    put(8, &code.to_be_bytes());
    let pixdim = [
        geometry.spacing[2],
        geometry.spacing[1],
        if is_2d { 1.0 } else { geometry.spacing[0] },
        1.0,
    ];
    for (i, s) in pixdim.iter().enumerate() {
        put(10 + 4 * i, &(*s as f32).to_be_bytes());
    }
    for (i, o) in geometry.origin.iter().enumerate() {
        put(204 + 8 * i, &o.to_be_bytes());
    }
    put(252, &MAGIC.to_be_bytes());
    let mut bytes = header;
    bytes.extend(data.to_bytes(true));
    if super::file_ending(path) == Some(".gipl.gz") {
        bytes = deflate(&bytes, Compression::Gzip);
    }
    nnunet_core::atomic::write_bytes(path, &bytes)
}
