//! Converters from layouts researchers have to nnU-Net v2's raw layout (`nnunet convert …`).
//! Each writes `nnUNet_raw/DatasetNNN_Name` through a staging folder ([`target`]) and produces a
//! dataset that passes `nnunet verify`.
//!
//! | converter | from |
//! |---|---|
//! | [`msd`] | Medical Segmentation Decathlon task folders (4D NIfTI split per channel) |
//! | [`v1`] | nnU-Net v1 task folders |
//! | [`masks`] | images plus one binary mask per structure (0/1, 0/255, 1-bit), folder or zip |
//! | [`labelme`] | LabelMe JSON polygons |
//! | [`photo`] | JPEG and other pictures → PNG |
//! | [`dicom`] | DICOM CT/MR series → NIfTI images (`CASE_0000.nii.gz`) |

pub mod dicom;
pub mod labelme;
mod legacy_json;
pub mod masks;
pub mod msd;
pub mod photo;
pub mod shapes;
pub mod source;
pub mod target;
pub mod v1;

pub use dicom::{ConvertedCase, DicomOptions, convert_dicom, read_dicom_series};
pub use labelme::{LabelmeOptions, convert_labelme};
pub use masks::{MasksOptions, Structure, convert_masks};
pub use msd::convert_msd;
pub use photo::convert_folder_to_png;
pub use target::{Existing, TaskOptions};
pub use v1::convert_v1;
