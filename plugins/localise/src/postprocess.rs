//! Postprocessor `slice-localise`: one landmark row per image. Each row's score is the mean
//! over its columns of the landmark's logit `ln p − ln(1 − p)` (the probabilities' counterpart
//! of the loss's row score); the best row is labelled `label` (± `half_width` rows), everything
//! else background. Options: `label` (default 1), `half_width` (default 0).

use nnunet_core::CheckedOptions as Options;
use nnunet_core::serde_json::Value;
use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{Error, LabelMap, Postprocessor, Result};

pub struct SliceLocalise {
    label: i64,
    half_width: usize,
}

impl SliceLocalise {
    pub fn from_options(json: &Value) -> Result<Self> {
        let o = Options::parse("slice-localise", json, &["label", "half_width"])?;
        Ok(SliceLocalise {
            label: o.usize("label")?.unwrap_or(1) as i64,
            half_width: o.usize("half_width")?.unwrap_or(0),
        })
    }

    /// The best row (over `z · y` rows) of `(C, z, y, x)` probabilities.
    pub fn best_row(&self, probabilities: &Tensor) -> Result<i64> {
        let size = probabilities.size();
        if size.len() != 4 || self.label >= size[0] {
            return Err(Error::Invalid(format!(
                "slice-localise: probabilities of shape {size:?} have no channel {}",
                self.label
            )));
        }
        let p = probabilities
            .f_select(0, self.label)?
            .f_to_kind(Kind::Float)?
            .f_clamp(1e-6, 1.0 - 1e-6)?;
        let logit = p.f_log()? - p.f_neg()?.f_add_scalar(1.0)?.f_log()?;
        let scores = logit
            .f_mean_dim(&[-1i64][..], false, Kind::Float)?
            .f_flatten(0, -1)?;
        Ok(scores.f_argmax(0, false)?.int64_value(&[]))
    }
}

impl Postprocessor for SliceLocalise {
    fn apply(&self, segmentation: &mut LabelMap, probabilities: Option<&Tensor>) -> Result<()> {
        let probabilities = probabilities.ok_or_else(|| {
            Error::Invalid("slice-localise needs the prediction's probabilities (nnunet predict --postprocess)".into())
        })?;
        let row = self.best_row(probabilities)? as usize;
        let cols = segmentation.shape[2];
        let rows = segmentation.data.len() / cols.max(1);
        if row >= rows {
            return Err(Error::Invalid(format!(
                "slice-localise: row {row} outside the label map's {rows} rows"
            )));
        }
        segmentation.data.fill(0);
        let (first, last) = (
            row.saturating_sub(self.half_width),
            (row + self.half_width).min(rows - 1),
        );
        segmentation.data[first * cols..(last + 1) * cols].fill(self.label as i16);
        Ok(())
    }
}
