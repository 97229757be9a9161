//! nnU-Net's DDP semantics on a c10d process group ([`nnunet_distributed`]): the global batch
//! split across ranks ([`Shard`], as `_set_batch_size_and_oversample`), the gradients averaged
//! after every backward pass (before loss unscaling and clipping, as torch DDP's all-reduce
//! during backward), the initial weights broadcast from rank 0, and the epoch's losses and
//! pseudo-Dice counts summed across ranks (nnU-Net's `all_gather_object` of the losses and
//! tp/fp/fn). Batch Dice is over the global batch: the loss built under
//! [`DataParallel::gather_batch_dice`] sums its tp/fp/fn across ranks through the group
//! (nnU-Net's `ddp=True`, see [`nnunet_losses::cross_rank`]). Rank 0 alone writes checkpoints,
//! logs and progress.png (the training loop asks [`DataParallel::is_main`]).

use nnunet_core::tch::{Tensor, nn::VarStore};
use nnunet_core::{Error, Result};
use nnunet_distributed::{ProcessGroup, SharedGroup};
use nnunet_losses::{CrossRankGuard, RankSum};
use std::ops::Range;
use std::sync::{Arc, MutexGuard};

/// Which samples of each global batch this rank builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub world_size: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            rank: 0,
            world_size: 1,
        }
    }
}

impl Shard {
    /// The indices in a global batch of `batch_size` that this rank builds: nnU-Net's split
    /// (`batch_size // world_size` each, one more for the first `batch_size % world_size`
    /// ranks). Sample `j` keeps its global index, so its foreground oversampling (the last
    /// 33% of the *global* batch) and its random stream are those of the single process.
    pub fn samples(&self, batch_size: usize) -> Result<Range<usize>> {
        let (w, r) = (self.world_size, self.rank);
        if batch_size < w {
            return Err(Error::Invalid(format!(
                "batch size {batch_size} is smaller than the {w} ranks of data-parallel \
                 training: every rank needs at least one sample"
            )));
        }
        let size = |k: usize| batch_size / w + usize::from(k < batch_size % w);
        let start: usize = (0..r).map(size).sum();
        Ok(start..start + size(r))
    }
}

/// This rank's handle on the group, for the training loop.
pub struct DataParallel {
    group: SharedGroup,
    shard: Shard,
}

impl DataParallel {
    pub fn new(group: SharedGroup) -> Result<Self> {
        let shard = {
            let g = lock(&group)?;
            Shard {
                rank: g.rank(),
                world_size: g.world_size(),
            }
        };
        Ok(DataParallel { group, shard })
    }

    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Rank 0: the one that writes.
    pub fn is_main(&self) -> bool {
        self.shard.rank == 0
    }

    /// Averages the gradients of `vs`'s trainable variables across ranks (those that have one:
    /// the same on every rank, as they run the same network).
    pub fn average_gradients(&self, vs: &VarStore) -> Result<()> {
        let mut grads: Vec<Tensor> = vs
            .trainable_variables()
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .collect();
        lock(&self.group)?.all_reduce_mean(&mut grads)
    }

    /// Gives every rank rank 0's weights (torch DDP does this when it wraps the model).
    pub fn broadcast_weights(&self, vs: &VarStore) -> Result<()> {
        let mut vars = vs.trainable_variables();
        lock(&self.group)?.broadcast(&mut vars, 0)
    }

    /// Sums `values` across ranks in place.
    pub fn sum(&self, values: &mut [f64]) -> Result<()> {
        lock(&self.group)?.all_reduce_sum(values)
    }

    /// The mean across ranks of one value per rank.
    pub fn mean(&self, value: f64) -> Result<f64> {
        let mut v = [value];
        self.sum(&mut v)?;
        Ok(v[0] / self.shard.world_size as f64)
    }

    /// Whether any rank's `flags[i]` is set, for each `i`: decisions every rank must take
    /// together (stopping early), even where each rank judged from its own clock.
    pub fn any(&self, flags: [bool; 2]) -> Result<[bool; 2]> {
        let mut counts = flags.map(|f| f64::from(u8::from(f)));
        self.sum(&mut counts)?;
        Ok(counts.map(|c| c > 0.0))
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        lock(&self.group)?.barrier()
    }

    /// While the guard lives, batch Dice losses built on this thread sum their counts across
    /// the ranks (every rank's Dice is the global batch's).
    pub fn gather_batch_dice(&self) -> CrossRankGuard {
        nnunet_losses::gather_batch_dice(Arc::new(GroupSum {
            group: self.group.clone(),
            world_size: self.shard.world_size,
        }))
    }
}

/// The group's all-reduce as the losses see it.
struct GroupSum {
    group: SharedGroup,
    world_size: usize,
}

impl RankSum for GroupSum {
    fn world_size(&self) -> usize {
        self.world_size
    }

    fn sum(&self, tensors: &mut [Tensor]) -> Result<()> {
        lock(&self.group)?.all_reduce_sum_tensors(tensors)
    }
}

fn lock(group: &SharedGroup) -> Result<MutexGuard<'_, ProcessGroup>> {
    group
        .lock()
        .map_err(|_| Error::Invalid("the process group's lock was poisoned".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_global_batch_as_nnunet() {
        let split = |b: usize, w: usize| -> Vec<Range<usize>> {
            (0..w)
                .map(|rank| {
                    Shard {
                        rank,
                        world_size: w,
                    }
                    .samples(b)
                    .unwrap()
                })
                .collect()
        };
        assert_eq!(split(2, 2), [0..1, 1..2]);
        assert_eq!(split(5, 2), [0..3, 3..5]);
        assert_eq!(split(7, 3), [0..3, 3..5, 5..7]);
        assert_eq!(split(12, 1), vec![0..12]);
        assert!(
            Shard {
                rank: 0,
                world_size: 3
            }
            .samples(2)
            .is_err()
        );
    }
}
