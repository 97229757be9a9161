//! NIfTI-1 inputs: seeds from real `.nii.gz` files (decompressed, plus shrunken copies whose
//! header describes a few voxels, so that executions are fast), and structured mutations of the
//! header fields a reader trusts — `dim`, `datatype`, `bitpix`, `vox_offset`, `pixdim`,
//! `scl_*`, qform/sform, magic, `sizeof_hdr` (byte order) — and of the file's length and
//! compression.

use crate::bytes;
use arbitrary::{Result, Unstructured};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::path::Path;

/// Byte offsets of NIfTI-1 header fields (little-endian seeds).
const DIM: usize = 40;
const DATATYPE: usize = 70;
const BITPIX: usize = 72;
const PIXDIM: usize = 76;
const VOX_OFFSET: usize = 108;
const SCL_SLOPE: usize = 112;
const SCL_INTER: usize = 116;
const QFORM_CODE: usize = 252;
const SFORM_CODE: usize = 254;
const QUATERN: usize = 256;
const SROW: usize = 280;
const MAGIC: usize = 344;
const HEADER_LEN: usize = 348;
/// Where the voxels start in a single file (header plus the 4-byte extension flag).
const DATA_START: usize = 352;

/// Every NIfTI-1 datatype code, and a few that are none.
const DATATYPES: [i16; 21] = [
    0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, -1, 3, 255,
];

/// Floats that break geometry and offset arithmetic.
const FLOATS: [f32; 12] = [
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    0.0,
    -0.0,
    -1.0,
    1.0,
    348.0,
    352.0,
    1e20,
    3.4e38,
    1e-40,
];

/// The bytes of a `.nii` or `.nii.gz` file, decompressed.
pub fn read_uncompressed(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn get_i16(data: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([data[at], data[at + 1]])
}

fn put_i16(data: &mut [u8], at: usize, value: i16) {
    if at + 2 <= data.len() {
        data[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }
}

fn put_f32(data: &mut [u8], at: usize, value: f32) {
    if at + 4 <= data.len() {
        data[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
}

/// A copy of an uncompressed single-file NIfTI whose header describes `dims` voxels (x, y, z)
/// and whose data is cut to match: a valid, small file with the real header's other fields.
pub fn shrink(file: &[u8], dims: [i16; 3]) -> Vec<u8> {
    let mut out = file[..DATA_START.min(file.len())].to_vec();
    let bytes_per_voxel = (get_i16(file, BITPIX).max(8) / 8) as usize;
    for (k, &d) in dims.iter().enumerate() {
        put_i16(&mut out, DIM + 2 * (k + 1), d);
    }
    put_i16(&mut out, DIM, 3);
    put_f32(&mut out, VOX_OFFSET, DATA_START as f32);
    let count: usize = dims.iter().map(|&d| d as usize).product();
    let data = &file[DATA_START..];
    let take = (count * bytes_per_voxel).min(data.len());
    out.extend_from_slice(&data[..take]);
    out
}

/// One structured mutation of the header or the file's length.
fn mutate_header(u: &mut Unstructured, file: &mut Vec<u8>) -> Result<()> {
    if file.len() < HEADER_LEN {
        return bytes::mutate_once(u, file, &[]);
    }
    match u.int_in_range(0..=11)? {
        0 | 1 => {
            let k = u.int_in_range(0..=7)?;
            let value =
                *u.choose(&[0i16, 1, 2, 3, 4, 5, 7, 8, 9, -1, -32768, 32767, 1000, 4096])?;
            put_i16(file, DIM + 2 * k, value);
        }
        2 => put_i16(file, DATATYPE, *u.choose(&DATATYPES)?),
        3 => put_i16(
            file,
            BITPIX,
            *u.choose(&[0i16, 1, 8, 16, 24, 32, 64, 128, -8])?,
        ),
        4 => {
            let len = file.len() as f32;
            let value = *u.choose(&[len, len - 1.0, len + 1.0, 351.0, 353.5])?;
            let value = if u.ratio(1, 2)? {
                value
            } else {
                *u.choose(&FLOATS)?
            };
            put_f32(file, VOX_OFFSET, value);
        }
        5 => {
            let k = u.int_in_range(0..=7)?;
            put_f32(file, PIXDIM + 4 * k, *u.choose(&FLOATS)?);
        }
        6 => {
            let at = *u.choose(&[SCL_SLOPE, SCL_INTER])?;
            put_f32(file, at, *u.choose(&FLOATS)?);
        }
        7 => {
            let at = *u.choose(&[QFORM_CODE, SFORM_CODE])?;
            put_i16(file, at, *u.choose(&[0i16, 1, 2, 3, 4, -1, 99])?);
        }
        8 => {
            let k = u.int_in_range(0..=17)?;
            let at = if k < 6 {
                QUATERN + 4 * k
            } else {
                SROW + 4 * (k - 6)
            };
            put_f32(file, at, *u.choose(&FLOATS)?);
        }
        9 => {
            let magic: [u8; 4] = *u.choose(&[*b"ni1\0", *b"n+2\0", *b"n+1\0", *b"\0\0\0\0"])?;
            file[MAGIC..MAGIC + 4].copy_from_slice(&magic);
        }
        10 => {
            // sizeof_hdr: byte-swapped (the big-endian path), NIfTI-2, or nonsense.
            let value = *u.choose(&[0x5c01_0000i32, 540, 0, -348, 348])?;
            file[..4].copy_from_slice(&value.to_le_bytes());
        }
        _ => {
            let keep = u.int_in_range(0..=file.len())?;
            file.truncate(keep);
        }
    }
    Ok(())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// A mutated NIfTI file from one of `seeds` (uncompressed files): header mutations, sometimes
/// byte-level ones, and sometimes gzip (whole, truncated, or two members).
pub fn mutate(u: &mut Unstructured, seeds: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut file = u.choose(seeds)?.clone();
    for _ in 0..u.int_in_range(1..=4)? {
        mutate_header(u, &mut file)?;
    }
    if u.ratio(1, 4)? {
        bytes::mutate(u, &mut file, seeds, 3)?;
    }
    if u.ratio(1, 4)? {
        let mut packed = gzip(&file);
        match u.int_in_range(0..=3)? {
            0 => {
                let keep = u.int_in_range(0..=packed.len())?;
                packed.truncate(keep);
            }
            1 => packed.extend(gzip(&file[..file.len() / 2])),
            2 => bytes::mutate_once(u, &mut packed, &[])?,
            _ => {}
        }
        file = packed;
    }
    Ok(file)
}
