//! Slice localisation (issue 19, item 3): a 3D scan becomes a 2D maximum-intensity projection
//! (MIP) at 1 mm whose rows are the scan's axial slices, the landmark's slice becomes a band of
//! rows in a label map, and a predicted band or row becomes a slice index and a world position.
//!
//! * [`mip`]: the projection, the 1 mm resampling and the intensity window;
//! * [`landmark`]: the landmark's row from a 3D label map (the label's centroid), the band label
//!   map a 2D network trains on, and the row read back from a (predicted) band;
//! * [`dataset`]: `nnunet convert mip`, a 3D raw dataset → its 2D MIP dataset;
//! * [`ct_phantom`]: a CT-like phantom with a spine whose L3 vertebra is the landmark;
//! * [`metric`]: localisation error in mm per case and mean ± sd, `localisation.json`.
//!
//! The heat-map loss, the `localise` trainer and the `slice-localise` postprocessor are the
//! plugin `plugins/localise`; docs/localisation.md walks through the whole workflow.

pub mod ct_phantom;
pub mod dataset;
pub mod landmark;
pub mod metric;
pub mod mip;
