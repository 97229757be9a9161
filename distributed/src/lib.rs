//! Data-parallel training across processes, GPUs and nodes on PyTorch's own c10d collectives
//! (never ours): `ProcessGroupGloo` for CPU tensors and `ProcessGroupNCCL` for CUDA tensors
//! (the `nccl` feature), both from the libtorch that tch links, reached through a small C++
//! shim (`cpp/shim.cpp`). See docs/cluster.md for why these and how to run.
//!
//! - [`rendezvous`]: who this process is (torchrun's or SLURM's variables);
//! - [`nodelist`]: SLURM's compressed host lists;
//! - [`group`]: the process group and its collectives;
//! - [`launch`]: `--nproc-per-node`, the local launcher.

pub mod group;
pub mod launch;
pub mod nodelist;
pub mod rendezvous;

pub use group::{Backend, ProcessGroup, has_nccl};
pub use rendezvous::Rendezvous;

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The process group as the training loop holds it.
pub type SharedGroup = Arc<Mutex<ProcessGroup>>;

/// How long a collective waits for the other ranks before failing
/// (`NNUNET_DDP_TIMEOUT` seconds; default 600, torch's default for NCCL).
pub fn collective_timeout() -> Duration {
    let seconds = std::env::var("NNUNET_DDP_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(600);
    Duration::from_secs(seconds.max(1))
}
