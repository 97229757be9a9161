//! `nnunet summary` as a user runs it, on nnU-Net's reference plans for Hippocampus: found
//! through `-d` in nnUNet_preprocessed (dataset.json from nnUNet_raw), or given with `--plans`.

use std::path::PathBuf;
use std::process::Command;

fn shared_data() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "nnunetv2_reference")
        .and_then(|reference| reference.parent().map(PathBuf::from))
}

#[test]
fn summary_of_resenc_m_plans_found_by_dataset_id() {
    let Some(data) = shared_data() else { return };
    let pre = tempfile::tempdir().unwrap();
    let folder = pre.path().join("Dataset004_Hippocampus");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        data.join("nnunetv2_reference/Dataset004_Hippocampus/nnUNetResEncUNetMPlans.json"),
        folder.join("nnUNetResEncUNetMPlans.json"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .args([
            "summary",
            "-d",
            "4",
            "-c",
            "3d_fullres",
            "-p",
            "nnUNetResEncUNetMPlans",
        ])
        .env("nnUNet_raw", &data)
        .env("nnUNet_preprocessed", pre.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ResidualEncoderUNet: 1 input channel(s), 3 output(s), patch 40x56x40"),
        "{stdout}"
    );
    assert!(stdout.contains("parameters: 25,895,593"), "{stdout}");
    assert!(stdout.contains("[1, 3, 10, 14, 10]"), "{stdout}");
}

#[test]
fn summary_from_a_plans_file_needs_the_number_of_classes() {
    let Some(data) = shared_data() else { return };
    let plans = data.join("nnunetv2_reference/Dataset004_Hippocampus/nnUNetPlans.json");
    let plans = plans.to_str().unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nnunet"))
            .args(["summary", "-c", "2d", "--plans", plans])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--num-classes"));
    let out = run(&["--num-classes", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 input channel(s), 3 output(s), patch 56x40"),
        "{stdout}"
    );
    assert!(stdout.contains("parameters: 1,928,489"), "{stdout}");
}
