//! Our `summary.json` against `nnUNetv2_evaluate_folder`'s on Hippocampus label maps with
//! deliberate errors (fixture: `tests/fixtures/eval_errors/`, made by its `make_fixture.py`):
//! an identical case, dilation/erosion, a shift, labels 1↔2 swapped in a region, a label
//! removed, a spurious blob, and a case whose reference and prediction both lack label 2
//! (NaN Dice). Every per-case and mean figure must equal nnU-Net's to 1e-6.

use nnunet_core::{DatasetDescriptor, atomic};
use nnunet_inference::evaluation::{METRIC_NAMES, Summary, evaluate_folders};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared_hippocampus() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "Dataset004_Hippocampus")
}

/// nnU-Net writes `NaN`; read it back as null → NaN.
fn value(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn close(ours: f64, theirs: f64, what: &str) {
    if theirs.is_nan() {
        assert!(ours.is_nan(), "{what}: ours {ours}, nnU-Net NaN");
    } else {
        assert!(
            (ours - theirs).abs() <= 1e-6,
            "{what}: ours {ours}, nnU-Net {theirs}"
        );
    }
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn summary_matches_nnunet_evaluate_folder() {
    let Some(hippocampus) = shared_hippocampus() else {
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval_errors");
    let predictions = fixture.join("predictions");
    let text = std::fs::read_to_string(fixture.join("nnunet_summary.json")).unwrap();
    let theirs: Value = serde_json::from_str(&text.replace("NaN", "null")).unwrap();

    // The reference folder: shared labels, plus the fixture's edited reference (label 2 removed).
    let gt = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for entry in std::fs::read_dir(&predictions).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let edited = fixture.join(format!("reference_{name}"));
        let source = if edited.exists() {
            edited
        } else {
            hippocampus.join("labelsTr").join(&name)
        };
        std::fs::copy(&source, gt.path().join(&name)).unwrap();
        cases += 1;
    }
    assert_eq!(cases, 7);
    let dataset: DatasetDescriptor = atomic::read_json(&hippocampus.join("dataset.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary_file = out.path().join("summary.json");
    let ours: Summary =
        evaluate_folders(gt.path(), &predictions, &dataset, Some(&summary_file)).unwrap();

    let their_cases = theirs["metric_per_case"].as_array().unwrap();
    assert_eq!(ours.metric_per_case.len(), their_cases.len());
    let mut nan_seen = false;
    for (case, their_case) in ours.metric_per_case.iter().zip(their_cases) {
        let name = file_name(&case.prediction_file);
        assert_eq!(
            name,
            file_name(their_case["prediction_file"].as_str().unwrap())
        );
        assert_eq!(
            file_name(&case.reference_file),
            file_name(their_case["reference_file"].as_str().unwrap())
        );
        let their_metrics = their_case["metrics"].as_object().unwrap();
        assert_eq!(case.metrics.len(), their_metrics.len(), "{name}: labels");
        for (label, metrics) in &case.metrics {
            for metric in METRIC_NAMES {
                let theirs = value(&their_metrics[label][metric]);
                nan_seen |= theirs.is_nan();
                close(
                    metrics.get(metric),
                    theirs,
                    &format!("{name} label {label} {metric}"),
                );
            }
        }
    }
    assert!(nan_seen, "the fixture has a NaN Dice case");
    for (label, metrics) in &ours.mean {
        for metric in METRIC_NAMES {
            close(
                metrics[metric],
                value(&theirs["mean"][label][metric]),
                &format!("mean label {label} {metric}"),
            );
        }
    }
    for metric in METRIC_NAMES {
        close(
            ours.foreground_mean[metric],
            value(&theirs["foreground_mean"][metric]),
            &format!("foreground_mean {metric}"),
        );
    }
    // The written file has the same shape as nnU-Net's: same keys, NaN literals.
    let written = std::fs::read_to_string(&summary_file).unwrap();
    assert!(written.contains("\"Dice\": NaN"));
    let ours_json: Value = serde_json::from_str(&written.replace("NaN", "null")).unwrap();
    assert_eq!(
        ours_json.as_object().unwrap().keys().collect::<Vec<_>>(),
        theirs.as_object().unwrap().keys().collect::<Vec<_>>()
    );
}
