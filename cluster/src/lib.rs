//! # nnunet-cluster — nnU-Net experiments on a SLURM cluster
//!
//! nnU-Net users train five folds of several configurations, pick the best with
//! `find_best_configuration`, then predict thousands of scans; on a cluster they write their
//! own job scripts for that. This crate does it from one TOML file:
//!
//! * [`spec`] reads the cluster experiment: an experiment TOML (the one `nnunet run` takes)
//!   with `configurations` and `folds` as lists, plus `[slurm]` and `[predict]` tables, and
//!   writes one experiment TOML per training task, each checked by the same parser `nnunet run`
//!   uses before anything is submitted;
//! * [`progress`] decides from the files on disk what is already finished (a fold with its
//!   final checkpoint and validation summary, an `inference_information.json` newer than every
//!   fold, a prediction part's marker), so a resubmission runs only what is missing and a task
//!   killed with `scancel` runs again;
//! * [`slurm`] talks to the scheduler through its own commands (`sbatch`, `squeue`,
//!   `scontrol`): a job array of trainings, a `find-best` job that waits for it
//!   (`--dependency=afterok`), and a job array of prediction parts that waits for `find-best`;
//! * [`jobs`] writes the job scripts, submits them as stages and records them in
//!   `<work_dir>/jobs.json` — the one sbatch writer, also used by `nnunet compare`'s SLURM
//!   scheduler;
//! * [`submit`] wires these together, and `nnunet slurm status` reads the record ([`status`]);
//! * [`predict_part`] is what each prediction job runs.
//!
//! Every file it writes goes through nnunet-core's atomic writer.

pub mod jobs;
pub mod predict_part;
pub mod progress;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod submit;

pub use spec::ClusterExperiment;
pub use submit::{JobsRecord, StageRecord, submit};

/// Errors of this crate: the core error, or a scheduler command that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] nnunet_core::Error),
    #[error("{command}: {message}")]
    Scheduler { command: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;
