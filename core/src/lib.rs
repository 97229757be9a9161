//! # nnunet-core — the plugin SDK of nnunet-rs
//!
//! Everything a plugin author needs, and nothing more:
//!
//! * the component traits — [`Dataset`], [`Planner`], [`Network`], [`Loss`], [`Trainer`],
//!   [`Postprocessor`], [`Augmentation`], [`ImageIo`] — and the spec types their constructors
//!   receive;
//! * the shared data types that flow between pipeline stages: images and label maps with their
//!   geometry ([`image`]), the `dataset.json` model ([`dataset`]), the dataset fingerprint
//!   ([`fingerprint`]) and the plans file ([`plans`]), each in nnU-Net v2's own JSON shape;
//! * the [`Registry`] that maps component names to constructors, filled by built-in crates
//!   through `inventory` and by dynamic plugins at run time;
//! * the plugin loader and its build fingerprint ([`plugin`]), and the [`export_plugin!`] macro.
//!
//! A plugin is a `cdylib` that depends on this crate alone, implements [`Plugin`], and calls
//! `nnunet_core::export_plugin!(MyPlugin);`. It is built out of tree, with its own lockfile and
//! profile; `nnunet plugin new` writes one, and docs/plugins.md is the guide.

pub mod atomic;
pub mod augmentation;
pub mod dataset;
pub mod device;
pub mod error;
pub mod fingerprint;
pub mod image;
pub mod image_io;
pub mod loss;
pub mod network;
pub mod options;
pub mod paths;
pub mod planner;
pub mod plans;
pub mod plugin;
pub mod postprocess;
pub mod precision;
pub mod registry;
pub mod test_data;
pub mod trainer;

pub use augmentation::{Augmentation, AugmentationStage, Sample};
pub use dataset::{Case, CaseId, Dataset, DatasetDescriptor, LabelValue};
pub use device::{DeviceChoice, DeviceReport, parse_device};
pub use error::{Error, Result};
pub use fingerprint::Fingerprint;
pub use image::{Geometry, Image, LabelMap};
pub use image_io::ImageIo;
pub use loss::{Loss, LossSpec};
pub use network::{Network, NetworkSpec};
pub use options::CheckedOptions;
pub use planner::{PlanOptions, Planner};
pub use plans::{ArchitectureSpec, ConfigurationPlans, Plans};
pub use plugin::{BuildFingerprint, LoadedPlugin, PluginHeader, load_plugin};
pub use postprocess::Postprocessor;
pub use precision::{Precision, PrecisionChoice};
pub use registry::{BuiltIn, Component, ComponentKind, Origin, Plugin, Registry};
pub use trainer::{
    AugmentationOptions, EpochControl, EpochReport, Trainer, TrainerLoss, TrainingOptions,
};

#[doc(hidden)]
pub use inventory;
/// Re-exported so that plugins read options (JSON values) without a dependency of their own.
pub use serde_json;
/// Re-exported so that plugins use exactly the host's tensor library.
pub use tch;
