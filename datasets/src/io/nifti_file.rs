//! NIfTI-1 single files (`.nii`, `.nii.gz`): header parsing and writing through the `nifti`
//! crate; voxel decoding here (the crate's typed readers neither apply `scl_slope` to every type
//! nor report a truncated volume with the byte counts).
//!
//! Geometry follows SimpleITK (what nnU-Net's `SimpleITKIO` reports): spacing from `pixdim`,
//! direction and origin from the qform when `qform_code > 0`, else the sform, else `pixdim`
//! alone; world coordinates in LPS (NIfTI's RAS with x and y negated). The raw 348-byte header
//! travels in [`Geometry::source_header`] and is reused on writing as long as the geometry still
//! matches it, so that a round trip keeps every header field (descrip, units, qform and sform).

use super::{Decoded, write_via_temp};
use flate2::read::MultiGzDecoder;
use ndarray::{ArrayView, IxDyn};
use nifti::writer::WriterOptions;
use nifti::{NiftiHeader, NiftiType};
use nnunet_core::{Error, Geometry, Result};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Length of a NIfTI-1 header in bytes.
pub const NIFTI_HEADER_LEN: usize = 348;

/// Reads the whole file, gunzipping it when it starts with the gzip magic bytes.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::invalid_file(path, format!("corrupt or truncated gzip stream: {e}"))
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<NiftiHeader> {
    if bytes.len() < NIFTI_HEADER_LEN {
        return Err(Error::invalid_file(
            path,
            format!(
                "truncated: {} bytes, shorter than a NIfTI-1 header ({NIFTI_HEADER_LEN})",
                bytes.len()
            ),
        ));
    }
    let header = NiftiHeader::from_reader(&bytes[..NIFTI_HEADER_LEN])
        .map_err(|e| Error::invalid_file(path, format!("not a NIfTI-1 file: {e}")))?;
    if &header.magic != b"n+1\0" {
        return Err(Error::invalid_file(
            path,
            "not a single-file NIfTI-1 (.hdr/.img pairs and NIfTI-2 are not supported)",
        ));
    }
    Ok(header)
}

/// Array shape `(z, y, x)` and 2D-ness from the header's `dim`.
fn shape_of(path: &Path, header: &NiftiHeader) -> Result<([usize; 3], bool)> {
    let ndim = header.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(Error::invalid_file(
            path,
            format!("invalid dim[0] = {}", header.dim[0]),
        ));
    }
    let extra: usize = header.dim[4..=ndim.max(3)]
        .iter()
        .map(|&d| d.max(1) as usize)
        .product();
    if ndim > 3 && extra > 1 {
        return Err(Error::invalid_file(
            path,
            format!(
                "{ndim}D image with {extra} volumes; nnU-Net wants one 3D file per channel \
                 (nnunet convert msd splits 4D files)"
            ),
        ));
    }
    let d = |i: usize| {
        if i <= ndim {
            header.dim[i].max(1) as usize
        } else {
            1
        }
    };
    Ok(([d(3), d(2), d(1)], ndim == 2))
}

/// 3×3 matrix times vector helpers for the affine (row-major).
fn quaternion_rotation(b: f64, c: f64, d: f64) -> [f64; 9] {
    let mut a = 1.0 - (b * b + c * c + d * d);
    let (mut b, mut c, mut d) = (b, c, d);
    if a < 1e-7 {
        // nifti_quatern_to_mat44: a 180° rotation, renormalise (b, c, d)
        let norm = (b * b + c * c + d * d).sqrt();
        b /= norm;
        c /= norm;
        d /= norm;
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    [
        a * a + b * b - c * c - d * d,
        2.0 * (b * c - a * d),
        2.0 * (b * d + a * c),
        2.0 * (b * c + a * d),
        a * a + c * c - b * b - d * d,
        2.0 * (c * d - a * b),
        2.0 * (b * d - a * c),
        2.0 * (c * d + a * b),
        a * a + d * d - c * c - b * b,
    ]
}

/// Spacing, origin and direction as SimpleITK reports them.
fn geometry_of(header: &NiftiHeader, is_2d: bool) -> Geometry {
    let px = header.pixdim;
    let sx = (px[1] as f64).abs();
    let sy = (px[2] as f64).abs();
    let sz = (px[3] as f64).abs();
    let spacing = if is_2d {
        [999.0 * sx.max(sy), sy, sx]
    } else {
        [sz, sy, sx]
    };
    // direction (RAS) and origin (RAS)
    let (mut direction, mut origin) = if header.qform_code > 0 {
        let mut r = quaternion_rotation(
            header.quatern_b as f64,
            header.quatern_c as f64,
            header.quatern_d as f64,
        );
        let qfac = if px[0] < 0.0 { -1.0 } else { 1.0 };
        for row in 0..3 {
            r[row * 3 + 2] *= qfac;
        }
        (
            r,
            [
                header.quatern_x as f64,
                header.quatern_y as f64,
                header.quatern_z as f64,
            ],
        )
    } else if header.sform_code > 0 {
        let rows = [header.srow_x, header.srow_y, header.srow_z];
        let mut r = [0.0; 9];
        for col in 0..3 {
            let norm = (0..3)
                .map(|row| (rows[row][col] as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            for row in 0..3 {
                r[row * 3 + col] = if norm > 0.0 {
                    rows[row][col] as f64 / norm
                } else {
                    (row == col) as u8 as f64
                };
            }
        }
        (r, [rows[0][3] as f64, rows[1][3] as f64, rows[2][3] as f64])
    } else {
        (
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0],
        )
    };
    // RAS → LPS
    for v in &mut direction[..6] {
        *v = -*v;
    }
    origin[0] = -origin[0];
    origin[1] = -origin[1];
    // -0.0 → 0.0 so that geometries compare and print cleanly
    for v in direction.iter_mut().chain(origin.iter_mut()) {
        *v += 0.0;
    }
    Geometry {
        spacing,
        origin,
        direction,
        source_header: None,
    }
}

/// The geometry a NIfTI header describes, and whether it is 2D. For callers that only need
/// the header (verify compares geometries without decoding voxels).
pub fn read_nifti_header_geometry(path: &Path) -> Result<(Geometry, [usize; 3], bool)> {
    let bytes = read_bytes(path)?;
    let header = parse_header(path, &bytes)?;
    let (shape, is_2d) = shape_of(path, &header)?;
    Ok((geometry_of(&header, is_2d), shape, is_2d))
}

macro_rules! decode_as {
    ($bytes:expr, $ty:ty, $big:expr) => {{
        const N: usize = std::mem::size_of::<$ty>();
        $bytes
            .chunks_exact(N)
            .map(|c| {
                let a: [u8; N] = c.try_into().expect("chunk length");
                (if $big {
                    <$ty>::from_be_bytes(a)
                } else {
                    <$ty>::from_le_bytes(a)
                }) as f64
            })
            .collect::<Vec<f64>>()
    }};
}

/// Reads a NIfTI file into one channel of `f64` voxels in `(z, y, x)` C-order.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let bytes = read_bytes(path)?;
    let header = parse_header(path, &bytes)?;
    let (shape, is_2d) = shape_of(path, &header)?;
    let datatype = header
        .data_type()
        .map_err(|e| Error::invalid_file(path, format!("datatype {}: {e}", header.datatype)))?;
    let count: usize = shape.iter().product();
    let size = datatype.size_of();
    let offset = header.vox_offset.max(NIFTI_HEADER_LEN as f32) as usize;
    let needed = count
        .checked_mul(size)
        .and_then(|n| n.checked_add(offset))
        .ok_or_else(|| {
            Error::invalid_file(
                path,
                format!(
                    "vox_offset {} and dim {:?} describe voxel data beyond any file size",
                    header.vox_offset, header.dim
                ),
            )
        })?;
    if bytes.len() < needed {
        return Err(Error::invalid_file(
            path,
            format!(
                "truncated: voxel data needs {} bytes after offset {offset}, the file has {}",
                count * size,
                bytes.len().saturating_sub(offset)
            ),
        ));
    }
    let raw = &bytes[offset..needed];
    let big = header.endianness == nifti::Endianness::Big;
    let mut voxels = match datatype {
        NiftiType::Uint8 => raw.iter().map(|&v| v as f64).collect(),
        NiftiType::Int8 => raw.iter().map(|&v| v as i8 as f64).collect(),
        NiftiType::Int16 => decode_as!(raw, i16, big),
        NiftiType::Uint16 => decode_as!(raw, u16, big),
        NiftiType::Int32 => decode_as!(raw, i32, big),
        NiftiType::Uint32 => decode_as!(raw, u32, big),
        NiftiType::Int64 => decode_as!(raw, i64, big),
        NiftiType::Uint64 => decode_as!(raw, u64, big),
        NiftiType::Float32 => decode_as!(raw, f32, big),
        NiftiType::Float64 => decode_as!(raw, f64, big),
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported NIfTI datatype {other:?}"),
            ));
        }
    };
    let (slope, inter) = (header.scl_slope as f64, header.scl_inter as f64);
    if slope != 0.0 && slope.is_finite() && inter.is_finite() && (slope != 1.0 || inter != 0.0) {
        for v in &mut voxels {
            *v = *v * slope + inter;
        }
    }
    let mut geometry = geometry_of(&header, is_2d);
    geometry.source_header = Some(Arc::new(bytes[..NIFTI_HEADER_LEN].to_vec()));
    Ok(Decoded {
        shape,
        channels: vec![voxels],
        geometry,
        is_2d,
    })
}

/// The header to write for `geometry`: its source header when that still describes the same
/// geometry, else a new one (sform only, code 1 = scanner anatomical, units mm).
fn header_for(geometry: &Geometry, is_2d: bool) -> NiftiHeader {
    if let Some(raw) = &geometry.source_header
        && raw.len() == NIFTI_HEADER_LEN
        && let Ok(header) = NiftiHeader::from_reader(&raw[..])
        && &header.magic == b"n+1\0"
        && (header.dim[0] == 2) == is_2d
        && geometry_of(&header, is_2d) == *geometry
    {
        return header;
    }
    let [_, sy, sx] = geometry.spacing;
    let sz = if is_2d { 1.0 } else { geometry.spacing[0] };
    let spacing = [sx, sy, sz];
    // LPS → RAS: negate world rows x and y.
    let sign = [-1.0, -1.0, 1.0];
    let mut srow = [[0f32; 4]; 3];
    for (row, out) in srow.iter_mut().enumerate() {
        for col in 0..3 {
            out[col] = (sign[row] * geometry.direction[row * 3 + col] * spacing[col]) as f32;
        }
        out[3] = (sign[row] * geometry.origin[row]) as f32;
    }
    let mut pixdim = [1f32; 8];
    pixdim[1] = sx as f32;
    pixdim[2] = sy as f32;
    pixdim[3] = sz as f32;
    NiftiHeader {
        pixdim,
        xyzt_units: 2 | 8, // mm, s
        qform_code: 0,
        sform_code: 1,
        srow_x: srow[0],
        srow_y: srow[1],
        srow_z: srow[2],
        magic: *b"n+1\0",
        ..NiftiHeader::default()
    }
}

/// Voxels ready to write, in one of the datatypes we write.
pub(super) enum Voxels<'a> {
    U8(&'a [u8]),
    I16(&'a [i16]),
    F32(&'a [f32]),
}

/// Writes one channel atomically; `shape` is `(z, y, x)`, `data` C-order.
pub(super) fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    let is_2d = is_2d && shape[0] == 1;
    let dims: Vec<usize> = if is_2d {
        vec![shape[1], shape[2]]
    } else {
        shape.to_vec()
    };
    let mut header = header_for(geometry, is_2d);
    if !matches!(data, Voxels::F32(_)) {
        // A label map written with an image's header must not inherit its display window.
        header.cal_min = 0.0;
        header.cal_max = 0.0;
    }
    let ending = super::file_ending(path).unwrap_or(".nii.gz");
    write_via_temp(path, ending, |tmp| {
        let options = WriterOptions::new(tmp).reference_header(&header);
        let shape_error = |e: ndarray::ShapeError| format!("array does not match its shape: {e}");
        let result = match data {
            Voxels::U8(d) => options.write_nifti(
                &ArrayView::from_shape(IxDyn(&dims), d)
                    .map_err(shape_error)?
                    .reversed_axes(),
            ),
            Voxels::I16(d) => options.write_nifti(
                &ArrayView::from_shape(IxDyn(&dims), d)
                    .map_err(shape_error)?
                    .reversed_axes(),
            ),
            Voxels::F32(d) => options.write_nifti(
                &ArrayView::from_shape(IxDyn(&dims), d)
                    .map_err(shape_error)?
                    .reversed_axes(),
            ),
        };
        result.map_err(|e| format!("cannot write NIfTI: {e}"))
    })
}
