//! HD95 and NSD equal MONAI 1.6.1's (`compute_hausdorff_distance(percentile=95)`,
//! `compute_surface_dice`) to 1e-6 relative on the fixture cases of
//! `fixtures/surface/make_fixture.py`: 2D and 3D, anisotropic spacing, masks touching the border,
//! holes, random blobs, single voxels, and empty masks (NaN where MONAI gives NaN).

use nnunet_inference::surface::surface_metrics;
use serde_json::Value;

fn mask(bits: &str) -> Vec<bool> {
    bits.bytes().map(|b| b == b'1').collect()
}

fn close(what: &str, ours: f64, theirs: f64) {
    if theirs.is_nan() {
        assert!(ours.is_nan(), "{what}: ours {ours}, MONAI NaN");
    } else {
        let tol = 1e-6 * theirs.abs().max(1.0);
        assert!(
            (ours - theirs).abs() <= tol,
            "{what}: ours {ours}, MONAI {theirs}"
        );
    }
}

#[test]
fn surface_metrics_equal_monai_on_fixtures() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/surface/cases.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 10, "the fixture has its cases");
    let (mut two_d, mut three_d, mut nan) = (0, 0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let f = |v: &Value| v.as_f64().unwrap();
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let spacing: Vec<f64> = case["spacing"].as_array().unwrap().iter().map(f).collect();
        let reference = mask(case["reference"].as_str().unwrap());
        let prediction = mask(case["prediction"].as_str().unwrap());
        assert_eq!(reference.len(), shape.iter().product::<usize>(), "{name}");
        let ours = surface_metrics(
            &reference,
            &prediction,
            [shape[0], shape[1], shape[2]],
            [spacing[0], spacing[1], spacing[2]],
            f(&case["tolerance"]),
        );
        let theirs = |key: &str| -> f64 { case[key].as_str().unwrap().parse().unwrap() };
        close(&format!("{name} HD95"), ours.hd95, theirs("hd95"));
        close(&format!("{name} NSD"), ours.nsd, theirs("nsd"));
        if shape[0] == 1 {
            two_d += 1
        } else {
            three_d += 1
        }
        nan += usize::from(theirs("hd95").is_nan());
    }
    assert!(
        two_d >= 4 && three_d >= 4 && nan >= 3,
        "2D, 3D and empty cases all checked"
    );
}
