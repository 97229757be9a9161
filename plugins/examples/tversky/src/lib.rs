//! Example plugin: the Tversky loss (Salehi et al., 2017), a Dice generalisation that weighs
//! false negatives (`beta`) against false positives (`alpha`) — useful for small structures.
//!
//! Build it in its folder with `cargo build --release` (its own workspace) and pass
//! `--plugin target/release/libnnunet_plugin_tversky.so` to any `nnunet` command.

use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Error, Loss, LossSpec, Plugin, Registry, Result};

/// `1 − mean_c TP_c / (TP_c + α·FP_c + β·FN_c + smooth)` over the foreground classes.
pub struct Tversky {
    alpha: f64,
    beta: f64,
    smooth: f64,
}

impl Tversky {
    fn from_spec(spec: &LossSpec) -> Result<Self> {
        let get = |key: &str, default: f64| match spec.options.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| {
                Error::Invalid(format!("tversky: option {key:?} must be a number, got {v}"))
            }),
        };
        Ok(Tversky {
            alpha: get("alpha", 0.3)?,
            beta: get("beta", 0.7)?,
            smooth: get("smooth", 1e-5)?,
        })
    }
}

impl Loss for Tversky {
    fn compute(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        let classes = logits.size()[1];
        let probs = logits.f_softmax(1, Kind::Float)?;
        let onehot = target
            .f_squeeze_dim(1)?
            .f_to_kind(Kind::Int64)?
            .f_one_hot(classes)?
            .f_movedim([-1], [1])?
            .f_to_kind(Kind::Float)?;
        // Sum over batch and space, keep classes; drop background.
        let dims: Vec<i64> = (0..logits.dim() as i64).filter(|&d| d != 1).collect();
        let sum = |t: Tensor| t.f_sum_dim_intlist(&dims[..], false, Kind::Float);
        let background = onehot.ones_like() - &onehot;
        let tp = sum(&probs * &onehot)?;
        let fp = sum(&probs * &background)?;
        let fneg = sum((probs.ones_like() - &probs) * &onehot)?;
        let index = (&tp + self.smooth) / (&tp + self.alpha * fp + self.beta * fneg + self.smooth);
        let foreground = index.f_narrow(0, 1, classes - 1)?;
        Ok(1.0 - foreground.f_mean(Kind::Float)?)
    }
}

struct TverskyPlugin;

impl Plugin for TverskyPlugin {
    fn name(&self) -> &'static str {
        "tversky"
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        registry.add_loss(
            "tversky",
            "Tversky loss (alpha 0.3 on FP, beta 0.7 on FN by default)",
            |spec| Ok(Box::new(Tversky::from_spec(spec)?)),
        )
    }
}

nnunet_core::export_plugin!(TverskyPlugin);
