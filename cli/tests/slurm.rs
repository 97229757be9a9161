//! `nnunet slurm` against a real SLURM: `scripts/slurm_local.sh` starts a one-node cluster
//! (Debian's slurm-wlm with munge) on localhost. A phantom experiment of 2 configurations ×
//! 2 folds goes through the train array, the dependent find-best job and a 2-part prediction
//! array; a resubmission then runs nothing; a training cancelled with `scancel` runs again on
//! the next submission, and so do the stages after it.

#[path = "support/slurm_client.rs"]
mod slurm_client;
mod support;

use slurm_client::SlurmClient;
use std::process::Command;
use support::{Sandbox, start_slurm};

#[test]
fn experiment_runs_on_slurm_and_resubmits_only_what_is_missing() {
    let conf = start_slurm();
    let env = Sandbox::new();
    env.run(&[
        "demo-data",
        "--dim",
        "3",
        "--cases",
        "6",
        "--test-cases",
        "2",
    ]);
    env.run(&["plan-and-preprocess", "-d", "900", "-c", "2d", "3d_fullres"]);
    let toml = env.path().join("cluster.toml");
    std::fs::write(
        &toml,
        "dataset = \"900\"\nconfigurations = [\"2d\", \"3d_fullres\"]\nfolds = [0, 1]\n\
         device = \"cpu\"\nworkers = 1\n\
         [training]\nepochs = 1\niterations_per_epoch = 2\nvalidation_iterations = 1\n\
         [predict]\ninput = \"raw/Dataset900_Phantom3D/imagesTs\"\noutput = \"pred\"\nparts = 2\n\
         args = [\"--no-tta\"]\n\
         [slurm]\ncpus_per_task = 1\nwork_dir = \"slurm\"\n",
    )
    .unwrap();
    let cluster = SlurmClient {
        env: &env,
        conf,
        toml,
        submit: &["slurm", "submit"],
        status: &["slurm", "status"],
    };

    let out = cluster.submit();
    for stage in [
        "submitted train",
        "submitted find-best",
        "submitted predict",
    ] {
        assert!(out.contains(stage), "{stage}:\n{out}");
    }
    let status = cluster.wait();
    assert_eq!(
        status.matches("finished ").count() - status.matches("not finished").count(),
        7,
        "4 trainings, find-best and 2 prediction parts finished:\n{status}\n{}",
        cluster.logs()
    );
    let predictions = env.path().join("pred");
    let mut written: Vec<String> = std::fs::read_dir(&predictions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written.len(),
        2,
        "one segmentation per test case: {written:?}"
    );
    assert!(
        written.iter().all(|n| n.ends_with(".nii.gz")),
        "{written:?}"
    );
    assert!(
        env.path()
            .join("res/Dataset900_Phantom3D/inference_information.json")
            .is_file()
    );

    // Everything finished: nothing is submitted.
    let out = cluster.submit();
    assert!(out.contains("nothing to submit"), "{out}");

    // One fold lost: only it trains again, then find-best and prediction follow. Cancel it with
    // scancel first: the stages after it are cancelled too, and the next submission reruns it.
    let fold = env
        .path()
        .join("res/Dataset900_Phantom3D/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_1");
    std::fs::remove_dir_all(&fold).unwrap();
    let out = cluster.submit();
    let train_line = out
        .lines()
        .find(|l| l.starts_with("submitted train"))
        .unwrap_or_else(|| panic!("no training submitted:\n{out}"));
    assert!(
        train_line.ends_with(": train 3d_fullres__fold_1"),
        "only the lost fold trains again:\n{out}"
    );
    let train_job = train_line
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_string();
    let cancelled = Command::new("scancel")
        .arg(&train_job)
        .env("SLURM_CONF", &cluster.conf)
        .status()
        .unwrap();
    assert!(cancelled.success());
    let status = cluster.wait();
    assert!(status.contains("CANCELLED"), "{status}");
    assert!(!fold.join("checkpoint_final.safetensors").is_file());

    let out = cluster.submit();
    assert!(out.contains("train 3d_fullres__fold_1"), "{out}");
    let status = cluster.wait();
    assert!(
        !status.contains("not finished"),
        "{status}\n{}",
        cluster.logs()
    );
    assert!(fold.join("checkpoint_final.safetensors").is_file());
}
