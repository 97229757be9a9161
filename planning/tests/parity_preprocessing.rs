//! Preprocessing against nnU-Net v2.8.1's own outputs (fixtures made by
//! tests/fixtures/make_preprocessing_fixtures.py):
//!
//! * resampling: small volumes through nnU-Net's `resample_data_or_seg_to_shape` (cubic data,
//!   linear one-hot labels, separate z) — label maps identical, data within 1e-5;
//! * Hippocampus: three cases of nnU-Net's preprocessed 3d_fullres — crop box, label maps
//!   identical, image values within 1e-5 (see docs/planning.md for why), and the number of
//!   sampled foreground locations per class.

use nnunet_core::{DatasetDescriptor, Plans};
use nnunet_planning::preprocess::ConfigurationJob;
use nnunet_planning::resample::{Kind, Volume, resample};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn i16s(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn arr3(v: &Value) -> [usize; 3] {
    let a: Vec<usize> = serde_json::from_value(v.clone()).unwrap();
    [a[0], a[1], a[2]]
}

fn arr3f(v: &Value) -> [f64; 3] {
    let a: Vec<f64> = serde_json::from_value(v.clone()).unwrap();
    [a[0], a[1], a[2]]
}

#[test]
fn resampling_matches_nnunet() {
    let dir = fixtures().join("resampling");
    let index: Value = nnunet_core::atomic::read_json(&dir.join("index.json")).unwrap();
    for (name, case) in index.as_object().unwrap() {
        let (shape, new_shape) = (arr3(&case["shape"]), arr3(&case["new_shape"]));
        let (cur, new) = (arr3f(&case["current_spacing"]), arr3f(&case["new_spacing"]));
        let data = Volume::new(
            shape,
            f32s(&dir.join(format!("{name}.in.data")))
                .iter()
                .map(|&v| v as f64)
                .collect(),
        );
        let ours = resample(&data, new_shape, &cur, &new, Kind::Data);
        let expected = f32s(&dir.join(format!("{name}.out.data")));
        assert_eq!(ours.data.len(), expected.len(), "{name}");
        let max_diff = ours
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| (*a as f32 - b).abs())
            .fold(0f32, f32::max);
        eprintln!("{name}: max data difference {max_diff}");
        assert!(max_diff < 1e-5, "{name}: data differs by up to {max_diff}");

        let seg = Volume::new(
            shape,
            i16s(&dir.join(format!("{name}.in.seg")))
                .iter()
                .map(|&v| v as f64)
                .collect(),
        );
        let ours = resample(&seg, new_shape, &cur, &new, Kind::Segmentation);
        let expected = i16s(&dir.join(format!("{name}.out.seg")));
        let differing = ours
            .data
            .iter()
            .zip(&expected)
            .filter(|(a, b)| **a as i16 != **b)
            .count();
        assert_eq!(
            differing,
            0,
            "{name}: {differing} of {} label voxels differ",
            expected.len()
        );
    }
}

#[test]
fn hippocampus_cases_match_nnunet() {
    let Some(data) = nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "") else {
        return;
    };
    let raw = data.join("Dataset004_Hippocampus");
    let plans: Plans = nnunet_core::atomic::read_json(
        &data.join("nnunetv2_reference/Dataset004_Hippocampus/nnUNetPlans.json"),
    )
    .unwrap();
    let dataset: DatasetDescriptor =
        nnunet_core::atomic::read_json(&raw.join("dataset.json")).unwrap();
    let job = ConfigurationJob::new(&plans, "3d_fullres", &dataset).unwrap();
    let dir = fixtures().join("hippocampus");
    let mut checked = 0;
    for case in ["hippocampus_001", "hippocampus_019", "hippocampus_083"] {
        let meta: Value =
            nnunet_core::atomic::read_json(&dir.join(format!("{case}.json"))).unwrap();
        let image =
            nnunet_datasets::read_image(&[raw.join(format!("imagesTr/{case}_0000.nii.gz"))])
                .unwrap();
        let label =
            nnunet_datasets::read_label(&raw.join(format!("labelsTr/{case}.nii.gz"))).unwrap();
        let out = job.run_case(image, Some(label)).unwrap();

        let shape: Vec<usize> = serde_json::from_value(meta["data_shape"].clone()).unwrap();
        assert_eq!(out.properties.data_shape.to_vec(), shape, "{case}: shape");
        let bbox: Vec<[usize; 2]> =
            serde_json::from_value(meta["bbox_used_for_cropping"].clone()).unwrap();
        assert_eq!(
            out.properties.bbox_used_for_cropping.to_vec(),
            bbox,
            "{case}: crop box"
        );

        let seg = i16s(&dir.join(format!("{case}.seg")));
        assert_eq!(out.seg, seg, "{case}: label map");

        let expected = f32s(&dir.join(format!("{case}.data")));
        let max_diff = out
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("{case}: max image difference {max_diff}");
        assert!(
            max_diff < 1e-5,
            "{case}: image values differ by up to {max_diff}"
        );

        for (class, count) in meta["class_location_counts"].as_object().unwrap() {
            let ours = out
                .properties
                .class_locations
                .get(class)
                .map_or(0, Vec::len);
            assert_eq!(
                ours as u64,
                count.as_u64().unwrap(),
                "{case}: locations of class {class}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 3);
}
