//! `run_comparison` end to end on a generated 2D phantom: two variants of the plans' network
//! (PlainConvUNet with Dice+CE, and with CE alone) and MedNeXt-S k3 from its plugin when it is
//! built, one fold, two iterations on the CPU, one seed. It writes the table (with the
//! per-case columns: Dice per case, mean rank, p against the baseline, GFLOPs, peak RSS), the
//! per-case CSV, the statistics file and the chart; a second run reuses every run and trains
//! nothing; a wall-clock budget stops training early and says so. (ResEnc-M's 2D network is too slow for a unit test on
//! two cores; per-network plans are covered by the TOML tests.)

use nnunet_compare::{Comparison, run_comparison};
use nnunet_core::Registry;
use nnunet_core::paths::NnunetPaths;
use nnunet_datasets::phantom::{self, Dim, PhantomOptions};
use nnunet_planning::{PlanRequest, PreprocessRequest};
use std::path::{Path, PathBuf};

// Link the built-in components (inventory collects from linked crates only).
use nnunet_losses as _;
use nnunet_networks as _;
use nnunet_trainers as _;

/// The MedNeXt plugin beside this test's profile folder, if built and loadable.
fn mednext(registry: &mut Registry) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    let path = target.join("plugins/libnnunet_plugin_mednext.so");
    if !path.exists() {
        nnunet_core::test_data::skip(&format!(
            "MedNeXt left out: {} is not built",
            path.display()
        ));
        return None;
    }
    match registry.load_plugin(&path) {
        Ok(_) => Some(path),
        Err(e) => {
            nnunet_core::test_data::skip(&format!("MedNeXt left out: {e}"));
            None
        }
    }
}

fn prepare(paths: &NnunetPaths, registry: &Registry) {
    phantom::generate(&PhantomOptions {
        training_cases: 10,
        test_cases: 0,
        ..PhantomOptions::new(Dim::Two, paths.raw.clone().unwrap())
    })
    .unwrap();
    nnunet_datasets::fingerprint::run_fingerprint(paths, "901", Some(2), false, false).unwrap();
    let request = PlanRequest {
        dataset: "901".into(),
        planner: "default".into(),
        gpu_memory_gb: None,
        plans_name: None,
    };
    nnunet_planning::plan_dataset(registry, paths, &request).unwrap();
    let request = PreprocessRequest {
        dataset: "901".into(),
        plans_name: "nnUNetPlans".into(),
        configurations: vec!["2d".into()],
        num_workers: 2,
        progress: false,
    };
    nnunet_planning::preprocess_dataset(paths, &request).unwrap();
}

fn write_toml(dir: &Path, plugin: Option<&Path>) -> PathBuf {
    let mut text = String::from(
        r#"
dataset = "901"
configuration = "2d"
folds = [0]
output = "comparison"
seed = 7

[budget]
epochs = 1
iterations_per_epoch = 2
validation_iterations = 1
device = "cpu"
workers = 1
mirroring = false

[[networks]]
label = "PlainConvUNet"

[[networks]]
label = "PlainConvUNet CE"
loss = "ce"
"#,
    );
    if let Some(p) = plugin {
        text = format!("plugins = [{:?}]\n{text}", p.display().to_string());
        text.push_str(
            "\n[[networks]]\nlabel = \"MedNeXt-S k3\"\nnetwork = \"mednext-s-k3\"\ntrainer = \"mednext\"\n",
        );
    }
    let file = dir.join("phantom_compare.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn comparison_writes_table_and_chart_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let paths = NnunetPaths {
        raw: Some(dir.path().join("raw")),
        preprocessed: Some(dir.path().join("preprocessed")),
        results: Some(dir.path().join("results")),
    };
    let mut registry = Registry::with_builtins().unwrap();
    prepare(&paths, &registry);
    let plugin = mednext(&mut registry);
    let comparison =
        Comparison::from_toml_file(&write_toml(dir.path(), plugin.as_deref())).unwrap();
    let networks = comparison.networks.len();

    let mut seen = 0;
    let report =
        run_comparison(&registry, &paths, &comparison, None, false, |_| seen += 1).unwrap();
    assert_eq!(seen, networks);
    assert_eq!(report.output, dir.path().join("comparison"));
    assert_eq!(report.rows.len(), networks);
    assert!(report.runs.iter().all(|r| r.trained_now && r.validated_now));
    assert_eq!(
        report
            .columns
            .iter()
            .map(|c| c.key.as_str())
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
    let plain = &report.rows[0];
    let ce = &report.rows[1];
    assert_eq!(plain.network, "PlainConvUNet");
    assert_eq!(ce.network, "PlainConvUNet");
    assert!(plain.parameters > 100_000);
    assert_eq!(ce.parameters, plain.parameters);
    for row in &report.rows {
        assert!(row.train_seconds_per_epoch.mean.unwrap() > 0.0);
        assert!(row.inference_seconds_per_case.mean.unwrap() > 0.0);
        assert_eq!(row.peak_gpu_mib, None, "CPU run");
        assert_eq!(row.foreground_dice.n, 1);
        let d = row.foreground_dice.mean.unwrap_or(0.0);
        assert!((0.0..=1.0).contains(&d));
    }
    if plugin.is_some() {
        assert_eq!(report.rows[2].network, "mednext-s-k3");
        assert_eq!(report.rows[2].trainer, "mednext");
    }
    // Runs live apart, in nnU-Net's layout under runs/<label>/.
    let fold = dir
        .path()
        .join("comparison/runs/PlainConvUNet-CE/Dataset901_Phantom2D")
        .join("nnUNetTrainer__nnUNetPlans__2d/fold_0");
    assert!(fold.join("checkpoint_final.safetensors").exists());
    assert!(fold.join("validation/summary.json").exists());

    let md = std::fs::read_to_string(&report.markdown).unwrap();
    assert!(
        md.contains("| PlainConvUNet |") && md.contains("| PlainConvUNet CE |"),
        "{md}"
    );
    assert!(md.contains("Dice organ (1)") || md.contains("(1)"), "{md}");
    let csv = std::fs::read_to_string(&report.csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + networks);
    assert!(csv.starts_with("label,network,plans,trainer,folds,parameters,dice_1_mean"));
    assert!(csv.contains(&format!(",{},", plain.parameters)));
    let png = std::fs::read(&report.chart).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    check_protocol_and_statistics(&report, networks);

    // Second run: everything is reused, nothing trains, the checkpoint is untouched.
    let checkpoint = fold.join("checkpoint_final.json");
    let modified = std::fs::metadata(&checkpoint).unwrap().modified().unwrap();
    let again = run_comparison(&registry, &paths, &comparison, None, false, |_| {}).unwrap();
    assert!(
        again
            .runs
            .iter()
            .all(|r| !r.trained_now && !r.validated_now)
    );
    assert_eq!(
        std::fs::metadata(&checkpoint).unwrap().modified().unwrap(),
        modified
    );
    // A finished run trained on another budget is refused, not silently reused.
    let mut other = comparison.clone();
    other.budget.epochs = 3;
    let err = run_comparison(&registry, &paths, &other, None, false, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("budget is 3 × 2"), "{err}");
    for (a, b) in again.rows.iter().zip(&report.rows) {
        assert_eq!(a.parameters, b.parameters);
        assert_eq!(
            (a.seeds.clone(), a.flops_per_patch),
            (b.seeds.clone(), b.flops_per_patch)
        );
        assert_eq!(a.test, b.test, "statistics from the recorded cases");
        let (x, y) = (a.foreground_dice.mean, b.foreground_dice.mean);
        assert!(
            x.zip(y).is_none_or(|(x, y)| (x - y).abs() < 1e-12),
            "{x:?} {y:?}"
        );
    }

    // A wall-clock budget far below one epoch: training stops after the first of three epochs,
    // and the report says how far it got.
    let mut timed = comparison.clone();
    timed.networks.truncate(1);
    timed.budget.epochs = 3;
    timed.budget.hours = Some(1e-6);
    timed.output = Some(dir.path().join("timed"));
    let report = run_comparison(&registry, &paths, &timed, None, false, |_| {}).unwrap();
    assert_eq!(report.runs[0].epochs, 1);
    assert_eq!(report.runs[0].scheduled_epochs, Some(3));
    assert_eq!(report.runs[0].time_limit_hours, Some(1e-6));
    assert_eq!(report.rows[0].epochs_text(), "1 / 3");
    let md = std::fs::read_to_string(&report.markdown).unwrap();
    assert!(
        md.contains("| 1 / 3 |") && md.contains("0.000001 h of training"),
        "{md}"
    );
}

/// The protocol (seed, epochs) and the per-case statistics in the rows and files.
fn check_protocol_and_statistics(report: &nnunet_compare::ComparisonReport, networks: usize) {
    let cases = report.runs[0].validation_cases;
    assert!(cases >= 2, "{cases} validation cases");
    for (row, run) in report.rows.iter().zip(&report.runs) {
        assert_eq!(
            row.seeds,
            vec![7],
            "the comparison's seed, as the checkpoint records it"
        );
        assert_eq!(row.epochs, vec![1]);
        assert_eq!(run.scheduled_epochs, Some(1));
        assert_eq!(row.case_dice.n, cases, "every case has a defined Dice");
        let rank = row.mean_rank.unwrap();
        assert!((1.0..=networks as f64).contains(&rank), "{rank}");
        if cfg!(target_os = "linux") {
            assert!(row.peak_rss_mib.unwrap() > 100, "{:?}", row.peak_rss_mib);
        }
    }
    // Ranks of `networks` networks average to (networks + 1) / 2.
    let total: f64 = report.rows.iter().map(|r| r.mean_rank.unwrap()).sum();
    assert!((total - (networks * (networks + 1)) as f64 / 2.0).abs() < 1e-9);
    let plain = &report.rows[0];
    assert!(plain.test.is_none(), "the baseline is the first network");
    assert!(plain.flops_per_patch.unwrap() > 1_000_000);
    assert_eq!(report.rows[1].flops_per_patch, plain.flops_per_patch);
    if networks > 2 {
        // The plugin network is counted too (on libtorch's dispatcher), and differs.
        let mednext = report.rows[2].flops_per_patch.unwrap();
        assert!(mednext > 1_000_000 && Some(mednext) != plain.flops_per_patch);
    }
    let stats = &report.statistics;
    assert_eq!(stats.baseline, "PlainConvUNet");
    assert_eq!(stats.tests.len(), networks - 1);
    for t in &stats.tests {
        assert_eq!(t.n, cases);
        let (p, holm) = (t.p_value.unwrap(), t.p_holm.unwrap());
        assert!((0.0..=1.0).contains(&p) && holm >= p, "{t:?}");
        // Two phantom cases: the exact test or, with ties or zeros, the permutation test.
        assert!(
            ["exact", "permutation"].contains(&t.method.as_str()),
            "{t:?}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report.stats_file).unwrap()).unwrap();
    assert_eq!(json["baseline"], "PlainConvUNet");
    assert_eq!(json["tests"].as_array().unwrap().len(), networks - 1);
    assert_eq!(json["mean_rank"].as_array().unwrap().len(), networks);
    let per_case = std::fs::read_to_string(&report.cases_csv).unwrap();
    assert_eq!(per_case.lines().count(), 1 + cases);
    assert!(
        per_case.starts_with("fold,case,PlainConvUNet,PlainConvUNet CE"),
        "{per_case}"
    );
    let md = std::fs::read_to_string(&report.markdown).unwrap();
    for column in [
        "GFLOPs / patch",
        "Dice per case (n)",
        "mean rank",
        "p vs baseline",
        "peak RSS MiB",
    ] {
        assert!(md.contains(column), "{column}: {md}");
    }
    assert!(
        md.contains("seed: 7") && md.contains("| baseline |"),
        "{md}"
    );
    let csv = std::fs::read_to_string(&report.csv).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            "flops_per_patch,dice_case_mean,dice_case_std,cases,mean_rank,p_value,p_holm,\
             wilcoxon_method,epochs,scheduled_epochs,seed,peak_rss_mib"
        ),
        "{header}"
    );
}
