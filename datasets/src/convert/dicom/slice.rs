//! One slice of a series: a single-frame DICOM file, or one frame of a multi-frame file
//! ([`Slice::read`] gives one per frame, placed by [`super::frames`]), and its pixel samples
//! with the modality rescale applied ([`Slice::decode_into`]): native (uncompressed) pixel
//! data is read here, encapsulated (compressed) pixel data is decoded by `dicom-pixeldata`.

use super::frames;
use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use nnunet_core::{Error, Result};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Explicit VR Big Endian: retired from the standard (so deprecated in dicom-rs's dictionary)
/// but still found in archives.
pub const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// One slice: a DICOM file read into memory (shared by the frames of a multi-frame file),
/// with the attributes the series needs.
pub struct Slice {
    pub path: PathBuf,
    /// The frame of the file this slice is (0-based), of `frames`.
    pub frame: u32,
    pub frames: u32,
    pub series_uid: String,
    pub series_number: Option<i64>,
    pub description: String,
    /// ImagePositionPatient: world (LPS) position of the first transmitted pixel.
    pub position: Option<[f64; 3]>,
    /// ImageOrientationPatient: row direction then column direction cosines.
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing: between rows (y), then between columns (x).
    pub pixel_spacing: Option<[f64; 2]>,
    /// SpacingBetweenSlices, else SliceThickness: the z spacing of a single-slice series.
    pub slice_gap: Option<f64>,
    pub rows: usize,
    pub columns: usize,
    pub has_pixels: bool,
    object: Arc<DefaultDicomObject>,
}

impl Slice {
    /// Reads a whole DICOM file (Part 10: 128-byte preamble, `DICM`, file meta group): one
    /// slice per frame.
    pub fn read(path: &Path) -> Result<Vec<Slice>> {
        let object = dicom_object::open_file(path)
            .map_err(|e| Error::invalid_file(path, format!("not a readable DICOM file: {e}")))?;
        let invalid = |message: String| Error::invalid_file(path, message);
        let series_uid = text(&object, tags::SERIES_INSTANCE_UID).ok_or_else(|| {
            invalid("SeriesInstanceUID (0020,000E) is missing: cannot tell its series".into())
        })?;
        let dimension = |tag, name: &str| -> Result<usize> {
            match integer(&object, path, tag, name)? {
                Some(v) if v > 0 => Ok(v as usize),
                Some(v) => Err(invalid(format!("{name} = {v}, expected a positive number"))),
                None => Ok(0),
            }
        };
        let rows = dimension(tags::ROWS, "Rows")?;
        let columns = dimension(tags::COLUMNS, "Columns")?;
        let has_pixels = object.get(tags::PIXEL_DATA).is_some();
        let frames = match integer(&object, path, tags::NUMBER_OF_FRAMES, "NumberOfFrames")? {
            None => 1,
            Some(n) if n > 0 && n <= u32::MAX as i64 => n as u32,
            Some(n) => return Err(invalid(format!("NumberOfFrames = {n}"))),
        };
        // a file without pixel data (a report) is one slice of its series, placed or not
        let frames = if has_pixels { frames } else { 1 };
        let placements = frames::place(&object, path, frames)?;
        let series_number = integer(&object, path, tags::SERIES_NUMBER, "SeriesNumber")?;
        let description = text(&object, tags::SERIES_DESCRIPTION).unwrap_or_default();
        let object = Arc::new(object);
        Ok(placements
            .into_iter()
            .enumerate()
            .map(|(frame, placement)| Slice {
                path: path.to_path_buf(),
                frame: frame as u32,
                frames,
                series_uid: series_uid.clone(),
                series_number,
                description: description.clone(),
                position: placement.position,
                orientation: placement.orientation,
                pixel_spacing: placement.pixel_spacing,
                slice_gap: placement.slice_gap,
                rows,
                columns,
                has_pixels,
                object: Arc::clone(&object),
            })
            .collect())
    }

    /// The file, and the frame of a multi-frame file: `a.dcm` or `a.dcm frame 3/40`.
    pub fn name(&self) -> String {
        match self.frames {
            1 => self.path.display().to_string(),
            n => format!("{} frame {}/{n}", self.path.display(), self.frame + 1),
        }
    }

    /// An error about this slice: naming the file, and the frame of a multi-frame file.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        match self.frames {
            1 => Error::invalid_file(&self.path, message.to_string()),
            n => Error::invalid_file(
                &self.path,
                format!("frame {}/{n}: {message}", self.frame + 1),
            ),
        }
    }

    /// Decodes the pixel samples into `out` (`rows × columns`, row-major), applying
    /// RescaleSlope and RescaleIntercept.
    pub fn decode_into(&self, out: &mut [f32]) -> Result<()> {
        let path = &self.path;
        let object = &self.object;
        let samples_per_pixel =
            integer(object, path, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?.unwrap_or(1);
        if samples_per_pixel != 1 {
            return Err(self.error(format!(
                "SamplesPerPixel = {samples_per_pixel} (colour); a CT or MR series is greyscale"
            )));
        }
        let layout = SampleLayout::of(self)?;
        let element = object.get(tags::PIXEL_DATA).ok_or_else(|| {
            self.error(
                "no pixel data (PixelData 7FE0,0010 missing): not an image (a structured \
                 report, RT structure set or presentation state?)",
            )
        })?;
        let count = self.rows * self.columns;
        if out.len() != count {
            return Err(self.error(format!(
                "{} × {} pixels, the series expects {} per slice",
                self.rows,
                self.columns,
                out.len()
            )));
        }
        let needed = count * layout.bytes;
        let transfer_syntax = object.meta().transfer_syntax().trim_end_matches('\0');
        let bytes = match element.value() {
            Value::Primitive(value) => {
                let big_endian = transfer_syntax == EXPLICIT_VR_BIG_ENDIAN;
                let start = self.frame as usize * needed;
                let available = native_len(value).ok_or_else(|| {
                    self.error("PixelData does not hold pixel samples (not OB or OW bytes)")
                })?;
                if available < start + needed {
                    return Err(self.error(format!(
                        "truncated pixel data: {} frame(s) of {} × {} samples of {} bits need \
                         {} bytes, the file has {available}",
                        self.frames,
                        self.rows,
                        self.columns,
                        layout.bytes * 8,
                        self.frames as usize * needed
                    )));
                }
                native_bytes(value, layout.bytes, big_endian, start..start + needed)
            }
            Value::PixelSequence(_) => Cow::Owned(self.decode_compressed(transfer_syntax, needed)?),
            Value::Sequence(_) => {
                return Err(self.error("PixelData is a sequence, not pixel samples"));
            }
        };
        let [slope, intercept] = frames::rescale(object, path, self.frame)?;
        for (v, chunk) in out.iter_mut().zip(bytes.chunks_exact(layout.bytes)) {
            *v = (layout.sample(chunk) * slope + intercept) as f32;
        }
        Ok(())
    }

    /// This slice's frame of encapsulated (compressed) pixel data, decoded by
    /// `dicom-pixeldata` into native little-endian samples: `needed` bytes.
    fn decode_compressed(&self, transfer_syntax: &str, needed: usize) -> Result<Vec<u8>> {
        use dicom_pixeldata::PixelDecoder;
        let registered = TransferSyntaxRegistry.get(transfer_syntax);
        let described = format!(
            "transfer syntax {transfer_syntax} ({})",
            registered.map_or("unknown", |ts| ts.name())
        );
        if !registered.is_some_and(|ts| ts.can_decode_all()) {
            return Err(self.error(format!(
                "compressed pixel data in {described}, which is not supported (JPEG baseline, \
                 extended and lossless, RLE lossless and JPEG 2000 are): decompress the series \
                 first (e.g. `gdcmconv --raw` or dcmtk's `dcmdjpls`)"
            )));
        }
        let corrupt = |why: String| {
            self.error(format!(
                "cannot decode the compressed pixel data ({described}): {why} (corrupt or \
                 truncated?)"
            ))
        };
        // a decoder may panic on malformed data instead of failing: that is this file's error
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.object.decode_pixel_data_frame(self.frame)
        }))
        .map_err(|_| corrupt("the decoder panicked".into()))?
        .map_err(|e| corrupt(error_chain(&e)))?;
        let data = decoded.data();
        if data.len() < needed {
            return Err(corrupt(format!(
                "decoded {} bytes, {} × {} samples need {needed}",
                data.len(),
                self.rows,
                self.columns
            )));
        }
        Ok(data[..needed].to_vec())
    }
}

/// An error and its sources: `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// How one sample is stored: BitsAllocated, BitsStored, HighBit, PixelRepresentation.
struct SampleLayout {
    bytes: usize,
    stored: u32,
    shift: u32,
    signed: bool,
}

impl SampleLayout {
    fn of(slice: &Slice) -> Result<SampleLayout> {
        let (object, path) = (&slice.object, &slice.path);
        let get = |tag, name: &str| integer(object, path, tag, name);
        let allocated = get(tags::BITS_ALLOCATED, "BitsAllocated")?
            .ok_or_else(|| slice.error("BitsAllocated (0028,0100) is missing"))?;
        let stored = get(tags::BITS_STORED, "BitsStored")?.unwrap_or(allocated);
        let high = get(tags::HIGH_BIT, "HighBit")?.unwrap_or(stored - 1);
        let representation = get(tags::PIXEL_REPRESENTATION, "PixelRepresentation")?.unwrap_or(0);
        if ![8, 16, 32].contains(&allocated)
            || !(1..=allocated).contains(&stored)
            || high + 1 < stored
            || high >= allocated
            || !(0..=1).contains(&representation)
        {
            return Err(slice.error(format!(
                "unsupported sample layout: BitsAllocated {allocated}, BitsStored {stored}, \
                 HighBit {high}, PixelRepresentation {representation} (8, 16 or 32 bits \
                 allocated, integer samples)"
            )));
        }
        Ok(SampleLayout {
            bytes: allocated as usize / 8,
            stored: stored as u32,
            shift: (high + 1 - stored) as u32,
            signed: representation == 1,
        })
    }

    /// One sample from its little-endian bytes: the stored bits, sign-extended when signed.
    fn sample(&self, chunk: &[u8]) -> f64 {
        let raw = match *chunk {
            [a] => a as u32,
            [a, b] => u16::from_le_bytes([a, b]) as u32,
            [a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        };
        let unused = 32 - self.stored;
        let bits = (raw >> self.shift) << unused;
        if self.signed {
            ((bits as i32) >> unused) as f64
        } else {
            (bits >> unused) as f64
        }
    }
}

/// The length in bytes of native pixel data; `None` when it is not OB or OW samples.
fn native_len(value: &PrimitiveValue) -> Option<usize> {
    Some(match value {
        PrimitiveValue::U8(v) => v.len(),
        PrimitiveValue::U16(v) => v.len() * 2,
        PrimitiveValue::I16(v) => v.len() * 2,
        PrimitiveValue::U32(v) => v.len() * 4,
        PrimitiveValue::I32(v) => v.len() * 4,
        _ => return None,
    })
}

/// Bytes `range` of native pixel data (within [`native_len`]) as little-endian samples of
/// `sample_bytes`, whatever form the parser gave them in (bytes for OB, native words for OW).
fn native_bytes(
    value: &PrimitiveValue,
    sample_bytes: usize,
    big_endian: bool,
    range: std::ops::Range<usize>,
) -> Cow<'_, [u8]> {
    fn le<T: Copy, const N: usize>(
        values: &[T],
        range: std::ops::Range<usize>,
        to: fn(T) -> [u8; N],
    ) -> Cow<'static, [u8]> {
        let first = range.start / N;
        let words = &values[first..range.end.div_ceil(N)];
        let bytes: Vec<u8> = words.iter().flat_map(|&v| to(v)).collect();
        let skip = range.start - first * N;
        Cow::Owned(bytes[skip..skip + range.len()].to_vec())
    }
    match value {
        PrimitiveValue::U8(bytes) if big_endian && sample_bytes > 1 => Cow::Owned(
            bytes[range]
                .chunks_exact(sample_bytes)
                .flat_map(|c| c.iter().rev().copied())
                .collect(),
        ),
        PrimitiveValue::U8(bytes) => Cow::Borrowed(&bytes[range]),
        PrimitiveValue::U16(v) => le(v, range, u16::to_le_bytes),
        PrimitiveValue::I16(v) => le(v, range, i16::to_le_bytes),
        PrimitiveValue::U32(v) => le(v, range, u32::to_le_bytes),
        PrimitiveValue::I32(v) => le(v, range, i32::to_le_bytes),
        _ => Cow::Borrowed(&[]),
    }
}

/// A text attribute, trimmed; `None` when missing or empty.
fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = object.get(tag)?.to_str().ok()?;
    let value = value.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!value.is_empty()).then(|| value.to_string())
}

/// An integer attribute; `None` when missing or empty.
fn integer(object: &InMemDicomObject, path: &Path, tag: Tag, name: &str) -> Result<Option<i64>> {
    let Some(element) = object.get(tag) else {
        return Ok(None);
    };
    if element.value().multiplicity() == 0 {
        return Ok(None);
    }
    element
        .to_int::<i64>()
        .map(Some)
        .map_err(|e| Error::invalid_file(path, format!("{name} {tag}: not a number: {e}")))
}

/// A decimal attribute with exactly `N` values; `None` when missing or empty.
pub(super) fn floats<const N: usize>(
    object: &InMemDicomObject,
    path: &Path,
    tag: Tag,
    name: &str,
) -> Result<Option<[f64; N]>> {
    let Some(element) = object.get(tag) else {
        return Ok(None);
    };
    let values = element
        .to_multi_float64()
        .map_err(|e| Error::invalid_file(path, format!("{name} {tag}: not numbers: {e}")))?;
    if values.is_empty() {
        return Ok(None);
    }
    let values: [f64; N] = values.as_slice().try_into().map_err(|_| {
        Error::invalid_file(
            path,
            format!("{name} {tag} has {} values, expected {N}", values.len()),
        )
    })?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid_file(
            path,
            format!("{name} {tag} = {values:?} is not finite"),
        ));
    }
    Ok(Some(values))
}
