//! Datasets: image IO (NIfTI, PNG, BMP, TIF), the nnU-Net raw layout and `dataset.json`,
//! `verify`, fingerprint extraction, `splits_final.json`, converters and the phantom generator.

pub mod case_image;
pub mod convert;
pub mod fingerprint;
pub mod io;
pub mod localise;
pub mod numpy_compat;
pub mod numpy_random;
pub mod phantom;
pub mod raw;
pub mod splits;
pub mod verify;

pub use case_image::read_case_image;
pub use io::{file_ending, read_image, read_label, write_image, write_label};
pub use raw::{RawDataset, find_dataset};

use nnunet_core::{BuiltIn, Plugin, Registry, Result};

/// Registers the built-in dataset format `nnunet-raw`.
struct Datasets;

impl Plugin for Datasets {
    fn name(&self) -> &'static str {
        env!("CARGO_PKG_NAME")
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        registry.add_dataset_format(
            "nnunet-raw",
            "nnU-Net v2 raw layout: dataset.json, imagesTr/CASE_XXXX<ending>, labelsTr/CASE<ending>",
            |path| Ok(Box::new(RawDataset::open(path)?)),
        )
    }
}

inventory::submit!(BuiltIn(&Datasets));

#[cfg(test)]
mod registration_tests {
    #[test]
    fn nnunet_raw_is_registered() {
        let Some(data) = crate::io::tests::shared_data() else {
            return;
        };
        let registry = nnunet_core::Registry::with_builtins().unwrap();
        let format = registry.dataset_format("nnunet-raw").unwrap();
        let dataset = (format.make)(&data.join("Dataset102_HC18subset")).unwrap();
        assert_eq!(dataset.cases().len(), 160);
        assert_eq!(dataset.descriptor().file_ending, ".png");
    }
}
