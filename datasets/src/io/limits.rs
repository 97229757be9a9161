//! Input bounds shared by the hand-written volume readers (NRRD, MetaImage, GIPL, NIfTI-2, 3D
//! TIFF): a header's voxel count is checked against a bound *before* anything is allocated, and
//! compressed data is inflated only up to the size the header promises ([`super::compress`]), so a hostile header or
//! a compression bomb is refused with an error naming the file instead of exhausting memory.
//!
//! The bound is `NNUNET_MAX_VOXELS` (voxels per file, all channels), default 2³⁰ (≈ 1.07 G
//! voxels: 4 GiB as float32, far above a whole-body CT).

use nnunet_core::{Error, Result};
use std::path::Path;

/// Default bound on the voxels of one file.
pub const DEFAULT_MAX_VOXELS: u64 = 1 << 30;

/// The voxel bound in force: `NNUNET_MAX_VOXELS`, else [`DEFAULT_MAX_VOXELS`].
pub fn max_voxels() -> u64 {
    std::env::var("NNUNET_MAX_VOXELS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(DEFAULT_MAX_VOXELS)
}

/// The voxel count of `dims` and its size in bytes at `bytes_per_voxel`, refusing a zero or
/// overflowing dimension and a count above [`max_voxels`].
pub fn checked_volume(path: &Path, dims: &[u64], bytes_per_voxel: usize) -> Result<(usize, usize)> {
    if let Some(axis) = dims.iter().position(|&d| d == 0) {
        return Err(Error::invalid_file(
            path,
            format!("size of axis {axis} is 0 (sizes {dims:?})"),
        ));
    }
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= max_voxels())
        .ok_or_else(|| {
            Error::invalid_file(
                path,
                format!(
                    "sizes {dims:?} give more voxels than the limit of {} \
                     (NNUNET_MAX_VOXELS); the header is corrupt or the image is too large",
                    max_voxels()
                ),
            )
        })?;
    let count = usize::try_from(count)
        .map_err(|_| Error::invalid_file(path, "voxel count does not fit in memory"))?;
    let bytes = count
        .checked_mul(bytes_per_voxel)
        .ok_or_else(|| Error::invalid_file(path, "voxel data size overflows"))?;
    Ok((count, bytes))
}

/// Reads a file that must hold at least `needed` bytes from `offset` (uncompressed data).
pub fn slice_exact<'a>(
    path: &Path,
    bytes: &'a [u8],
    offset: usize,
    needed: usize,
) -> Result<&'a [u8]> {
    let end = offset.checked_add(needed);
    match end {
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
