//! Our exported probabilities and label map equal nnU-Net's
//! `convert_predicted_logits_to_segmentation_with_correct_shape(return_probabilities=True)` on
//! the same logits and case properties (crop box, transpose (0, 2, 1)), for a softmax dataset
//! and a region dataset — same array order, background 1 / regions 0 outside the box.
//!
//! Needs nnU-Net's venv (NNUNET_PEER_PYTHON, which scripts/test.sh sets from
//! scripts/peer_venv.sh) and the Hippocampus reference plans under `../shared/data`; a counted
//! skip when either is absent, a failure under NNUNET_REQUIRE_SHARED_DATA=1.

use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_inference::export::export_prediction;
use nnunet_inference::label_handling::LabelHandling;
use nnunet_planning::preprocessed_format::CaseProperties;
use std::path::{Path, PathBuf};

fn reference_plans() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(
        env!("CARGO_MANIFEST_DIR"),
        "nnunetv2_reference/Dataset004_Hippocampus/nnUNetPlans.json",
    )
}

fn properties() -> CaseProperties {
    serde_json::from_value(serde_json::json!({
        "format": "", "data_shape": [1, 5, 7, 6], "data_dtype": "", "seg_dtype": "",
        "spacing": [1.0, 1.0, 1.0], "spacing_after_resampling": [1.0, 1.0, 1.0],
        "geometry": {"spacing": [1.0, 1.0, 1.0], "origin": [0.0, 0.0, 0.0],
                     "direction": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]},
        "is_2d": false, "shape_before_cropping": [7, 9, 8],
        "bbox_used_for_cropping": [[1, 6], [2, 9], [1, 7]],
        "shape_after_cropping_and_before_resampling": [5, 7, 6],
        "class_locations": {}, "plans_digest": ""
    }))
    .unwrap()
}

fn write_npy(path: &Path, t: &Tensor) {
    let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
    let values = Vec::<f32>::try_from(t.to_kind(Kind::Float).contiguous().flatten(0, -1)).unwrap();
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), values).unwrap();
    ndarray_npy::write_npy(path, &array).unwrap();
}

#[test]
fn exported_probabilities_equal_nnunets() {
    let Some(plans) = reference_plans() else {
        return;
    };
    let Some(python) = nnunet_core::test_data::peer_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let props = properties();
    let cases = [
        (
            "softmax",
            3,
            LabelHandling::Softmax,
            r#"{"background": 0, "a": 1, "b": 2}"#,
            "None",
        ),
        (
            "regions",
            2,
            LabelHandling::Regions {
                class_order: vec![1, 2],
            },
            r#"{"background": 0, "whole": [1, 2], "core": [2]}"#,
            "[1, 2]",
        ),
    ];
    for (name, channels, handling, labels, order) in cases {
        nnunet_core::tch::manual_seed(7);
        let logits = Tensor::randn([channels, 5, 7, 6], (Kind::Float, Device::Cpu)) * 2.0;
        let out =
            export_prediction(&logits, &props, [0, 2, 1], [0, 2, 1], &handling, true).unwrap();
        let probs = out.probabilities.unwrap();
        let seg = Tensor::from_slice(&out.segmentation.data)
            .view([7, 8, 9])
            .to_kind(Kind::Float);
        let (lp, pp, sp) = (
            dir.path().join(format!("{name}_logits.npy")),
            dir.path().join(format!("{name}_probs.npy")),
            dir.path().join(format!("{name}_seg.npy")),
        );
        write_npy(&lp, &logits);
        write_npy(&pp, &probs);
        write_npy(&sp, &seg);
        let script = format!(
            r#"
import json, numpy as np, torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape
plans = json.load(open({plans:?}))
plans['transpose_forward'] = [0, 2, 1]
plans['transpose_backward'] = [0, 2, 1]
pm = PlansManager(plans)
cm = pm.get_configuration('3d_fullres')
lm = pm.get_label_manager({{'labels': json.loads({labels:?}), 'regions_class_order': {order}}})
props = {{'spacing': [1.0, 1.0, 1.0], 'shape_before_cropping': [7, 9, 8],
         'bbox_used_for_cropping': [[1, 6], [2, 9], [1, 7]],
         'shape_after_cropping_and_before_resampling': [5, 7, 6]}}
logits = torch.from_numpy(np.load({lp:?}))
seg, probs = convert_predicted_logits_to_segmentation_with_correct_shape(
    logits, pm, cm, lm, props, return_probabilities=True, num_threads_torch=1)
ours_p = np.load({pp:?})
ours_s = np.load({sp:?})
assert probs.shape == ours_p.shape, (probs.shape, ours_p.shape)
assert np.abs(probs - ours_p).max() < 1e-6, np.abs(probs - ours_p).max()
assert seg.shape == ours_s.shape, (seg.shape, ours_s.shape)
assert (seg == ours_s).all(), (seg != ours_s).sum()
"#,
            plans = plans.to_str().unwrap(),
            lp = lp.to_str().unwrap(),
            pp = pp.to_str().unwrap(),
            sp = sp.to_str().unwrap(),
        );
        let run = std::process::Command::new(&python)
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}
