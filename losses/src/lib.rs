//! Built-in losses, as nnU-Net v2 computes them, registered by name through `inventory`:
//!
//! | name | loss |
//! |---|---|
//! | `ce` | cross-entropy (`RobustCrossEntropyLoss`) |
//! | `dice` | soft Dice (`MemoryEfficientSoftDiceLoss`, smooth 1e-5; softmax without background, or sigmoid regions with all channels) |
//! | `bce` | binary cross-entropy on region (sigmoid) outputs |
//! | `topk`, `topk10` | TopK cross-entropy (`TopKLoss`, k = 10 % unless the `k` option says otherwise) |
//! | `dice+ce` | nnU-Net's default `DC_and_CE_loss`, 1:1 |
//! | `dice+bce` | nnU-Net's region loss `DC_and_BCE_loss`, 1:1 |
//!
//! Every loss honours [`LossSpec`]: `batch_dice`, `ignore_label` (excluded from every term) and
//! `regions` (sigmoid outputs). Any other pairing is an expression, not a new type:
//! [`build_loss_from_expr`] builds `"dice+topk10"`, `"0.5*dice + 2*ce"` or terms from plugins
//! as a [`Composite`]. A [`Loss`] sees one resolution; [`DeepSupervisionLoss`] applies one to
//! every deep-supervision output with nnU-Net's weights. In data-parallel training, batch Dice
//! is over the global batch: the trainer installs a [`RankSum`] ([`cross_rank`]).

mod bce;
mod composite;
mod cross_entropy;
pub mod cross_rank;
mod deep_supervision;
mod dice;
mod options;
mod target;
mod topk;

pub use bce::BinaryCrossEntropy;
pub use composite::{Composite, build_loss_from_expr, parse_loss_expr};
pub use cross_entropy::CrossEntropy;
pub use cross_rank::{CrossRank, CrossRankGuard, RankSum, gather_batch_dice};
pub use deep_supervision::{DeepSupervisionLoss, deep_supervision_weights, downsample_target};
pub use dice::{DICE_SMOOTH, SoftDice};
pub use topk::TopK;

use nnunet_core::{BuiltIn, Error, Loss, LossSpec, Plugin, Registry, Result};

/// Builds a built-in loss by name (also `topkN` for any percentage N, and `+` expressions of
/// built-in names), without a registry.
pub fn build_builtin(name: &str, spec: &LossSpec) -> Result<Box<dyn Loss>> {
    Ok(match name {
        "ce" => Box::new(CrossEntropy::from_spec(spec)?),
        "dice" => Box::new(SoftDice::from_spec(spec)?),
        "bce" => Box::new(BinaryCrossEntropy::from_spec(spec)?),
        "topk" => Box::new(TopK::from_spec(spec)?),
        _ if name.contains('+') || name.contains('*') => {
            let terms = parse_loss_expr(name)?;
            Box::new(Composite::build(&terms, spec, build_builtin)?)
        }
        _ => match composite::topk_percent(name) {
            Some(k) => Box::new(TopK::from_spec(&composite::with_topk_k(spec, k)?)?),
            None => {
                return Err(Error::Invalid(format!(
                    "no built-in loss named {name:?} (ce, dice, bce, topk, topkN, or a \
                     '+' expression of these)"
                )));
            }
        },
    })
}

/// The built-in names and what they are.
const BUILT_INS: [(&str, &str); 7] = [
    (
        "ce",
        "cross-entropy over softmax outputs; the ignore label is excluded",
    ),
    (
        "dice",
        "soft Dice (nnU-Net's MemoryEfficientSoftDiceLoss, smooth 1e-5; options do_bg, smooth, regions)",
    ),
    (
        "bce",
        "binary cross-entropy over sigmoid region outputs (option regions)",
    ),
    (
        "topk",
        "TopK cross-entropy: mean of the worst k% voxels (options k, default 10, and label_smoothing)",
    ),
    ("topk10", "TopK cross-entropy over the worst 10% of voxels"),
    (
        "dice+ce",
        "nnU-Net's default DC_and_CE_loss: soft Dice + cross-entropy, 1:1",
    ),
    (
        "dice+bce",
        "nnU-Net's region loss DC_and_BCE_loss: soft Dice + BCE on sigmoid outputs, 1:1",
    ),
];

struct Losses;

impl Plugin for Losses {
    fn name(&self) -> &'static str {
        env!("CARGO_PKG_NAME")
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for (name, description) in BUILT_INS {
            registry.add_loss(name, description, move |spec| build_builtin(name, spec))?;
        }
        Ok(())
    }
}

inventory::submit!(BuiltIn(&Losses));
