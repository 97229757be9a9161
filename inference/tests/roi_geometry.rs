//! The two-stage ROI geometry on the generated 2D and 3D phantoms (objects small in a large
//! field of view): every component's enlarged box holds its component; cropping the ground truth
//! at the boxes and pasting the crops back reproduces it exactly; crops written to disk and read
//! back keep every voxel's world position; `convert roi` writes such crops as a dataset.

use nnunet_core::LabelMap;
use nnunet_datasets::convert::Existing;
use nnunet_datasets::phantom::{self, Dim, PhantomOptions};
use nnunet_inference::roi::boxes::{
    component_boxes, crop_image, crop_label, paste, roi_boxes, world_position,
};
use nnunet_inference::roi::{RoiOptions, convert_roi};

fn cases(dim: Dim) -> Vec<(nnunet_core::Image, LabelMap)> {
    (0..3)
        .map(|i| {
            let (mut image, mut label) = phantom::phantom_case_in_large_field(dim, 7, i, 2);
            // A non-trivial origin (as scanners write) that crops must move correctly.
            let origin = [-40.5, 12.25, 3.0];
            image.geometry.origin = origin;
            label.geometry.origin = origin;
            (image, label)
        })
        .collect()
}

#[test]
fn crops_of_the_ground_truth_paste_back_exactly() {
    for dim in [Dim::Two, Dim::Three] {
        for (image, label) in cases(dim) {
            let small = phantom::phantom_grid(dim).0;
            let factor = if dim == Dim::Two {
                [1, 2, 2]
            } else {
                [2, 2, 2]
            };
            assert_eq!(label.shape, std::array::from_fn(|a| small[a] * factor[a]));
            for per_label in [false, true] {
                let options = RoiOptions {
                    per_label,
                    ..Default::default()
                };
                let tight = component_boxes(&label, per_label, 1);
                let boxes = roi_boxes(&label, &options);
                // organ ⊃ lesion: one component of all foreground, one per label otherwise.
                assert_eq!(boxes.len(), if per_label { 2 } else { 1 }, "{dim:?}");
                for (t, b) in tight.iter().zip(&boxes) {
                    for a in 0..3 {
                        assert!(b[a][0] <= t[a][0] && t[a][1] <= b[a][1], "{t:?} in {b:?}");
                        let (side, grown) = (t[a][1] - t[a][0], b[a][1] - b[a][0]);
                        // doubled unless clipped by the image (2D: z stays one slice)
                        let clipped = b[a][0] == 0 || b[a][1] == label.shape[a];
                        assert!(
                            grown == 2 * side || clipped,
                            "{dim:?} axis {a}: {t:?} → {b:?}"
                        );
                    }
                }
                let mut pasted = vec![0i16; label.data.len()];
                for bbox in &boxes {
                    let crop = crop_label(&label, bbox).unwrap();
                    let crop_img = crop_image(&image, bbox).unwrap();
                    assert_eq!(crop.shape, crop_img.shape);
                    assert_eq!(crop.geometry, crop_img.geometry);
                    assert!(
                        world_position(&crop.geometry, [0, 0, 0])
                            .iter()
                            .zip(world_position(
                                &label.geometry,
                                [bbox[0][0], bbox[1][0], bbox[2][0]]
                            ))
                            .all(|(a, b)| (a - b).abs() < 1e-9)
                    );
                    paste(&mut pasted, label.shape, &crop.data, bbox);
                }
                // Every foreground voxel lies in a box, so the paste reproduces the whole map.
                assert_eq!(pasted, label.data, "{dim:?} per_label {per_label}");
            }
        }
    }
}

#[test]
fn crops_written_to_disk_keep_world_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let (image, label) = cases(Dim::Three).remove(0);
    let bbox = roi_boxes(&label, &RoiOptions::default())[0];
    let crop = crop_image(&image, &bbox).unwrap();
    let path = dir.path().join("crop_0000.nii.gz");
    nnunet_datasets::io::write_image(&path, &crop).unwrap();
    let back = nnunet_datasets::io::read_image(&[&path]).unwrap();
    assert_eq!(back.shape, crop.shape);
    assert_eq!(back.channels, crop.channels);
    let corner = [bbox[0][1] - 1, bbox[1][1] - 1, bbox[2][1] - 1];
    let last = crop.shape.map(|s| s - 1);
    let (a, b) = (
        world_position(&back.geometry, last),
        world_position(&image.geometry, corner),
    );
    for r in 0..3 {
        assert!((a[r] - b[r]).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}

#[test]
fn convert_roi_writes_one_case_per_component() {
    let raw = tempfile::tempdir().unwrap();
    for dim in [Dim::Two, Dim::Three] {
        let source = phantom::generate(&PhantomOptions {
            training_cases: 2,
            test_cases: 0,
            field_of_view: 2,
            ..PhantomOptions::new(dim, raw.path().to_path_buf())
        })
        .unwrap();
        let (id, ending) = match dim {
            Dim::Two => (921, ".png"),
            Dim::Three => (920, ".nii.gz"),
        };
        let target = raw.path().join(format!("Dataset{id}_Crops"));
        let options = RoiOptions {
            per_label: true,
            ..Default::default()
        };
        let summary = convert_roi(&source, &target, &options, Existing::Refuse).unwrap();
        assert_eq!((summary.source_cases, summary.crops), (2, 4));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(target.join("dataset.json")).unwrap())
                .unwrap();
        assert_eq!(json["numTraining"], 4);
        assert_eq!(json["labels"]["lesion"], 2);
        let (_, label) = phantom::phantom_case_in_large_field(dim, 1234, 1, 2);
        let boxes = roi_boxes(&label, &options);
        let written = nnunet_datasets::io::read_label(
            &target.join(format!("labelsTr/phantom_001_roi01{ending}")),
        )
        .unwrap();
        assert_eq!(written.data, crop_label(&label, &boxes[1]).unwrap().data);
        let image = nnunet_datasets::io::read_image(&[
            target.join(format!("imagesTr/phantom_001_roi01_0000{ending}"))
        ])
        .unwrap();
        assert_eq!(image.shape, written.shape);
        // the crop dataset is a valid raw dataset
        let report = nnunet_datasets::verify::verify_dataset(&target).unwrap();
        assert!(report.problems.is_empty(), "{report}");
        assert_eq!(report.training_cases, 4);
        // a second run refuses; a badly named target is refused naming the folder
        assert!(convert_roi(&source, &target, &options, Existing::Refuse).is_err());
        let err = convert_roi(
            &source,
            &raw.path().join("Crops"),
            &options,
            Existing::Refuse,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("DatasetNNN_Name"), "{err}");
    }
}
