//! `kill -9` in the middle of preprocess, train and predict, then a rerun: no partial file is
//! ever left under a final name (every output is written through a temporary file and renamed),
//! the rerun removes the temporary files a killed run left behind, and it finishes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{Sandbox, brief_train_args};

/// Starts `nnunet ARGS`, waits until `ready()` holds, then kills it with SIGKILL. Returns false
/// when the command finished (successfully) before it could be killed.
fn kill_when(sandbox: &Sandbox, args: &[String], ready: impl Fn() -> bool) -> bool {
    let mut child = sandbox
        .command("res", args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if ready() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "nnunet {args:?} failed: {status}");
            return false;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A temporary file as a killed process leaves it (its pid no longer runs).
fn plant_stale_temp(folder: &Path, final_name: &str) -> PathBuf {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let path = folder.join(format!(".{}~tmp-{pid}-0", final_name.replace('.', "_")));
    std::fs::write(&path, b"half a file").unwrap();
    path
}

/// Files in `folder` (not recursive) whose names mark them as temporary.
fn temporaries(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("~tmp-"))
        .collect()
}

fn count_ending(folder: &Path, ending: &str) -> usize {
    std::fs::read_dir(folder).map_or(0, |entries| {
        entries
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(ending))
            })
            .count()
    })
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn preprocess_killed_and_rerun_leaves_only_whole_cases() {
    let sandbox = Sandbox::new();
    sandbox.run(&[
        "demo-data",
        "--dim",
        "3",
        "--cases",
        "8",
        "--test-cases",
        "0",
    ]);
    let args = strings(&[
        "plan-and-preprocess",
        "-d",
        "900",
        "-c",
        "3d_fullres",
        "-n",
        "1",
    ]);
    let out = sandbox
        .path()
        .join("pre/Dataset900_Phantom3D/nnUNetPlans_3d_fullres");
    let killed = kill_when(&sandbox, &args, || count_ending(&out, ".json") >= 2);
    assert!(killed, "preprocessing finished before it could be killed");
    let done_before = count_ending(&out, ".json");
    assert!(done_before < 8, "all cases were done when killed");
    // Whatever the kill interrupted, every file under a final name is whole.
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(case) = name.strip_suffix(".json") {
            nnunet_planning::preprocessed_format::read_case(&out, case).unwrap();
        }
    }
    let stale = plant_stale_temp(&out, "phantom_007.b2nd");

    sandbox.run(&args);
    assert!(!stale.exists(), "the rerun kept a stale temporary file");
    assert_eq!(temporaries(&out), Vec::<String>::new());
    for case in 0..8 {
        nnunet_planning::preprocessed_format::read_case(&out, &format!("phantom_{case:03}"))
            .unwrap();
    }
}

#[test]
fn training_killed_and_rerun_finishes_with_whole_checkpoints() {
    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 6);
    let mut args = brief_train_args("901", "2d", "0", 6, 2);
    args.extend(strings(&["--save-every", "1"]));
    let fold = sandbox
        .path()
        .join("res/Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d/fold_0");
    let killed = kill_when(&sandbox, &args, || {
        fold.join("checkpoint_latest.json").is_file()
    });
    assert!(killed, "training finished before it could be killed");
    assert!(!fold.join("checkpoint_final.json").exists());
    let stale = plant_stale_temp(&fold, "checkpoint_latest.safetensors");

    args.push("--continue".into());
    sandbox.run(&args);
    assert!(!stale.exists(), "the rerun kept a stale temporary file");
    assert_eq!(temporaries(&fold), Vec::<String>::new());
    let weights =
        nnunet_core::tch::Tensor::read_safetensors(fold.join("checkpoint_final.safetensors"))
            .unwrap();
    assert!(!weights.is_empty());
}

#[test]
fn prediction_killed_and_rerun_writes_every_case_whole() {
    let sandbox = Sandbox::new();
    sandbox.run(&[
        "demo-data",
        "--dim",
        "2",
        "--cases",
        "4",
        "--test-cases",
        "6",
    ]);
    sandbox.run(&["plan-and-preprocess", "-d", "901", "-c", "2d"]);
    sandbox.run(&brief_train_args("901", "2d", "0", 1, 1));
    let images = sandbox.path().join("raw/Dataset901_Phantom2D/imagesTs");
    let out = sandbox.path().join("predicted");
    let predict = |input: &Path| {
        strings(&[
            "predict",
            "-i",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "901",
            "-c",
            "2d",
            "-f",
            "0",
            "--device",
            "cpu",
        ])
    };

    // A missing input folder is reported as missing, and nothing is created.
    let missing = sandbox.path().join("no_such_folder");
    let failed = sandbox.command("res", &predict(&missing)).output().unwrap();
    let text = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        text.contains("no_such_folder") && text.contains("does not exist"),
        "{text}"
    );
    assert!(!out.exists());

    let killed = kill_when(&sandbox, &predict(&images), || {
        count_ending(&out, ".png") >= 1
    });
    if killed {
        // Every segmentation under its final name is whole.
        for entry in std::fs::read_dir(&out).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "png") {
                nnunet_datasets::read_label(&path).unwrap();
            }
        }
    }
    std::fs::create_dir_all(&out).unwrap();
    let stale = plant_stale_temp(&out, "phantom_005.png");
    sandbox.run(&predict(&images));
    assert!(!stale.exists(), "the rerun kept a stale temporary file");
    assert_eq!(temporaries(&out), Vec::<String>::new());
    for case in 4..10 {
        let name = format!("phantom_{case:03}");
        let seg = nnunet_datasets::read_label(&out.join(format!("{name}.png"))).unwrap();
        let image =
            nnunet_datasets::read_image(&[images.join(format!("{name}_0000.png"))]).unwrap();
        assert_eq!(seg.shape, image.shape);
    }
}
