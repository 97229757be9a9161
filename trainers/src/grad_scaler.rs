//! Loss scaling for mixed-precision (fp16 autocast) training on CUDA: PyTorch's
//! `torch.amp.GradScaler` with its defaults, which nnU-Net v2 uses on CUDA.
//!
//! The loss is multiplied by the scale (initially 2^16) before `backward`, so small fp16
//! gradients do not underflow; [`GradScaler::unscale`] divides the gradients back (before
//! gradient clipping, as nnU-Net does) and reports whether any of them is inf/NaN. A step with a
//! non-finite gradient is skipped and the scale halved; after `growth_interval` (2000)
//! consecutive good steps the scale doubles. The scale and the count of good steps are
//! checkpointed ([`GradScaler::state_tensors`]) so `--continue` resumes exactly.
//!
//! tch has no GradScaler (and PyTorch's fused `_amp_foreach_non_finite_check_and_unscale_` is not
//! in its bindings), so the few tensor operations are written here.

use nnunet_core::tch::{self, Kind, Tensor};
use nnunet_core::{Error, Result};

/// The scaler's constants (PyTorch's defaults by [`Default`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GradScalerConfig {
    pub init_scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    /// Consecutive steps with finite gradients before the scale grows.
    pub growth_interval: u64,
}

impl Default for GradScalerConfig {
    fn default() -> Self {
        GradScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

/// Dynamic loss scaling. Per step: `scale(loss).backward()`, `unscale(params)` (returns whether
/// a gradient is non-finite), clip, step the optimiser only if all gradients are finite, then
/// `update(found_inf)`.
#[derive(Clone, Debug)]
pub struct GradScaler {
    config: GradScalerConfig,
    scale: f64,
    growth_tracker: u64,
}

/// Checkpoint tensor names.
const SCALE_KEY: &str = "grad_scaler.scale";
const TRACKER_KEY: &str = "grad_scaler.growth_tracker";

impl GradScaler {
    pub fn new(config: GradScalerConfig) -> Self {
        GradScaler {
            scale: config.init_scale,
            growth_tracker: 0,
            config,
        }
    }

    /// The current scale.
    pub fn scale_factor(&self) -> f64 {
        self.scale
    }

    /// Consecutive good steps since the scale last changed.
    pub fn growth_tracker(&self) -> u64 {
        self.growth_tracker
    }

    /// `loss · scale`, to call `backward` on.
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor> {
        Ok(loss.f_mul_scalar(self.scale)?)
    }

    /// Divides the gradients of `params` by the scale in place and returns true when any of them
    /// holds an inf or NaN (one device synchronisation for all of them).
    pub fn unscale(&self, params: &[Tensor]) -> Result<bool> {
        // PyTorch: inv_scale = scale.double().reciprocal().float()
        let inv_scale = (1.0 / self.scale) as f32 as f64;
        tch::no_grad(|| -> Result<bool> {
            let mut non_finite: Option<Tensor> = None;
            for p in params {
                let mut g = p.grad();
                if !g.defined() {
                    continue;
                }
                let bad = g
                    .f_isfinite()?
                    .f_logical_not()?
                    .f_any()?
                    .f_to_kind(Kind::Int64)?;
                non_finite = Some(match non_finite {
                    None => bad,
                    Some(sum) => sum.f_add(&bad)?,
                });
                let _ = g.f_mul_scalar_(inv_scale)?;
            }
            Ok(non_finite.is_some_and(|n| n.int64_value(&[]) > 0))
        })
    }

    /// After a step: halve the scale if gradients were non-finite (the step was skipped), else
    /// count a good step and double the scale every `growth_interval` of them.
    pub fn update(&mut self, found_inf: bool) {
        if found_inf {
            self.scale *= self.config.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker >= self.config.growth_interval {
                self.scale *= self.config.growth_factor;
                self.growth_tracker = 0;
            }
        }
    }

    /// The state to checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        vec![
            (SCALE_KEY.into(), Tensor::from(self.scale)),
            (TRACKER_KEY.into(), Tensor::from(self.growth_tracker as i64)),
        ]
    }

    /// Restores [`Self::state_tensors`] from a checkpoint's tensors; a checkpoint without scaler
    /// state (trained without mixed precision) leaves the initial state.
    pub fn load_state(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        for (name, tensor) in tensors {
            match name.as_str() {
                SCALE_KEY => {
                    let scale = tensor.f_double_value(&[])?;
                    if !(scale.is_finite() && scale > 0.0) {
                        return Err(Error::Invalid(format!(
                            "checkpoint: {SCALE_KEY} is {scale}, not a positive number"
                        )));
                    }
                    self.scale = scale;
                }
                TRACKER_KEY => self.growth_tracker = tensor.f_int64_value(&[])?.max(0) as u64,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::tch::Device;

    fn param(values: &[f32]) -> Tensor {
        Tensor::from_slice(values).set_requires_grad(true)
    }

    fn grad(p: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(p.grad()).unwrap()
    }

    #[test]
    fn unscaling_gives_the_original_gradients() {
        let scaler = GradScaler::new(GradScalerConfig::default());
        let (a, b) = (param(&[1.0, -2.0, 0.5]), param(&[3.0]));
        let loss = |a: &Tensor, b: &Tensor| (a * a).sum(Kind::Float) * b.sum(Kind::Float);
        loss(&a, &b).backward();
        let (ga, gb) = (grad(&a), grad(&b));

        let (a2, b2) = (param(&[1.0, -2.0, 0.5]), param(&[3.0]));
        scaler.scale(&loss(&a2, &b2)).unwrap().backward();
        assert_eq!(grad(&b2)[0], gb[0] * 65536.0);
        assert!(
            !scaler
                .unscale(&[a2.shallow_clone(), b2.shallow_clone()])
                .unwrap()
        );
        assert_eq!(grad(&a2), ga);
        assert_eq!(grad(&b2), gb);
    }

    #[test]
    fn non_finite_gradient_skips_the_step_and_halves_the_scale() {
        let mut scaler = GradScaler::new(GradScalerConfig::default());
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 2.0]));
        let mut optimizer = crate::optim::Optimizer::new(
            &vs,
            crate::optim::OptimizerConfig::from_options(&Default::default()),
            0.1,
        );
        // d/dw of w·inf is inf.
        let loss = (&w * f64::INFINITY).sum(Kind::Float);
        scaler.scale(&loss).unwrap().backward();
        let found_inf = scaler.unscale(&vs.trainable_variables()).unwrap();
        assert!(found_inf);
        if !found_inf {
            optimizer.step();
        }
        scaler.update(found_inf);
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), [1.0, 2.0]);
        assert_eq!(optimizer.steps(), 0);
        assert_eq!(scaler.scale_factor(), 32768.0);
        assert_eq!(scaler.growth_tracker(), 0);

        // NaN counts too.
        optimizer.zero_grad();
        scaler
            .scale(&(&w * f64::NAN).sum(Kind::Float))
            .unwrap()
            .backward();
        assert!(scaler.unscale(&vs.trainable_variables()).unwrap());
    }

    #[test]
    fn scale_grows_after_the_interval_of_good_steps() {
        let mut scaler = GradScaler::new(GradScalerConfig {
            growth_interval: 3,
            ..Default::default()
        });
        for _ in 0..2 {
            scaler.update(false);
        }
        assert_eq!(
            (scaler.scale_factor(), scaler.growth_tracker()),
            (65536.0, 2)
        );
        scaler.update(false);
        assert_eq!(
            (scaler.scale_factor(), scaler.growth_tracker()),
            (131072.0, 0)
        );
        // an overflow resets the count of good steps
        scaler.update(false);
        scaler.update(true);
        assert_eq!(
            (scaler.scale_factor(), scaler.growth_tracker()),
            (65536.0, 0)
        );
        for _ in 0..3 {
            scaler.update(false);
        }
        assert_eq!(scaler.scale_factor(), 131072.0);
    }

    #[test]
    fn state_round_trips() {
        let mut scaler = GradScaler::new(GradScalerConfig::default());
        scaler.update(true);
        scaler.update(false);
        let state = scaler.state_tensors();
        let mut restored = GradScaler::new(GradScalerConfig::default());
        restored.load_state(&state).unwrap();
        assert_eq!(restored.scale_factor(), 32768.0);
        assert_eq!(restored.growth_tracker(), 1);
        // no scaler state: defaults kept
        let mut fresh = GradScaler::new(GradScalerConfig::default());
        fresh.load_state(&[]).unwrap();
        assert_eq!(fresh.scale_factor(), 65536.0);
    }
}
