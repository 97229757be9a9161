//! The `nnunet` binary as a user runs it: doctor, plugins list, and plugin refusals.

use std::path::PathBuf;
use std::process::{Command, Output};

fn nnunet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .args(args)
        .env_remove("NNUNET_FIXTURE_PANIC_IN_REGISTER")
        .output()
        .expect("run nnunet")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn plugin(lib_name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_nnunet"))
        .parent()
        .and_then(|release| release.parent())
        .unwrap()
        .join("plugins");
    let path = dir.join(format!("lib{lib_name}.so"));
    assert!(
        path.exists(),
        "{} missing: run `scripts/build-plugins.sh` first (scripts/test.sh does)",
        path.display()
    );
    path
}

#[test]
fn doctor_reports_libtorch_2_11_and_folders() {
    let out = Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .arg("doctor")
        .env("nnUNet_raw", "/nonexistent/raw")
        .env_remove("nnUNet_results")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("libtorch 2.11.0"), "{stdout}");
    assert!(stdout.contains("CUDA available: "), "{stdout}");
    assert!(stdout.contains("CPU threads"), "{stdout}");
    assert!(
        stdout.contains("nnUNet_raw = /nonexistent/raw (does not exist)"),
        "{stdout}"
    );
    assert!(stdout.contains("nnUNet_results is not set"), "{stdout}");
}

#[test]
fn plugins_list_shows_builtins_and_a_loaded_plugin() {
    let so = plugin("nnunet_plugin_tversky");
    let out = nnunet(&["plugins", "list", "--plugin", so.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let tversky = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("tversky "))
        .unwrap_or_else(|| panic!("no tversky line in:\n{stdout}"));
    assert!(
        tversky.contains(&format!("plugin {}", so.canonicalize().unwrap().display())),
        "{tversky}"
    );
    let ce = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("ce "))
        .unwrap_or_else(|| panic!("no ce line in:\n{stdout}"));
    assert!(ce.contains("built-in (nnunet-losses)"), "{ce}");
    for heading in [
        "networks:",
        "losses:",
        "trainers:",
        "planners:",
        "postprocessors:",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
}

#[test]
fn plugin_for_another_abi_is_refused_with_nonzero_exit() {
    let so = plugin("nnunet_fixture_abi");
    let out = nnunet(&["plugins", "list", "--plugin", so.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("libnnunet_fixture_abi.so"), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("plugin: ABI 999, libtorch "), "{stderr}");
    let host = format!(
        "host:   ABI {}, libtorch ",
        nnunet_core::plugin::ABI_VERSION
    );
    assert!(stderr.contains(&host), "{stderr}");
}

#[test]
fn non_plugin_file_is_refused_with_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.so");
    std::fs::write(&file, b"not a library").unwrap();
    let out = nnunet(&["plugins", "list", "--plugin", file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("notes.so"), "{stderr}");
    assert!(stderr.contains("not a loadable shared library"), "{stderr}");
}

#[test]
fn panic_in_plugin_registration_is_an_error_not_an_abort() {
    let so = plugin("nnunet_fixture_panicky");
    let out = Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .args(["plugins", "list", "--plugin", so.to_str().unwrap()])
        .env("NNUNET_FIXTURE_PANIC_IN_REGISTER", "1")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    // An abort would end the process by SIGABRT (no exit code).
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: panic in plugin nnunet-fixture-panicky: panicky plugin: register panics on request"
        ),
        "{stderr}"
    );
}

#[test]
fn move_plans_takes_nnunets_single_dash_flags() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(shared.is_dir(), "{} missing", shared.display());
    let root = tempfile::tempdir().unwrap();
    let (raw, pre) = (root.path().join("raw"), root.path().join("pre"));
    // the source exists only in nnUNet_preprocessed, found by its id as nnU-Net finds it
    std::fs::create_dir_all(pre.join("Dataset004_Hippocampus")).unwrap();
    std::fs::copy(
        shared.join("nnunetv2_reference/Dataset004_Hippocampus/nnUNetPlans.json"),
        pre.join("Dataset004_Hippocampus/nnUNetPlans.json"),
    )
    .unwrap();
    std::fs::create_dir_all(raw.join("Dataset007_Target")).unwrap();
    std::fs::copy(
        shared.join("Dataset004_Hippocampus/dataset.json"),
        raw.join("Dataset007_Target/dataset.json"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .args(["move-plans", "-s", "4", "-t", "7", "-sp", "nnUNetPlans"])
        .args(["-tp", "nnUNetPlansFrom4"])
        .env("nnUNet_raw", &raw)
        .env("nnUNet_preprocessed", &pre)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{}{stderr}", text(&out.stdout));
    let file = pre.join("Dataset007_Target/nnUNetPlansFrom4.json");
    let plans: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(plans["dataset_name"], "Dataset007_Target");
    assert_eq!(plans["plans_name"], "nnUNetPlansFrom4");

    let out = Command::new(env!("CARGO_BIN_EXE_nnunet"))
        .args(["move-plans", "-s", "4", "-t", "7", "-sp", "missingPlans"])
        .env("nnUNet_raw", &raw)
        .env("nnUNet_preprocessed", &pre)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("missingPlans.json"), "{stderr}");
}
