//! A client of the local SLURM (`scripts/slurm_local.sh`) for the tests that submit to it
//! (`slurm.rs`, `compare_slurm.rs`): `nnunet` with `SLURM_CONF`, the submit and status commands
//! under test on one TOML file, waiting until the submission's jobs are done, and the job logs.

#![allow(dead_code)] // each test uses part of it

use crate::support::Sandbox;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct SlurmClient<'a> {
    pub env: &'a Sandbox,
    /// `SLURM_CONF` of the local cluster.
    pub conf: String,
    /// The TOML file submitted; its `slurm/` work folder lies beside it.
    pub toml: PathBuf,
    /// The command that submits the TOML (its path is appended), e.g. `["slurm", "submit"]`.
    pub submit: &'static [&'static str],
    /// The command that shows the TOML's jobs, e.g. `["slurm", "status"]`.
    pub status: &'static [&'static str],
}

impl SlurmClient<'_> {
    /// Runs `nnunet ARGS` against the cluster, asserting success; returns its output.
    pub fn nnunet(&self, args: &[&str]) -> String {
        let out = self
            .env
            .command("res", args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "nnunet {args:?} failed:\n{text}");
        text
    }

    fn on_toml(&self, command: &[&str]) -> String {
        let mut args = command.to_vec();
        args.push(self.toml.to_str().unwrap());
        self.nnunet(&args)
    }

    pub fn submit(&self) -> String {
        self.on_toml(self.submit)
    }

    pub fn status(&self) -> String {
        self.on_toml(self.status)
    }

    /// Waits until no job of the last submission is pending or running; returns the status.
    pub fn wait(&self) -> String {
        let start = Instant::now();
        loop {
            let status = self.status();
            let busy = ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"]
                .iter()
                .any(|s| status.contains(s));
            if !busy {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(900),
                "jobs still running after 15 minutes:\n{status}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn logs_dir(&self) -> PathBuf {
        self.toml.parent().unwrap().join("slurm/logs")
    }

    /// One job log (empty when missing).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs_dir().join(name)).unwrap_or_default()
    }

    /// The last 20 lines of every job log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.logs_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(20).collect();
            text += &format!("--- {}\n", entry.path().display());
            text += &tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            text += "\n";
        }
        text
    }
}
