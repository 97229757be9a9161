//! The [`Loss`] trait and the [`LossSpec`] a loss constructor receives.

use crate::Result;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// What a loss constructor is asked to build.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LossSpec {
    /// Dice over the whole batch (nnU-Net's `batch_dice` from the plans) instead of per sample.
    pub batch_dice: bool,
    /// The ignore label's value, excluded from every loss term.
    pub ignore_label: Option<i64>,
    /// Region-based training: outputs are sigmoid channels, one per region.
    pub regions: bool,
    /// Loss-specific options from the run configuration (e.g. Tversky's alpha and beta).
    #[serde(default)]
    pub options: serde_json::Value,
}

/// A training loss on one output resolution. Deep-supervision weighting across resolutions is
/// done by the trainer, so a loss sees one `(logits, target)` pair per call.
pub trait Loss: Send {
    /// `logits`: `(B, C, *spatial)`; `target`: `(B, 1, *spatial)` integer labels. Returns a scalar.
    fn compute(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor>;
}
