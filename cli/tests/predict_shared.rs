//! A fold trained briefly on the real Hippocampus training split predicts every one of the 52
//! `imagesTs` images (labels withheld), each written with exactly its input's shape, spacing,
//! origin and direction; a CHASEDB1 fold predicts its RGB test PNGs as PNG label maps of the
//! same size. Skips (counted; fails under NNUNET_REQUIRE_SHARED_DATA=1) without ../shared/data.

mod support;

use std::path::PathBuf;
use support::{Sandbox, brief_train_args, shared_data};

#[test]
fn hippocampus_fold_predicts_every_test_image_in_its_geometry() {
    let Some(data) = shared_data() else { return };
    let sandbox = Sandbox::new();
    std::os::unix::fs::symlink(
        data.join("Dataset004_Hippocampus"),
        sandbox.path().join("raw/Dataset004_Hippocampus"),
    )
    .unwrap();
    sandbox.run(&["plan-and-preprocess", "-d", "4", "-c", "3d_fullres"]);
    sandbox.run(&brief_train_args("4", "3d_fullres", "0", 1, 2));
    let images = data.join("Dataset004_Hippocampus/imagesTs");
    let out = sandbox.path().join("predictions");
    sandbox.run(&support::predict_fold0_3d_args(&images, &out, "4"));
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert_eq!(inputs.len(), 52);
    for input in inputs {
        let name = input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("_0000.nii.gz", ".nii.gz");
        let image = nnunet_datasets::io::read_image(&[&input]).unwrap();
        let seg = nnunet_datasets::io::read_label(&out.join(&name))
            .unwrap_or_else(|e| panic!("no prediction for {name}: {e}"));
        assert_eq!(seg.shape, image.shape, "{name}");
        assert_eq!(seg.geometry.spacing, image.geometry.spacing, "{name}");
        assert_eq!(seg.geometry.origin, image.geometry.origin, "{name}");
        assert_eq!(seg.geometry.direction, image.geometry.direction, "{name}");
        assert!(
            seg.data.iter().all(|&v| (0..=2).contains(&v)),
            "{name}: labels outside 0..2"
        );
    }
}

/// A fold trained briefly on CHASEDB1 predicts its 8 `imagesTs` fundus photographs: each is one
/// RGB PNG (three channels in one file), and each prediction is a PNG label map of the same
/// size.
#[test]
fn chasedb1_fold_predicts_every_rgb_test_image_as_a_png_of_its_size() {
    let Some(data) = shared_data() else { return };
    let sandbox = Sandbox::new();
    std::os::unix::fs::symlink(
        data.join("Dataset101_CHASEDB1"),
        sandbox.path().join("raw/Dataset101_CHASEDB1"),
    )
    .unwrap();
    sandbox.run(&["plan-and-preprocess", "-d", "101", "-c", "2d"]);
    let mut train = brief_train_args("101", "2d", "0", 1, 1);
    train.push("--no-validation".into());
    sandbox.run(&train);
    let images = data.join("Dataset101_CHASEDB1/imagesTs");
    let out = sandbox.path().join("predictions");
    let (images_arg, out_arg) = (images.to_str().unwrap(), out.to_str().unwrap());
    let predict = [
        "predict", "-i", images_arg, "-o", out_arg, "-d", "101", "-c", "2d",
    ];
    sandbox.run(&[&predict[..], &["-f", "0", "--no-tta", "--device", "cpu"]].concat());
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert_eq!(inputs.len(), 8);
    for input in inputs {
        let name = input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("_0000.png", ".png");
        let image = nnunet_datasets::io::read_image(&[&input]).unwrap();
        assert_eq!(image.channels.len(), 3, "{name} is RGB");
        let seg = nnunet_datasets::io::read_label(&out.join(&name))
            .unwrap_or_else(|e| panic!("no prediction for {name}: {e}"));
        assert_eq!(seg.shape, image.shape, "{name}");
        assert!(seg.is_2d, "{name}");
        assert!(
            seg.data.iter().all(|&v| v == 0 || v == 1),
            "{name}: labels outside 0..1"
        );
    }
}
