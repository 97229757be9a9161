//! NIfTI-2 single files (`.nii`, `.nii.gz` whose header is 540 bytes long), hand-written: the
//! `nifti` crate reads NIfTI-1 only. Same geometry rules as NIfTI-1 ([`super::nifti_geometry`])
//! with the header's `f64` fields, so SimpleITK's spacing, origin and direction are reproduced
//! without a round trip through `f32`.
//!
//! Writing: a geometry that was read from a NIfTI-2 file keeps its header (all fields, qform
//! and sform included) as long as it still describes the same geometry; otherwise a fresh
//! little-endian header with an sform (code 1) is built. Images are float32, label maps uint8
//! or int16, as for NIfTI-1.

use super::Decoded;
use super::bounds::{checked_volume, require_header, slice_exact};
use super::compress::{Compression, deflate};
use super::nifti_geometry::{NiftiAffine, geometry_of, sform_of};
use super::scalar::{Scalar, Voxels};
use nnunet_core::{Error, Geometry, Result};
use std::path::Path;
use std::sync::Arc;

/// Length of a NIfTI-2 header in bytes.
pub const NIFTI2_HEADER_LEN: usize = 540;
/// Where the voxels start in the files we write (header + 4-byte extension flag).
const VOX_OFFSET: usize = NIFTI2_HEADER_LEN + 4;
const MAGIC: &[u8; 8] = b"n+2\0\r\n\x1a\n";

/// Whether `bytes` start with a NIfTI-2 header (`sizeof_hdr` = 540 in either byte order).
pub fn is_nifti2(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && {
        let raw = [bytes[0], bytes[1], bytes[2], bytes[3]];
        i32::from_le_bytes(raw) == 540 || i32::from_be_bytes(raw) == 540
    }
}

/// A parsed header: fixed-offset fields in the file's byte order.
struct Header<'a> {
    raw: &'a [u8],
    big: bool,
}

impl Header<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.raw[at..at + N]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.bytes(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.bytes(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.bytes(at))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.bytes(at))
    }
    fn f64s<const N: usize>(&self, at: usize) -> [f64; N] {
        std::array::from_fn(|i| self.f64(at + 8 * i))
    }
    fn affine(&self) -> NiftiAffine {
        let pixdim: [f64; 8] = self.f64s(104);
        NiftiAffine {
            pixdim: [pixdim[0], pixdim[1], pixdim[2], pixdim[3]],
            qform_code: self.i32(344),
            sform_code: self.i32(348),
            quatern: self.f64s(352),
            qoffset: self.f64s(376),
            srow: [self.f64s(400), self.f64s(432), self.f64s(464)],
        }
    }
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Header<'a>> {
    require_header(path, bytes, NIFTI2_HEADER_LEN, "NIfTI-2")?;
    let big = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) != 540;
    if &bytes[4..12] != MAGIC {
        return Err(Error::invalid_file(
            path,
            "NIfTI-2 header without the single-file magic \"n+2\" (.hdr/.img pairs are not supported)",
        ));
    }
    Ok(Header {
        raw: &bytes[..NIFTI2_HEADER_LEN],
        big,
    })
}

/// Array shape `(z, y, x)` and 2D-ness from `dim`.
fn shape_of(path: &Path, header: &Header) -> Result<([usize; 3], bool)> {
    let dim: [i64; 8] = std::array::from_fn(|i| header.i64(16 + 8 * i));
    let ndim = dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(Error::invalid_file(
            path,
            format!("invalid dim[0] = {ndim}"),
        ));
    }
    let ndim = ndim as usize;
    if let Some(bad) = dim[1..=ndim].iter().find(|&&d| d < 0) {
        return Err(Error::invalid_file(
            path,
            format!("negative dimension {bad} in dim {dim:?}"),
        ));
    }
    let d = |i: usize| if i <= ndim { dim[i].max(1) as u64 } else { 1 };
    let extra: u64 = (4..=ndim.max(3)).map(d).fold(1, u64::saturating_mul);
    if extra > 1 {
        return Err(Error::invalid_file(
            path,
            format!("{ndim}D image with {extra} volumes; nnU-Net wants one 3D file per channel"),
        ));
    }
    checked_volume(path, &[d(1), d(2), d(3)], 1)?;
    Ok(([d(3) as usize, d(2) as usize, d(1) as usize], ndim == 2))
}

fn scalar_of(path: &Path, datatype: i16) -> Result<Scalar> {
    Ok(match datatype {
        2 => Scalar::U8,
        4 => Scalar::I16,
        8 => Scalar::I32,
        16 => Scalar::F32,
        64 => Scalar::F64,
        256 => Scalar::I8,
        512 => Scalar::U16,
        768 => Scalar::U32,
        1024 => Scalar::I64,
        1280 => Scalar::U64,
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported NIfTI-2 datatype {other}"),
            ));
        }
    })
}

/// The geometry of a NIfTI-2 file (already gunzipped), for callers that need only the header.
pub fn header_geometry(path: &Path, bytes: &[u8]) -> Result<(Geometry, [usize; 3], bool)> {
    let header = parse(path, bytes)?;
    let (shape, is_2d) = shape_of(path, &header)?;
    Ok((geometry_of(&header.affine(), is_2d), shape, is_2d))
}

/// Decodes a NIfTI-2 file (already gunzipped) into one channel.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded> {
    let header = parse(path, bytes)?;
    let (shape, is_2d) = shape_of(path, &header)?;
    let scalar = scalar_of(path, header.i16(12))?;
    let dims = [shape[2] as u64, shape[1] as u64, shape[0] as u64];
    let (_, size) = checked_volume(path, &dims, scalar.size())?;
    let offset = header.i64(168);
    let offset = usize::try_from(offset)
        .ok()
        .filter(|&o| o >= NIFTI2_HEADER_LEN)
        .ok_or_else(|| Error::invalid_file(path, format!("invalid vox_offset {offset}")))?;
    let mut voxels = scalar.decode(slice_exact(path, bytes, offset, size)?, header.big);
    let (slope, inter) = (header.f64(176), header.f64(184));
    if slope != 0.0 && slope.is_finite() && inter.is_finite() && (slope != 1.0 || inter != 0.0) {
        for v in &mut voxels {
            *v = *v * slope + inter;
        }
    }
    let mut geometry = geometry_of(&header.affine(), is_2d);
    geometry.source_header = Some(Arc::new(header.raw.to_vec()));
    Ok(Decoded {
        shape,
        channels: vec![voxels],
        geometry,
        is_2d,
    })
}

/// Whether `geometry` came from a NIfTI-2 file (its writer then writes NIfTI-2 again).
pub fn has_nifti2_header(geometry: &Geometry) -> bool {
    geometry
        .source_header
        .as_ref()
        .is_some_and(|h| h.len() == NIFTI2_HEADER_LEN && is_nifti2(h))
}

fn put<const N: usize>(out: &mut [u8], at: usize, value: [u8; N]) {
    out[at..at + N].copy_from_slice(&value);
}

/// The little-endian header for `geometry`: the source header when it still describes it.
fn header_for(geometry: &Geometry, is_2d: bool) -> Vec<u8> {
    if let Some(raw) = &geometry.source_header
        && raw.len() == NIFTI2_HEADER_LEN
        && i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) == 540
        && let Ok(header) = parse(Path::new(""), raw)
        && shape_of(Path::new(""), &header).is_ok_and(|(_, h2d)| h2d == is_2d)
        && geometry_of(&header.affine(), is_2d) == *geometry
    {
        return raw.to_vec();
    }
    let mut out = vec![0u8; NIFTI2_HEADER_LEN];
    put(&mut out, 0, 540i32.to_le_bytes());
    out[4..12].copy_from_slice(MAGIC);
    let (srow, spacing) = sform_of(geometry, is_2d);
    let pixdim = [1.0, spacing[0], spacing[1], spacing[2], 1.0, 1.0, 1.0, 1.0];
    for (i, v) in pixdim.iter().enumerate() {
        put(&mut out, 104 + 8 * i, v.to_le_bytes());
    }
    put(&mut out, 348, 1i32.to_le_bytes()); // sform_code: scanner anatomical
    for (r, row) in srow.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(&mut out, 400 + 32 * r + 8 * c, v.to_le_bytes());
        }
    }
    put(&mut out, 500, 10i32.to_le_bytes()); // mm, s
    out
}

/// Writes one channel as NIfTI-2 (gzipped for `.nii.gz`), atomically.
pub fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    let mut header = header_for(geometry, is_2d);
    let (datatype, bitpix): (i16, i16) = match data {
        Voxels::U8(_) => (2, 8),
        Voxels::I16(_) => (4, 16),
        Voxels::F32(_) => (16, 32),
    };
    put(&mut header, 12, datatype.to_le_bytes());
    put(&mut header, 14, bitpix.to_le_bytes());
    let dims: Vec<i64> = if is_2d {
        vec![2, shape[2] as i64, shape[1] as i64]
    } else {
        vec![3, shape[2] as i64, shape[1] as i64, shape[0] as i64]
    };
    for i in 0..8 {
        put(
            &mut header,
            16 + 8 * i,
            dims.get(i).copied().unwrap_or(1).to_le_bytes(),
        );
    }
    put(&mut header, 168, (VOX_OFFSET as i64).to_le_bytes());
    put(&mut header, 176, 1f64.to_le_bytes()); // scl_slope
    put(&mut header, 184, 0f64.to_le_bytes()); // scl_inter
    if !matches!(data, Voxels::F32(_)) {
        // a label map written with an image's header must not inherit its display window
        put(&mut header, 192, 0f64.to_le_bytes());
        put(&mut header, 200, 0f64.to_le_bytes());
    }
    let mut bytes = header;
    bytes.extend([0u8; 4]);
    bytes.extend(data.to_bytes(false));
    if super::file_ending(path) == Some(".nii.gz") {
        bytes = deflate(&bytes, Compression::Gzip);
    }
    nnunet_core::atomic::write_bytes(path, &bytes)
}
