//! Postprocessor `levelset`: refines the boundary of each predicted label with a level set
//! (Chan–Vese's region energy with a length term) run on the prediction's probabilities.
//!
//! The postprocessor receives the label map (with its spacing) and the softmax probabilities,
//! not the image, so the energy's "image" is the probability map: for label `c`, the region
//! term rewards voxels inside by `p_c − max_{k≠c} p_k`, how much more probable `c` is than its
//! strongest rival. For two classes that is `2p − 1`, exactly Chan–Vese with the region means
//! fixed at 1 (inside) and 0 (outside), the values a probability map takes where the network is
//! sure; fitting the means instead would let a confident map drift its own threshold. Without
//! the length term the stationary state is the argmax itself, so the curvature weight `mu` is
//! what changes the prediction: small jagged bumps, speckles and one-voxel holes, whose
//! curvature outweighs their probability margin, go; confident structures stay.
//!
//! Per label (one-vs-rest), initialised from the signed distance of the predicted mask, 2D maps
//! slice by slice and 3D maps in 3D, with anisotropic spacing respected (see [`grid`]).
//! Options: `iterations` (200), `mu` (0.2), `lambda` (1), `dt` (0.5), `epsilon` (1), `labels`
//! (the labels to refine; default all). Build: `cd plugins/levelset && cargo build --release`.

pub mod chan_vese;
pub mod distance;
pub mod grid;
pub mod options;
pub mod refine;

use nnunet_core::tch::Tensor;
use nnunet_core::{Error, LabelMap, Plugin, Postprocessor, Registry, Result};
pub use options::Options;

/// The `levelset` postprocessor with its options.
pub struct LevelSet {
    pub options: Options,
}

impl Postprocessor for LevelSet {
    fn apply(&self, seg: &mut LabelMap, probabilities: Option<&Tensor>) -> Result<()> {
        let probabilities = probabilities.ok_or_else(|| {
            Error::Invalid(
                "levelset needs the prediction's probabilities: run it through `nnunet predict \
                 --postprocess`, or `nnunet postprocess apply` on a folder predicted with \
                 --save-probabilities (CASE.npz beside each label map)"
                    .into(),
            )
        })?;
        refine::refine(seg, probabilities, &self.options)
    }
}

struct LevelSetPlugin;

impl Plugin for LevelSetPlugin {
    fn name(&self) -> &'static str {
        "levelset"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        registry.add_postprocessor(
            "levelset",
            "level-set (Chan–Vese) boundary refinement of each label on its probabilities",
            |options| {
                Ok(Box::new(LevelSet {
                    options: Options::parse(options)?,
                }))
            },
        )
    }
}

nnunet_core::export_plugin!(LevelSetPlugin);
