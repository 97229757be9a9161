//! Slice localisation end to end on the CT phantom: `demo-data --landmark` → `convert mip` →
//! plan and preprocess `2d` → a brief training with the `localise` plugin's trainer →
//! `predict --postprocess (slice-localise) --localisation` writes each case's slice index and
//! world position → `nnunet localise` scores them in mm.

mod support;

use std::path::{Path, PathBuf};
use support::{Sandbox, brief_train_args};

/// `plugins/localise`, built beside the `nnunet` binary by scripts/build-plugins.sh.
fn localise_plugin() -> PathBuf {
    let release = Path::new(env!("CARGO_BIN_EXE_nnunet")).parent();
    let target = release.and_then(Path::parent).unwrap_or(Path::new("."));
    let path = target.join("plugins").join("libnnunet_plugin_localise.so");
    assert!(
        path.exists(),
        "{} is missing: scripts/build-plugins.sh builds it",
        path.display()
    );
    path
}

#[test]
fn a_mip_model_writes_each_cases_slice_index_and_position() {
    let sandbox = Sandbox::new();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let plugin = s(&localise_plugin());
    sandbox.run(&[
        "demo-data",
        "--landmark",
        "--cases",
        "4",
        "--test-cases",
        "2",
    ]);
    let source = sandbox.path().join("raw/Dataset902_CTLandmark");
    let out = sandbox.run(&[
        "convert",
        "mip",
        &s(&source),
        "--id",
        "903",
        "--name",
        "CTLandmarkMIP",
    ]);
    assert!(out.contains("Dataset903_CTLandmarkMIP"), "{out}");
    let dataset = sandbox.path().join("raw/Dataset903_CTLandmarkMIP");
    sandbox.run(&["plan-and-preprocess", "-d", "903", "-c", "2d"]);
    let mut train = brief_train_args("903", "2d", "0", 1, 2);
    train.extend(
        [
            "--plugin",
            &plugin,
            "--trainer",
            "localise",
            "--trainer-options",
            r#"{"batch_size": 2}"#,
            "--no-validation",
        ]
        .map(str::to_string),
    );
    sandbox.run(&train);

    let pipeline = sandbox.path().join("postprocessing.json");
    std::fs::write(
        &pipeline,
        r#"{"postprocessors": [{"name": "slice-localise"}], "file_ending": ".nii.gz"}"#,
    )
    .unwrap();
    let pred = sandbox.path().join("pred");
    let images = dataset.join("imagesTs");
    let out = sandbox.run(&[
        "predict",
        "-i",
        &s(&images),
        "-o",
        &s(&pred),
        "-d",
        "903",
        "-c",
        "2d",
        "-f",
        "0",
        "--no-tta",
        "--device",
        "cpu",
        "--trainer",
        "localise",
        "--plugin",
        &plugin,
        "--postprocess",
        &s(&pipeline),
        "--localisation",
    ]);
    assert!(out.contains("2 case(s) located"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pred.join("localisation.json")).unwrap())
            .unwrap();
    for case in ["ct_004", "ct_005"] {
        let predicted = &json["cases"][case]["predicted"];
        let row = predicted["row"]
            .as_u64()
            .unwrap_or_else(|| panic!("{case}: {json}"));
        assert!(row < 120, "{case}: row {row}");
        // the phantom's rows span world z −300.75 … −181.75 mm (row centres)
        let z = predicted["position_mm"].as_f64().unwrap();
        assert!((-300.8..-181.7).contains(&z), "{case}: z {z}");
    }
    let out = sandbox.run(&[
        "localise",
        "-p",
        &s(&pred),
        "-g",
        &s(&dataset.join("labelsTs")),
    ]);
    assert!(
        out.contains("localisation error") && out.contains("over 2 case(s), 0 missing"),
        "{out}"
    );
}
