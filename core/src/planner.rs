//! The [`Planner`] trait: from a fingerprint and a dataset description to plans.

use crate::{DatasetDescriptor, Fingerprint, Plans, Result};
use serde::{Deserialize, Serialize};

/// Options every planner understands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanOptions {
    /// GPU memory the plans should fit, in GB (nnU-Net's `-gpu_memory_target`, default 8).
    pub gpu_memory_gb: f64,
    /// Name of the plans (`nnUNetPlans`, `nnUNetResEncUNetMPlans`, …).
    pub plans_name: Option<String>,
    /// Dataset name as in the folder (`Dataset004_Hippocampus`).
    pub dataset_name: String,
}

/// Turns a fingerprint into plans.
pub trait Planner: Send + Sync {
    fn plan(
        &self,
        fingerprint: &Fingerprint,
        dataset: &DatasetDescriptor,
        options: &PlanOptions,
    ) -> Result<Plans>;
}
