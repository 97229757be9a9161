//! A DICOM series as one volume: slices (files, or frames of multi-frame files) grouped by
//! SeriesInstanceUID ([`group`]), slices ordered
//! along the slice normal and checked for a consistent grid, then stacked into an [`Image`]
//! with the geometry SimpleITK's `ImageSeriesReader` reports ([`Series::into_image`]).

use super::slice::Slice;
use nnunet_core::{Geometry, Image, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Orientations and pixel spacings that differ by more than this are refused.
const SAME_TOLERANCE: f64 = 1e-4;
/// Gaps between neighbouring slices may differ from the mean slice spacing by this fraction
/// (positions are written as decimal strings, often rounded to 0.01 mm).
const GAP_TOLERANCE: f64 = 0.01;

/// The slices of one series.
pub struct Series {
    pub uid: String,
    pub number: Option<i64>,
    pub description: String,
    pub slices: Vec<Slice>,
}

/// Groups slices by SeriesInstanceUID, ordered by SeriesNumber then UID; files keep their
/// order within a series.
pub fn group(slices: Vec<Slice>) -> Vec<Series> {
    let mut by_uid: BTreeMap<String, Vec<Slice>> = BTreeMap::new();
    for slice in slices {
        by_uid
            .entry(slice.series_uid.clone())
            .or_default()
            .push(slice);
    }
    let mut series: Vec<Series> = by_uid
        .into_iter()
        .map(|(uid, slices)| Series {
            number: slices.iter().find_map(|s| s.series_number),
            description: slices
                .iter()
                .map(|s| s.description.clone())
                .find(|d| !d.is_empty())
                .unwrap_or_default(),
            uid,
            slices,
        })
        .collect();
    series.sort_by(|a, b| (a.number, &a.uid).cmp(&(b.number, &b.uid)));
    series
}

/// `a.dcm, b.dcm, … (N files)`: a few file names relative to `root` (each file once).
pub fn name_files<'a>(root: &Path, files: impl IntoIterator<Item = &'a Path>) -> String {
    let mut files: Vec<&Path> = files.into_iter().collect();
    files.dedup();
    let shown: Vec<String> = files
        .iter()
        .take(3)
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    match files.len() {
        n if n > shown.len() => format!("{}, … ({n} files)", shown.join(", ")),
        _ => shown.join(", "),
    }
}

impl Series {
    /// `series 1.2.3 (#4 "AX T1", 40 slices: a.dcm, b.dcm, …)`.
    pub fn describe(&self, root: &Path) -> String {
        let number = self.number.map(|n| format!("#{n} ")).unwrap_or_default();
        format!(
            "series {} ({number}{:?}, {} slices: {})",
            self.uid,
            self.description,
            self.slices.len(),
            name_files(root, self.slices.iter().map(|s| s.path.as_path()))
        )
    }

    /// True when no file of the series holds pixel data (a structured report, RT structure
    /// set, …).
    pub fn is_non_image(&self) -> bool {
        self.slices.iter().all(|s| !s.has_pixels)
    }

    /// Stacks the slices into one volume `(z, y, x)`, z along the slice normal
    /// (row × column direction), ascending; refuses what does not form one regular grid.
    pub fn into_image(self, root: &Path) -> Result<Image> {
        let refuse = |slice: &Slice, message: String| slice.error(message);
        let first = &self.slices[0];
        for slice in &self.slices {
            if !slice.has_pixels {
                return Err(refuse(
                    slice,
                    format!(
                        "no pixel data (PixelData 7FE0,0010 missing) in a file of {}",
                        self.describe(root)
                    ),
                ));
            }
            if slice.position.is_none() || slice.orientation.is_none() {
                let missing = if slice.position.is_none() {
                    "ImagePositionPatient (0020,0032)"
                } else {
                    "ImageOrientationPatient (0020,0037)"
                };
                return Err(refuse(
                    slice,
                    format!("{missing} is missing: the slice cannot be placed in the volume"),
                ));
            }
        }
        let orientation = first.orientation.unwrap_or_default();
        let (row, column) = unit_axes(first, orientation)?;
        let normal = cross(row, column);
        let spacing = first.pixel_spacing.unwrap_or([1.0, 1.0]);
        if spacing.iter().any(|&s| s <= 0.0) {
            return Err(refuse(
                first,
                format!("PixelSpacing {spacing:?} is not positive"),
            ));
        }
        for slice in &self.slices {
            let other = slice.orientation.unwrap_or_default();
            let pixel_spacing = slice.pixel_spacing.unwrap_or([1.0, 1.0]);
            let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
                refuse(
                    slice,
                    format!(
                        "{what} {b:?} differs from {a:?} of {}: the series is not one volume",
                        first.name()
                    ),
                )
            };
            if !close(&orientation, &other, SAME_TOLERANCE) {
                return Err(differs("ImageOrientationPatient", &orientation, &other));
            }
            if !close(&spacing, &pixel_spacing, SAME_TOLERANCE) {
                return Err(differs("PixelSpacing", &spacing, &pixel_spacing));
            }
            if (slice.rows, slice.columns) != (first.rows, first.columns) {
                return Err(differs(
                    "Rows × Columns",
                    &(first.rows, first.columns),
                    &(slice.rows, slice.columns),
                ));
            }
        }
        let mut slices = self.slices;
        let along = |s: &Slice| dot(s.position.unwrap_or_default(), normal);
        slices.sort_by(|a, b| along(a).total_cmp(&along(b)));
        let z_spacing = slice_spacing(&slices, normal)?;
        let first = &slices[0];
        let (rows, columns) = (first.rows, first.columns);
        if rows == 0 || columns == 0 {
            return Err(refuse(first, "Rows or Columns is missing".into()));
        }
        let origin = first.position.unwrap_or_default();
        let mut data = vec![0f32; slices.len() * rows * columns];
        data.par_chunks_mut(rows * columns)
            .zip(slices.par_iter())
            .try_for_each(|(out, slice)| slice.decode_into(out))?;
        let mut direction = [0.0; 9];
        for axis in 0..3 {
            direction[axis * 3] = row[axis];
            direction[axis * 3 + 1] = column[axis];
            direction[axis * 3 + 2] = normal[axis];
        }
        Ok(Image {
            shape: [slices.len(), rows, columns],
            channels: vec![data],
            geometry: Geometry {
                spacing: [z_spacing, spacing[0], spacing[1]],
                origin,
                direction,
                source_header: None,
            },
            is_2d: false,
        })
    }
}

/// The row and column direction cosines, checked to be unit length and orthogonal.
fn unit_axes(slice: &Slice, orientation: [f64; 6]) -> Result<([f64; 3], [f64; 3])> {
    let row = [orientation[0], orientation[1], orientation[2]];
    let column = [orientation[3], orientation[4], orientation[5]];
    let unit = |v: [f64; 3]| (dot(v, v).sqrt() - 1.0).abs() < 1e-3;
    if !unit(row) || !unit(column) || dot(row, column).abs() > 1e-3 {
        return Err(slice.error(format!(
            "ImageOrientationPatient {orientation:?} is not two orthogonal unit vectors"
        )));
    }
    Ok((row, column))
}

/// The distance between slices, from their positions (sorted along `normal`): the mean gap,
/// as SimpleITK takes it (first to last over n − 1). Refuses two slices at one position,
/// uneven gaps (a missing slice) and stacks that drift off the normal (gantry tilt).
fn slice_spacing(slices: &[Slice], normal: [f64; 3]) -> Result<f64> {
    let position = |s: &Slice| s.position.unwrap_or_default();
    let along = |s: &Slice| dot(position(s), normal);
    let (first, last) = (&slices[0], &slices[slices.len() - 1]);
    if slices.len() == 1 {
        return Ok(first.slice_gap.unwrap_or(1.0));
    }
    let mean = (along(last) - along(first)) / (slices.len() - 1) as f64;
    // gaps are checked against the median gap, so that a missing slice is blamed on its
    // neighbours and not on the first pair
    let mut gaps: Vec<f64> = slices
        .windows(2)
        .map(|p| along(&p[1]) - along(&p[0]))
        .collect();
    gaps.sort_by(f64::total_cmp);
    let typical = gaps[gaps.len() / 2];
    for pair in slices.windows(2) {
        let gap = along(&pair[1]) - along(&pair[0]);
        let name = |s: &Slice| s.name();
        if gap.abs() < SAME_TOLERANCE {
            return Err(pair[1].error(format!(
                "same ImagePositionPatient as {}: two slices at one position (a series \
                     with several echoes, phases or time points? split it first)",
                name(&pair[0])
            )));
        }
        if (gap - typical).abs() > GAP_TOLERANCE * typical {
            return Err(pair[1].error(format!(
                "slice spacing is not uniform: {gap:.4} mm from {}, the other slices are \
                 {typical:.4} mm apart (a missing slice?)",
                name(&pair[0])
            )));
        }
    }
    for slice in &slices[1..] {
        let step = sub(position(slice), position(first));
        let off_normal = sub(step, scale(normal, dot(step, normal)));
        if dot(off_normal, off_normal).sqrt() > GAP_TOLERANCE * mean.max(1.0) {
            return Err(slice.error(format!(
                "not stacked along the slice normal from {} (gantry tilt or a sheared stack): \
                 resample the series first",
                first.name()
            )));
        }
    }
    Ok(mean)
}

fn close(a: &[f64], b: &[f64], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(super) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}
