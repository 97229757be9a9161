//! Batch Dice across data-parallel ranks, as nnU-Net's `MemoryEfficientSoftDiceLoss` with
//! `ddp=True` and `batch_dice=True`: each rank's tp, fp + tp and fn + tp (summed over its own
//! samples) are summed across the ranks, so every rank's Dice is the Dice of the global batch.
//!
//! This crate knows nothing of process groups: the trainer installs a [`RankSum`] (an all-reduce
//! over its group) with [`gather_batch_dice`] while it builds its loss, and the built-in Dice
//! built then ([`crate::SoftDice::from_spec`]) keeps it. A Dice built without one (a single
//! process, the lockstep test, a plugin's own loss) is over its own samples.
//!
//! The gradient is nnU-Net's `AllGatherGrad`: there every rank's loss depends on every rank's
//! counts, and the backward pass all-reduces (sums) the gradient of the gathered counts, so a
//! rank's own counts get `W ×` the gradient of the global Dice (all ranks' losses hold the same
//! Dice). Here, without a custom autograd function: `total = Σ_ranks c (detached) + W·(c − c)`
//! with the second `c` detached — the value is exactly the global sum, its gradient with respect
//! to the own counts `c` is `W`. After DDP's averaging of the gradients (÷ W) the Dice term's
//! gradient is that of one process seeing the whole batch.

use nnunet_core::tch::Tensor;
use nnunet_core::{Error, Result};
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

/// Sums tensors across the ranks of a data-parallel run (an all-reduce with `SUM`).
pub trait RankSum: Send + Sync {
    /// The number of ranks.
    fn world_size(&self) -> usize;
    /// Sums each tensor across the ranks, in place. Every rank calls this in the same order.
    fn sum(&self, tensors: &mut [Tensor]) -> Result<()>;
}

thread_local! {
    static INSTALLED: RefCell<Option<CrossRank>> = const { RefCell::new(None) };
}

/// A [`RankSum`] a Dice loss gathers its batch counts through.
#[derive(Clone)]
pub struct CrossRank(Arc<dyn RankSum>);

impl fmt::Debug for CrossRank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CrossRank({} ranks)", self.0.world_size())
    }
}

impl CrossRank {
    pub fn new(sum: Arc<dyn RankSum>) -> Self {
        CrossRank(sum)
    }

    /// The sum of `counts` over every rank's samples, whose gradient with respect to this
    /// rank's `counts` is `W` (nnU-Net's `AllGatherGrad` followed by the sum over ranks; see
    /// the module documentation). One all-reduce for all of them.
    pub fn gather<const N: usize>(&self, counts: [Tensor; N]) -> Result<[Tensor; N]> {
        let w = self.0.world_size();
        if w <= 1 {
            return Ok(counts);
        }
        let mut reduced: Vec<Tensor> = counts.iter().map(detached_copy).collect::<Result<_>>()?;
        self.0.sum(&mut reduced)?;
        let mut out = Vec::with_capacity(N);
        for (own, all) in counts.iter().zip(reduced) {
            // exactly 0 in value, W in gradient
            let grad_path = own.f_sub(&own.f_detach()?)?.f_mul_scalar(w as f64)?;
            out.push(all.f_add(&grad_path)?);
        }
        out.try_into()
            .map_err(|_| Error::Invalid("batch Dice: counts lost in the gather".into()))
    }
}

/// A copy of `t` in its own storage, outside the autograd graph (the all-reduce overwrites it).
fn detached_copy(t: &Tensor) -> Result<Tensor> {
    let source = t.f_detach()?;
    let mut copy = source.f_zeros_like()?;
    copy.f_copy_(&source)?;
    Ok(copy)
}

/// Removes the installed [`RankSum`] (restores the one before) when dropped.
pub struct CrossRankGuard {
    previous: Option<CrossRank>,
}

impl Drop for CrossRankGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        INSTALLED.with(|slot| *slot.borrow_mut() = previous);
    }
}

/// Until the guard is dropped, batch Dice losses built on this thread sum their counts across
/// ranks through `sum` (the trainer's process group).
#[must_use = "the Dice losses gather only while the guard lives"]
pub fn gather_batch_dice(sum: Arc<dyn RankSum>) -> CrossRankGuard {
    let previous = INSTALLED.with(|slot| slot.borrow_mut().replace(CrossRank::new(sum)));
    CrossRankGuard { previous }
}

/// The [`RankSum`] installed on this thread, if any.
pub(crate) fn installed() -> Option<CrossRank> {
    INSTALLED.with(|slot| slot.borrow().clone())
}
