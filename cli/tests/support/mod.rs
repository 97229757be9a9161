//! Shared by the CLI tests: a temporary set of nnU-Net folders and the `nnunet` binary run
//! against them.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `raw/`, `pre/` and one or more results folders in a temporary directory.
pub struct Sandbox {
    root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for d in ["raw", "pre", "res"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        Sandbox { root }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// `nnunet ARGS` with `nnUNet_results` = `<root>/<results>`.
    pub fn command<S: AsRef<OsStr>>(&self, results: &str, args: &[S]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nnunet"));
        cmd.args(args)
            .env("nnUNet_raw", self.path().join("raw"))
            .env("nnUNet_preprocessed", self.path().join("pre"))
            .env("nnUNet_results", self.path().join(results));
        cmd
    }

    /// Runs `nnunet ARGS` (results in `<root>/<results>`), asserting success; returns its output.
    pub fn run_in<S: AsRef<OsStr> + Debug>(&self, results: &str, args: &[S]) -> String {
        Self::succeed(self.command(results, args), args)
    }

    /// Runs `nnunet ARGS` (results in `<root>/res`) with the fixture plugin in
    /// `NNUNET_PLUGINS`, asserting success; returns its output.
    pub fn run_with_fixture<S: AsRef<OsStr> + Debug>(&self, args: &[S]) -> String {
        let mut command = self.command("res", args);
        command.env("NNUNET_PLUGINS", fixture_plugin());
        Self::succeed(command, args)
    }

    fn succeed<S: Debug>(mut command: Command, args: &[S]) -> String {
        let out = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "nnunet {args:?} failed:\n{text}");
        text
    }

    /// Runs `nnunet ARGS` with results in `<root>/res`.
    pub fn run<S: AsRef<OsStr> + Debug>(&self, args: &[S]) -> String {
        self.run_in("res", args)
    }

    /// Generates the 2D phantom dataset 901 (`cases` training cases and one test case), then
    /// fingerprints, plans and preprocesses its `2d` configuration.
    pub fn prepare_phantom_2d(&self, results: &str, cases: usize) {
        let cases = cases.to_string();
        let demo = [
            "demo-data",
            "--dim",
            "2",
            "--cases",
            &cases,
            "--test-cases",
            "1",
        ];
        self.run_in(results, &demo);
        self.run_in(results, &["plan-and-preprocess", "-d", "901", "-c", "2d"]);
    }
}

/// Starts the one-node local SLURM (`scripts/slurm_local.sh start`: idempotent, and safe
/// beside another test starting it at the same time) and returns its `SLURM_CONF`. The
/// cluster is left running: other tests may be using it.
pub fn start_slurm() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm_local.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("start")
        .output()
        .expect("run scripts/slurm_local.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/slurm_local.sh start failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("export SLURM_CONF="))
        .expect("SLURM_CONF line")
        .to_string()
}

/// `nnunet train` of one fold, briefly, on the CPU with one loader worker: `epochs` of
/// `iterations` training iterations and one validation iteration each.
pub fn brief_train_args(
    dataset: &str,
    configuration: &str,
    fold: &str,
    epochs: usize,
    iterations: usize,
) -> Vec<String> {
    let (epochs, iterations) = (epochs.to_string(), iterations.to_string());
    [
        "train",
        "-d",
        dataset,
        "-c",
        configuration,
        "-f",
        fold,
        "--epochs",
        &epochs,
        "--iterations-per-epoch",
        &iterations,
        "--validation-iterations",
        "1",
        "--device",
        "cpu",
        "--workers",
        "1",
    ]
    .map(str::to_string)
    .to_vec()
}

/// `../shared/data` beside the repository, or `None` after a counted skip (a failure under
/// NNUNET_REQUIRE_SHARED_DATA=1).
pub fn shared_data() -> Option<PathBuf> {
    nnunet_core::test_data::shared_data(env!("CARGO_MANIFEST_DIR"), "")
}

/// The fixture plugin `plugins/fixtures/sdk`, built beside the `nnunet` binary.
pub fn fixture_plugin() -> PathBuf {
    built_plugin("nnunet_fixture_sdk")
}

/// `target/plugins/lib<lib_name>.so`, which scripts/build-plugins.sh builds beside the `nnunet`
/// binary.
pub fn built_plugin(lib_name: &str) -> PathBuf {
    // target/release/nnunet → target/plugins/ (scripts/build-plugins.sh)
    let release = Path::new(env!("CARGO_BIN_EXE_nnunet")).parent();
    let target = release.and_then(Path::parent).unwrap_or(Path::new("."));
    let path = target.join("plugins").join(format!("lib{lib_name}.so"));
    assert!(
        path.exists(),
        "{} is missing: scripts/build-plugins.sh builds it",
        path.display()
    );
    path
}

/// `../shared/interop`: model folders and predictions made by nnU-Net v2 itself (required).
pub fn interop() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop");
    assert!(
        dir.join("manifest.json").is_file(),
        "{} is missing: the nnU-Net interop fixtures are required",
        dir.display()
    );
    dir
}

impl Sandbox {
    /// The validation case identifiers of `fold` in `pre/<dataset>/splits_final.json`.
    pub fn validation_cases(&self, dataset: &str, fold: usize) -> Vec<String> {
        let path = self.path().join(format!("pre/{dataset}/splits_final.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let splits: serde_json::Value = serde_json::from_str(&text).unwrap();
        splits[fold]["val"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no fold {fold}", path.display()))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }
}

/// `nnunet predict` of fold 0 of a `3d_fullres` model on the CPU, without mirroring.
pub fn predict_fold0_3d_args(input: &Path, output: &Path, dataset: &str) -> Vec<String> {
    let (input, output) = (input.display().to_string(), output.display().to_string());
    [
        "predict",
        "-i",
        &input,
        "-o",
        &output,
        "-d",
        dataset,
        "-c",
        "3d_fullres",
        "-f",
        "0",
        "--no-tta",
        "--device",
        "cpu",
    ]
    .map(str::to_string)
    .to_vec()
}
