//! Pieces shared by the text-header volume formats (NRRD's `field: value`, MetaImage's
//! `Key = Value`): numeric fields, the byte where the binary data starts, detached data files.

use nnunet_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Longest text header we accept: real ones are a few hundred bytes.
pub const MAX_HEADER_BYTES: usize = 1 << 16;

/// Parses `value` of `field` as whitespace- (or comma-) separated numbers; `count` checks how
/// many. NRRD's `nan` (unknown) parses as NaN.
pub fn numbers(path: &Path, field: &str, value: &str, count: Option<usize>) -> Result<Vec<f64>> {
    let parsed: std::result::Result<Vec<f64>, _> = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::parse::<f64>)
        .collect();
    let parsed = parsed.map_err(|_| {
        Error::invalid_file(path, format!("{field}: not a list of numbers: {value:?}"))
    })?;
    if let Some(n) = count
        && parsed.len() != n
    {
        return Err(Error::invalid_file(
            path,
            format!("{field}: {} values, expected {n}: {value:?}", parsed.len()),
        ));
    }
    Ok(parsed)
}

/// Parses `value` as sizes (positive whole numbers), `count` of them.
pub fn sizes(path: &Path, field: &str, value: &str, count: usize) -> Result<Vec<u64>> {
    let parsed: Option<Vec<u64>> = value.split_whitespace().map(|t| t.parse().ok()).collect();
    match parsed {
        Some(v) if v.len() == count => Ok(v),
        _ => Err(Error::invalid_file(
            path,
            format!("{field}: expected {count} whole numbers, got {value:?}"),
        )),
    }
}

/// A detached data file named in a header: relative names are relative to the header's folder.
pub fn data_file_path(header: &Path, name: &str) -> PathBuf {
    let name = Path::new(name);
    if name.is_absolute() {
        name.to_path_buf()
    } else {
        header.parent().unwrap_or(Path::new(".")).join(name)
    }
}

/// Reads a detached data file, naming the header that points to it when it is missing.
pub fn read_data_file(header: &Path, data: &Path) -> Result<Vec<u8>> {
    std::fs::read(data).map_err(|e| {
        Error::invalid_file(
            header,
            format!("cannot read its data file {}: {e}", data.display()),
        )
    })
}

/// Numbers written into a header: the shortest text that parses back to the same `f64`.
pub fn format_numbers(values: &[f64], separator: &str) -> String {
    values
        .iter()
        .map(|v| format!("{}", v + 0.0))
        .collect::<Vec<_>>()
        .join(separator)
}

/// The data file name of a detached header: `case.nhdr` → `case.raw.gz` (for `ending`
/// `.nhdr` and `data_ending` `.raw.gz`).
pub fn detached_data_name(header: &Path, ending: &str, data_ending: &str) -> String {
    let name = header
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "{}{data_ending}",
        &name[..name.len().saturating_sub(ending.len())]
    )
}

/// Writes a text header and its data atomically: into one file, or (with `data_name`) the data
/// into that file beside the header first, then the header.
pub fn write_header_and_data(
    path: &Path,
    header: String,
    data: &[u8],
    data_name: Option<&str>,
) -> Result<()> {
    match data_name {
        Some(name) => {
            nnunet_core::atomic::write_bytes(&path.with_file_name(name), data)?;
            nnunet_core::atomic::write_bytes(path, header.as_bytes())
        }
        None => {
            let mut bytes = header.into_bytes();
            bytes.extend(data);
            nnunet_core::atomic::write_bytes(path, &bytes)
        }
    }
}
