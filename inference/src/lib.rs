//! Inference: from trained folds to segmentations in the original geometry, scored the way
//! nnU-Net scores them.
//!
//! The sliding-window tiling and Gaussian importance map ([`sliding_window`]), the
//! sliding-window predictor with mirroring ([`predictor`]), `nnunet predict` ([`predict`],
//! [`export`], [`label_handling`], [`probabilities`]), ensembling ([`ensemble`]), the
//! evaluation metrics and `summary.json` ([`evaluation`]), end-of-fold validation
//! ([`validation`]), merged cross-validation results ([`crossval`]), postprocessors and their
//! choice ([`postprocess`]), `find-best` ([`find_best`]), overlays ([`overlay`]) and two-stage ROI prediction ([`roi`]).

pub mod case_selection;
pub mod crossval;
pub mod ensemble;
pub mod evaluation;
pub mod export;
pub mod find_best;
pub mod fold_weights;
pub mod label_handling;
pub mod model_zip;
pub mod nnunet_folder;
pub mod overlay;
pub mod postprocess;
pub mod predict;
pub mod predictor;
pub mod probabilities;
pub mod report;
pub mod roi;
pub mod sliding_window;
pub mod surface;
pub mod validation;
