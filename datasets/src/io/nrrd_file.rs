//! NRRD (`.nrrd`, and detached `.nhdr` + data file), hand-written: no maintained crate reads it
//! (the one on crates.io calls itself experimental), and the format is a short text header
//! followed by raw, gzip or ASCII samples.
//!
//! * Read: every scalar `type`, encodings `raw`, `gzip`/`gz` and `ascii`/`text`/`txt`, either
//!   `endian`, `byte skip` (`-1` for raw: the data ends the file), `line skip`, `data file`.
//!   `bzip2` and `hex` are refused as unsupported encodings; `LIST` and pattern data files too.
//! * Geometry as SimpleITK (ITK's `NrrdImageIO`) reports it: spacing is the length of each
//!   `space directions` vector, direction the vector times `1 / length`; `space origin` is the
//!   origin; a RAS (or LAS) `space` is turned into LPS by negating x and y (resp. y). Without
//!   space directions, `spacings` (NaN → 1) and identity. `dimension: 2` reads as a 2D image with
//!   nnU-Net's z spacing `999 × max(spacing)`.
//! * Write: `NRRD0004`, LPS, gzip encoding, little endian; float32 images, uint8/int16 labels.
//!   A geometry read from an NRRD header keeps that header's space lines verbatim while it
//!   still describes the same geometry, so an NRRD → NRRD round trip is exact. Another
//!   geometry is written as `direction × spacing`, which reads back exactly for axis-aligned
//!   directions and to within an ulp for oblique ones (NRRD stores no separate spacing; ITK's
//!   own NRRD round trip is no better).

use super::Decoded;
use super::bounds::{checked_volume, slice_exact};
use super::compress::{Compression, deflate, inflate_exact};
use super::scalar::{Scalar, Voxels};
use super::text_header::{self, MAX_HEADER_BYTES, data_file_path, format_numbers, numbers};
use nnunet_core::{Error, Geometry, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The header's fields (lower-cased names) and where the data starts in the header file.
struct Header {
    fields: HashMap<String, String>,
    data_start: usize,
    text: String,
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    if !bytes.starts_with(b"NRRD000") {
        return Err(Error::invalid_file(
            path,
            "not an NRRD file (no NRRD000x magic)",
        ));
    }
    let window = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
    // The header ends at the first empty line (or at the end of a detached header).
    let mut pos = 0;
    let mut data_start = None;
    let mut lines = Vec::new();
    while pos < window.len() {
        let end = window[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(window.len(), |i| pos + i);
        let line = &window[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = end + 1;
        if line.is_empty() {
            data_start = Some(pos.min(bytes.len()));
            break;
        }
        lines.push(line);
    }
    let data_start = match data_start {
        Some(s) => s,
        None if bytes.len() <= MAX_HEADER_BYTES => bytes.len(),
        None => {
            return Err(Error::invalid_file(
                path,
                format!("NRRD header longer than {MAX_HEADER_BYTES} bytes (no empty line)"),
            ));
        }
    };
    let mut fields = HashMap::new();
    for line in lines.iter().skip(1) {
        let line = String::from_utf8_lossy(line);
        if line.starts_with('#') || line.contains(":=") {
            continue; // comments and key/value pairs
        }
        let Some((key, value)) = line.split_once(": ") else {
            return Err(Error::invalid_file(
                path,
                format!("malformed NRRD header line {line:?}"),
            ));
        };
        fields.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let text = String::from_utf8_lossy(&bytes[..data_start]).into_owned();
    Ok(Header {
        fields,
        data_start,
        text,
    })
}

impl Header {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
    fn require(&self, path: &Path, key: &str) -> Result<&str> {
        self.get(key)
            .ok_or_else(|| Error::invalid_file(path, format!("NRRD header has no {key:?} field")))
    }
}

fn scalar_of(path: &Path, name: &str) -> Result<Scalar> {
    let name = name.to_ascii_lowercase();
    Ok(match name.as_str() {
        "signed char" | "int8" | "int8_t" => Scalar::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => Scalar::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            Scalar::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => Scalar::U16,
        "int" | "signed int" | "int32" | "int32_t" => Scalar::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => Scalar::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => Scalar::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => {
            Scalar::U64
        }
        "float" => Scalar::F32,
        "double" => Scalar::F64,
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported NRRD type {other:?}"),
            ));
        }
    })
}

/// `(a,b,c)` vectors of `space directions` / `space origin`.
fn vectors(path: &Path, field: &str, value: &str, dim: usize) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    for token in value.split_whitespace() {
        if token == "none" {
            return Err(Error::invalid_file(
                path,
                format!("{field}: a non-spatial axis (none) is not supported"),
            ));
        }
        let inner = token
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .ok_or_else(|| {
                Error::invalid_file(path, format!("{field}: malformed vector {token:?}"))
            })?;
        out.push(numbers(path, field, inner, Some(dim))?);
    }
    Ok(out)
}

/// Sign flips that turn the header's space into LPS.
fn lps_signs(path: &Path, header: &Header) -> Result<[f64; 3]> {
    let space = header.get("space").unwrap_or("left-posterior-superior");
    Ok(match space.to_ascii_lowercase().as_str() {
        "left-posterior-superior" | "lps" | "left-posterior" | "lp" => [1.0, 1.0, 1.0],
        "right-anterior-superior" | "ras" | "right-anterior" | "ra" => [-1.0, -1.0, 1.0],
        "left-anterior-superior" | "las" => [1.0, -1.0, 1.0],
        "scanner-xyz" | "3d-right-handed" | "3d-left-handed" => [1.0, 1.0, 1.0],
        other => {
            return Err(Error::invalid_file(
                path,
                format!("unsupported NRRD space {other:?}"),
            ));
        }
    })
}

/// Spacing `(x, y, z)`, origin and direction (3×3 row-major) of `dim` (2 or 3) axes.
fn geometry_of(path: &Path, header: &Header, dim: usize) -> Result<([f64; 3], Geometry)> {
    let mut spacing = [1.0; 3];
    let mut geometry = Geometry::default();
    let signs = lps_signs(path, header)?;
    if let Some(value) = header.get("space directions") {
        let dirs = vectors(path, "space directions", value, dim)?;
        if dirs.len() != dim {
            return Err(Error::invalid_file(
                path,
                format!("space directions: {} vectors for {dim} axes", dirs.len()),
            ));
        }
        for (axis, v) in dirs.iter().enumerate() {
            let (norm, unit) = split_axis(v);
            if !(norm.is_finite() && norm > 0.0) {
                return Err(Error::invalid_file(
                    path,
                    format!("space directions: axis {axis} has length {norm}"),
                ));
            }
            spacing[axis] = norm;
            for (row, x) in unit.iter().enumerate() {
                geometry.direction[row * 3 + axis] = signs[row] * x + 0.0;
            }
        }
    } else if let Some(value) = header.get("spacings") {
        for (axis, s) in numbers(path, "spacings", value, Some(dim))?
            .into_iter()
            .enumerate()
        {
            spacing[axis] = if s.is_finite() { s } else { 1.0 };
        }
    }
    if let Some(value) = header.get("space origin") {
        let origin = vectors(path, "space origin", value, dim)?;
        let origin = origin
            .first()
            .filter(|_| origin.len() == 1)
            .ok_or_else(|| Error::invalid_file(path, "space origin: expected one vector"))?;
        for (row, x) in origin.iter().enumerate() {
            geometry.origin[row] = signs[row] * x + 0.0;
        }
    }
    if let Some(bad) = spacing.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(Error::invalid_file(path, format!("invalid spacing {bad}")));
    }
    Ok((spacing, geometry))
}

/// ITK's reading of one `space directions` vector (`nrrdSpacingCalculate`): its length, and
/// the vector times `1 / length`.
fn split_axis(v: &[f64]) -> (f64, Vec<f64>) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let scale = 1.0 / norm;
    (norm, v.iter().map(|x| x * scale + 0.0).collect())
}

/// The data file's bytes (or the header file's after its header) and the file they come from.
fn data_source(path: &Path, header: &Header, bytes: &[u8]) -> Result<(Vec<u8>, PathBuf)> {
    match header.get("data file").or(header.get("datafile")) {
        Some(name) => {
            if name.starts_with("LIST") || name.contains('%') || name.split_whitespace().count() > 1
            {
                return Err(Error::invalid_file(
                    path,
                    format!("data file {name:?}: multi-file NRRD data is not supported"),
                ));
            }
            let data_path = data_file_path(path, name);
            Ok((text_header::read_data_file(path, &data_path)?, data_path))
        }
        None => Ok((bytes[header.data_start..].to_vec(), path.to_path_buf())),
    }
}

/// The data bytes (decoded from their encoding), `size` bytes of them.
fn data_bytes(path: &Path, header: &Header, bytes: &[u8], size: usize) -> Result<Vec<u8>> {
    let (owned, source) = data_source(path, header, bytes)?;
    let mut data = &owned[..];
    let line_skip: usize = header
        .get("line skip")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for _ in 0..line_skip {
        let next = data
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| i + 1);
        data = &data[next..];
    }
    let byte_skip: i64 = header
        .get("byte skip")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let encoding = header.require(path, "encoding")?.to_ascii_lowercase();
    match encoding.as_str() {
        "raw" => {
            let offset = if byte_skip == -1 {
                data.len().checked_sub(size).ok_or_else(|| {
                    Error::invalid_file(
                        &source,
                        format!("truncated: {} bytes, the data needs {size}", data.len()),
                    )
                })?
            } else {
                usize::try_from(byte_skip).map_err(|_| {
                    Error::invalid_file(path, format!("invalid byte skip {byte_skip}"))
                })?
            };
            Ok(slice_exact(&source, data, offset, size)?.to_vec())
        }
        "gzip" | "gz" => {
            let skip = usize::try_from(byte_skip.max(0)).unwrap_or(0);
            let total = size.checked_add(skip).ok_or_else(|| {
                Error::invalid_file(path, format!("invalid byte skip {byte_skip}"))
            })?;
            let mut inflated = inflate_exact(&source, data, Compression::Gzip, total)?;
            inflated.drain(..skip);
            Ok(inflated)
        }
        other => Err(Error::invalid_file(
            path,
            format!("unsupported NRRD encoding {other:?} (raw, gzip and ascii are read)"),
        )),
    }
}

/// ASCII samples: whitespace-separated numbers, `count` of them.
fn ascii_samples(path: &Path, header: &Header, bytes: &[u8], count: usize) -> Result<Vec<f64>> {
    let (data, _) = data_source(path, header, bytes)?;
    let text = String::from_utf8_lossy(&data);
    let values: Vec<f64> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take(count)
        .map(|t| {
            t.parse::<f64>()
                .map_err(|_| Error::invalid_file(path, format!("ascii data: not a number: {t:?}")))
        })
        .collect::<Result<_>>()?;
    if values.len() < count {
        return Err(Error::invalid_file(
            path,
            format!(
                "truncated: {} ascii samples, the header promises {count}",
                values.len()
            ),
        ));
    }
    Ok(values)
}

/// Reads an NRRD file (`.nrrd` or `.nhdr`) into one channel.
pub(super) fn read(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let header = parse_header(path, &bytes)?;
    let dim: usize = header
        .require(path, "dimension")?
        .parse()
        .map_err(|_| Error::invalid_file(path, "dimension is not a number"))?;
    if !(2..=3).contains(&dim) {
        return Err(Error::invalid_file(
            path,
            format!("dimension {dim}: only 2D and 3D scalar NRRD images are supported"),
        ));
    }
    let sizes = text_header::sizes(path, "sizes", header.require(path, "sizes")?, dim)?;
    let scalar = scalar_of(path, header.require(path, "type")?)?;
    let (count, size) = checked_volume(path, &sizes, scalar.size())?;
    let big = header
        .get("endian")
        .is_some_and(|e| e.eq_ignore_ascii_case("big"));
    let encoding = header.require(path, "encoding")?.to_ascii_lowercase();
    let voxels = if matches!(encoding.as_str(), "ascii" | "text" | "txt") {
        ascii_samples(path, &header, &bytes, count)?
    } else {
        scalar.decode(&data_bytes(path, &header, &bytes, size)?, big)
    };
    let (spacing, mut geometry) = geometry_of(path, &header, dim)?;
    let is_2d = dim == 2;
    let z = if is_2d { 1 } else { sizes[2] as usize };
    geometry.spacing = if is_2d {
        [999.0 * spacing[0].max(spacing[1]), spacing[1], spacing[0]]
    } else {
        [spacing[2], spacing[1], spacing[0]]
    };
    geometry.source_header = Some(Arc::new(header.text.into_bytes()));
    Ok(Decoded {
        shape: [z, sizes[1] as usize, sizes[0] as usize],
        channels: vec![voxels],
        geometry,
        is_2d,
    })
}

/// The `space`, `space directions` and `space origin` lines for `geometry`: the source header's
/// when it still describes it, else LPS from the geometry.
fn space_lines(geometry: &Geometry, dim: usize) -> String {
    if let Some(raw) = &geometry.source_header
        && let Ok(header) = parse_header(Path::new(""), raw)
        && header.get("dimension") == Some(&dim.to_string())
        && header.get("space directions").is_some()
        && let Ok((spacing, mut source)) = geometry_of(Path::new(""), &header, dim)
    {
        source.spacing = if dim == 2 {
            [999.0 * spacing[0].max(spacing[1]), spacing[1], spacing[0]]
        } else {
            [spacing[2], spacing[1], spacing[0]]
        };
        if source == *geometry {
            let mut lines = String::new();
            for key in [
                "space",
                "space dimension",
                "space directions",
                "space origin",
            ] {
                if let Some(value) = header.get(key) {
                    lines += &format!("{key}: {value}\n");
                }
            }
            return lines;
        }
    }
    let spacing = [
        geometry.spacing[2],
        geometry.spacing[1],
        geometry.spacing[0],
    ];
    let vector = |values: Vec<f64>| format!("({})", format_numbers(&values, ","));
    let directions: Vec<String> = (0..dim)
        .map(|axis| {
            let unit: Vec<f64> = (0..dim)
                .map(|row| geometry.direction[row * 3 + axis])
                .collect();
            vector(unit.iter().map(|d| d * spacing[axis]).collect())
        })
        .collect();
    let space = if dim == 2 {
        "left-posterior"
    } else {
        "left-posterior-superior"
    };
    format!(
        "space: {space}\nspace directions: {}\nspace origin: {}\n",
        directions.join(" "),
        vector(geometry.origin[..dim].to_vec())
    )
}

/// Writes one channel as NRRD, gzip-encoded; for `.nhdr` the data goes to `<stem>.raw.gz`
/// beside it (written first, both atomically).
pub(super) fn write(
    path: &Path,
    data: Voxels<'_>,
    shape: [usize; 3],
    geometry: &Geometry,
    is_2d: bool,
) -> Result<()> {
    let dim = if is_2d { 2 } else { 3 };
    let type_name = match data.scalar() {
        Scalar::U8 => "uint8",
        Scalar::I16 => "int16",
        _ => "float",
    };
    let sizes: Vec<String> = [shape[2], shape[1], shape[0]][..dim]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut header = format!(
        "NRRD0004\n# written by nnunet-rs\ntype: {type_name}\ndimension: {dim}\nsizes: {}\n{}kinds: {}\nendian: little\nencoding: gzip\n",
        sizes.join(" "),
        space_lines(geometry, dim),
        vec!["domain"; dim].join(" "),
    );
    let payload = deflate(&data.to_bytes(false), Compression::Gzip);
    let data_name = (super::file_ending(path) == Some(".nhdr"))
        .then(|| text_header::detached_data_name(path, ".nhdr", ".raw.gz"));
    match &data_name {
        Some(name) => header += &format!("data file: {name}\n"),
        None => header.push('\n'),
    }
    text_header::write_header_and_data(path, header, &payload, data_name.as_deref())
}
