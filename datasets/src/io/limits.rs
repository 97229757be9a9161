//! Input limits: the largest image a reader accepts, checked against the size a file's header
//! declares *before* anything is allocated or decompressed, so that a forged header (a PNG
//! claiming 60000² pixels, a NIfTI gzip bomb) is refused with a message instead of exhausting
//! memory.
//!
//! The bound counts voxels per file (all channels of the file together). It defaults to
//! [`DEFAULT_MAX_VOXELS`] (2³⁰ ≈ 1.07 billion: a 1024 × 1024 × 1024 CT, ten times a whole-body
//! scan) and is set with the environment variable [`MAX_VOXELS_VAR`] (`NNUNET_MAX_VOXELS`).

use nnunet_core::{Error, Result};
use std::path::Path;

/// Environment variable that sets the voxel bound (a positive whole number).
pub const MAX_VOXELS_VAR: &str = "NNUNET_MAX_VOXELS";

/// The default bound: 2³⁰ voxels per file.
pub const DEFAULT_MAX_VOXELS: u64 = 1 << 30;

/// The voxel bound in force: [`MAX_VOXELS_VAR`] when set, else [`DEFAULT_MAX_VOXELS`].
pub fn max_voxels() -> Result<u64> {
    match std::env::var(MAX_VOXELS_VAR) {
        Err(_) => Ok(DEFAULT_MAX_VOXELS),
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{MAX_VOXELS_VAR}={text:?} is not a positive whole number of voxels"
                ))
            }),
    }
}

/// Checks the size a header declares (`dims` in any order, `samples` values per voxel) against
/// the bound, returning the voxel count. The error names the file, the declared size and how to
/// raise the bound.
pub fn check_declared_size(path: &Path, dims: &[u64], samples: u64) -> Result<usize> {
    let limit = max_voxels()?;
    let total = dims
        .iter()
        .chain([&samples])
        .try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let shown = dims
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" × ");
    match total {
        Some(n) if n <= limit => usize::try_from(n).map_err(|_| {
            Error::invalid_file(path, format!("{shown} is too large for this machine"))
        }),
        _ => Err(Error::invalid_file(
            path,
            format!(
                "the header declares {shown}{} values, more than the limit of {limit} per file; \
                 refusing to allocate (a corrupt or forged header?). Set {MAX_VOXELS_VAR} to \
                 raise the limit",
                if samples > 1 {
                    format!(" × {samples} samples")
                } else {
                    String::new()
                }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_over_the_bound_or_overflowing_are_refused() {
        let path = Path::new("big.png");
        assert_eq!(check_declared_size(path, &[2, 3], 3).unwrap(), 18);
        let err = check_declared_size(path, &[60000, 60000], 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("big.png")
                && err.contains("60000 × 60000")
                && err.contains(MAX_VOXELS_VAR),
            "{err}"
        );
        assert!(check_declared_size(path, &[u64::MAX, 3], 1).is_err());
    }
}
