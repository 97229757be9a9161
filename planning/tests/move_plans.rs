//! `nnunet move-plans` against nnU-Net's own `nnUNetv2_move_plans_between_datasets`: the
//! Hippocampus plans nnU-Net 2.8.1 made, moved to a target dataset, equal the files nnU-Net
//! wrote (fixtures/move_plans, made by fixtures/make_move_plans_fixture.py), key order
//! included; missing source folders or plans and a channel mismatch are refused.

use nnunet_core::paths::NnunetPaths;
use nnunet_planning::{MovePlansRequest, move_plans};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.is_dir(),
        "{} missing: the shared data is required",
        dir.display()
    );
    dir
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/move_plans")
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Keys in file order, recursively: `Value`'s equality ignores the order.
fn key_order(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| std::iter::once(k.clone()).chain(key_order(v)))
            .collect(),
        Value::Array(items) => items.iter().flat_map(key_order).collect(),
        _ => Vec::new(),
    }
}

/// nnUNet_raw with the source's and the target's dataset.json, nnUNet_preprocessed with the
/// source's nnU-Net plans, as the fixture script sets them up.
fn setup(root: &Path) -> NnunetPaths {
    let data = shared_data();
    let raw = root.join("raw");
    let preprocessed = root.join("preprocessed");
    for dir in ["Dataset004_Hippocampus", "Dataset005_Target"] {
        std::fs::create_dir_all(raw.join(dir)).unwrap();
    }
    std::fs::copy(
        data.join("Dataset004_Hippocampus/dataset.json"),
        raw.join("Dataset004_Hippocampus/dataset.json"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("target_dataset.json"),
        raw.join("Dataset005_Target/dataset.json"),
    )
    .unwrap();
    let source = preprocessed.join("Dataset004_Hippocampus");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::copy(
        data.join("nnunetv2_reference/Dataset004_Hippocampus/nnUNetPlans.json"),
        source.join("nnUNetPlans.json"),
    )
    .unwrap();
    NnunetPaths {
        raw: Some(raw),
        preprocessed: Some(preprocessed),
        results: None,
    }
}

fn request(target_plans: Option<&str>) -> MovePlansRequest {
    MovePlansRequest {
        source: "4".into(),
        target: "Dataset005_Target".into(),
        source_plans: "nnUNetPlans".into(),
        target_plans: target_plans.map(str::to_string),
    }
}

#[test]
fn moved_plans_equal_nnunets() {
    let root = tempfile::tempdir().unwrap();
    let paths = setup(root.path());
    for (target_plans, fixture) in [
        (Some("nnUNetPlansFrom4"), "nnUNetPlansFrom4.json"),
        (None, "nnUNetPlans.json"),
    ] {
        let file = move_plans(&paths, &request(target_plans)).unwrap();
        let target = root.path().join("preprocessed/Dataset005_Target");
        assert_eq!(file, target.join(fixture));
        let ours = read(&file);
        let theirs = read(&fixtures().join(fixture));
        assert_eq!(ours, theirs, "{fixture}");
        assert_eq!(key_order(&ours), key_order(&theirs), "{fixture}");
    }
    let moved = read(
        &root
            .path()
            .join("preprocessed/Dataset005_Target/nnUNetPlansFrom4.json"),
    );
    assert_eq!(moved["dataset_name"], "Dataset005_Target");
    assert_eq!(
        moved["configurations"]["3d_fullres"]["data_identifier"],
        "nnUNetPlansFrom4_3d_fullres"
    );
}

#[test]
fn missing_source_and_channel_mismatch_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let paths = setup(root.path());
    let wrong_plans = MovePlansRequest {
        source_plans: "nnUNetResEncUNetLPlans".into(),
        ..request(None)
    };
    let err = move_plans(&paths, &wrong_plans).unwrap_err().to_string();
    assert!(err.contains("nnUNetResEncUNetLPlans.json"), "{err}");
    assert!(err.contains("source plans missing"), "{err}");

    let no_source = MovePlansRequest {
        source: "Dataset006_Nothing".into(),
        ..request(None)
    };
    let err = move_plans(&paths, &no_source).unwrap_err().to_string();
    assert!(
        err.contains("Dataset006_Nothing") && err.contains("preprocessed folder"),
        "{err}"
    );

    let raw = paths.raw.clone().unwrap();
    let mut dataset = read(&fixtures().join("target_dataset.json"));
    dataset["channel_names"] = serde_json::json!({"0": "T1", "1": "T2"});
    std::fs::write(
        raw.join("Dataset005_Target/dataset.json"),
        serde_json::to_vec(&dataset).unwrap(),
    )
    .unwrap();
    let err = move_plans(&paths, &request(Some("X")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("normalises 1 input channels") && err.contains("has 2"),
        "{err}"
    );
    assert!(
        !root
            .path()
            .join("preprocessed/Dataset005_Target/X.json")
            .exists()
    );
}
