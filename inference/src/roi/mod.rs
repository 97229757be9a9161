//! Two-stage ROI segmentation: a coarse model finds the objects, a fine model segments each
//! one in a crop around it.
//!
//! The geometry (components → boxes → enlarged, clipped → crops in world coordinates → pasted
//! back) is [`boxes`]; prediction with both models ([`two_stage`], `nnunet predict-roi`); the
//! fine model's training data from a labelled dataset ([`dataset`], `nnunet convert roi`).
//! Guide and measurements: `docs/roi.md`.

pub mod boxes;
pub mod dataset;
pub mod two_stage;

pub use boxes::{BoundingBox, RoiOptions};
pub use dataset::convert_roi;
pub use two_stage::{RoiPrediction, predict_roi_folder, predict_two_stage};
