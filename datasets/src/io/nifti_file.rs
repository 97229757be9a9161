//! NIfTI-1 single files (`.nii`, `.nii.gz`; NIfTI-2 files with these endings are handed to
//! [`super::nifti2_file`]): header parsing and writing through the `nifti`
//! crate; voxel decoding here (the crate's typed readers neither apply `scl_slope` to every type
//! nor report a truncated volume with the byte counts).
//!
//! Geometry follows SimpleITK (what nnU-Net's `SimpleITKIO` reports): spacing from `pixdim`,
//! direction and origin from the qform when `qform_code > 0`, else the sform, else `pixdim`
//! alone; world coordinates in LPS (NIfTI's RAS with x and y negated). The raw 348-byte header
//! travels in [`Geometry::source_header`] and is reused on writing as long as the geometry still
//! matches it, so that a round trip keeps every header field (descrip, units, qform and sform).

use super::nifti_geometry::{self, NiftiAffine};
pub(super) use super::scalar::Voxels;
use super::{Decoded, nifti2_file};
use flate2::read::MultiGzDecoder;
use ndarray::{ArrayView, IxDyn};
use nifti::writer::WriterOptions;
use nifti::{NiftiHeader, NiftiType};
use nnunet_core::{Error, Geometry, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// Length of a NIfTI-1 header in bytes.
pub const NIFTI_HEADER_LEN: usize = 348;

/// The file as a byte stream, gunzipped when it starts with the gzip magic bytes.
struct Stream {
    reader: Box<dyn Read>,
    gzipped: bool,
}

impl Stream {
    fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut buffered = BufReader::new(file);
        let gzipped = buffered
            .fill_buf()
            .map_err(|e| Error::io(path, e))?
            .starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read> = if gzipped {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(Stream { reader, gzipped })
    }

    /// Appends up to `n` more bytes to `out` (fewer at the end of the data): decompression
    /// stops there, whatever the stream would still produce.
    fn read_up_to(&mut self, path: &Path, out: &mut Vec<u8>, n: usize) -> Result<()> {
        let result = (&mut self.reader).take(n as u64).read_to_end(out);
        result.map(drop).map_err(|e| {
            if self.gzipped {
                Error::invalid_file(path, format!("corrupt or truncated gzip stream: {e}"))
            } else {
                Error::io(path, e)
            }
        })
    }
}

/// A file opened: a NIfTI-1 header with the bytes read so far, or a whole NIfTI-2 file.
enum Opened {
    Nifti1(Box<NiftiHeader>, Vec<u8>),
    Nifti2(Vec<u8>),
}

/// Reads the raw header and parses it. A NIfTI-2 file ([`nifti2_file`]) is read whole, but no
/// further than the voxel bound allows at 8 bytes a voxel (plus 1 MiB of header and
/// extensions), so a gzip bomb stops there too.
fn open(path: &Path, stream: &mut Stream) -> Result<Opened> {
    let mut bytes = Vec::with_capacity(NIFTI_HEADER_LEN);
    stream.read_up_to(path, &mut bytes, NIFTI_HEADER_LEN)?;
    if nifti2_file::is_nifti2(&bytes) {
        let cap = super::limits::max_voxels()?
            .saturating_mul(8)
            .saturating_add(1 << 20);
        stream.read_up_to(path, &mut bytes, usize::try_from(cap).unwrap_or(usize::MAX))?;
        return Ok(Opened::Nifti2(bytes));
    }
    let header = parse_header(path, &bytes)?;
    Ok(Opened::Nifti1(Box::new(header), bytes))
}

/// Checks the fields the `nifti` crate would misreport: `sizeof_hdr` decides the byte order
/// (as in nibabel), then `dim` must hold 1–7 dimensions of positive sizes.
fn check_raw_header(path: &Path, bytes: &[u8]) -> Result<()> {
    let word = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let big = if i32::from_le_bytes(word) == NIFTI_HEADER_LEN as i32 {
        false
    } else if i32::from_be_bytes(word) == NIFTI_HEADER_LEN as i32 {
        true
    } else {
        return Err(Error::invalid_file(
            path,
            format!(
                "not a NIfTI-1 file: sizeof_hdr is {}, not {NIFTI_HEADER_LEN}",
                i32::from_le_bytes(word)
            ),
        ));
    };
    let dim: Vec<i16> = bytes[40..56]
        .chunks_exact(2)
        .map(|c| {
            let pair = [c[0], c[1]];
            if big {
                i16::from_be_bytes(pair)
            } else {
                i16::from_le_bytes(pair)
            }
        })
        .collect();
    if !(1..=7).contains(&dim[0]) {
        return Err(Error::invalid_file(
            path,
            format!(
                "invalid dim[0] = {}: the number of dimensions must be 1 to 7",
                dim[0]
            ),
        ));
    }
    if let Some(i) = (1..=dim[0] as usize).find(|&i| dim[i] < 1) {
        return Err(Error::invalid_file(
            path,
            format!("invalid dim[{i}] = {}: sizes must be positive", dim[i]),
        ));
    }
    Ok(())
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
    check_raw_header(path, bytes)?;
    let header = NiftiHeader::from_reader(&bytes[..NIFTI_HEADER_LEN])
        .map_err(|e| Error::invalid_file(path, format!("not a NIfTI-1 file: {e}")))?;
    if &header.magic != b"n+1\0" {
        return Err(Error::invalid_file(
            path,
            "not a single-file NIfTI-1 (.hdr/.img pairs are not supported)",
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
    let shape = [d(3), d(2), d(1)];
    let px = header.pixdim;
    let spatial = if ndim == 2 { 2 } else { 3 };
    if let Some(i) = (1..=spatial).find(|&i| !px[i].is_finite()) {
        return Err(Error::invalid_file(
            path,
            format!(
                "pixdim[{i}] = {}: the voxel spacing must be a finite number",
                px[i]
            ),
        ));
    }
    Ok((shape, ndim == 2))
}

/// The geometry fields of a NIfTI-1 header.
fn affine_of(header: &NiftiHeader) -> NiftiAffine {
    let f = |v: f32| v as f64;
    NiftiAffine {
        pixdim: [
            f(header.pixdim[0]),
            f(header.pixdim[1]),
            f(header.pixdim[2]),
            f(header.pixdim[3]),
        ],
        qform_code: header.qform_code as i32,
        sform_code: header.sform_code as i32,
        quatern: [
            f(header.quatern_b),
            f(header.quatern_c),
            f(header.quatern_d),
        ],
        qoffset: [
            f(header.quatern_x),
            f(header.quatern_y),
            f(header.quatern_z),
        ],
        srow: [header.srow_x, header.srow_y, header.srow_z].map(|r| r.map(f)),
    }
}

/// Spacing, origin and direction as SimpleITK reports them.
fn geometry_of(header: &NiftiHeader, is_2d: bool) -> Geometry {
    nifti_geometry::geometry_of(&affine_of(header), is_2d)
}

/// The geometry a NIfTI header describes, and whether it is 2D. For callers that only need
/// the header (verify compares geometries without decoding voxels).
pub fn read_nifti_header_geometry(path: &Path) -> Result<(Geometry, [usize; 3], bool)> {
    let header = match open(path, &mut Stream::open(path)?)? {
        Opened::Nifti1(header, _) => header,
        Opened::Nifti2(bytes) => return nifti2_file::header_geometry(path, &bytes),
    };
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
    let mut stream = Stream::open(path)?;
    let (header, mut bytes) = match open(path, &mut stream)? {
        Opened::Nifti1(header, bytes) => (header, bytes),
        Opened::Nifti2(bytes) => return nifti2_file::decode(path, &bytes),
    };
    let (shape, is_2d) = shape_of(path, &header)?;
    let datatype = header
        .data_type()
        .map_err(|e| Error::invalid_file(path, format!("datatype {}: {e}", header.datatype)))?;
    let dims = shape.map(|d| d as u64);
    let count = super::limits::check_declared_size(path, &dims, 1)?;
    let size = datatype.size_of();
    let offset = header.vox_offset;
    if !(offset.is_finite() && (0.0..=1e9).contains(&offset)) {
        return Err(Error::invalid_file(
            path,
            format!("invalid vox_offset = {offset}"),
        ));
    }
    let offset = (offset as usize).max(NIFTI_HEADER_LEN);
    let needed = offset + count * size;
    stream.read_up_to(path, &mut bytes, needed - NIFTI_HEADER_LEN)?;
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
    let (rows, [sx, sy, sz]) = nifti_geometry::sform_of(geometry, is_2d);
    let srow = rows.map(|r| r.map(|v| v as f32));
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

/// Writes one channel atomically; `shape` is `(z, y, x)`, `data` C-order.
pub(super) fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    if nifti2_file::has_nifti2_header(geometry) {
        return nifti2_file::write(path, data, shape, geometry, is_2d);
    }
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
    nnunet_core::atomic::write_via_path(path, ending, |tmp| {
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
