//! One optimiser step, nnU-Net's `nnUNetTrainer.train_step`: zero the gradients, forward (under
//! fp16 autocast when mixed precision is on), the deep-supervised loss against the target
//! downsampled to each output's size, backward (scaled with mixed precision), gradient-norm
//! clip (after the gradients are averaged across ranks in data-parallel training), and the
//! optimiser step (skipped when scaled gradients overflowed). The training loop
//! and the lockstep test against nnU-Net (`tests/lockstep.rs`) run this same code.

use crate::data_parallel::DataParallel;
use crate::grad_scaler::GradScaler;
use crate::optim::Optimizer;
use nnunet_core::tch::{self, Tensor, nn::VarStore};
use nnunet_core::{Error, Loss, Network, Result};
use nnunet_losses::{DeepSupervisionLoss, downsample_target};

/// The loss wrapped for deep supervision once the network's number of outputs is known.
pub struct LazyDeepSupervision {
    base: Option<Box<dyn Loss>>,
    wrapped: Option<DeepSupervisionLoss>,
}

impl LazyDeepSupervision {
    /// Wraps `base` at the first forward pass.
    pub fn new(base: Box<dyn Loss>) -> Self {
        LazyDeepSupervision {
            base: Some(base),
            wrapped: None,
        }
    }

    /// The wrapped loss for `outputs`; an error when their number changed.
    pub fn get(&mut self, outputs: &[Tensor], network: &str) -> Result<&DeepSupervisionLoss> {
        if let Some(base) = self.base.take() {
            self.wrapped = Some(DeepSupervisionLoss::new(base, outputs.len()));
        }
        match &self.wrapped {
            Some(ds) if ds.weights().len() == outputs.len() => Ok(ds),
            Some(ds) => Err(Error::Invalid(format!(
                "network {network} returned {} outputs, earlier {}",
                outputs.len(),
                ds.weights().len()
            ))),
            None => Err(Error::Invalid("no loss to wrap".into())),
        }
    }

    /// The network's outputs for `x` and their loss against `target` (full resolution,
    /// downsampled here to each output's size).
    pub fn forward(
        &mut self,
        network: &dyn Network,
        network_name: &str,
        x: &Tensor,
        target: &Tensor,
        train: bool,
    ) -> Result<(Vec<Tensor>, Tensor)> {
        let outputs = network.forward_t(x, train)?;
        let sizes: Vec<Vec<i64>> = outputs.iter().map(|o| o.size()[2..].to_vec()).collect();
        let value = self
            .get(&outputs, network_name)?
            .compute(&outputs, &downsample_target(target, &sizes)?)?;
        Ok((outputs, value))
    }
}

/// What one training step works on.
pub struct Step<'a> {
    pub network: &'a dyn Network,
    /// The network's name, for errors.
    pub network_name: &'a str,
    pub vs: &'a VarStore,
    pub grad_clip_norm: f64,
    /// fp16 autocast (with `scaler`), as nnU-Net on CUDA.
    pub use_amp: bool,
    /// Data-parallel training: gradients averaged across ranks after backward.
    pub data_parallel: Option<&'a DataParallel>,
}

impl Step<'_> {
    /// One optimiser step on a batch; returns the loss (before the step).
    pub fn run(
        &self,
        losses: &mut LazyDeepSupervision,
        optimizer: &mut Optimizer,
        scaler: Option<&mut GradScaler>,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<Tensor> {
        optimizer.zero_grad();
        let value = tch::autocast(self.use_amp, || -> Result<Tensor> {
            Ok(losses
                .forward(self.network, self.network_name, x, target, true)?
                .1)
        })?;
        match scaler {
            Some(scaler) => {
                // nnU-Net: scale → backward → unscale → clip → step unless inf/NaN → update.
                scaler.scale(&value)?.f_backward()?;
                self.sync_gradients()?;
                let found_inf = scaler.unscale(&self.vs.trainable_variables())?;
                optimizer.clip_grad_norm(self.grad_clip_norm);
                if !found_inf {
                    optimizer.step();
                }
                scaler.update(found_inf);
            }
            None => {
                value.f_backward()?;
                self.sync_gradients()?;
                optimizer.clip_grad_norm(self.grad_clip_norm);
                optimizer.step();
            }
        }
        Ok(value)
    }

    /// Torch DDP's all-reduce in backward: the (still scaled) gradients averaged across ranks,
    /// so that unscaling, the overflow check and clipping agree on every rank.
    fn sync_gradients(&self) -> Result<()> {
        match self.data_parallel {
            Some(dp) => dp.average_gradients(self.vs),
            None => Ok(()),
        }
    }
}
