//! Files whose headers lie: each is refused with a message naming the file and the field, before
//! anything the header promises is allocated, and decompression stops at the size the header
//! promises (a gzip bomb costs what its header declares, not what it inflates to).

use flate2::Compression;
use flate2::write::GzEncoder;
use nnunet_datasets::io::limits::MAX_VOXELS_VAR;
use nnunet_datasets::{read_image, read_label};
use std::io::Write;
use std::path::Path;

/// A little-endian NIfTI-1 header for a float32 volume of `dim` (`dim[0]` = its length), voxels
/// at offset 352.
fn header(dim: &[i16]) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in dim.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&16i16.to_le_bytes()); // float32
    h[72..74].copy_from_slice(&32i16.to_le_bytes());
    for i in 0..8 {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = GzEncoder::new(Vec::new(), Compression::fast());
    out.write_all(bytes).unwrap();
    out.finish().unwrap()
}

fn error(path: &Path) -> String {
    let err = read_image(&[path]).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    err
}

#[test]
fn negative_and_impossible_dims_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.nii");
    std::fs::write(&path, header(&[3, 4, -5, 6])).unwrap();
    let err = error(&path);
    assert!(err.contains("invalid dim[2] = -5"), "{err}");

    std::fs::write(&path, header(&[9, 4, 5, 6])).unwrap();
    let err = error(&path);
    assert!(err.contains("invalid dim[0] = 9"), "{err}");

    let mut bytes = header(&[3, 4, 5, 6]);
    bytes[0..4].copy_from_slice(&1234i32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = error(&path);
    assert!(err.contains("sizeof_hdr is 1234"), "{err}");
}

#[test]
fn nan_spacing_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.nii.gz");
    let mut bytes = header(&[3, 2, 2, 2]);
    bytes[80..84].copy_from_slice(&f32::NAN.to_le_bytes()); // pixdim[1]
    bytes.extend(vec![0u8; 8 * 4]);
    std::fs::write(&path, gzip(&bytes)).unwrap();
    let err = error(&path);
    assert!(err.contains("pixdim[1] = NaN"), "{err}");
}

#[test]
fn a_gzip_bomb_is_read_only_as_far_as_its_header_promises() {
    let dir = tempfile::tempdir().unwrap();
    // 4 × 4 × 4 float32 voxels promised, then a stream that inflates to 64 MiB of zeros and
    // turns to garbage after its first 8 KiB: a reader that inflated past the promised 608
    // bytes would fail on the garbage (or spend the memory).
    let path = dir.path().join("bomb.nii.gz");
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&header(&[3, 4, 4, 4])).unwrap();
    encoder.write_all(&vec![0u8; 64 << 20]).unwrap();
    let mut bomb = encoder.finish().unwrap();
    assert!(bomb.len() > 16 << 10);
    bomb.truncate(8 << 10);
    bomb.extend(std::iter::repeat_n(0xA5u8, 8 << 10));
    std::fs::write(&path, bomb).unwrap();
    let image = read_image(&[&path]).unwrap();
    assert_eq!(image.shape, [4, 4, 4]);
    assert!(image.channels[0].iter().all(|&v| v == 0.0));

    // A header promising more than the bound is refused before inflating anything.
    let huge = dir.path().join("huge.nii.gz");
    std::fs::write(&huge, gzip(&header(&[3, 2048, 2048, 2048]))).unwrap();
    let err = read_label(&huge).unwrap_err().to_string();
    assert!(
        err.contains("2048 × 2048 × 2048") && err.contains(MAX_VOXELS_VAR),
        "{err}"
    );
}
