//! Bad input through the `nnunet` binary, as a new user would give it: every case fails with a
//! message naming the file or case and what is wrong, exits non-zero and leaves nothing
//! half-written. Broken datasets are made from the phantom generator, so nothing here skips.
//! docs/reliability.md lists the messages.

#[path = "support/bad_input.rs"]
mod bad_input;
mod support;

use bad_input::{assert_mentions, edit_json, fails, fails_with_env, phantom};
use nnunet_core::Image;
use std::path::Path;
use support::Sandbox;

fn rewrite_image(path: &Path, edit: impl FnOnce(&mut Image)) {
    let mut image = nnunet_datasets::read_image(&[path]).unwrap();
    edit(&mut image);
    nnunet_datasets::write_image(path, &image).unwrap();
}

#[test]
fn step_sizes_outside_0_1_are_refused_before_any_work() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 2);
    let out = sandbox.path().join("predicted");
    let images = raw.join("imagesTs");
    for step in ["0", "2", "NaN"] {
        let text = fails(
            &sandbox,
            &[
                "predict",
                "-i",
                images.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "-d",
                "901",
                "-c",
                "2d",
                "--step-size",
                step,
            ],
        );
        assert_mentions(&text, &["step size", "(0, 1]"]);
        assert!(!out.exists(), "predict created its output folder");
    }
    // compare refuses it when reading the TOML, before any training.
    for step in ["0.0", "nan"] {
        let toml = sandbox.path().join("cmp.toml");
        std::fs::write(
            &toml,
            format!(
                "dataset = \"901\"\nconfiguration = \"2d\"\n[budget]\nepochs = 1\n\
                 iterations_per_epoch = 1\nvalidation_iterations = 1\nstep_size = {step}\n\
                 [[networks]]\nlabel = \"plain\"\n"
            ),
        )
        .unwrap();
        let text = fails(&sandbox, &["compare", toml.to_str().unwrap()]);
        assert_mentions(&text, &["cmp.toml", "step size"]);
        assert!(!sandbox.path().join("res/Dataset901_Phantom2D").exists());
    }
}

#[test]
fn nan_and_infinite_voxels_are_refused_naming_the_case() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 3, 2);
    rewrite_image(&raw.join("imagesTr/phantom_001_0000.nii.gz"), |image| {
        image.channels[0][100] = f32::NAN;
        image.channels[0][101] = f32::NAN;
    });
    let text = fails(&sandbox, &["verify", "-d", "900"]);
    assert_mentions(&text, &["phantom_001_0000.nii.gz", "2 NaN"]);
    let text = fails(
        &sandbox,
        &["plan-and-preprocess", "-d", "900", "-c", "3d_fullres"],
    );
    assert_mentions(
        &text,
        &["case phantom_001", "2 NaN", "phantom_001_0000.nii.gz"],
    );
    let fingerprint = sandbox
        .path()
        .join("pre/Dataset900_Phantom3D/dataset_fingerprint.json");
    assert!(!fingerprint.exists());

    rewrite_image(&raw.join("imagesTr/phantom_001_0000.nii.gz"), |image| {
        image.channels[0][100] = 0.0;
        image.channels[0][101] = f32::INFINITY;
    });
    let text = fails(&sandbox, &["fingerprint", "-d", "900"]);
    assert_mentions(&text, &["case phantom_001", "1 infinite"]);
    assert!(!fingerprint.exists());
}

#[test]
fn nan_spacing_is_refused_and_never_written_as_null() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 3, 2);
    rewrite_image(&raw.join("imagesTr/phantom_000_0000.nii.gz"), |image| {
        image.geometry.spacing[0] = f64::NAN;
        image.geometry.source_header = None;
    });
    let text = fails(&sandbox, &["fingerprint", "-d", "900"]);
    assert_mentions(
        &text,
        &["phantom_000_0000.nii.gz", "pixdim[3] = NaN", "spacing"],
    );
    let fingerprint = sandbox
        .path()
        .join("pre/Dataset900_Phantom3D/dataset_fingerprint.json");
    assert!(!fingerprint.exists(), "a fingerprint was written");
}

#[test]
fn missing_channel_files_are_named_by_verify_fingerprint_and_preprocess() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 3);
    // A second channel for every case: plan and preprocess pass.
    edit_json(&raw.join("dataset.json"), |json| {
        json["channel_names"]["1"] = serde_json::json!("copy");
    });
    for case in 0..3 {
        let image = raw.join(format!("imagesTr/phantom_{case:03}_0000.png"));
        std::fs::copy(
            &image,
            raw.join(format!("imagesTr/phantom_{case:03}_0001.png")),
        )
        .unwrap();
    }
    sandbox.run(&["plan-and-preprocess", "-d", "901", "-c", "2d"]);

    // Then one case loses its second channel and is preprocessed again.
    std::fs::remove_file(raw.join("imagesTr/phantom_001_0001.png")).unwrap();
    let pre = sandbox
        .path()
        .join("pre/Dataset901_Phantom2D/nnUNetPlans_2d");
    for entry in std::fs::read_dir(&pre).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("phantom_001")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let text = fails(&sandbox, &["preprocess", "-d", "901", "-c", "2d"]);
    assert_mentions(
        &text,
        &[
            "case phantom_001",
            "missing channel file phantom_001_0001.png",
        ],
    );
    let text = fails(&sandbox, &["fingerprint", "-d", "901", "--clean"]);
    assert_mentions(&text, &["missing channel file phantom_001_0001.png"]);
    let text = fails(&sandbox, &["verify", "-d", "901"]);
    assert_mentions(&text, &["phantom_001", "missing channel file"]);
}

/// A PNG whose header claims `width` × `height` grey pixels, with (almost) no pixel data.
fn forged_png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // An empty zlib stream as the only image data.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn oversized_headers_are_refused_before_allocating_and_the_bound_is_configurable() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 2);
    let image = raw.join("imagesTr/phantom_000_0000.png");
    let original = std::fs::read(&image).unwrap();
    std::fs::write(&image, forged_png(60000, 60000)).unwrap();
    let text = fails(&sandbox, &["fingerprint", "-d", "901"]);
    assert_mentions(
        &text,
        &["phantom_000_0000.png", "60000 × 60000", "NNUNET_MAX_VOXELS"],
    );
    // A real image over a lowered bound.
    std::fs::write(&image, original).unwrap();
    let text = fails_with_env(
        &sandbox,
        &["fingerprint", "-d", "901"],
        &[("NNUNET_MAX_VOXELS", "1000")],
    );
    assert_mentions(&text, &["96 × 128", "limit of 1000"]);
    let text = fails_with_env(
        &sandbox,
        &["fingerprint", "-d", "901"],
        &[("NNUNET_MAX_VOXELS", "lots")],
    );
    assert_mentions(&text, &["NNUNET_MAX_VOXELS=\"lots\""]);
}

#[test]
fn undeclared_label_values_name_the_case_in_preprocess_and_training() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 4);
    sandbox.run(&["plan-and-preprocess", "-d", "901", "-c", "2d"]);

    // Training: preprocessed segmentations with a value dataset.json does not declare.
    let pre = sandbox
        .path()
        .join("pre/Dataset901_Phantom2D/nnUNetPlans_2d");
    for case in 0..4 {
        let seg = pre.join(format!("phantom_{case:03}.seg"));
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[0..2].copy_from_slice(&7i16.to_le_bytes());
        std::fs::write(&seg, bytes).unwrap();
    }
    let args = support::brief_train_args("901", "2d", "all", 1, 1);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = fails(&sandbox, &args);
    assert_mentions(&text, &["case phantom_00", "[7]", ".seg", "not declared"]);

    // Preprocessing: the raw label map.
    std::fs::remove_dir_all(&pre).unwrap();
    let label = raw.join("labelsTr/phantom_002.png");
    let mut map = nnunet_datasets::read_label(&label).unwrap();
    map.data[0] = 7;
    nnunet_datasets::write_label(&label, &map).unwrap();
    let text = fails(&sandbox, &["preprocess", "-d", "901", "-c", "2d"]);
    assert_mentions(&text, &["case phantom_002", "[7]", "phantom_002.png"]);
}

#[test]
fn duplicate_label_values_are_named() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 2);
    edit_json(&raw.join("dataset.json"), |json| {
        let value = json["labels"]
            .as_object()
            .unwrap()
            .values()
            .next_back()
            .cloned();
        json["labels"]["twin"] = value.unwrap();
    });
    let text = fails(&sandbox, &["verify", "-d", "901"]);
    assert_mentions(&text, &["\"twin\"", "both have value"]);
    let text = fails(&sandbox, &["plan-and-preprocess", "-d", "901", "-c", "2d"]);
    assert_mentions(&text, &["\"twin\"", "both have value"]);
}

#[test]
fn symlink_loops_are_reported() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 2);
    let looped = raw.join("imagesTr/loop_0000.png");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let text = fails(&sandbox, &["fingerprint", "-d", "901"]);
    assert_mentions(&text, &["loop_0000.png", "link"]);
    let text = fails(&sandbox, &["verify", "-d", "901"]);
    assert_mentions(&text, &["loop_0000.png"]);
}

#[test]
fn zero_epochs_are_refused_without_writing_a_checkpoint() {
    let sandbox = Sandbox::new();
    phantom(&sandbox, 2, 2);
    let args = support::brief_train_args("901", "2d", "0", 0, 1);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = fails(&sandbox, &args);
    assert_mentions(&text, &["epochs (0)", "at least 1"]);
    assert!(!sandbox.path().join("res/Dataset901_Phantom2D").exists());
}

#[test]
fn overlay_reports_unpredicted_cases_and_removes_its_output_on_failure() {
    let sandbox = Sandbox::new();
    let raw = phantom(&sandbox, 2, 3);
    // "Predictions": the reference label maps of two of the three cases.
    let predictions = sandbox.path().join("predictions");
    std::fs::create_dir_all(&predictions).unwrap();
    for case in ["phantom_000", "phantom_001"] {
        std::fs::copy(
            raw.join(format!("labelsTr/{case}.png")),
            predictions.join(format!("{case}.png")),
        )
        .unwrap();
    }
    let out = sandbox.path().join("overlays");
    let args = |out: &Path| {
        [
            "overlay",
            "-i",
            raw.join("imagesTr").to_str().unwrap(),
            "-p",
            predictions.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "901",
        ]
        .map(String::from)
    };
    let text = sandbox.run(&args(&out));
    assert_mentions(&text, &["1 image case(s)", "no prediction", "phantom_002"]);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);

    // A corrupt prediction: the run fails and leaves no output folder behind.
    std::fs::write(predictions.join("phantom_001.png"), b"not a png").unwrap();
    let failed = sandbox.path().join("overlays_failed");
    let args = args(&failed);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = fails(&sandbox, &args);
    assert_mentions(&text, &["phantom_001.png"]);
    assert!(!failed.exists(), "overlay left a partial output folder");

    // postprocess apply: the same.
    let pp = sandbox.path().join("pp.json");
    std::fs::write(
        &pp,
        r#"{"postprocessors": [], "file_ending": ".png", "input_folder": {}, "postprocessed": {},
            "postprocessing_fns": [], "postprocessing_kwargs": []}"#,
    )
    .unwrap();
    let applied = sandbox.path().join("applied");
    let text = fails(
        &sandbox,
        &[
            "postprocess",
            "apply",
            "-i",
            predictions.to_str().unwrap(),
            "-o",
            applied.to_str().unwrap(),
            "--pp-file",
            pp.to_str().unwrap(),
        ],
    );
    assert_mentions(&text, &["phantom_001.png"]);
    assert!(
        !applied.exists(),
        "postprocess apply left a partial output folder"
    );
}
