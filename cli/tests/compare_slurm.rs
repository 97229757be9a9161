//! `nnunet compare` with `[scheduler] kind = "slurm"` against a real SLURM
//! (`scripts/slurm_local.sh`, as `slurm.rs`): two networks × one fold on the 2D phantom, each
//! run trained data-parallel by two ranks inside its array task, then the report job after the
//! array (`afterok`). Both tasks and the report finish, `comparison.md` lists both networks,
//! `--status` says so, and a resubmission submits nothing. Then the local scheduler with
//! `nproc_per_node = 2`: each run launched as two ranks here, then the report.

#[path = "support/slurm_client.rs"]
mod slurm_client;
mod support;

use slurm_client::SlurmClient;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use support::{Sandbox, start_slurm};

const COMPARISON: &str = r#"dataset = "901"
configuration = "2d"
folds = [0]
output = "cmp_out"

[budget]
epochs = 1
iterations_per_epoch = 2
validation_iterations = 1
device = "cpu"
workers = 1
mirroring = false
precision = "fp32"

[scheduler]
kind = "slurm"
nproc_per_node = 2

[slurm]
cpus_per_task = 1
work_dir = "slurm"

[[networks]]
label = "Dice CE"

[[networks]]
label = "CE only"
loss = "ce"
"#;

/// One test at a time (the CI has two cores).
static SERIAL: Mutex<()> = Mutex::new(());

fn record(output: &Path, slug: &str, loss_trainer: &str) -> PathBuf {
    output
        .join("runs")
        .join(slug)
        .join("Dataset901_Phantom2D")
        .join(format!("{loss_trainer}__nnUNetPlans__2d"))
        .join("fold_0/compare_record.json")
}

#[test]
fn comparison_runs_on_slurm_and_a_resubmission_submits_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let conf = start_slurm();
    let env = Sandbox::new();
    env.prepare_phantom_2d("res", 6);
    let toml = env.path().join("cmp.toml");
    std::fs::write(&toml, COMPARISON).unwrap();
    let run = SlurmClient {
        env: &env,
        conf,
        toml,
        submit: &["compare"],
        status: &["compare", "--status"],
    };

    let out = run.submit();
    let train = out
        .lines()
        .find(|l| l.starts_with("submitted train"))
        .unwrap_or_else(|| panic!("no job array:\n{out}"));
    assert!(
        train.ends_with(": train Dice CE fold 0, train CE only fold 0"),
        "{out}"
    );
    assert!(out.contains("submitted report"), "{out}");
    let started = Instant::now();
    let status = run.wait();
    println!(
        "array and report finished in {:.0} s:\n{status}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        status.matches(" finished ").count(),
        3,
        "two runs and the report finished:\n{status}\n{}",
        run.logs()
    );
    assert_eq!(status.matches("COMPLETED").count(), 3, "{status}");
    assert!(!status.contains("not finished"), "{status}");

    let output = env.path().join("cmp_out");
    let table = std::fs::read_to_string(output.join("comparison.md")).unwrap();
    for label in ["| Dice CE |", "| CE only |"] {
        assert!(table.contains(label), "{label} in comparison.md:\n{table}");
    }
    for slug in ["Dice-CE", "CE-only"] {
        assert!(record(&output, slug, "nnUNetTrainer").is_file(), "{slug}");
        // Each run trained on two data-parallel ranks inside its array task.
        let log = run.log(&format!("{slug}__fold_0.log"));
        assert!(
            log.contains("rank 0: pid") && log.contains("rank 1: pid"),
            "{slug}:\n{log}"
        );
    }
    assert!(
        run.log("report.log").contains("comparison.md"),
        "{}",
        run.logs()
    );

    // Everything finished: nothing is submitted.
    let out = run.submit();
    assert!(out.contains("nothing to submit"), "{out}");
    assert!(!out.contains("submitted"), "{out}");
}

#[test]
fn local_scheduler_trains_each_run_on_launched_ranks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Sandbox::new();
    env.prepare_phantom_2d("res", 6);
    let toml = env.path().join("local.toml");
    let text = COMPARISON
        .replace("kind = \"slurm\"", "kind = \"local\"")
        .replace("[slurm]\ncpus_per_task = 1\nwork_dir = \"slurm\"\n", "");
    let text = &text[..text.find("[[networks]]\nlabel = \"CE only\"").unwrap()];
    std::fs::write(&toml, text).unwrap();
    let out = env.run(&["compare", toml.to_str().unwrap()]);
    assert!(
        out.contains("rank 0: pid") && out.contains("rank 1: pid"),
        "{out}"
    );
    assert!(
        out.contains("Dice CE fold 0: trained and validated"),
        "{out}"
    );
    let output = env.path().join("cmp_out");
    assert!(record(&output, "Dice-CE", "nnUNetTrainer").is_file());
    let table = std::fs::read_to_string(output.join("comparison.md")).unwrap();
    assert!(table.contains("| Dice CE |"), "{table}");
    // Finished: a rerun launches nothing.
    let out = env.run(&["compare", toml.to_str().unwrap()]);
    assert!(!out.contains("rank 0: pid"), "{out}");
    assert!(out.contains("Dice CE fold 0: reused"), "{out}");
}
