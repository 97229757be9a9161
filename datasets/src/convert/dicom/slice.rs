//! One DICOM file of a series: the attributes that place its slice in the world
//! ([`Slice::read`]) and its pixel samples, decoded from native (uncompressed) pixel data with
//! the modality rescale applied ([`Slice::decode_into`]).

use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use nnunet_core::{Error, Result};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Explicit VR Big Endian: retired from the standard (so deprecated in dicom-rs's dictionary)
/// but still found in archives.
pub const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// A DICOM file read into memory, with the attributes the series needs.
pub struct Slice {
    pub path: PathBuf,
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
    object: DefaultDicomObject,
}

impl Slice {
    /// Reads a whole DICOM file (Part 10: 128-byte preamble, `DICM`, file meta group).
    pub fn read(path: &Path) -> Result<Slice> {
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
        let slice_gap = floats::<1>(
            &object,
            path,
            tags::SPACING_BETWEEN_SLICES,
            "SpacingBetweenSlices",
        )?
        .or(floats::<1>(
            &object,
            path,
            tags::SLICE_THICKNESS,
            "SliceThickness",
        )?)
        .map(|[v]| v)
        .filter(|v| *v > 0.0);
        Ok(Slice {
            series_uid,
            series_number: integer(&object, path, tags::SERIES_NUMBER, "SeriesNumber")?,
            description: text(&object, tags::SERIES_DESCRIPTION).unwrap_or_default(),
            position: floats(
                &object,
                path,
                tags::IMAGE_POSITION_PATIENT,
                "ImagePositionPatient",
            )?,
            orientation: floats(
                &object,
                path,
                tags::IMAGE_ORIENTATION_PATIENT,
                "ImageOrientationPatient",
            )?,
            pixel_spacing: floats(&object, path, tags::PIXEL_SPACING, "PixelSpacing")?,
            slice_gap,
            rows,
            columns,
            has_pixels: object.get(tags::PIXEL_DATA).is_some(),
            path: path.to_path_buf(),
            object,
        })
    }

    /// Decodes the pixel samples into `out` (`rows × columns`, row-major), applying
    /// RescaleSlope and RescaleIntercept.
    pub fn decode_into(&self, out: &mut [f32]) -> Result<()> {
        let path = &self.path;
        let object = &self.object;
        let invalid = |message: String| Error::invalid_file(path, message);
        let int = |tag, name: &str, default: i64| -> Result<i64> {
            Ok(integer(object, path, tag, name)?.unwrap_or(default))
        };
        let samples_per_pixel = int(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel", 1)?;
        if samples_per_pixel != 1 {
            return Err(invalid(format!(
                "SamplesPerPixel = {samples_per_pixel} (colour); a CT or MR series is greyscale"
            )));
        }
        let frames = int(tags::NUMBER_OF_FRAMES, "NumberOfFrames", 1)?;
        if frames != 1 {
            return Err(invalid(format!(
                "multi-frame (enhanced) image with {frames} frames; only one slice per file is \
                 supported (convert it to classic single-frame files first, e.g. with dcmtk's \
                 or dicom3tools' enhanced-to-classic converters)"
            )));
        }
        let layout = SampleLayout::of(self)?;
        let element = object.get(tags::PIXEL_DATA).ok_or_else(|| {
            invalid(
                "no pixel data (PixelData 7FE0,0010 missing): not an image (a structured \
                 report, RT structure set or presentation state?)"
                    .into(),
            )
        })?;
        let transfer_syntax = object.meta().transfer_syntax().trim_end_matches('\0');
        let value = match element.value() {
            Value::Primitive(value) => value,
            _ => {
                return Err(invalid(format!(
                    "encapsulated (compressed) pixel data, transfer syntax {transfer_syntax}; \
                     only native (uncompressed) pixel data is read: decompress the series \
                     first (e.g. `gdcmconv --raw` or dcmtk's `dcmdjpeg`)"
                )));
            }
        };
        let big_endian = transfer_syntax == EXPLICIT_VR_BIG_ENDIAN;
        let bytes = little_endian_bytes(value, layout.bytes, big_endian).ok_or_else(|| {
            invalid("PixelData does not hold pixel samples (not OB or OW bytes)".into())
        })?;
        let count = self.rows * self.columns;
        if out.len() != count {
            return Err(invalid(format!(
                "{} × {} pixels, the series expects {} per slice",
                self.rows,
                self.columns,
                out.len()
            )));
        }
        let needed = count * layout.bytes;
        if bytes.len() < needed {
            return Err(invalid(format!(
                "truncated pixel data: {} × {} samples of {} bits need {needed} bytes, the file \
                 has {}",
                self.rows,
                self.columns,
                layout.bytes * 8,
                bytes.len()
            )));
        }
        let [slope, intercept] = self.rescale()?;
        for (v, chunk) in out.iter_mut().zip(bytes.chunks_exact(layout.bytes)) {
            *v = (layout.sample(chunk) * slope + intercept) as f32;
        }
        Ok(())
    }

    /// RescaleSlope (default 1) and RescaleIntercept (default 0).
    fn rescale(&self) -> Result<[f64; 2]> {
        let slope = floats::<1>(
            &self.object,
            &self.path,
            tags::RESCALE_SLOPE,
            "RescaleSlope",
        )?
        .map_or(1.0, |v| v[0]);
        let intercept = floats::<1>(
            &self.object,
            &self.path,
            tags::RESCALE_INTERCEPT,
            "RescaleIntercept",
        )?
        .map_or(0.0, |v| v[0]);
        if slope == 0.0 {
            return Err(Error::invalid_file(
                &self.path,
                "RescaleSlope is 0: every value would be the intercept",
            ));
        }
        Ok([slope, intercept])
    }
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
            .ok_or_else(|| Error::invalid_file(path, "BitsAllocated (0028,0100) is missing"))?;
        let stored = get(tags::BITS_STORED, "BitsStored")?.unwrap_or(allocated);
        let high = get(tags::HIGH_BIT, "HighBit")?.unwrap_or(stored - 1);
        let representation = get(tags::PIXEL_REPRESENTATION, "PixelRepresentation")?.unwrap_or(0);
        if ![8, 16, 32].contains(&allocated)
            || !(1..=allocated).contains(&stored)
            || high + 1 < stored
            || high >= allocated
            || !(0..=1).contains(&representation)
        {
            return Err(Error::invalid_file(
                path,
                format!(
                    "unsupported sample layout: BitsAllocated {allocated}, BitsStored {stored}, \
                     HighBit {high}, PixelRepresentation {representation} (8, 16 or 32 bits \
                     allocated, integer samples)"
                ),
            ));
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

/// The pixel data as little-endian bytes, whatever form the parser gave it in (bytes for OB,
/// native 16-bit words for OW).
fn little_endian_bytes(
    value: &PrimitiveValue,
    sample_bytes: usize,
    big_endian: bool,
) -> Option<Cow<'_, [u8]>> {
    fn le<T: Copy, const N: usize>(values: &[T], to: fn(T) -> [u8; N]) -> Cow<'static, [u8]> {
        Cow::Owned(values.iter().flat_map(|&v| to(v)).collect())
    }
    Some(match value {
        PrimitiveValue::U8(bytes) if big_endian && sample_bytes > 1 => Cow::Owned(
            bytes
                .chunks_exact(sample_bytes)
                .flat_map(|c| c.iter().rev().copied())
                .collect(),
        ),
        PrimitiveValue::U8(bytes) => Cow::Borrowed(&bytes[..]),
        PrimitiveValue::U16(v) => le(v, u16::to_le_bytes),
        PrimitiveValue::I16(v) => le(v, i16::to_le_bytes),
        PrimitiveValue::U32(v) => le(v, u32::to_le_bytes),
        PrimitiveValue::I32(v) => le(v, i32::to_le_bytes),
        _ => return None,
    })
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
fn floats<const N: usize>(
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
