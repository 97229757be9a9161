//! The helpers of the bad-input tests (`bad_inputs.rs`, `bad_inputs_trial.rs`): a command that
//! must fail without a panic, the words its message must hold, and inputs built from the
//! phantom generator.

#![allow(dead_code)] // each test uses part of it

use crate::support::Sandbox;
use std::path::{Path, PathBuf};

/// Runs `nnunet ARGS` (with extra environment), asserting that it fails; returns its output.
pub fn fails_with_env(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = sandbox.command("res", args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "nnunet {args:?} succeeded:\n{text}");
    assert!(
        !text.contains("panicked"),
        "nnunet {args:?} panicked:\n{text}"
    );
    // Shown with --nocapture: docs/reliability.md quotes these.
    eprintln!("$ nnunet {}\n{text}", args.join(" "));
    text
}

pub fn fails(sandbox: &Sandbox, args: &[&str]) -> String {
    fails_with_env(sandbox, args, &[])
}

pub fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
}

/// The generated phantom (`dim` 2 or 3) with `cases` training cases; returns its raw folder.
pub fn phantom(sandbox: &Sandbox, dim: u8, cases: usize) -> PathBuf {
    let (dim_s, cases_s) = (dim.to_string(), cases.to_string());
    sandbox.run(&[
        "demo-data",
        "--dim",
        &dim_s,
        "--cases",
        &cases_s,
        "--test-cases",
        "1",
    ]);
    let name = if dim == 2 {
        "Dataset901_Phantom2D"
    } else {
        "Dataset900_Phantom3D"
    };
    sandbox.path().join("raw").join(name)
}

pub fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}
