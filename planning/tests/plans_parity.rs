//! Our plans, computed from nnU-Net's own fingerprints, against nnU-Net v2.8.1's plans files:
//! the reference plans of the three shared datasets (../shared/data/nnunetv2_reference) and the
//! synthetic anisotropic / large-CT / multi-channel datasets under tests/fixtures (made by
//! tests/fixtures/make_fixtures.py with nnU-Net's planner).

use nnunet_core::{DatasetDescriptor, Fingerprint, PlanOptions, Planner, Plans};
use nnunet_planning::planner::{DEFAULT, ExperimentPlanner, PlannerPreset, RESENC_L, RESENC_M};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared_data() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans")
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    nnunet_core::atomic::read_json(path).unwrap_or_else(|e| panic!("{e}"))
}

fn plan(
    preset: &PlannerPreset,
    fingerprint: &Path,
    dataset_json: &Path,
    name: &str,
    gpu: Option<f64>,
) -> Value {
    let fp: Fingerprint = read(fingerprint);
    let ds: DatasetDescriptor = read(dataset_json);
    let options = PlanOptions {
        gpu_memory_gb: gpu.unwrap_or(preset.default_gpu_memory_gb),
        plans_name: None,
        dataset_name: name.to_string(),
    };
    let plans: Plans = ExperimentPlanner::new(preset)
        .plan(&fp, &ds, &options)
        .unwrap();
    serde_json::to_value(plans).unwrap()
}

/// Numbers equal as floats (nnU-Net writes `36.0` where we may write `36`, and vice versa).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

const TOP_LEVEL: &[&str] = &[
    "dataset_name",
    "plans_name",
    "original_median_spacing_after_transp",
    "original_median_shape_after_transp",
    "image_reader_writer",
    "transpose_forward",
    "transpose_backward",
    "experiment_planner_used",
    "label_manager",
    "foreground_intensity_properties_per_channel",
];

/// Every key of nnU-Net's plans, compared: configurations created and each of their fields
/// (patch, batch, spacing, median size, normalisation, mask, batch Dice, resampling, the whole
/// architecture block).
fn assert_plans_equal(ours: &Value, reference: &Value, what: &str) {
    for key in TOP_LEVEL {
        assert!(
            same(&ours[key], &reference[key]),
            "{what}: {key}: ours {} nnU-Net {}",
            ours[key],
            reference[key]
        );
    }
    let ours_c = ours["configurations"].as_object().unwrap();
    let ref_c = reference["configurations"].as_object().unwrap();
    let mut names: Vec<_> = ours_c.keys().collect();
    let mut ref_names: Vec<_> = ref_c.keys().collect();
    names.sort();
    ref_names.sort();
    assert_eq!(names, ref_names, "{what}: configurations created");
    for (name, rc) in ref_c {
        let oc = &ours_c[name];
        let rc = rc.as_object().unwrap();
        assert_eq!(
            oc.as_object().unwrap().len(),
            rc.len(),
            "{what} {name}: keys {oc}"
        );
        for (key, rv) in rc {
            assert!(
                same(&oc[key], rv),
                "{what} {name}.{key}: ours {} nnU-Net {rv}",
                oc[key]
            );
        }
    }
}

#[test]
fn default_plans_equal_the_reference_for_the_shared_datasets() {
    let Some(data) = shared_data() else { return };
    for name in [
        "Dataset004_Hippocampus",
        "Dataset101_CHASEDB1",
        "Dataset102_HC18subset",
    ] {
        let reference_dir = data.join("nnunetv2_reference").join(name);
        let ours = plan(
            &DEFAULT,
            &reference_dir.join("dataset_fingerprint.json"),
            &data.join(name).join("dataset.json"),
            name,
            None,
        );
        let reference: Value = read(&reference_dir.join("nnUNetPlans.json"));
        assert_plans_equal(&ours, &reference, name);
    }
}

#[test]
fn resenc_m_and_l_plans_equal_the_reference_for_hippocampus() {
    let Some(data) = shared_data() else { return };
    let name = "Dataset004_Hippocampus";
    let reference_dir = data.join("nnunetv2_reference").join(name);
    for (preset, file) in [
        (&RESENC_M, "nnUNetResEncUNetMPlans.json"),
        (&RESENC_L, "nnUNetResEncUNetLPlans.json"),
    ] {
        let ours = plan(
            preset,
            &reference_dir.join("dataset_fingerprint.json"),
            &data.join(name).join("dataset.json"),
            name,
            None,
        );
        let reference: Value = read(&reference_dir.join(file));
        assert_plans_equal(&ours, &reference, file);
    }
}

/// Each fixture folder holds `dataset.json`, `dataset_fingerprint.json` and nnU-Net's plans
/// as `<PlansName>.json` (and `<PlansName>__gpu<N>.json` for a non-default memory target).
#[test]
fn plans_equal_nnunet_on_synthetic_fixtures() {
    let root = fixtures();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for dir in entries {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            if !stem.starts_with("nnUNet") {
                continue;
            }
            let (plans_name, gpu) = match stem.split_once("__gpu") {
                Some((p, g)) => (p.to_string(), Some(g.parse::<f64>().unwrap())),
                None => (stem.clone(), None),
            };
            let preset = nnunet_planning::PRESETS
                .iter()
                .find(|p| p.plans_name == plans_name)
                .unwrap_or_else(|| panic!("no preset for {plans_name}"));
            let ours = plan(
                preset,
                &dir.join("dataset_fingerprint.json"),
                &dir.join("dataset.json"),
                &name,
                gpu,
            );
            let reference: Value = read(&file);
            assert_plans_equal(&ours, &reference, &format!("{name}/{stem}"));
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "only {checked} fixture plans found in {}",
        root.display()
    );
}
