//! Bounded mutation fuzzing on stable Rust, run as ordinary tests (`tests/fuzz_targets.rs`).
//!
//! Each target starts from a seed corpus taken from `../shared/data` (real NIfTI and PNG files,
//! `dataset.json`s, nnU-Net's own plans) and feeds the reader mutated inputs for a fixed time or
//! case count ([`runner`]). The mutations come from random bytes read through `arbitrary`'s
//! [`arbitrary::Unstructured`]: byte-level ones ([`bytes`]), tree-level ones for JSON and TOML
//! ([`tree`]), and format-aware ones for NIfTI headers ([`nifti`]) and PNG chunks ([`png`]).
//! A panic, a broken invariant, or an execution over the memory bound ([`alloc`]) is a finding;
//! each target prints its executions and findings, and fails when there is any.

pub mod alloc;
pub mod bytes;
pub mod nifti;
pub mod png;
pub mod runner;
pub mod seeds;
pub mod tree;

pub use alloc::BoundedAlloc;
pub use runner::{Budget, Outcome, Report, fuzz};
