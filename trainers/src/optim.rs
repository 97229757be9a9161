//! Optimisers whose state we own: SGD with Nesterov momentum (nnU-Net's default) and AdamW
//! (MedNeXt's), with PyTorch's exact update rules, gradient-norm clipping, and the state as named
//! tensors so a checkpoint can restore it exactly.
//!
//! tch's `nn::Optimizer` keeps its momentum buffers inside libtorch where they cannot be saved;
//! exact `--continue` needs them, so the updates are written here (a few tensor ops each).

use nnunet_core::tch::{self, Kind, Tensor, nn::VarStore};
use nnunet_core::trainer::{OptimizerKind, TrainingOptions};
use nnunet_core::{Error, Result};
use std::collections::BTreeMap;

/// Hyper-parameters of the update.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub weight_decay: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub betas: (f64, f64),
    pub eps: f64,
}

impl OptimizerConfig {
    pub fn from_options(options: &TrainingOptions) -> Self {
        OptimizerConfig {
            kind: options.optimizer,
            weight_decay: options.weight_decay,
            momentum: options.momentum,
            nesterov: options.nesterov,
            betas: (options.adam_betas[0], options.adam_betas[1]),
            eps: 1e-8,
        }
    }
}

/// An optimiser over the trainable variables of a `VarStore`, by name.
pub struct Optimizer {
    config: OptimizerConfig,
    lr: f64,
    params: Vec<(String, Tensor)>,
    /// `momentum.<name>` (SGD) or `exp_avg.<name>` / `exp_avg_sq.<name>` (AdamW).
    state: BTreeMap<String, Tensor>,
    step: i64,
}

impl Optimizer {
    pub fn new(vs: &VarStore, config: OptimizerConfig, lr: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Optimizer {
            config,
            lr,
            params,
            state: BTreeMap::new(),
            step: 0,
        }
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i64 {
        self.step
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm` (PyTorch's
    /// `clip_grad_norm_`: coefficient `max_norm / (norm + 1e-6)`, clamped to 1). Returns the norm
    /// before clipping.
    ///
    /// The squared norms are summed on the gradients' device in float64 and read back once: on
    /// a GPU, reading each parameter's norm would wait for the device once per parameter tensor.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let mut sum: Option<Tensor> = None;
            for (_, p) in &self.params {
                let g = p.grad();
                if g.defined() {
                    let squares = g.to_kind(Kind::Double).square().sum(Kind::Double);
                    sum = Some(match sum {
                        None => squares,
                        Some(s) => s + squares,
                    });
                }
            }
            let total = sum.map_or(0.0, |s| s.double_value(&[]));
            let norm = total.sqrt();
            let coef = max_norm / (norm + 1e-6);
            if coef < 1.0 {
                for (_, p) in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(coef);
                    }
                }
            }
            norm
        })
    }

    /// One update with the current learning rate.
    pub fn step(&mut self) {
        self.step += 1;
        let t = self.step;
        let lr = self.lr;
        let cfg = self.config.clone();
        tch::no_grad(|| {
            for (name, p) in &mut self.params {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                match cfg.kind {
                    OptimizerKind::Sgd => {
                        let g = if cfg.weight_decay != 0.0 {
                            &grad + &*p * cfg.weight_decay
                        } else {
                            grad.shallow_clone()
                        };
                        let key = format!("momentum.{name}");
                        let update = if cfg.momentum != 0.0 {
                            let buf = match self.state.get_mut(&key) {
                                Some(buf) => {
                                    let _ = buf.g_mul_scalar_(cfg.momentum).g_add_(&g);
                                    buf.shallow_clone()
                                }
                                None => {
                                    let buf = g.detach().copy();
                                    self.state.insert(key, buf.shallow_clone());
                                    buf
                                }
                            };
                            if cfg.nesterov {
                                &g + &buf * cfg.momentum
                            } else {
                                buf
                            }
                        } else {
                            g
                        };
                        let _ = p.g_sub_(&(update * lr));
                    }
                    OptimizerKind::Adamw => {
                        let _ = p.g_mul_scalar_(1.0 - lr * cfg.weight_decay);
                        let (b1, b2) = cfg.betas;
                        let m_key = format!("exp_avg.{name}");
                        let v_key = format!("exp_avg_sq.{name}");
                        let m = self
                            .state
                            .entry(m_key)
                            .or_insert_with(|| grad.zeros_like())
                            .shallow_clone();
                        let v = self
                            .state
                            .entry(v_key)
                            .or_insert_with(|| grad.zeros_like())
                            .shallow_clone();
                        let (mut m, mut v) = (m, v);
                        let _ = m.g_mul_scalar_(b1).g_add_(&(&grad * (1.0 - b1)));
                        let _ = v.g_mul_scalar_(b2).g_add_(&(grad.square() * (1.0 - b2)));
                        let bias1 = 1.0 - b1.powi(t as i32);
                        let bias2 = 1.0 - b2.powi(t as i32);
                        let denom = v.sqrt() / bias2.sqrt() + cfg.eps;
                        let _ = p.g_sub_(&(m / denom * (lr / bias1)));
                    }
                }
            }
        });
    }

    /// The state to checkpoint: buffers by name, and the step count as a tensor.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .state
            .iter()
            .map(|(k, v)| (format!("optimizer.{k}"), v.copy()))
            .collect();
        out.push(("optimizer_step".into(), Tensor::from(self.step)));
        out
    }

    /// Restores what [`Self::state_tensors`] produced (names with the `optimizer.` prefix).
    pub fn load_state(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        self.state.clear();
        let device = self
            .params
            .first()
            .map(|(_, p)| p.device())
            .unwrap_or(tch::Device::Cpu);
        for (name, tensor) in tensors {
            if let Some(key) = name.strip_prefix("optimizer.") {
                let param = key.split_once('.').map(|(_, p)| p).unwrap_or_default();
                if !self.params.iter().any(|(n, _)| n == param) {
                    return Err(Error::Invalid(format!(
                        "optimizer state {name} names no parameter of this network"
                    )));
                }
                self.state
                    .insert(key.to_string(), tensor.to_device(device).copy());
            } else if name == "optimizer_step" {
                self.step = tensor.int64_value(&[]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::tch::Device;

    fn quadratic_setup(kind: OptimizerKind) -> (VarStore, Optimizer) {
        let vs = VarStore::new(Device::Cpu);
        let _w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let config = OptimizerConfig {
            kind,
            weight_decay: 0.1,
            momentum: 0.9,
            nesterov: true,
            betas: (0.9, 0.999),
            eps: 1e-8,
        };
        let opt = Optimizer::new(&vs, config, 0.1);
        (vs, opt)
    }

    fn run(vs: &VarStore, opt: &mut Optimizer, steps: usize) -> Vec<f32> {
        let w = vs.variables()["w"].shallow_clone();
        for _ in 0..steps {
            opt.zero_grad();
            let loss = (&w * &w).sum(Kind::Float);
            loss.backward();
            opt.step();
        }
        Vec::<f32>::try_from(w.detach()).unwrap()
    }

    #[test]
    fn sgd_nesterov_matches_pytorch() {
        // torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1), loss sum(w²),
        // w0 = [1, -2], two steps. Step 1: g = 2w + 0.1w = 2.1w, buf = g, update = g + 0.9 buf
        // = 3.99 w → w1 = 0.601 w0. Step 2: g = 2.1 w1, buf = 0.9·2.1 w0 + 2.1 w1,
        // update = g + 0.9 buf.
        let (vs, mut opt) = quadratic_setup(OptimizerKind::Sgd);
        let w = run(&vs, &mut opt, 2);
        let w0 = [1.0f64, -2.0];
        for (i, &x0) in w0.iter().enumerate() {
            let w1 = 0.601 * x0;
            let g = 2.1 * w1;
            let buf = 0.9 * 2.1 * x0 + g;
            let w2 = w1 - 0.1 * (g + 0.9 * buf);
            assert!((w[i] as f64 - w2).abs() < 1e-6, "{} vs {w2}", w[i]);
        }
    }

    #[test]
    fn adamw_first_step_moves_by_lr() {
        // AdamW's first step: p·(1 − lr·wd) − lr·sign(g) (bias-corrected m/√v = ±1).
        let (vs, mut opt) = quadratic_setup(OptimizerKind::Adamw);
        let w = run(&vs, &mut opt, 1);
        assert!((w[0] as f64 - (1.0 * 0.99 - 0.1)).abs() < 1e-5);
        assert!((w[1] as f64 - (-2.0 * 0.99 + 0.1)).abs() < 1e-5);
    }

    #[test]
    fn state_round_trip_gives_identical_next_steps() {
        let (vs, mut opt) = quadratic_setup(OptimizerKind::Sgd);
        run(&vs, &mut opt, 3);
        let saved_w = vs.variables()["w"].copy();
        let state = opt.state_tensors();
        let after_a = run(&vs, &mut opt, 2);

        let (vs2, mut opt2) = quadratic_setup(OptimizerKind::Sgd);
        let mut w2 = vs2.variables()["w"].shallow_clone();
        tch::no_grad(|| w2.copy_(&saved_w));
        opt2.load_state(&state).unwrap();
        assert_eq!(opt2.steps(), 3);
        let after_b = run(&vs2, &mut opt2, 2);
        assert_eq!(after_a, after_b);
    }

    #[test]
    fn clipping_caps_the_global_norm() {
        let (vs, mut opt) = quadratic_setup(OptimizerKind::Sgd);
        let w = vs.variables()["w"].shallow_clone();
        (&w * &w * 100.0).sum(Kind::Float).backward();
        let before = opt.clip_grad_norm(1.0);
        assert!((before - 200.0 * 5f64.sqrt()).abs() < 1e-3);
        let g = w.grad();
        let after = g.square().sum(Kind::Double).double_value(&[]).sqrt();
        assert!((after - 1.0).abs() < 1e-4, "{after}");
    }
}
