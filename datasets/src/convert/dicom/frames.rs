//! Where each frame of a DICOM file lies, and how its values are rescaled: the attributes of a
//! frame are looked up in its item of PerFrameFunctionalGroupsSequence, then in
//! SharedFunctionalGroupsSequence, then at the top level of the file (Enhanced CT/MR put them
//! in the functional groups; classic single-frame files at the top level), each inside its
//! functional group macro:
//!
//! * position: PlanePositionSequence → ImagePositionPatient;
//! * orientation: PlaneOrientationSequence → ImageOrientationPatient;
//! * pixel spacing, slice gap: PixelMeasuresSequence → PixelSpacing, SpacingBetweenSlices,
//!   SliceThickness;
//! * rescale: PixelValueTransformationSequence → RescaleSlope, RescaleIntercept.
//!
//! A multi-frame file without positions in its functional groups (a plain multi-frame image:
//! one ImagePositionPatient for the first frame) places frame k at GridFrameOffsetVector[k]
//! along the slice normal, else at k × SpacingBetweenSlices; without either its frames cannot
//! be placed and it is refused.

use super::slice::floats;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use nnunet_core::{Error, Result};
use std::path::Path;

/// Where one frame lies.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// ImagePositionPatient: world (LPS) position of the first transmitted pixel.
    pub position: Option<[f64; 3]>,
    /// ImageOrientationPatient: row direction then column direction cosines.
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing: between rows (y), then between columns (x).
    pub pixel_spacing: Option<[f64; 2]>,
    /// SpacingBetweenSlices, else SliceThickness: the z spacing of a single-slice series.
    pub slice_gap: Option<f64>,
}

/// The objects an attribute of `frame` is looked up in, first found first: the frame's item of
/// the functional group macro `sequence`, the shared one, and the file's top level.
fn sources(object: &InMemDicomObject, frame: u32, sequence: Tag) -> Vec<&InMemDicomObject> {
    let macro_item = |group: Tag, index: usize| -> Option<&InMemDicomObject> {
        object
            .get(group)?
            .items()?
            .get(index)?
            .get(sequence)?
            .items()?
            .first()
    };
    let mut found = Vec::with_capacity(3);
    found.extend(macro_item(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        frame as usize,
    ));
    found.extend(macro_item(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0));
    found.push(object);
    found
}

/// The first of `sources` that has attribute `tag` (`N` decimal values).
fn lookup<const N: usize>(
    sources: &[&InMemDicomObject],
    path: &Path,
    tag: Tag,
    name: &str,
) -> Result<Option<[f64; N]>> {
    for source in sources {
        if let Some(values) = floats::<N>(source, path, tag, name)? {
            return Ok(Some(values));
        }
    }
    Ok(None)
}

/// The placement of every frame of a file with `frames` frames.
pub fn place(object: &InMemDicomObject, path: &Path, frames: u32) -> Result<Vec<Placement>> {
    let invalid = |message: String| Error::invalid_file(path, message);
    if let Some(items) = object
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        && items.len() != frames as usize
    {
        return Err(invalid(format!(
            "PerFrameFunctionalGroupsSequence has {} items for NumberOfFrames {frames}",
            items.len()
        )));
    }
    let mut placements = Vec::with_capacity(frames as usize);
    let mut unplaced = Vec::new();
    for frame in 0..frames {
        let at = |sequence| sources(object, frame, sequence);
        let position_sources = at(tags::PLANE_POSITION_SEQUENCE);
        let grouped = &position_sources[..position_sources.len() - 1];
        let position = lookup(
            grouped,
            path,
            tags::IMAGE_POSITION_PATIENT,
            "ImagePositionPatient",
        )?;
        if position.is_none() {
            unplaced.push(frame);
        }
        let measures = at(tags::PIXEL_MEASURES_SEQUENCE);
        let spacing_between = lookup::<1>(
            &measures,
            path,
            tags::SPACING_BETWEEN_SLICES,
            "SpacingBetweenSlices",
        )?;
        let thickness = lookup::<1>(&measures, path, tags::SLICE_THICKNESS, "SliceThickness")?;
        placements.push(Placement {
            position: position.or(floats(
                object,
                path,
                tags::IMAGE_POSITION_PATIENT,
                "ImagePositionPatient",
            )?),
            orientation: lookup(
                &at(tags::PLANE_ORIENTATION_SEQUENCE),
                path,
                tags::IMAGE_ORIENTATION_PATIENT,
                "ImageOrientationPatient",
            )?,
            pixel_spacing: lookup(&measures, path, tags::PIXEL_SPACING, "PixelSpacing")?,
            slice_gap: spacing_between
                .or(thickness)
                .map(|[v]| v)
                .filter(|v| *v > 0.0),
        });
    }
    if frames > 1 && !unplaced.is_empty() {
        stack_plain_frames(object, path, &mut placements, &unplaced)?;
    }
    Ok(placements)
}

/// Places the frames of a plain multi-frame file (one ImagePositionPatient, for the first
/// frame) along the slice normal: at GridFrameOffsetVector, else SpacingBetweenSlices apart.
fn stack_plain_frames(
    object: &InMemDicomObject,
    path: &Path,
    placements: &mut [Placement],
    unplaced: &[u32],
) -> Result<()> {
    let invalid = |message: String| Error::invalid_file(path, message);
    let frames = placements.len();
    let first = &placements[unplaced[0] as usize];
    let (Some(origin), Some(orientation)) = (first.position, first.orientation) else {
        // refused later as a slice without position or orientation
        return Ok(());
    };
    let offsets: Vec<f64> = match object.get(tags::GRID_FRAME_OFFSET_VECTOR) {
        Some(element) => {
            let offsets = element
                .to_multi_float64()
                .map_err(|e| invalid(format!("GridFrameOffsetVector: not numbers: {e}")))?;
            if offsets.len() != frames {
                return Err(invalid(format!(
                    "GridFrameOffsetVector has {} values for NumberOfFrames {frames}",
                    offsets.len()
                )));
            }
            offsets
        }
        None => {
            let gap = floats::<1>(
                object,
                path,
                tags::SPACING_BETWEEN_SLICES,
                "SpacingBetweenSlices",
            )?
            .ok_or_else(|| {
                invalid(format!(
                    "multi-frame image with {frames} frames but no per-frame positions \
                     (PerFrameFunctionalGroupsSequence → PlanePositionSequence), no \
                     GridFrameOffsetVector and no SpacingBetweenSlices: its frames cannot be \
                     placed"
                ))
            })?[0];
            (0..frames).map(|k| k as f64 * gap).collect()
        }
    };
    let row = [orientation[0], orientation[1], orientation[2]];
    let column = [orientation[3], orientation[4], orientation[5]];
    let normal = super::series::cross(row, column);
    for &frame in unplaced {
        let offset = offsets[frame as usize];
        placements[frame as usize].position =
            Some(std::array::from_fn(|i| origin[i] + offset * normal[i]));
    }
    Ok(())
}

/// RescaleSlope (default 1) and RescaleIntercept (default 0) of `frame`.
pub fn rescale(object: &InMemDicomObject, path: &Path, frame: u32) -> Result<[f64; 2]> {
    let at = sources(object, frame, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
    let slope = lookup::<1>(&at, path, tags::RESCALE_SLOPE, "RescaleSlope")?.map_or(1.0, |v| v[0]);
    let intercept =
        lookup::<1>(&at, path, tags::RESCALE_INTERCEPT, "RescaleIntercept")?.map_or(0.0, |v| v[0]);
    if slope == 0.0 {
        return Err(Error::invalid_file(
            path,
            "RescaleSlope is 0: every value would be the intercept",
        ));
    }
    Ok([slope, intercept])
}
