//! The [`Network`] trait and the [`NetworkSpec`] a network constructor receives.
//!
//! Constructors take an [`nn::Path`](tch::nn::Path) into the host's `VarStore`, so a network's
//! parameters — built in or from a plugin — live in one store: one optimiser, one checkpoint.

use crate::{ArchitectureSpec, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// What a network constructor is asked to build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// 2 or 3 spatial dimensions.
    pub spatial_dims: usize,
    pub in_channels: i64,
    /// Output channels: classes including background, or regions.
    pub num_outputs: i64,
    /// The plans' architecture block (stages, features, kernels, strides).
    pub architecture: ArchitectureSpec,
    /// Return one output per decoder stage (highest resolution first) instead of one.
    pub deep_supervision: bool,
    /// Network-specific options from the run configuration (e.g. a MedNeXt variant's kernel size).
    #[serde(default)]
    pub options: serde_json::Value,
    /// The plans' patch size (spatial axes), for networks whose shape depends on it (UNETR's
    /// position embeddings) or that must refuse a patch they cannot serve; empty when unknown.
    #[serde(default)]
    pub patch_size: Vec<i64>,
}

/// A segmentation network.
pub trait Network: Send {
    /// Forward pass. Returns the logits, highest resolution first; more than one tensor only with
    /// deep supervision on.
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Vec<Tensor>>;

    /// Switches deep supervision on or off (inference uses only the first output).
    fn set_deep_supervision(&mut self, enabled: bool) -> Result<()>;

    /// Names of the tensors that form the segmentation heads; fine-tuning re-initialises these.
    fn head_parameter_prefixes(&self) -> Vec<String> {
        Vec::new()
    }
}
