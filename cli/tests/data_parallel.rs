//! Data-parallel training through the `nnunet` binary on the CPU (Gloo over the loopback):
//! two ranks (`--nproc-per-node 2`) end with the weights of one process that sees the whole
//! batch, with batch Dice (its tp/fp/fn summed across ranks, as nnU-Net's `ddp=True`); the
//! fold's validation is split across the ranks and scored once, equal to one process's; and a
//! rank killed mid-run ends the run with an error naming it, after which `--continue` finishes
//! the run.
//!
//! The batch's samples are pure functions of (seed, batch, index in the batch), and each rank
//! builds its part of every batch, so both runs see the same samples.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{Sandbox, brief_train_args};

use nnunet_core::tch::Tensor;

const FOLD: &str = "Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d/fold_0";

fn fold_dir(sandbox: &Sandbox, results: &str) -> PathBuf {
    sandbox.path().join(results).join(FOLD)
}

fn tensors(path: &Path) -> Vec<(String, Tensor)> {
    let mut t = Tensor::read_safetensors(path).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// The 2D phantom of `cases` cases, planned, with batch Dice (the plans' `batch_dice`, set
/// here so that the test does not depend on the planner's choice for 2d).
fn phantom(env: &Sandbox, cases: usize) {
    env.prepare_phantom_2d("res", cases);
    let plans = env.path().join("pre/Dataset901_Phantom2D/nnUNetPlans.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plans).unwrap()).unwrap();
    let config = &mut json["configurations"]["2d"];
    assert_eq!(config["batch_size"], 2, "the phantom's 2d batch");
    config["batch_dice"] = serde_json::Value::Bool(true);
    std::fs::write(&plans, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

fn train_args(epochs: usize, iterations: usize, ranks: usize) -> Vec<String> {
    let mut args = brief_train_args("901", "2d", "0", epochs, iterations);
    args.push("--no-validation".into());
    if ranks > 1 {
        args.extend(["--nproc-per-node".into(), ranks.to_string()]);
    }
    args
}

#[test]
fn two_ranks_end_with_the_weights_of_one_process() {
    let env = Sandbox::new();
    phantom(&env, 6);
    let started = Instant::now();
    env.run_in("res_ddp", &train_args(2, 2, 2));
    let ddp_seconds = started.elapsed().as_secs_f64();
    env.run_in("res_one", &train_args(2, 2, 1));
    let (ddp, one) = (fold_dir(&env, "res_ddp"), fold_dir(&env, "res_one"));

    let log = std::fs::read_to_string(ddp.join("training_log.txt")).unwrap();
    assert!(log.contains("Data-parallel training on 2 ranks"), "{log}");
    assert!(log.contains("rank 0: samples 0..1"), "{log}");
    assert!(log.contains("batch Dice over the global batch"), "{log}");

    let (a, b) = (
        tensors(&ddp.join("checkpoint_final.safetensors")),
        tensors(&one.join("checkpoint_final.safetensors")),
    );
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f64;
    let mut weights = 0;
    for ((name_a, ta), (name_b, tb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        if !name_a.starts_with("network.") {
            // the optimiser's momentum: sums of gradients, whose float noise grows fast; one
            // process on 1 vs 2 threads differs there by ~20% too
            continue;
        }
        assert_eq!(ta.size(), tb.size(), "{name_a}");
        let diff = (ta - tb).abs().max().double_value(&[]);
        let scale = tb.abs().max().double_value(&[]);
        worst = worst.max(diff / (5e-5 + 1e-3 * scale));
        weights += 1;
        // one step agrees to ~1e-7 (summation order); SGD with Nesterov momentum 0.99 amplifies
        // that over the 4 steps to ~1e-5 on the smallest tensors, as much as one process on 1
        // vs 2 threads differs; a wrong sample split or an unaveraged gradient moves the
        // weights by a step's size (~1e-3)
        assert!(
            diff <= 5e-5 + 1e-3 * scale,
            "{name_a}: max |Δ| {diff:e} (scale {scale:e})"
        );
    }
    assert!(weights > 10, "the checkpoint holds the network's weights");
    eprintln!(
        "2 ranks vs 1 process (batch Dice): worst difference {worst:.3} of the tolerance (5e-5 + 1e-3 × max |w|); 2-rank run {ddp_seconds:.1} s"
    );
}

/// `summary.json`, its `NaN`s as `null`.
fn read_summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text.replace("NaN", "null")).unwrap()
}

/// Equal JSON, numbers to within `tolerance`; returns the largest numeric difference.
fn assert_close(a: &serde_json::Value, b: &serde_json::Value, at: &str, tolerance: f64) -> f64 {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let d = (x.as_f64().unwrap() - y.as_f64().unwrap()).abs();
            assert!(d <= tolerance, "{at}: {x} vs {y}");
            d
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            let items = x.iter().zip(y).enumerate();
            items
                .map(|(i, (p, q))| assert_close(p, q, &format!("{at}[{i}]"), tolerance))
                .fold(0.0, f64::max)
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{at}: keys");
            x.iter()
                .map(|(k, v)| assert_close(v, &y[k], &format!("{at}.{k}"), tolerance))
                .fold(0.0, f64::max)
        }
        _ => {
            assert_eq!(a, b, "{at}");
            0.0
        }
    }
}

#[test]
fn validation_is_split_across_ranks_and_equals_one_process() {
    let env = Sandbox::new();
    // 11 cases: fold 0 validates 3 of them, so the ranks' parts are uneven (2 + 1)
    phantom(&env, 11);
    let mut args = brief_train_args("901", "2d", "0", 1, 1);
    args.extend(["--nproc-per-node".into(), "2".into()]);
    let output = env.run(&args);
    // splits_final.json is written by the training
    let cases = env.validation_cases("Dataset901_Phantom2D", 0);
    assert_eq!(cases.len(), 3, "{cases:?}");
    let dir = fold_dir(&env, "res");
    let summary = dir.join("validation/summary.json");
    let ddp = read_summary(&summary);

    // rank r predicted cases r, r + 2, …: every case once, and only rank 0 scored
    let mut predicted = Vec::new();
    for rank in 0..2 {
        let prefix = format!("rank {rank}/2: predicted ");
        let line = output
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line from rank {rank}:\n{output}"));
        let own: Vec<&str> = line.rsplit(": ").next().unwrap().split(", ").collect();
        let expected: Vec<&str> = cases
            .iter()
            .skip(rank)
            .step_by(2)
            .map(String::as_str)
            .collect();
        assert_eq!(own, expected, "{line}");
        assert!(
            line.contains(&format!("{} of the 3", expected.len())),
            "{line}"
        );
        eprintln!("{line}");
        predicted.extend(own.iter().map(|c| c.to_string()));
    }
    predicted.sort();
    let mut all = cases.clone();
    all.sort();
    assert_eq!(predicted, all);
    assert_eq!(
        output
            .matches("fold 0 validation: foreground-mean Dice")
            .count(),
        1,
        "{output}"
    );

    // one process validates the same checkpoint_final (nnU-Net's --val)
    let mut val = brief_train_args("901", "2d", "0", 1, 1);
    val.push("--val".into());
    env.run(&val);
    let one = read_summary(&summary);
    let per_case = one["metric_per_case"].as_array().unwrap();
    assert_eq!(per_case.len(), 3);
    let worst = assert_close(&ddp, &one, "summary", 1e-6);
    eprintln!(
        "2-rank validation vs 1 process: same 3 cases, largest metric difference {worst:e}; \
         foreground-mean Dice {}",
        one["foreground_mean"]["Dice"]
    );
}

#[test]
fn a_dead_rank_fails_cleanly_and_continue_finishes() {
    let env = Sandbox::new();
    phantom(&env, 6);
    let mut args = train_args(6, 4, 2);
    args.extend(["--save-every".into(), "1".into()]);
    let mut child = env
        .command("res", &args)
        .env("NNUNET_DDP_TIMEOUT", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the launcher's stderr, line by line, on a channel
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut output = Vec::new();
    let mut rank1_pid = None;
    let dir = fold_dir(&env, "res");
    let started = Instant::now();
    // kill rank 1 once rank 0 wrote a checkpoint_latest (after epoch 0 or 1)
    let killed_at = loop {
        while let Ok(line) = rx.try_recv() {
            if let Some(pid) = line.strip_prefix("nnunet: rank 1: pid ") {
                rank1_pid = pid.trim().parse::<i32>().ok();
            }
            output.push(line);
        }
        if let (Some(pid), true) = (rank1_pid, dir.join("checkpoint_latest.json").exists()) {
            // SAFETY: a child of the launcher we started.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
            break Instant::now();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "training ended ({status}) before rank 1 was killed:\n{}",
                output.join("\n")
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint_latest in 5 min"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "the other rank did not end within the 60 s collective timeout"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let ended_after = killed_at.elapsed();
    reader.join().unwrap();
    output.extend(rx.try_iter());
    let text = output.join("\n");
    assert!(!status.success(), "{text}");
    assert!(text.contains("rank 1 was killed by signal 9"), "{text}");
    assert!(
        !dir.join("checkpoint_final.json").exists(),
        "killed before the end"
    );

    let mut resume = args.clone();
    resume.push("--continue".into());
    env.run(&resume);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint_final.json")).unwrap())
            .unwrap();
    assert_eq!(meta["epoch"], 6);
    let log = std::fs::read_to_string(dir.join("training_log.txt")).unwrap();
    assert!(log.contains("Resuming from checkpoint_latest"), "{log}");
    eprintln!(
        "the run ended {:.2} s after rank 1 was killed",
        ended_after.as_secs_f64()
    );
}
