//! Slice localisation as plugins (issue 19): a 2D network on a MIP (`nnunet convert mip`)
//! predicts, per row, whether the landmark's slice is there.
//!
//! * loss `heatmap` ([`heatmap`]): the rows' scores (the landmark channel's logit margin,
//!   averaged along each row) against a 1D Gaussian heat map centred on the labelled band's
//!   centre row, by binary cross-entropy;
//! * trainer `localise` ([`trainer`]): the preset for MIPs — loss `ce+heatmap`, no deep
//!   supervision, mirroring across columns only, small rotations (rows keep their meaning);
//! * postprocessor `slice-localise` ([`postprocess`]): the best-scoring row of the
//!   probabilities becomes the prediction (that row labelled), which `nnunet predict
//!   --localisation` turns into a slice index and world position.
//!
//! [`profile`] holds the row scores and the heat-map target both sides use; options are checked
//! by `nnunet_core::CheckedOptions`.

mod heatmap;
mod postprocess;
mod profile;
mod trainer;

use nnunet_core::{Plugin, Registry, Result};

struct Localise;

impl Plugin for Localise {
    fn name(&self) -> &'static str {
        "localise"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        registry.add_loss(
            "heatmap",
            "BCE of the rows' landmark scores against a 1D Gaussian heat map (sigma, label)",
            |spec| Ok(Box::new(heatmap::Heatmap::from_spec(spec)?)),
        )?;
        registry.add_trainer(
            "localise",
            "MIP slice localisation preset: ce+heatmap, no deep supervision, column mirroring",
            |options| Ok(Box::new(trainer::LocaliseTrainer::from_options(options)?)),
        )?;
        registry.add_postprocessor(
            "slice-localise",
            "labels the row whose mean landmark logit is highest (one landmark slice per image)",
            |options| Ok(Box::new(postprocess::SliceLocalise::from_options(options)?)),
        )
    }
}

nnunet_core::export_plugin!(Localise);
