//! Loss `heatmap`: binary cross-entropy between each row's landmark score
//! ([`profile::row_scores`]) and the 1D Gaussian heat map ([`profile::gaussian_target`]).
//!
//! Options: `sigma` (rows, default 2), `label` (the landmark's label value and output channel,
//! default 1). A patch without the landmark trains every row towards 0. Compose it with a
//! pixel loss: `--loss ce+heatmap` (the `localise` trainer's default).

use crate::profile;
use nnunet_core::CheckedOptions as Options;
use nnunet_core::tch::{Reduction, Tensor};
use nnunet_core::{Error, Loss, LossSpec, Result};

pub struct Heatmap {
    pub sigma: f64,
    pub label: i64,
}

impl Heatmap {
    pub fn from_spec(spec: &LossSpec) -> Result<Self> {
        if spec.regions {
            return Err(Error::Invalid(
                "heatmap: region-based training is not supported (one landmark label)".into(),
            ));
        }
        let o = Options::parse("heatmap", &spec.options, &["sigma", "label"])?;
        let sigma = o.f64("sigma")?.unwrap_or(2.0);
        if sigma.is_nan() || sigma <= 0.0 {
            return Err(Error::Invalid(format!(
                "heatmap: option \"sigma\" must be positive, got {sigma}"
            )));
        }
        let label = o.usize("label")?.unwrap_or(1) as i64;
        Ok(Heatmap { sigma, label })
    }
}

impl Loss for Heatmap {
    fn compute(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        let scores = profile::row_scores(logits, self.label)?;
        let heat = profile::gaussian_target(target, self.label, self.sigma)?;
        Ok(scores.f_binary_cross_entropy_with_logits(
            &heat,
            None::<Tensor>,
            None::<Tensor>,
            Reduction::Mean,
        )?)
    }
}
