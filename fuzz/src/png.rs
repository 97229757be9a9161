//! PNG inputs: seeds from real files plus small synthetic images of every colour type and bit
//! depth, and chunk-level mutations — IHDR fields (width, height, depth, colour type,
//! interlace), dropped, repeated, reordered or cut chunks, chunk bodies — written back with
//! their CRCs recomputed (mostly), so that mutations get past the checksum into the decoder.

use crate::bytes;
use arbitrary::{Result, Unstructured};
use png::{BitDepth, ColorType};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// One chunk: its 4-byte type and body.
#[derive(Clone, Debug)]
struct Chunk {
    kind: [u8; 4],
    body: Vec<u8>,
}

/// The chunks of a PNG file, or `None` when it does not parse as one.
fn split(file: &[u8]) -> Option<Vec<Chunk>> {
    let mut rest = file.strip_prefix(&SIGNATURE)?;
    let mut chunks = Vec::new();
    while rest.len() >= 12 {
        let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        if rest.len() < 12 + len {
            return None;
        }
        let kind = rest[4..8].try_into().ok()?;
        chunks.push(Chunk {
            kind,
            body: rest[8..8 + len].to_vec(),
        });
        rest = &rest[12 + len..];
    }
    Some(chunks)
}

/// Writes `chunks` as a PNG file, with correct CRCs unless `bad_crc`.
fn join(chunks: &[Chunk], bad_crc: bool) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    for chunk in chunks {
        out.extend((chunk.body.len() as u32).to_be_bytes());
        out.extend(chunk.kind);
        out.extend(&chunk.body);
        let mut crc = flate2::Crc::new();
        crc.update(&chunk.kind);
        crc.update(&chunk.body);
        let sum = if bad_crc { !crc.sum() } else { crc.sum() };
        out.extend(sum.to_be_bytes());
    }
    out
}

/// Small synthetic PNGs: every colour type at every bit depth the format allows.
pub fn synthetic_seeds() -> Vec<Vec<u8>> {
    use BitDepth::*;
    use ColorType::*;
    let kinds: [(ColorType, &[BitDepth]); 5] = [
        (Grayscale, &[One, Two, Four, Eight, Sixteen]),
        (Rgb, &[Eight, Sixteen]),
        (Indexed, &[One, Two, Four, Eight]),
        (GrayscaleAlpha, &[Eight, Sixteen]),
        (Rgba, &[Eight, Sixteen]),
    ];
    let (width, height) = (7u32, 5u32);
    let mut seeds = Vec::new();
    for (color, depths) in kinds {
        for &depth in depths {
            let samples = color.samples();
            let row_bytes = (width as usize * samples * depth as usize).div_ceil(8);
            let data: Vec<u8> = (0..row_bytes * height as usize)
                .map(|i| (i * 37 % 251) as u8)
                .collect();
            let mut out = Vec::new();
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(color);
            encoder.set_depth(depth);
            if color == Indexed {
                encoder.set_palette((0..256 * 3).map(|i| i as u8).collect::<Vec<u8>>());
            }
            let mut writer = encoder.write_header().expect("valid synthetic header");
            writer
                .write_image_data(&data)
                .expect("valid synthetic data");
            writer.finish().expect("valid synthetic PNG");
            seeds.push(out);
        }
    }
    seeds
}

fn mutate_ihdr(u: &mut Unstructured, body: &mut [u8]) -> Result<()> {
    if body.len() < 13 {
        return Ok(());
    }
    match u.int_in_range(0..=4)? {
        0 | 1 => {
            let at = *u.choose(&[0usize, 4])?;
            let value: u32 =
                *u.choose(&[0, 1, 2, 255, 60_000, 65_535, 1 << 20, 1 << 31, u32::MAX])?;
            body[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        2 => body[8] = *u.choose(&[0u8, 1, 2, 3, 4, 8, 16, 32])?,
        3 => body[9] = *u.choose(&[0u8, 1, 2, 3, 4, 5, 6, 7])?,
        _ => {
            let at = u.int_in_range(10..=12)?;
            body[at] = *u.choose(&[0u8, 1, 2, 255])?;
        }
    }
    Ok(())
}

fn mutate_chunks(u: &mut Unstructured, chunks: &mut Vec<Chunk>) -> Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let index = u.int_in_range(0..=chunks.len() - 1)?;
    match u.int_in_range(0..=6)? {
        0 | 1 => {
            if let Some(ihdr) = chunks.iter_mut().find(|c| &c.kind == b"IHDR") {
                mutate_ihdr(u, &mut ihdr.body)?;
            }
        }
        2 => {
            chunks.remove(index);
        }
        3 => {
            let copy = chunks[index].clone();
            let at = u.int_in_range(0..=chunks.len())?;
            chunks.insert(at, copy);
        }
        4 => {
            let keep = u.int_in_range(0..=chunks[index].body.len())?;
            chunks[index].body.truncate(keep);
        }
        5 => {
            let kind = *u.choose(&[*b"PLTE", *b"tRNS", *b"IDAT", *b"IEND", *b"acTL", *b"fcTL"])?;
            let body = (0..u.int_in_range(0..=64)?)
                .map(|_| u.arbitrary())
                .collect::<Result<Vec<u8>>>()?;
            let at = u.int_in_range(0..=chunks.len())?;
            chunks.insert(at, Chunk { kind, body });
        }
        _ => bytes::mutate(u, &mut chunks[index].body, &[], 2)?,
    }
    Ok(())
}

/// A mutated PNG from one of `seeds`: chunk-level mutations with CRCs recomputed (one in ten
/// left wrong), sometimes byte-level ones on the whole file.
pub fn mutate(u: &mut Unstructured, seeds: &[Vec<u8>]) -> Result<Vec<u8>> {
    let seed = u.choose(seeds)?;
    let mut file = match split(seed) {
        Some(mut chunks) => {
            for _ in 0..u.int_in_range(1..=3)? {
                mutate_chunks(u, &mut chunks)?;
            }
            join(&chunks, u.ratio(1, 10)?)
        }
        None => seed.clone(),
    };
    if u.ratio(1, 5)? {
        bytes::mutate(u, &mut file, seeds, 3)?;
    }
    Ok(file)
}
