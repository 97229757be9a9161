//! Two-stage ROI prediction end to end through the `nnunet` binary, on the 2D phantom placed
//! in a field of view twice as large (`demo-data --field-of-view 2`): a coarse model trains on
//! the whole images, `convert roi` builds the crop dataset, a fine model trains on the crops,
//! and `predict-roi` segments the test images in their own geometry; its Dice is printed beside
//! the coarse (single-stage) model's. The budget is tiny (this is a CI test): the assertions are
//! the geometry and a sane Dice; the measured figures with a real budget are in docs/roi.md.

mod support;

use support::{Sandbox, brief_train_args};

fn foreground_dice(env: &Sandbox, prediction: &std::path::Path) -> f64 {
    let gt = env.path().join("raw/Dataset903_Phantom2DWide/labelsTs");
    let out = env.run(&[
        "evaluate".as_ref(),
        gt.as_os_str(),
        prediction.as_os_str(),
        "-d".as_ref(),
        "903".as_ref(),
    ]);
    let line = out
        .lines()
        .find(|l| l.starts_with("foreground mean Dice"))
        .unwrap_or_else(|| panic!("no Dice in:\n{out}"));
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn coarse_then_fine_predicts_in_the_input_geometry() {
    let env = Sandbox::new();
    let demo = [
        "demo-data",
        "--dim",
        "2",
        "--cases",
        "6",
        "--test-cases",
        "2",
        "--id",
        "903",
        "--field-of-view",
        "2",
    ];
    env.run(&demo);
    env.run(&["plan-and-preprocess", "-d", "903", "-c", "2d"]);
    let train = |dataset: &str| {
        let mut args = brief_train_args(dataset, "2d", "all", 4, 10);
        args.push("--no-validation".into());
        env.run(&args);
    };
    train("903");

    let crops = env.path().join("raw/Dataset904_Phantom2DWideRoi");
    let out = env.run(&[
        "convert".as_ref(),
        "roi".as_ref(),
        "-i".as_ref(),
        "903".as_ref(),
        "-o".as_ref(),
        crops.as_os_str(),
    ]);
    assert!(out.contains("wrote 6 crop(s) of 6 case(s)"), "{out}");
    env.run(&["plan-and-preprocess", "-d", "904", "-c", "2d"]);
    train("904");

    let images = env.path().join("raw/Dataset903_Phantom2DWide/imagesTs");
    let output = env.path().join("pred_roi");
    let out = env.run(&[
        "predict-roi".as_ref(),
        "-i".as_ref(),
        images.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
        "--coarse".as_ref(),
        "903".as_ref(),
        "--coarse-c".as_ref(),
        "2d".as_ref(),
        "--fine".as_ref(),
        "904".as_ref(),
        "--fine-c".as_ref(),
        "2d".as_ref(),
        "-f".as_ref(),
        "all".as_ref(),
        "--save-coarse".as_ref(),
        "--no-tta".as_ref(),
        "--device".as_ref(),
        "cpu".as_ref(),
    ]);
    assert!(out.contains("2 segmentation(s) written"), "{out}");
    for case in ["phantom_006", "phantom_007"] {
        let input =
            nnunet_datasets::io::read_image(&[images.join(format!("{case}_0000.png"))]).unwrap();
        for file in [
            output.join(format!("{case}.png")),
            output.join(format!("coarse/{case}.png")),
        ] {
            let seg = nnunet_datasets::io::read_label(&file).unwrap();
            assert_eq!(seg.shape, input.shape, "{}", file.display());
            assert_eq!(seg.geometry, input.geometry, "{}", file.display());
            assert!(seg.data.iter().all(|v| (0..=2).contains(v)));
        }
    }
    let boxes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(output.join("roi_boxes.json")).unwrap())
            .unwrap();
    assert!(boxes["phantom_006"]["boxes"].is_array(), "{boxes}");

    let two_stage = foreground_dice(&env, &output);
    let single = foreground_dice(&env, &output.join("coarse"));
    println!("foreground Dice: two-stage {two_stage:.3}, single-stage {single:.3}");
    assert!(
        two_stage > 0.3,
        "two-stage Dice {two_stage}, single-stage {single}"
    );
}

/// The same in 3D with a minimal budget (geometry only), models named by their folders: the
/// NIfTI output has the input's shape and geometry.
#[test]
fn three_d_two_stage_output_keeps_the_input_geometry() {
    let env = Sandbox::new();
    env.run(&[
        "demo-data",
        "--dim",
        "3",
        "--cases",
        "2",
        "--test-cases",
        "1",
    ]);
    env.run(&["plan-and-preprocess", "-d", "900", "-c", "3d_fullres"]);
    env.run(&brief_train_args("900", "3d_fullres", "all", 1, 2));
    let crops = env.path().join("raw/Dataset905_Phantom3DRoi");
    env.run(&[
        "convert".as_ref(),
        "roi".as_ref(),
        "-i".as_ref(),
        "900".as_ref(),
        "-o".as_ref(),
        crops.as_os_str(),
    ]);
    env.run(&["plan-and-preprocess", "-d", "905", "-c", "3d_fullres"]);
    env.run(&brief_train_args("905", "3d_fullres", "all", 1, 2));
    let images = env.path().join("raw/Dataset900_Phantom3D/imagesTs");
    let output = env.path().join("pred_roi");
    let model = |id: &str| {
        env.path().join(format!(
            "res/Dataset{id}/nnUNetTrainer__nnUNetPlans__3d_fullres"
        ))
    };
    env.run(&[
        "predict-roi".as_ref(),
        "-i".as_ref(),
        images.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
        "--coarse".as_ref(),
        model("900_Phantom3D").as_os_str(),
        "--fine".as_ref(),
        model("905_Phantom3DRoi").as_os_str(),
        "-f".as_ref(),
        "all".as_ref(),
        "--no-tta".as_ref(),
        "--device".as_ref(),
        "cpu".as_ref(),
    ]);
    let input = nnunet_datasets::io::read_image(&[images.join("phantom_002_0000.nii.gz")]).unwrap();
    let seg = nnunet_datasets::io::read_label(&output.join("phantom_002.nii.gz")).unwrap();
    assert_eq!(seg.shape, input.shape);
    assert_eq!(seg.geometry, input.geometry);
}
