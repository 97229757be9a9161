//! The geometry of two-stage ROI prediction: a label map's connected components → their
//! bounding boxes → enlarged about their centres and clipped to the image → crops of images and
//! label maps that keep their world position → pasted back.
//!
//! Boxes are `[start, end)` per array axis `(z, y, x)` ([`BoundingBox`], as nnU-Net stores
//! `bbox_used_for_cropping`); components use nnU-Net's full connectivity
//! ([`crate::postprocess::components`]).

use crate::postprocess::components::label_components;
use nnunet_core::{Error, Geometry, Image, LabelMap, Result};
pub use nnunet_planning::crop::BoundingBox;
use nnunet_planning::crop::{box_shape, crop};

/// Which components become regions of interest, and how large.
#[derive(Clone, Debug, PartialEq)]
pub struct RoiOptions {
    /// Each box side is multiplied by this about the box centre (then clipped to the image);
    /// 2 by default, so a box covers its object's neighbourhood. At least 1.
    pub enlarge: f64,
    /// Components of each foreground label separately (an organ and the lesion inside it give
    /// two boxes) instead of all foreground labels together (one box).
    pub per_label: bool,
    /// Components with fewer voxels are ignored (specks of a coarse prediction).
    pub min_size: usize,
}

impl Default for RoiOptions {
    fn default() -> Self {
        RoiOptions {
            enlarge: 2.0,
            per_label: false,
            min_size: 1,
        }
    }
}

impl RoiOptions {
    /// Refuses a factor below 1 (or not finite).
    pub fn check(&self) -> Result<()> {
        if !self.enlarge.is_finite() || self.enlarge < 1.0 {
            return Err(Error::Invalid(format!(
                "the ROI enlargement factor must be at least 1, not {}",
                self.enlarge
            )));
        }
        Ok(())
    }
}

/// The tight bounding boxes of the connected components of `seg`'s foreground (labels > 0),
/// of all labels together or per label, components smaller than `min_size` left out; in order
/// of label, then of each component's first voxel in raster order.
pub fn component_boxes(seg: &LabelMap, per_label: bool, min_size: usize) -> Vec<BoundingBox> {
    let groups: Vec<Vec<bool>> = if per_label {
        seg.present_labels()
            .into_iter()
            .filter(|&l| l > 0)
            .map(|l| seg.data.iter().map(|&v| v == l).collect())
            .collect()
    } else {
        vec![seg.data.iter().map(|&v| v > 0).collect()]
    };
    let [_, ny, nx] = seg.shape;
    let mut boxes = Vec::new();
    for mask in groups {
        let components = label_components(&mask, seg.shape);
        let mut found: Vec<Option<BoundingBox>> = vec![None; components.sizes.len()];
        for (i, &label) in components.labels.iter().enumerate() {
            if label == 0 {
                continue;
            }
            let at = [i / (ny * nx), (i / nx) % ny, i % nx];
            let b = found[label as usize - 1].get_or_insert([
                [at[0], at[0] + 1],
                [at[1], at[1] + 1],
                [at[2], at[2] + 1],
            ]);
            for axis in 0..3 {
                b[axis][0] = b[axis][0].min(at[axis]);
                b[axis][1] = b[axis][1].max(at[axis] + 1);
            }
        }
        boxes.extend(
            found
                .into_iter()
                .zip(&components.sizes)
                .filter(|&(_, &size)| size >= min_size.max(1))
                .filter_map(|(b, _)| b),
        );
    }
    boxes
}

/// `bbox` with each side multiplied by `factor` about its centre (the side rounded to whole
/// voxels; the growth split evenly, the odd voxel after the box), clipped to `shape`.
pub fn enlarge(bbox: &BoundingBox, factor: f64, shape: [usize; 3]) -> BoundingBox {
    std::array::from_fn(|axis| {
        let [start, end] = bbox[axis];
        let side = end - start;
        let grown = ((side as f64 * factor).round() as usize).max(side);
        let extra = grown - side;
        let before = extra / 2;
        [
            start.saturating_sub(before),
            (end + extra - before).min(shape[axis]),
        ]
    })
}

/// The regions of interest of a (coarse) segmentation: its component boxes, enlarged.
pub fn roi_boxes(seg: &LabelMap, options: &RoiOptions) -> Vec<BoundingBox> {
    component_boxes(seg, options.per_label, options.min_size)
        .iter()
        .map(|b| enlarge(b, options.enlarge, seg.shape))
        .collect()
}

/// The world position `(x, y, z)` of array voxel `(z, y, x)`: origin + direction · (image
/// index `(i, j, k)` = `(x, y, z)` · spacing).
pub fn world_position(geometry: &Geometry, [z, y, x]: [usize; 3]) -> [f64; 3] {
    let step = [
        x as f64 * geometry.spacing[2],
        y as f64 * geometry.spacing[1],
        z as f64 * geometry.spacing[0],
    ];
    std::array::from_fn(|row| {
        geometry.origin[row]
            + (0..3)
                .map(|c| geometry.direction[row * 3 + c] * step[c])
                .sum::<f64>()
    })
}

/// The geometry of the crop starting at `bbox`'s first voxel: same spacing and direction, the
/// origin moved to that voxel's world position, so every voxel keeps its world coordinates.
pub fn crop_geometry(geometry: &Geometry, bbox: &BoundingBox) -> Geometry {
    Geometry {
        spacing: geometry.spacing,
        origin: world_position(geometry, [bbox[0][0], bbox[1][0], bbox[2][0]]),
        direction: geometry.direction,
        // The source's header describes the whole image, not the crop.
        source_header: None,
    }
}

fn check_inside(bbox: &BoundingBox, shape: [usize; 3]) -> Result<()> {
    if (0..3).any(|a| bbox[a][0] >= bbox[a][1] || bbox[a][1] > shape[a]) {
        return Err(Error::Invalid(format!(
            "box {bbox:?} is empty or does not fit in an image of shape {shape:?}"
        )));
    }
    Ok(())
}

/// The part of `image` inside `bbox`, every channel, in world coordinates.
pub fn crop_image(image: &Image, bbox: &BoundingBox) -> Result<Image> {
    check_inside(bbox, image.shape)?;
    Ok(Image {
        shape: box_shape(bbox),
        channels: image
            .channels
            .iter()
            .map(|c| crop(c, image.shape, bbox))
            .collect(),
        geometry: crop_geometry(&image.geometry, bbox),
        is_2d: image.is_2d,
    })
}

/// The part of `label` inside `bbox`, in world coordinates.
pub fn crop_label(label: &LabelMap, bbox: &BoundingBox) -> Result<LabelMap> {
    check_inside(bbox, label.shape)?;
    Ok(LabelMap {
        shape: box_shape(bbox),
        data: crop(&label.data, label.shape, bbox),
        geometry: crop_geometry(&label.geometry, bbox),
        is_2d: label.is_2d,
    })
}

/// Combines `part` (C order, `bbox`'s shape) into `full` (C order, `shape`) at `bbox`, voxel
/// by voxel with `combine(full_value, part_value)`.
pub fn paste_with<T: Copy>(
    full: &mut [T],
    shape: [usize; 3],
    part: &[T],
    bbox: &BoundingBox,
    combine: impl Fn(&mut T, T),
) {
    let [_, ny, nx] = shape;
    let width = bbox[2][1] - bbox[2][0];
    let mut rows = part.chunks_exact(width);
    for z in bbox[0][0]..bbox[0][1] {
        for y in bbox[1][0]..bbox[1][1] {
            let start = (z * ny + y) * nx + bbox[2][0];
            if let Some(row) = rows.next() {
                for (f, &p) in full[start..start + width].iter_mut().zip(row) {
                    combine(f, p);
                }
            }
        }
    }
}

/// Writes `part` into `full` at `bbox`: the inverse of [`crop`].
pub fn paste<T: Copy>(full: &mut [T], shape: [usize; 3], part: &[T], bbox: &BoundingBox) {
    paste_with(full, shape, part, bbox, |f, p| *f = p);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(shape: [usize; 3], data: Vec<i16>) -> LabelMap {
        LabelMap {
            shape,
            data,
            geometry: Geometry::default(),
            is_2d: shape[0] == 1,
        }
    }

    #[test]
    fn boxes_of_all_foreground_or_per_label() {
        #[rustfmt::skip]
        let seg = label([1, 4, 6], vec![
            1, 1, 0, 0, 0, 0,
            1, 2, 0, 0, 0, 3,
            0, 0, 0, 0, 0, 0,
            0, 0, 0, 2, 0, 0,
        ]);
        assert_eq!(
            component_boxes(&seg, false, 1),
            vec![
                [[0, 1], [0, 2], [0, 2]],
                [[0, 1], [1, 2], [5, 6]],
                [[0, 1], [3, 4], [3, 4]]
            ]
        );
        assert_eq!(
            component_boxes(&seg, false, 2),
            vec![[[0, 1], [0, 2], [0, 2]]]
        );
        assert_eq!(
            component_boxes(&seg, true, 1),
            vec![
                [[0, 1], [0, 2], [0, 2]],
                [[0, 1], [1, 2], [1, 2]],
                [[0, 1], [3, 4], [3, 4]],
                [[0, 1], [1, 2], [5, 6]]
            ]
        );
        assert!(component_boxes(&label([1, 1, 2], vec![0, 0]), false, 1).is_empty());
    }

    #[test]
    fn enlarging_doubles_about_the_centre_and_clips() {
        let shape = [1, 100, 100];
        // 10 → 20: 5 before, 5 after; 3 → 6: 1 before, 2 after; z stays in the one slice.
        assert_eq!(
            enlarge(&[[0, 1], [40, 50], [10, 13]], 2.0, shape),
            [[0, 1], [35, 55], [9, 15]]
        );
        // Clipped at both borders.
        assert_eq!(
            enlarge(&[[0, 1], [0, 10], [95, 100]], 2.0, shape),
            [[0, 1], [0, 15], [93, 100]]
        );
        assert_eq!(
            enlarge(&[[0, 1], [4, 6], [4, 6]], 1.0, shape),
            [[0, 1], [4, 6], [4, 6]]
        );
        assert!(
            RoiOptions {
                enlarge: 0.5,
                ..Default::default()
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn crops_keep_world_coordinates() {
        // An oblique direction (rotation about z) and anisotropic spacing.
        let (s, c) = 0.3f64.sin_cos();
        let geometry = Geometry {
            spacing: [3.0, 0.5, 0.7],
            origin: [10.0, -20.0, 5.0],
            direction: [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0],
            ..Default::default()
        };
        let bbox = [[2, 4], [3, 7], [1, 5]];
        let cropped = crop_geometry(&geometry, &bbox);
        let a = world_position(&cropped, [1, 2, 3]);
        let b = world_position(&geometry, [3, 5, 4]);
        for r in 0..3 {
            assert!((a[r] - b[r]).abs() < 1e-9, "{a:?} {b:?}");
        }
        assert_eq!(cropped.spacing, geometry.spacing);
        assert_eq!(cropped.direction, geometry.direction);
    }

    #[test]
    fn crop_then_paste_is_the_identity_inside_the_box() {
        let shape = [3, 4, 5];
        let data: Vec<i16> = (0..60).collect();
        let seg = label(shape, data.clone());
        let bbox = [[1, 3], [0, 2], [2, 5]];
        let part = crop_label(&seg, &bbox).unwrap();
        assert_eq!(part.shape, [2, 2, 3]);
        let mut back = vec![-1i16; 60];
        paste(&mut back, shape, &part.data, &bbox);
        for z in 0..3 {
            for y in 0..4 {
                for x in 0..5 {
                    let i = (z * 4 + y) * 5 + x;
                    let inside = (1..3).contains(&z) && y < 2 && x >= 2;
                    assert_eq!(back[i], if inside { data[i] } else { -1 });
                }
            }
        }
        assert!(crop_label(&seg, &[[0, 4], [0, 1], [0, 1]]).is_err());
        assert!(crop_label(&seg, &[[1, 1], [0, 1], [0, 1]]).is_err());
    }
}
