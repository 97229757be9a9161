//! Slice localisation's pure parts: the MIP's geometry (1 mm pixels, window, world positions),
//! the landmark row and its band label, the metric on known inputs, and the CT phantom.

use nnunet_core::{Geometry, Image, LabelMap};
use nnunet_datasets::localise::ct_phantom::{SHAPE, SPACING, ct_case};
use nnunet_datasets::localise::landmark::{band_centre, band_label, landmark_row};
use nnunet_datasets::localise::metric::{localise_folder, mean_sd};
use nnunet_datasets::localise::mip::{MipOptions, Plane, mip, row_position_mm};
use nnunet_datasets::{read_image, write_image, write_label};

/// A `(z, y, x)` volume of value `z·100 + y·10 + x` with one bright voxel.
fn ramp(shape: [usize; 3], spacing: [f64; 3]) -> Image {
    let mut data = Vec::new();
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                data.push((z * 100 + y * 10 + x) as f32);
            }
        }
    }
    Image {
        shape,
        channels: vec![data],
        geometry: Geometry {
            spacing,
            origin: [5.0, 7.0, -100.0],
            ..Default::default()
        },
        is_2d: false,
    }
}

#[test]
fn frontal_and_sagittal_mips_have_1mm_pixels_the_window_and_world_rows() {
    // 4 slices of 2.5 mm (10 mm), 3 rows of 2 mm (6 mm), 5 columns of 1 mm
    let image = ramp([4, 3, 5], [2.5, 2.0, 1.0]);
    let none = MipOptions {
        plane: Plane::Frontal,
        pixel_mm: 1.0,
        window: None,
    };
    let frontal = mip(&image, &none).unwrap();
    assert_eq!(frontal.shape, [1, 10, 5]);
    assert!(frontal.is_2d);
    assert_eq!(&frontal.geometry.spacing[1..], &[1.0, 1.0]);
    // row 0 samples slice 0 (clamped), column x: max over y is y = 2 → 20 + x
    assert_eq!(&frontal.channels[0][..5], &[20.0, 21.0, 22.0, 23.0, 24.0]);
    // the last row samples the last slice: 300 + 20 + x
    assert_eq!(frontal.channels[0][45], 320.0);
    // row r's centre is (r + 0.5) mm from the first slice's edge; slice 0's centre is 1.25 mm in
    assert!((row_position_mm(&frontal.geometry, 0.0) - (-100.0 - 0.75)).abs() < 1e-9);
    assert!((row_position_mm(&frontal.geometry, 4.0) - (-100.0 + 3.25)).abs() < 1e-9);
    // a row midway between slices 1 and 2 (continuous index 1.5 ↔ row 3.25 - 0.5 …) interpolates
    let row = 4; // continuous slice index (4.5)/2.5 - 0.5 = 1.3
    assert!((frontal.channels[0][row * 5] - (130.0 + 20.0)).abs() < 1e-3);

    let sagittal = mip(
        &image,
        &MipOptions {
            plane: Plane::Sagittal,
            ..none
        },
    )
    .unwrap();
    assert_eq!(sagittal.shape, [1, 10, 6]);
    // column c samples y at (c + 0.5)/2 - 0.5; max over x is x = 4
    assert!((sagittal.channels[0][0] - 4.0).abs() < 1e-5);
    assert!((sagittal.channels[0][5] - 24.0).abs() < 1e-5);

    let windowed = mip(
        &image,
        &MipOptions {
            window: Some((100.0, 200.0)),
            ..none
        },
    )
    .unwrap();
    let (lo, hi) = windowed.channels[0]
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((lo, hi), (100.0, 200.0));

    // a 2D image is refused
    let mut flat = image.clone();
    flat.is_2d = true;
    assert!(mip(&flat, &none).is_err());
}

#[test]
fn the_mip_geometry_survives_a_nifti_round_trip() {
    let image = ramp([4, 3, 5], [2.5, 2.0, 1.0]);
    let frontal = mip(
        &image,
        &MipOptions {
            window: None,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mip_0000.nii.gz");
    write_image(&path, &frontal).unwrap();
    let back = read_image(&[&path]).unwrap();
    assert_eq!(back.shape, frontal.shape);
    assert!(back.is_2d);
    for r in [0.0, 3.0, 9.0] {
        assert!(
            (row_position_mm(&back.geometry, r) - row_position_mm(&frontal.geometry, r)).abs()
                < 1e-4
        );
    }
}

#[test]
fn landmark_rows_bands_and_centres_agree() {
    // label 2 on slices 1 and 2 (of 2.5 mm): centroid 1.5 → (1.5 + 0.5)·2.5 − 0.5 = 4.5 rows
    let mut data = vec![0i16; 4 * 2 * 2];
    for z in 1..3 {
        data[z * 4] = 2;
    }
    data[0] = 1;
    let label = LabelMap {
        shape: [4, 2, 2],
        data,
        geometry: Geometry {
            spacing: [2.5, 1.0, 1.0],
            ..Default::default()
        },
        is_2d: false,
    };
    assert_eq!(landmark_row(&label, Some(2), 1.0), Some(4.5));
    assert_eq!(landmark_row(&label, Some(3), 1.0), None);
    // all foreground: z = 0, 1, 2 → 1.0 → 4.5 - 1.25… (1 + 0.5)·2.5 − 0.5 = 3.25
    assert_eq!(landmark_row(&label, None, 1.0), Some(3.25));

    let band = band_label(10, 3, 4.4, 2, Geometry::default());
    let rows: Vec<usize> = (0..10).filter(|r| band.data[r * 3] == 1).collect();
    assert_eq!(rows, vec![2, 3, 4, 5, 6]);
    assert_eq!(band_centre(&band), Some(4.0));
    // clipped at the border
    let edge = band_label(10, 3, 0.2, 2, Geometry::default());
    assert_eq!(band_centre(&edge), Some(1.0));
    assert_eq!(
        band_centre(&band_label(4, 2, 1.0, 0, Geometry::default())),
        Some(1.0)
    );
}

#[test]
fn the_metric_scores_known_predictions_in_mm() {
    assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
    assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));
    let dir = tempfile::tempdir().unwrap();
    let (pred, truth) = (dir.path().join("pred"), dir.path().join("truth"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&truth).unwrap();
    let geometry = Geometry {
        spacing: [999.0, 1.0, 1.0],
        origin: [0.0, -50.0, 0.0],
        ..Default::default()
    };
    // case a: predicted row 10, true 13 → 3 mm; case b: 20 vs 20 → 0; case c: nothing predicted
    for (case, p, t) in [
        ("a", Some(10.0), 13.0),
        ("b", Some(20.0), 20.0),
        ("c", None, 5.0),
    ] {
        let mut predicted = band_label(30, 4, p.unwrap_or(0.0), 0, geometry.clone());
        if p.is_none() {
            predicted.data.fill(0);
        }
        write_label(&pred.join(format!("{case}.nii.gz")), &predicted).unwrap();
        write_label(
            &truth.join(format!("{case}.nii.gz")),
            &band_label(30, 4, t, 3, geometry.clone()),
        )
        .unwrap();
    }
    let result = localise_folder(&pred, Some(&truth), ".nii.gz").unwrap();
    let a = &result.cases["a"];
    assert_eq!(a.predicted.unwrap().row, 10);
    assert!((a.predicted.unwrap().position_mm - (-40.0)).abs() < 1e-4);
    assert!((a.error_mm.unwrap() - 3.0).abs() < 1e-4);
    assert!(result.cases["c"].predicted.is_none());
    let summary = result.summary.unwrap();
    assert_eq!((summary.cases, summary.missing), (3, 1));
    assert!((summary.mean_error_mm - 1.5).abs() < 1e-4);
    assert!((summary.sd_error_mm - 4.5f64.sqrt()).abs() < 1e-4);
    // without truth: positions only
    assert!(
        localise_folder(&pred, None, ".nii.gz")
            .unwrap()
            .summary
            .is_none()
    );
}

#[test]
fn the_ct_phantom_marks_l3_on_the_spine_and_varies() {
    let (image, label) = ct_case(1234, 0);
    assert_eq!(image.shape, SHAPE);
    assert_eq!(image.geometry.spacing, SPACING);
    let l3 = label.data.iter().filter(|&&v| v == 1).count();
    assert!(l3 > 20, "L3 has {l3} voxels");
    // bone is bright, air dark
    let max = image.channels[0].iter().copied().fold(f32::MIN, f32::max);
    assert!(max > 450.0 && image.channels[0][0] < -900.0, "max {max}");
    let rows: Vec<f64> = (0..4)
        .map(|i| landmark_row(&ct_case(1234, i).1, Some(1), 1.0).unwrap())
        .collect();
    assert!(
        rows.iter().any(|r| (r - rows[0]).abs() > 3.0),
        "L3 rows {rows:?} must vary"
    );
    assert_eq!(ct_case(1234, 2).0, ct_case(1234, 2).0);
    // the frontal MIP in the CT window shows the spine within [100, 1500]
    let projected = mip(&image, &MipOptions::default()).unwrap();
    assert_eq!(projected.shape, [1, 120, 120]);
    assert!(
        projected.channels[0]
            .iter()
            .all(|v| (100.0..=1500.0).contains(v))
    );
}

#[test]
fn the_ct_phantom_dataset_splits_its_cases() {
    use nnunet_datasets::convert::Existing;
    use nnunet_datasets::localise::ct_phantom::{CtPhantomOptions, generate_ct};
    let dir = tempfile::tempdir().unwrap();
    let options = CtPhantomOptions {
        raw: dir.path().to_path_buf(),
        training_cases: 2,
        test_cases: 1,
        id: 902,
        seed: 1,
        existing: Existing::Refuse,
    };
    let folder = generate_ct(&options).unwrap();
    assert!(folder.ends_with("Dataset902_CTLandmark"));
    for file in [
        "imagesTr/ct_000_0000.nii.gz",
        "labelsTr/ct_001.nii.gz",
        "imagesTs/ct_002_0000.nii.gz",
        "labelsTs/ct_002.nii.gz",
        "dataset.json",
    ] {
        assert!(folder.join(file).is_file(), "{file}");
    }
    assert!(!folder.join("imagesTr/ct_002_0000.nii.gz").exists());
}
