//! The cascade end to end through the `nnunet` binary, on the generated 3D phantom: the plans
//! get a `3d_lowres` stage (the fullres configuration at twice the spacing, as nnU-Net plans
//! one for large images) and its `3d_cascade_fullres`; the lowres stage trains on fold `all`,
//! whose validation writes `predicted_next_stage/3d_cascade_fullres` for every case; the
//! cascade stage trains on those; then the test image is predicted by the lowres stage and,
//! from that, by the cascade stage, in the input's geometry.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use support::{Sandbox, brief_train_args};

#[test]
fn lowres_then_cascade_trains_and_predicts() {
    let env = Sandbox::new();
    let demo = [
        "demo-data",
        "--dim",
        "3",
        "--cases",
        "4",
        "--test-cases",
        "1",
    ];
    env.run(&demo);
    env.run(&["plan-and-preprocess", "-d", "900", "-c", "3d_fullres"]);

    // A lowres stage and its cascade, as nnU-Net's planner writes them.
    let plans_file = env.path().join("pre/Dataset900_Phantom3D/nnUNetPlans.json");
    let mut plans: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plans_file).unwrap()).unwrap();
    let configurations = plans["configurations"].as_object_mut().unwrap();
    let mut lowres = configurations["3d_fullres"].clone();
    let spacing: Vec<f64> = lowres["spacing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap() * 2.0)
        .collect();
    lowres["spacing"] = serde_json::json!(spacing);
    lowres["data_identifier"] = "nnUNetPlans_3d_lowres".into();
    lowres["next_stage"] = "3d_cascade_fullres".into();
    configurations.insert("3d_lowres".into(), lowres);
    configurations.insert(
        "3d_cascade_fullres".into(),
        serde_json::json!({"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}),
    );
    std::fs::write(&plans_file, serde_json::to_string_pretty(&plans).unwrap()).unwrap();
    env.run(&["preprocess", "-d", "900", "-c", "3d_lowres"]);

    let out = env.run(&brief_train_args("900", "3d_lowres", "all", 1, 2));
    assert!(out.contains("foreground-mean Dice"), "{out}");
    let results = env.path().join("res/Dataset900_Phantom3D");
    let next = results
        .join("nnUNetTrainer__nnUNetPlans__3d_lowres/predicted_next_stage/3d_cascade_fullres");
    let cases: Vec<String> = std::fs::read_dir(&next)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    assert_eq!(
        cases.len(),
        4,
        "one previous-stage segmentation per case: {cases:?}"
    );

    let out = env.run(&brief_train_args("900", "3d_cascade_fullres", "all", 1, 2));
    assert!(out.contains("foreground-mean Dice"), "{out}");
    assert!(
        results
            .join("nnUNetTrainer__nnUNetPlans__3d_cascade_fullres/fold_all/checkpoint_final.safetensors")
            .is_file()
    );

    let images = env.path().join("raw/Dataset900_Phantom3D/imagesTs");
    let low = env.path().join("pred_lowres");
    let cascade = env.path().join("pred_cascade");
    let predict = |configuration: &str, output: &Path, prev: Option<&Path>| {
        let mut args: Vec<&OsStr> = ["predict", "-d", "900", "-c", configuration, "-f", "all"]
            .into_iter()
            .map(OsStr::new)
            .collect();
        args.extend([OsStr::new("--device"), OsStr::new("cpu")]);
        args.extend([
            OsStr::new("-i"),
            images.as_os_str(),
            OsStr::new("-o"),
            output.as_os_str(),
        ]);
        if let Some(prev) = prev {
            args.extend([OsStr::new("--prev-stage"), prev.as_os_str()]);
        }
        env.run(&args)
    };
    predict("3d_lowres", &low, None);
    predict("3d_cascade_fullres", &cascade, Some(&low));

    let image = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_0000.nii.gz"))
        .unwrap();
    let case = image
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace("_0000.nii.gz", "");
    let input = nnunet_datasets::io::read_image(std::slice::from_ref(&image)).unwrap();
    for folder in [&low, &cascade] {
        let seg = nnunet_datasets::io::read_label(&folder.join(format!("{case}.nii.gz"))).unwrap();
        assert_eq!(seg.shape, input.shape, "{}", folder.display());
        assert_eq!(seg.geometry, input.geometry, "{}", folder.display());
    }

    // The cascade stage exported as an nnU-Net v2 folder (`.pth` checkpoints) predicts the same
    // from the same previous stage as our own folder.
    let folder = "nnUNetTrainer__nnUNetPlans__3d_cascade_fullres";
    let exported = env.path().join("exported").join(folder);
    let from = results.join(folder);
    env.run(&[
        OsStr::new("export-nnunet"),
        OsStr::new("-i"),
        from.as_os_str(),
        OsStr::new("-o"),
        exported.as_os_str(),
    ]);
    assert!(exported.join("fold_all/checkpoint_final.pth").is_file());
    let from_pth = env.path().join("pred_cascade_pth");
    env.run(&[
        OsStr::new("predict"),
        OsStr::new("-m"),
        exported.as_os_str(),
        OsStr::new("-f"),
        OsStr::new("all"),
        OsStr::new("--device"),
        OsStr::new("cpu"),
        OsStr::new("-i"),
        images.as_os_str(),
        OsStr::new("-o"),
        from_pth.as_os_str(),
        OsStr::new("--prev-stage"),
        low.as_os_str(),
    ]);
    let file = format!("{case}.nii.gz");
    let read = |d: &Path| nnunet_datasets::io::read_label(&d.join(&file)).unwrap();
    assert_eq!(
        read(&from_pth).data,
        read(&cascade).data,
        "cascade from .pth vs ours"
    );
}
