//! Row scores and the heat-map target, for `(B, C, H, W)` logits and `(B, 1, H, W)` labels: the
//! MIP's rows are axis `H`, and a landmark is a row, so both reduce over the columns `W`.

use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Error, Result};

/// `(B, H)`: per row, the mean over columns of the landmark channel's logit margin
/// `logit[channel] − logsumexp(other logits)` (for two classes `logit[1] − logit[0]`, the
/// logit of the landmark's softmax probability).
pub fn row_scores(logits: &Tensor, channel: i64) -> Result<Tensor> {
    let size = logits.size();
    if size.len() != 4 {
        return Err(Error::Invalid(format!(
            "heatmap: needs 2D logits (B, C, H, W), got shape {size:?} (train the MIP dataset \
             with the 2d configuration)"
        )));
    }
    let classes = size[1];
    if channel < 1 || channel >= classes {
        return Err(Error::Invalid(format!(
            "heatmap: landmark label {channel} is not a foreground channel of {classes} outputs"
        )));
    }
    let others: Vec<i64> = (0..classes).filter(|&c| c != channel).collect();
    let others = Tensor::from_slice(&others).to_device(logits.device());
    let rest = logits
        .f_index_select(1, &others)?
        .f_logsumexp(&[1i64][..], false)?;
    let margin = logits.f_select(1, channel)? - rest;
    Ok(margin.f_mean_dim(&[-1i64][..], false, Kind::Float)?)
}

/// `(B, H)`: a Gaussian of `sigma` rows centred on each sample's band centre — the mean row of
/// the pixels labelled `label` — or zeros where a sample has no such pixel.
pub fn gaussian_target(target: &Tensor, label: i64, sigma: f64) -> Result<Tensor> {
    let size = target.size();
    if size.len() != 4 || size[1] != 1 {
        return Err(Error::Invalid(format!(
            "heatmap: needs (B, 1, H, W) labels, got shape {size:?}"
        )));
    }
    let rows = size[2];
    let mass = target
        .f_select(1, 0)?
        .f_eq(label)?
        .f_to_kind(Kind::Float)?
        .f_mean_dim(&[-1i64][..], false, Kind::Float)?; // (B, H)
    let index = Tensor::f_arange(rows, (Kind::Float, target.device()))?.f_unsqueeze(0)?;
    let total = mass.f_sum_dim_intlist(&[1i64][..], true, Kind::Float)?; // (B, 1)
    let centre = (&mass * &index).f_sum_dim_intlist(&[1i64][..], true, Kind::Float)?
        / total.f_clamp_min(1e-6)?;
    let present = total.f_gt(0.0)?.f_to_kind(Kind::Float)?;
    let distance = index - centre;
    let gauss = (&distance * &distance / (-2.0 * sigma * sigma)).f_exp()?;
    Ok(gauss * present)
}
