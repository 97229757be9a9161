//! gzip and zlib streams of the volume formats: inflating exactly the size a header promises
//! (never more: a compression bomb stops there) and deflating on writing.

use flate2::read::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use nnunet_core::{Error, Result};
use std::io::{Read, Write};
use std::path::Path;

/// Which compressed stream to inflate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zlib,
}

/// Inflates `data` to exactly `expected` bytes: a stream that is shorter is refused as
/// truncated; one that holds more stops there (never inflating past `expected + 1` bytes).
pub fn inflate_exact(
    path: &Path,
    data: &[u8],
    compression: Compression,
    expected: usize,
) -> Result<Vec<u8>> {
    // deflate expands at most ~1032:1, so never reserve more than the input can give
    let mut out = Vec::with_capacity(expected.min(data.len().saturating_mul(1032)));
    let limit = expected as u64 + 1;
    let result = match compression {
        Compression::Gzip => MultiGzDecoder::new(data).take(limit).read_to_end(&mut out),
        Compression::Zlib => ZlibDecoder::new(data).take(limit).read_to_end(&mut out),
    };
    result.map_err(|e| {
        Error::invalid_file(
            path,
            format!("corrupt or truncated {compression:?} data: {e}"),
        )
    })?;
    if out.len() < expected {
        return Err(Error::invalid_file(
            path,
            format!(
                "truncated: the compressed data inflates to {} bytes, the header promises {expected}",
                out.len()
            ),
        ));
    }
    out.truncate(expected);
    Ok(out)
}

/// Deflates `data` as a gzip or zlib stream (default level).
pub fn deflate(data: &[u8], compression: Compression) -> Vec<u8> {
    let level = flate2::Compression::default();
    let written = match compression {
        Compression::Gzip => {
            let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 2), level);
            encoder.write_all(data).and_then(|()| encoder.finish())
        }
        Compression::Zlib => {
            let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2), level);
            encoder.write_all(data).and_then(|()| encoder.finish())
        }
    };
    // Writing into a Vec cannot fail.
    written.unwrap_or_default()
}
