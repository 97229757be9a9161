//! PyTorch `.pth` checkpoints, read and written in Rust: how nnU-Net v2 model folders are
//! used without Python.
//!
//! * [`value`]: the Python values of a pickle;
//! * [`unpickle`] / [`pickler`]: pickle → values and back, [`globals`]: what the calls in a
//!   pickle build (our own, ~800 lines with tests, see below);
//! * [`archive`]: the `torch.save` zip around the pickle and the tensor storages;
//! * [`nnunet`]: nnU-Net's checkpoint dict (`network_weights`, mirroring axes, …).
//!
//! Why our own unpickler: the alternatives were candle-core's `pickle` module and burn's
//! PyTorch reader (burn-import, itself built on candle-core's). Both read only what a state
//! dict needs and refuse or mis-read the rest of nnU-Net's checkpoints in various versions
//! (numpy scalars in `logging`, `torch.device` in `init_args`), neither writes `.pth`, and
//! candle-core alone brings ~40 crates (gemm, half, safetensors, …). Measured on this
//! project's 2-core build machine, see docs/inference.md ("Using nnU-Net v2 models") for the
//! figures. Ours covers every opcode of protocols 0–5 that plain data uses, reads any unknown
//! object as opaque, and its build is part of `nnunet-trainers` (a few seconds).

pub mod archive;
pub mod globals;
pub mod nnunet;
pub mod pickler;
pub mod unpickle;
pub mod value;

pub use archive::PthArchive;
pub use nnunet::{ExportInfo, NnunetCheckpoint};
pub use value::Value;
