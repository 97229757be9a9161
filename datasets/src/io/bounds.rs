//! Size checks of the hand-written volume readers (NRRD, MetaImage, GIPL, NIfTI-2, 3D TIFF), on
//! top of the voxel bound of [`super::limits`]: a header's sizes are checked before anything is
//! allocated, and uncompressed data is sliced only where the file really holds it.

use super::limits::check_declared_size;
use nnunet_core::{Error, Result};
use std::path::Path;

/// The voxel count of `dims` and its size in bytes at `bytes_per_voxel`, refusing a zero size
/// and a count above the voxel bound (or overflowing).
pub fn checked_volume(path: &Path, dims: &[u64], bytes_per_voxel: usize) -> Result<(usize, usize)> {
    if let Some(axis) = dims.iter().position(|&d| d == 0) {
        return Err(Error::invalid_file(
            path,
            format!("size of axis {axis} is 0 (sizes {dims:?})"),
        ));
    }
    let count = check_declared_size(path, dims, 1)?;
    let bytes = count
        .checked_mul(bytes_per_voxel)
        .ok_or_else(|| Error::invalid_file(path, "voxel data size overflows"))?;
    Ok((count, bytes))
}

/// The `needed` bytes of `bytes` from `offset`, or an error naming the file as truncated.
pub fn slice_exact<'a>(
    path: &Path,
    bytes: &'a [u8],
    offset: usize,
    needed: usize,
) -> Result<&'a [u8]> {
    match offset.checked_add(needed) {
        Some(end) if end <= bytes.len() => Ok(&bytes[offset..end]),
        _ => Err(Error::invalid_file(
            path,
            format!(
                "truncated: voxel data needs {needed} bytes after offset {offset}, the file has {}",
                bytes.len().saturating_sub(offset)
            ),
        )),
    }
}

/// Refuses a file shorter than its fixed-size header of `len` bytes.
pub fn require_header(path: &Path, bytes: &[u8], len: usize, format: &str) -> Result<()> {
    if bytes.len() < len {
        return Err(Error::invalid_file(
            path,
            format!(
                "truncated: {} bytes, shorter than a {format} header ({len})",
                bytes.len()
            ),
        ));
    }
    Ok(())
}
