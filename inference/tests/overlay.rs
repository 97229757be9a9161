//! `overlay_folder` on a tiny 2D (PNG) and 3D (NIfTI) case: the PNG has the expected size and
//! the contours carry the label colours.

use nnunet_core::{Geometry, Image, LabelMap};
use nnunet_inference::overlay::{GAP, SliceChoice, label_colour, overlay_folder, scale_for};
use std::path::Path;

fn boxes(shape: [usize; 3], boxes: &[(i16, [usize; 3], [usize; 3])]) -> Vec<i16> {
    let mut data = vec![0i16; shape.iter().product()];
    for &(label, lo, hi) in boxes {
        for z in lo[0]..hi[0] {
            for y in lo[1]..hi[1] {
                for x in lo[2]..hi[2] {
                    data[(z * shape[1] + y) * shape[2] + x] = label;
                }
            }
        }
    }
    data
}

fn write_case(dir: &Path, ending: &str, shape: [usize; 3], is_2d: bool, gt: &[i16], pred: &[i16]) {
    for sub in ["images", "gt", "pred"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let image = Image {
        shape,
        channels: vec![
            (0..shape.iter().product::<usize>())
                .map(|i| (i % 97) as f32)
                .collect(),
        ],
        geometry: Geometry::default(),
        is_2d,
    };
    nnunet_datasets::io::write_image(&dir.join(format!("images/case_0000{ending}")), &image)
        .unwrap();
    for (sub, data) in [("gt", gt), ("pred", pred)] {
        let label = LabelMap {
            shape,
            data: data.to_vec(),
            geometry: Geometry::default(),
            is_2d,
        };
        nnunet_datasets::io::write_label(&dir.join(format!("{sub}/case{ending}")), &label).unwrap();
    }
}

/// Runs `overlay_folder` on the case in `dir` and opens the one PNG.
fn overlay(dir: &Path, ending: &str, with_gt: bool, choice: SliceChoice) -> image::RgbImage {
    let out = dir.join("out");
    let gt = dir.join("gt");
    let written = overlay_folder(
        &dir.join("images"),
        with_gt.then_some(gt.as_path()),
        &dir.join("pred"),
        &out,
        ending,
        choice,
    )
    .unwrap();
    assert_eq!(written, vec![out.join("case.png")]);
    image::open(&written[0]).unwrap().to_rgb8()
}

fn pixel(img: &image::RgbImage, x: usize, y: usize) -> [u8; 3] {
    img.get_pixel(x as u32, y as u32).0
}

#[test]
fn two_d_overlay_shows_reference_and_prediction_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [1, 30, 40];
    let gt = boxes(
        shape,
        &[(1, [0, 5, 5], [1, 15, 20]), (2, [0, 18, 25], [1, 25, 35])],
    );
    let pred = boxes(shape, &[(1, [0, 6, 7], [1, 15, 20])]);
    write_case(dir.path(), ".png", shape, true, &gt, &pred);
    let img = overlay(dir.path(), ".png", true, SliceChoice::MaxForeground);
    let s = scale_for(30, 40);
    let panel = 40 * s as u32;
    assert_eq!(img.dimensions(), (2 * panel + GAP, 30 * s as u32));
    // Reference (left): label 1's corner and label 2's edge in their colours; inside is grey.
    assert_eq!(pixel(&img, 5 * s, 5 * s), label_colour(1));
    assert_eq!(pixel(&img, 30 * s, 18 * s), label_colour(2));
    let [r, g, b] = pixel(&img, 10 * s, 10 * s);
    assert!(
        r == g && g == b,
        "inside a label the image shows: {:?}",
        [r, g, b]
    );
    // Prediction (right): label 1 starts at (6, 7); no label 2.
    let off = (panel + GAP) as usize;
    assert_eq!(pixel(&img, off + 7 * s, 6 * s), label_colour(1));
    let [r, g, b] = pixel(&img, off + 5 * s, 5 * s);
    assert!(r == g && g == b);
    let right_has_2 = (0..img.height())
        .any(|y| (off as u32..img.width()).any(|x| img.get_pixel(x, y).0 == label_colour(2)));
    assert!(!right_has_2, "the prediction has no label 2");
    // The gap is white.
    assert_eq!(pixel(&img, panel as usize + 2, 3), [255, 255, 255]);
}

#[test]
fn three_d_overlay_without_reference_picks_the_foreground_slice() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [5, 20, 24];
    let pred = boxes(
        shape,
        &[(1, [3, 4, 4], [4, 12, 16]), (2, [1, 2, 2], [2, 4, 4])],
    );
    write_case(dir.path(), ".nii.gz", shape, false, &pred, &pred);
    let img = overlay(dir.path(), ".nii.gz", false, SliceChoice::MaxForeground);
    let s = scale_for(20, 24);
    assert_eq!(img.dimensions(), (24 * s as u32, 20 * s as u32));
    // Slice 3 (label 1, 96 voxels) beats slice 1 (label 2, 4 voxels).
    assert_eq!(pixel(&img, 4 * s, 4 * s), label_colour(1));
    assert_eq!(pixel(&img, (16 * s) - 1, (12 * s) - 1), label_colour(1));
    assert!(img.pixels().all(|p| p.0 != label_colour(2)));
    // --slice middle shows slice 2: no labels at all.
    let img = overlay(dir.path(), ".nii.gz", false, SliceChoice::Middle);
    assert!(img.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
}
