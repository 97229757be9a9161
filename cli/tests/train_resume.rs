//! Training through the `nnunet` binary on a generated 2D phantom: a run killed mid-epoch and
//! resumed with `--continue` ends with exactly the weights and optimiser state of a run that was
//! never interrupted (batches and initial weights are pure functions of the seed).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{Sandbox, brief_train_args};

use nnunet_core::tch::Tensor;

fn fold_dir(sandbox: &Sandbox, results: &str) -> PathBuf {
    sandbox
        .path()
        .join(results)
        .join("Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d/fold_0")
}

fn tensors(path: &Path) -> Vec<(String, Tensor)> {
    let mut t = Tensor::read_safetensors(path).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn latest_epoch(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("checkpoint_latest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["epoch"].as_u64()
}

#[test]
fn killed_training_resumes_to_identical_weights() {
    let env = Sandbox::new();
    env.prepare_phantom_2d("res_a", 8);
    let mut train = brief_train_args("901", "2d", "0", 4, 3);
    train.extend(["--save-every".into(), "1".into()]);
    let mut resume = train.clone();
    resume.push("--continue".into());

    // A: uninterrupted.
    env.run_in("res_a", &train);
    let a_dir = fold_dir(&env, "res_a");
    assert!(a_dir.join("checkpoint_final.safetensors").exists());
    assert!(a_dir.join("progress.png").exists());
    assert!(
        !a_dir.join("checkpoint_latest.json").exists(),
        "checkpoint_latest is removed at the end, as nnU-Net does"
    );

    // B: killed once checkpoint_latest records two finished epochs, i.e. during epoch 2 or 3.
    let mut child = env
        .command("res_b", &train)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let b_dir = fold_dir(&env, "res_b");
    let started = Instant::now();
    let killed_after = loop {
        if let Some(epoch) = latest_epoch(&b_dir).filter(|&e| e >= 2) {
            child.kill().unwrap();
            break epoch;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no checkpoint_latest within 10 minutes"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended ({status}) before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.wait().unwrap();
    assert!(
        !b_dir.join("checkpoint_final.json").exists(),
        "killed before the end"
    );

    env.run_in("res_b", &resume);
    let log = std::fs::read_to_string(b_dir.join("training_log.txt")).unwrap();
    let resumed_at = (2..4u64)
        .find(|e| log.contains(&format!("Resuming from checkpoint_latest at epoch {e}")))
        .unwrap_or_else(|| panic!("no resume line in:\n{log}"));
    assert!(resumed_at >= killed_after.min(3));
    // The learning rate of the resumed epoch is the poly schedule's for that epoch.
    let lr = 0.01 * (1.0 - resumed_at as f64 / 4.0).powf(0.9);
    let after_resume = &log[log.find("Resuming from").unwrap()..];
    assert!(
        after_resume.contains(&format!("Current learning rate: {lr:.5}")),
        "expected lr {lr:.5} after resuming:\n{after_resume}"
    );

    let a = tensors(&a_dir.join("checkpoint_final.safetensors"));
    let b = tensors(&b_dir.join("checkpoint_final.safetensors"));
    assert_eq!(a.len(), b.len());
    assert!(a.iter().any(|(n, _)| n.starts_with("optimizer.momentum.")));
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(
            ta.equal(tb),
            "{na} differs between the uninterrupted and the resumed run"
        );
    }
}
