//! `run_comparison` end to end on a generated 2D phantom: two variants of the plans' network
//! (PlainConvUNet with Dice+CE, and with CE alone) and MedNeXt-S k3 from its plugin when it is
//! built, one fold, two iterations on the CPU. It writes the table and chart; a second run
//! reuses every run and trains nothing. (ResEnc-M's 2D network is too slow for a unit test on
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
        let (x, y) = (a.foreground_dice.mean, b.foreground_dice.mean);
        assert!(
            x.zip(y).is_none_or(|(x, y)| (x - y).abs() < 1e-12),
            "{x:?} {y:?}"
        );
    }
}
