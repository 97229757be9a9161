//! Byte-level mutations (the AFL/libFuzzer kinds): bit flips, interesting values, inserted,
//! deleted, duplicated and spliced ranges, truncation. Every choice comes from the
//! [`Unstructured`] bytes, so a case is reproducible from its seed.

use arbitrary::{Result, Unstructured};

/// Integers that break size arithmetic: zero, one, signed and unsigned limits, powers of two.
pub const INTERESTING: [i64; 16] = [
    0,
    1,
    -1,
    2,
    7,
    8,
    255,
    256,
    32767,
    -32768,
    65535,
    i32::MAX as i64,
    i32::MIN as i64,
    u32::MAX as i64,
    i64::MAX,
    1 << 40,
];

/// A position in `0..=len`.
fn position(u: &mut Unstructured, len: usize) -> Result<usize> {
    u.int_in_range(0..=len)
}

/// Writes `value`'s low `width` bytes at `at` (little- or big-endian), when they fit.
fn put_int(data: &mut [u8], at: usize, value: i64, width: usize, big: bool) {
    let bytes = value.to_le_bytes();
    if at + width > data.len() {
        return;
    }
    for k in 0..width {
        data[at + k] = if big { bytes[width - 1 - k] } else { bytes[k] };
    }
}

/// Applies one random byte-level mutation; `others` are splice donors.
pub fn mutate_once(u: &mut Unstructured, data: &mut Vec<u8>, others: &[Vec<u8>]) -> Result<()> {
    let len = data.len();
    match u.int_in_range(0..=8)? {
        0 if len > 0 => {
            let at = position(u, len - 1)?;
            data[at] ^= 1 << u.int_in_range(0..=7)?;
        }
        1 if len > 0 => {
            let at = position(u, len - 1)?;
            data[at] = u.arbitrary()?;
        }
        2 => {
            let at = position(u, len)?;
            let value = *u.choose(&INTERESTING)?;
            let width = *u.choose(&[1usize, 2, 4, 8])?;
            put_int(data, at, value, width, u.arbitrary()?);
        }
        3 => {
            let at = position(u, len)?;
            let count = u.int_in_range(1..=64)?;
            let fill: u8 = u.arbitrary()?;
            data.splice(at..at, std::iter::repeat_n(fill, count));
        }
        4 if len > 0 => {
            let at = position(u, len - 1)?;
            let end = (at + u.int_in_range(1..=256)?).min(len);
            data.drain(at..end);
        }
        5 if len > 0 => {
            let from = position(u, len - 1)?;
            let end = (from + u.int_in_range(1..=512)?).min(len);
            let chunk = data[from..end].to_vec();
            let at = position(u, len)?;
            data.splice(at..at, chunk);
        }
        6 if !others.is_empty() => {
            let donor = u.choose(others)?;
            if !donor.is_empty() {
                let from = position(u, donor.len() - 1)?;
                let end = (from + u.int_in_range(1..=512)?).min(donor.len());
                let at = position(u, len)?;
                let stop = (at + (end - from)).min(len);
                data.splice(at..stop, donor[from..end].iter().copied());
            }
        }
        7 => {
            let keep = position(u, len)?;
            data.truncate(keep);
        }
        _ => {
            let at = position(u, len)?;
            let value: f32 = *u.choose(&[
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -1.0,
                1e30,
                -1e30,
                f32::MIN_POSITIVE,
            ])?;
            if at + 4 <= len {
                data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Applies one to `max` byte-level mutations.
pub fn mutate(
    u: &mut Unstructured,
    data: &mut Vec<u8>,
    others: &[Vec<u8>],
    max: usize,
) -> Result<()> {
    for _ in 0..u.int_in_range(1..=max)? {
        mutate_once(u, data, others)?;
    }
    Ok(())
}
