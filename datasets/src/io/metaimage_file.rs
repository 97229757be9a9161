//! MetaImage (`.mha` with its data inline, `.mhd` + a detached data file), hand-written: no
//! maintained crate reads it, and the format is a `Key = Value` text header followed by raw or
//! zlib-compressed samples.
//!
//! * Read: `ElementType` `MET_CHAR` … `MET_DOUBLE` (one channel), `BinaryDataByteOrderMSB` /
//!   `ElementByteOrderMSB`, `CompressedData` (zlib), `HeaderSize` (`-1`: the data ends the
//!   file), `ElementDataFile` `LOCAL` or one file name. `LIST` and slice patterns are refused.
//! * Geometry as SimpleITK (ITK's `MetaImageIO`) reports it: `ElementSpacing`, `Offset` (or
//!   `Position`/`Origin`) as the origin, and `TransformMatrix` (or `Rotation`/`Orientation`)
//!   holding the direction *column by column* (its first three values are the world direction
//!   of the first image axis). MetaImage coordinates are LPS already.
//! * Write: zlib-compressed; `.mha` inline, `.mhd` with `<stem>.zraw` beside it (written
//!   first, both atomically); float32 images, uint8/int16 labels. Numbers are written in their
//!   shortest exact form, so a round trip is exact.

use super::Decoded;
use super::bounds::{checked_volume, slice_exact};
use super::compress::{Compression, deflate, inflate_exact};
use super::scalar::{Scalar, Voxels};
use super::text_header::{self, MAX_HEADER_BYTES, data_file_path, format_numbers, numbers};
use nnunet_core::{Error, Geometry, Result};
use std::collections::HashMap;
use std::path::Path;

/// Header fields (keys lower-cased) and where the inline data starts.
struct Header {
    fields: HashMap<String, String>,
    data_start: usize,
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    let mut fields = HashMap::new();
    let mut pos = 0;
    loop {
        if pos >= bytes.len() || pos > MAX_HEADER_BYTES {
            return Err(Error::invalid_file(
                path,
                "not a MetaImage file, or truncated: no ElementDataFile line ends the header",
            ));
        }
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        let line = String::from_utf8_lossy(&bytes[pos..end]);
        pos = (end + 1).min(bytes.len());
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(Error::invalid_file(
                path,
                format!("not a MetaImage header line: {line:?}"),
            ));
        };
        let key = key.trim().to_ascii_lowercase();
        fields.insert(key.clone(), value.trim().to_string());
        if key == "elementdatafile" {
            return Ok(Header {
                fields,
                data_start: pos,
            });
        }
    }
}

impl Header {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
    fn first<'a>(&'a self, keys: &[&'a str]) -> Option<(&'a str, &'a str)> {
        keys.iter().find_map(|&k| self.get(k).map(|v| (k, v)))
    }
    fn flag(&self, keys: &[&str]) -> bool {
        self.first(keys)
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"))
    }
}

fn scalar_of(path: &Path, name: &str) -> Result<Scalar> {
    Ok(match name {
        "MET_UCHAR" => Scalar::U8,
        "MET_CHAR" => Scalar::I8,
        "MET_USHORT" => Scalar::U16,
        "MET_SHORT" => Scalar::I16,
        "MET_UINT" | "MET_ULONG" => Scalar::U32,
        "MET_INT" | "MET_LONG" => Scalar::I32,
        "MET_ULONG_LONG" => Scalar::U64,
        "MET_LONG_LONG" => Scalar::I64,
        "MET_FLOAT" => Scalar::F32,
        "MET_DOUBLE" => Scalar::F64,
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported MetaImage ElementType {other:?}"),
            ));
        }
    })
}

/// The (still encoded) data bytes: inline after the header, or the detached file.
fn raw_data(path: &Path, header: &Header, bytes: &[u8]) -> Result<(Vec<u8>, std::path::PathBuf)> {
    let name = header.get("elementdatafile").unwrap_or("LOCAL");
    if name.eq_ignore_ascii_case("LOCAL") {
        return Ok((bytes[header.data_start..].to_vec(), path.to_path_buf()));
    }
    if name.starts_with("LIST") || name.contains('%') || name.split_whitespace().count() > 1 {
        return Err(Error::invalid_file(
            path,
            format!("ElementDataFile {name:?}: multi-file MetaImage data is not supported"),
        ));
    }
    let data_path = data_file_path(path, name);
    Ok((text_header::read_data_file(path, &data_path)?, data_path))
}

/// Reads a MetaImage file into one channel.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let header = parse_header(path, &bytes)?;
    let ndims: usize = header
        .get("ndims")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::invalid_file(path, "MetaImage header has no valid NDims"))?;
    if !(2..=3).contains(&ndims) {
        return Err(Error::invalid_file(
            path,
            format!("NDims = {ndims}: only 2D and 3D MetaImages are supported"),
        ));
    }
    if let Some(channels) = header.get("elementnumberofchannels")
        && channels != "1"
    {
        return Err(Error::invalid_file(
            path,
            format!("{channels} channels per voxel: nnU-Net wants one file per channel"),
        ));
    }
    let sizes = text_header::sizes(
        path,
        "DimSize",
        header
            .get("dimsize")
            .ok_or_else(|| Error::invalid_file(path, "no DimSize"))?,
        ndims,
    )?;
    let scalar = scalar_of(
        path,
        header
            .get("elementtype")
            .ok_or_else(|| Error::invalid_file(path, "no ElementType"))?,
    )?;
    let (_, size) = checked_volume(path, &sizes, scalar.size())?;
    let big = header.flag(&["binarydatabyteordermsb", "elementbyteordermsb"]);
    let (data, source) = raw_data(path, &header, &bytes)?;
    let raw = if header.flag(&["compresseddata"]) {
        inflate_exact(&source, &data, Compression::Zlib, size)?
    } else {
        let skip: i64 = header
            .get("headersize")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let offset = if skip == -1 {
            data.len().saturating_sub(size)
        } else {
            usize::try_from(skip)
                .map_err(|_| Error::invalid_file(path, format!("invalid HeaderSize {skip}")))?
        };
        slice_exact(&source, &data, offset, size)?.to_vec()
    };
    let voxels = scalar.decode(&raw, big);
    let geometry = geometry_of(path, &header, ndims)?;
    let is_2d = ndims == 2;
    Ok(Decoded {
        shape: [
            if is_2d { 1 } else { sizes[2] as usize },
            sizes[1] as usize,
            sizes[0] as usize,
        ],
        channels: vec![voxels],
        geometry,
        is_2d,
    })
}

fn geometry_of(path: &Path, header: &Header, ndims: usize) -> Result<Geometry> {
    let mut geometry = Geometry::default();
    let mut spacing = [1.0; 3];
    if let Some((key, value)) = header.first(&["elementspacing", "elementsize"]) {
        for (axis, s) in numbers(path, key, value, Some(ndims))?
            .into_iter()
            .enumerate()
        {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::invalid_file(
                    path,
                    format!("{key}: invalid spacing {s}"),
                ));
            }
            spacing[axis] = s;
        }
    }
    if let Some((key, value)) = header.first(&["offset", "position", "origin"]) {
        for (row, x) in numbers(path, key, value, Some(ndims))?
            .into_iter()
            .enumerate()
        {
            geometry.origin[row] = x + 0.0;
        }
    }
    if let Some((key, value)) = header.first(&["transformmatrix", "rotation", "orientation"]) {
        let m = numbers(path, key, value, Some(ndims * ndims))?;
        for axis in 0..ndims {
            for row in 0..ndims {
                geometry.direction[row * 3 + axis] = m[axis * ndims + row] + 0.0;
            }
        }
    }
    geometry.spacing = if ndims == 2 {
        [999.0 * spacing[0].max(spacing[1]), spacing[1], spacing[0]]
    } else {
        [spacing[2], spacing[1], spacing[0]]
    };
    Ok(geometry)
}

/// Writes one channel as MetaImage, zlib-compressed; `.mhd` puts the data in `<stem>.zraw`.
pub(super) fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    let n = if is_2d { 2 } else { 3 };
    let element = match data.scalar() {
        Scalar::U8 => "MET_UCHAR",
        Scalar::I16 => "MET_SHORT",
        _ => "MET_FLOAT",
    };
    let spacing = [
        geometry.spacing[2],
        geometry.spacing[1],
        geometry.spacing[0],
    ];
    let matrix: Vec<f64> = (0..n)
        .flat_map(|axis| (0..n).map(move |row| geometry.direction[row * 3 + axis]))
        .collect();
    let sizes = [shape[2], shape[1], shape[0]][..n]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let payload = deflate(&data.to_bytes(false), Compression::Zlib);
    let data_name = (super::file_ending(path) == Some(".mhd"))
        .then(|| text_header::detached_data_name(path, ".mhd", ".zraw"));
    let header = format!(
        "ObjectType = Image\nNDims = {n}\nBinaryData = True\nBinaryDataByteOrderMSB = False\n\
         CompressedData = True\nCompressedDataSize = {}\nTransformMatrix = {}\nOffset = {}\n\
         ElementSpacing = {}\nDimSize = {sizes}\nElementType = {element}\nElementDataFile = {}\n",
        payload.len(),
        format_numbers(&matrix, " "),
        format_numbers(&geometry.origin[..n], " "),
        format_numbers(&spacing[..n], " "),
        data_name.as_deref().unwrap_or("LOCAL"),
    );
    text_header::write_header_and_data(path, header, &payload, data_name.as_deref())
}
