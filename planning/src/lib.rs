//! Planning and preprocessing: nnU-Net v2's default planner and the ResEnc M/L/XL planners
//! (from a fingerprint to `nnUNetPlans.json`), and preprocessing (transpose, crop, normalise,
//! resample, foreground sampling). See docs/planning.md.

pub mod crop;
pub mod foreground;
pub mod move_plans;
pub mod normalization;
pub mod plan_dataset;
pub mod planner;
pub mod preprocess;
pub mod preprocess_dataset;
pub mod preprocessed_format;
pub mod resample;
pub mod spacing;
pub mod topology;
pub mod vram;

pub use move_plans::{MovePlansRequest, move_plans};
pub use plan_dataset::{DatasetFolders, PlanRequest, plan_dataset};
pub use planner::{ExperimentPlanner, PRESETS, PlannerPreset};
pub use preprocess_dataset::{PreprocessRequest, preprocess_dataset};

use nnunet_core::{BuiltIn, Plugin, Registry, Result};

struct Planners;

impl Plugin for Planners {
    fn name(&self) -> &'static str {
        env!("CARGO_PKG_NAME")
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for preset in PRESETS {
            let description = format!(
                "nnU-Net v2 {} → {} ({} GB default)",
                preset.class_name, preset.plans_name, preset.default_gpu_memory_gb
            );
            registry.add_planner(preset.name, &description, move |_options| {
                Ok(Box::new(ExperimentPlanner::new(preset)))
            })?;
        }
        Ok(())
    }
}

inventory::submit!(BuiltIn(&Planners));
