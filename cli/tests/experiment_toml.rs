//! The experiment TOML in docs/examples trains with a loss that comes from a run-time plugin
//! (`nnunet run`), here with its training budget cut to a few iterations.

mod support;

use std::path::PathBuf;
use support::Sandbox;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn documented_experiment_trains_with_a_plugin_loss() {
    let example = repo().join("docs/examples/experiment_tversky_plugin.toml");
    let mut experiment: toml::Table = std::fs::read_to_string(&example).unwrap().parse().unwrap();
    // The plugin path in the example is relative to the example's folder.
    let plugin = experiment["plugins"].as_array().unwrap()[0]
        .as_str()
        .unwrap()
        .to_string();
    let plugin = example.parent().unwrap().join(plugin);
    assert!(
        plugin.exists(),
        "{} missing: build the plugins first (scripts/test.sh does)",
        plugin.display()
    );
    experiment.insert(
        "plugins".into(),
        toml::Value::Array(vec![plugin.display().to_string().into()]),
    );
    let training = experiment["training"].as_table_mut().unwrap();
    training.insert("epochs".into(), 1.into());
    training.insert("iterations_per_epoch".into(), 2.into());
    training.insert("validation_iterations".into(), 1.into());

    let sandbox = Sandbox::new();
    sandbox.prepare_phantom_2d("res", 6);
    let file = sandbox.path().join("experiment.toml");
    std::fs::write(&file, toml::to_string(&experiment).unwrap()).unwrap();
    let out = sandbox.run(&["run", file.to_str().unwrap()]);
    assert!(out.contains("fold 0: 1 epoch(s) run"), "{out}");
    let fold = sandbox
        .path()
        .join("res/Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d/fold_0");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fold.join("checkpoint_final.json")).unwrap())
            .unwrap();
    assert_eq!(meta["loss"], "dice+ce+tversky");
    assert!(
        meta["log"]["epochs"][0]["train_loss"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
}
