//! Batch Dice across ranks ([`nnunet_losses::cross_rank`]), on one process: two simulated ranks
//! of one sample each, whose [`RankSum`] adds the other rank's counts. Each rank's loss must be
//! the loss of the whole batch, and its gradient, divided by the world size (DDP's averaging),
//! the whole batch's gradient for its own sample — what nnU-Net's `AllGatherGrad` gives.

use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{Loss, LossSpec, Result};
use nnunet_losses::{RankSum, SoftDice, build_builtin, gather_batch_dice};
use std::sync::{Arc, Mutex};

/// The other rank's counts, added by "all-reduce"; counts the calls.
struct OtherRank {
    counts: Mutex<Vec<Tensor>>,
    calls: Mutex<usize>,
}

impl RankSum for OtherRank {
    fn world_size(&self) -> usize {
        2
    }
    fn sum(&self, tensors: &mut [Tensor]) -> Result<()> {
        let counts = self.counts.lock().unwrap();
        assert_eq!(tensors.len(), counts.len());
        for (t, other) in tensors.iter_mut().zip(counts.iter()) {
            let _ = t.f_add_(other)?;
        }
        *self.calls.lock().unwrap() += 1;
        Ok(())
    }
}

fn spec(batch_dice: bool) -> LossSpec {
    LossSpec {
        batch_dice,
        ..LossSpec::default()
    }
}

fn sample(t: &Tensor, i: i64) -> Tensor {
    t.narrow(0, i, 1).detach().copy()
}

/// The loss's value and its gradient with respect to `logits`.
fn value_and_grad(loss: &dyn Loss, logits: &Tensor, target: &Tensor) -> (f64, Tensor) {
    let logits = logits.detach().copy().set_requires_grad(true);
    let value = loss.compute(&logits, target).unwrap();
    value.backward();
    (value.double_value(&[]), logits.grad())
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn each_rank_gets_the_global_batch_dice_and_its_gradient() {
    nnunet_core::tch::manual_seed(7);
    let logits = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
    let target = Tensor::randint(3, [2, 1, 8, 8], (Kind::Int64, Device::Cpu));
    // dice+ce: the Dice inside a composite gathers; cross-entropy (a mean over the rank's own
    // samples) needs nothing beyond DDP's averaging
    let whole = build_builtin("dice+ce", &spec(true)).unwrap();
    let (whole_value, whole_grad) = value_and_grad(&*whole, &logits, &target);
    let local = SoftDice::from_spec(&spec(true)).unwrap();
    assert!(local.cross_rank.is_none(), "no RankSum installed");

    for rank in 0..2i64 {
        let other = 1 - rank;
        let counts = Vec::from(
            local
                .counts(&sample(&logits, other), &sample(&target, other))
                .unwrap(),
        );
        let sum = Arc::new(OtherRank {
            counts: Mutex::new(counts),
            calls: Mutex::new(0),
        });
        let loss = {
            let _guard = gather_batch_dice(sum.clone());
            build_builtin("dice+ce", &spec(true)).unwrap()
        };
        let (own_logits, own_target) = (sample(&logits, rank), sample(&target, rank));
        let (value, grad) = value_and_grad(&*loss, &own_logits, &own_target);
        assert_eq!(*sum.calls.lock().unwrap(), 1, "one all-reduce per Dice");
        // the Dice term is the whole batch's; the CE term is this sample's mean: average the
        // two ranks' CE to compare values, or compare the Dice alone
        let ce = build_builtin("ce", &spec(true)).unwrap();
        let own_ce = ce
            .compute(&own_logits, &own_target)
            .unwrap()
            .double_value(&[]);
        let whole_ce = ce.compute(&logits, &target).unwrap().double_value(&[]);
        assert!(
            ((value - own_ce) - (whole_value - whole_ce)).abs() < 1e-6,
            "rank {rank}: Dice {} vs the whole batch's {}",
            value - own_ce,
            whole_value - whole_ce
        );
        // DDP averages the gradients of the two ranks: ÷ 2 (without the factor W in the
        // gather, the Dice part of this would be half the whole batch's)
        let expected = whole_grad.narrow(0, rank, 1);
        let diff = max_abs(&(&grad / 2.0 - &expected));
        assert!(
            diff < 1e-7 + 1e-5 * max_abs(&expected),
            "rank {rank}: gradient off by {diff:e} (scale {:e})",
            max_abs(&expected)
        );
    }
}

#[test]
fn only_batch_dice_gathers_and_the_guard_restores() {
    let sum = Arc::new(OtherRank {
        counts: Mutex::new(Vec::new()),
        calls: Mutex::new(0),
    });
    {
        let _guard = gather_batch_dice(sum.clone());
        assert!(
            SoftDice::from_spec(&spec(false))
                .unwrap()
                .cross_rank
                .is_none()
        );
        assert!(
            SoftDice::from_spec(&spec(true))
                .unwrap()
                .cross_rank
                .is_some()
        );
    }
    assert!(
        SoftDice::from_spec(&spec(true))
            .unwrap()
            .cross_rank
            .is_none()
    );
}
