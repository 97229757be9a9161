//! Soft Dice as nnU-Net computes it (`MemoryEfficientSoftDiceLoss`): softmax (or, for regions,
//! sigmoid) probabilities; per channel `(2·Σ p·y + smooth) / max(Σ y + Σ p + smooth, 1e-8)`,
//! sums over the spatial axes — and over the batch too with batch Dice; mean over channels
//! (background dropped unless `do_bg`); the loss is the negative mean Dice, as in nnU-Net.
//! Ignore-label voxels are masked out of every sum. In data-parallel training, batch Dice sums
//! its counts over every rank's samples ([`crate::cross_rank`]), as nnU-Net's `ddp=True`.

use crate::cross_rank::{self, CrossRank};
use crate::options::Options;
use crate::target::{region_target, softmax_target};
use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Loss, LossSpec, Result};

/// nnU-Net's Dice smoothing term.
pub const DICE_SMOOTH: f64 = 1e-5;

/// Soft Dice loss. Options: `do_bg` (default false for softmax, true for regions), `smooth`
/// (default 1e-5), `regions` (label lists per region, for label-map targets in region mode).
#[derive(Clone, Debug)]
pub struct SoftDice {
    pub batch_dice: bool,
    pub do_bg: bool,
    pub smooth: f64,
    pub ignore_label: Option<i64>,
    /// Sigmoid outputs (region-based training) instead of softmax.
    pub regions: bool,
    pub region_labels: Option<Vec<Vec<i64>>>,
    /// Batch Dice over the global batch of a data-parallel run: the counts summed across ranks.
    pub cross_rank: Option<CrossRank>,
}

impl SoftDice {
    pub fn from_spec(spec: &LossSpec) -> Result<Self> {
        let options = Options::parse("dice", &spec.options, &["do_bg", "smooth", "regions"])?;
        Ok(SoftDice {
            batch_dice: spec.batch_dice,
            do_bg: options.bool_or("do_bg", spec.regions)?,
            smooth: options.f64_or("smooth", DICE_SMOOTH)?,
            ignore_label: spec.ignore_label,
            regions: spec.regions,
            region_labels: options.regions()?,
            // nnU-Net gathers only batch Dice (`ddp and batch_dice`)
            cross_rank: cross_rank::installed().filter(|_| spec.batch_dice),
        })
    }

    /// `[Σ p·y, Σ p, Σ y]` per sample and channel `(B, C)`, or per channel `(C)` with batch
    /// Dice (over this process's samples: the gather across ranks is in [`Loss::compute`]).
    pub fn counts(&self, logits: &Tensor, target: &Tensor) -> Result<[Tensor; 3]> {
        let (mut probs, prepared) = if self.regions {
            let prepared = region_target(
                "dice",
                logits,
                target,
                self.ignore_label,
                self.region_labels.as_deref(),
            )?;
            (logits.f_sigmoid()?, prepared)
        } else {
            let prepared = softmax_target("dice", logits, target, self.ignore_label)?;
            (logits.f_softmax(1, Kind::Float)?, prepared)
        };
        let mut onehot = prepared.onehot;
        if !self.do_bg {
            let channels = onehot.size()[1];
            onehot = onehot.f_narrow(1, 1, channels - 1)?;
            probs = probs.f_narrow(1, 1, channels - 1)?;
        }
        let axes: Vec<i64> = (2..probs.dim() as i64).collect();
        let sum = |t: &Tensor| t.f_sum_dim_intlist(axes.as_slice(), false, Kind::Float);
        let (mut intersect, mut sum_pred, mut sum_gt) = match &prepared.mask {
            None => (sum(&(&probs * &onehot))?, sum(&probs)?, sum(&onehot)?),
            Some(mask) => (
                sum(&(&probs * &onehot * mask))?,
                sum(&(&probs * mask))?,
                sum(&(&onehot * mask))?,
            ),
        };
        if self.batch_dice {
            intersect = intersect.f_sum_dim_intlist(0, false, Kind::Float)?;
            sum_pred = sum_pred.f_sum_dim_intlist(0, false, Kind::Float)?;
            sum_gt = sum_gt.f_sum_dim_intlist(0, false, Kind::Float)?;
        }
        Ok([intersect, sum_pred, sum_gt])
    }
}

impl Loss for SoftDice {
    fn compute(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        let mut counts = self.counts(logits, target)?;
        if let Some(ranks) = self.cross_rank.as_ref().filter(|_| self.batch_dice) {
            counts = ranks.gather(counts)?;
        }
        let [intersect, sum_pred, sum_gt] = counts;
        let dice = (intersect * 2.0 + self.smooth)
            .f_div(&(sum_gt + sum_pred + self.smooth).f_clamp_min(1e-8)?)?;
        Ok(dice.f_mean(Kind::Float)?.f_neg()?)
    }
}
