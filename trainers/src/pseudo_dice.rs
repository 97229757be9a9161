//! Pseudo-Dice on validation batches, as nnU-Net's `validation_step`: true/false positives and
//! false negatives per foreground class (or region) summed over the batches, then Dice.

use nnunet_core::Result;
use nnunet_core::tch::{Kind, Tensor};

/// Global pseudo-Dice counts over validation batches (nnU-Net's `validation_step`).
#[derive(Default)]
pub(crate) struct DiceCounts {
    tp: Vec<f64>,
    fp: Vec<f64>,
    fn_: Vec<f64>,
}

impl DiceCounts {
    /// Sums the counts across data-parallel ranks (nnU-Net gathers tp/fp/fn from every rank).
    pub(crate) fn reduce(&mut self, dp: &crate::data_parallel::DataParallel) -> Result<()> {
        let n = self.tp.len();
        let mut all: Vec<f64> = [&self.tp, &self.fp, &self.fn_]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        dp.sum(&mut all)?;
        self.tp = all[..n].to_vec();
        self.fp = all[n..2 * n].to_vec();
        self.fn_ = all[2 * n..].to_vec();
        Ok(())
    }

    /// Adds the counts of one batch. Softmax outputs: argmax(`logits`) vs the label map
    /// `target`, classes 1.. (ignore-label voxels skipped). Regions: `sigmoid > 0.5` per region
    /// channel vs the region channels of `target`, all channels (the ignore channel, when
    /// there is an ignore label, masks voxels out).
    pub(crate) fn add(
        &mut self,
        logits: &Tensor,
        target: &Tensor,
        ignore: Option<i64>,
        regions: bool,
    ) -> Result<()> {
        let channels = logits.size()[1];
        let (pred, truth, valid) = if regions {
            let pred = logits.f_to_kind(Kind::Float)?.f_sigmoid()?.f_gt(0.5)?;
            let truth = target.f_narrow(1, 0, channels)?.f_gt(0)?;
            let valid = match ignore {
                Some(_) => Some(target.f_narrow(1, channels, 1)?.f_eq(0)?),
                None => None,
            };
            (pred, truth, valid)
        } else {
            let labels = target.f_to_kind(Kind::Int64)?;
            let mut shape = vec![1, (channels - 1).max(0)];
            shape.resize(logits.dim(), 1);
            let classes =
                Tensor::f_arange_start(1, channels.max(1), (Kind::Int64, logits.device()))?
                    .f_reshape(shape.as_slice())?;
            let pred = logits.f_argmax(1, true)?.f_eq_tensor(&classes)?;
            let truth = labels.f_eq_tensor(&classes)?;
            let valid = ignore.map(|i| labels.f_ne(i)).transpose()?;
            (pred, truth, valid)
        };
        let mask = |t: Tensor| -> Result<Tensor> {
            Ok(match &valid {
                Some(v) => t.f_logical_and(v)?,
                None => t,
            })
        };
        let axes: Vec<i64> = std::iter::once(0).chain(2..logits.dim() as i64).collect();
        let count = |t: Tensor| -> Result<Vec<f64>> {
            Ok(Vec::<f64>::try_from(t.f_sum_dim_intlist(
                axes.as_slice(),
                false,
                Kind::Double,
            )?)?)
        };
        let tp = count(mask(pred.f_logical_and(&truth)?)?)?;
        let fp = count(mask(pred.f_logical_and(&truth.f_logical_not()?)?)?)?;
        let fn_ = count(mask(pred.f_logical_not()?.f_logical_and(&truth)?)?)?;
        if self.tp.is_empty() {
            *self = DiceCounts {
                tp: vec![0.0; tp.len()],
                fp: vec![0.0; tp.len()],
                fn_: vec![0.0; tp.len()],
            };
        }
        for i in 0..tp.len().min(self.tp.len()) {
            self.tp[i] += tp[i];
            self.fp[i] += fp[i];
            self.fn_[i] += fn_[i];
        }
        Ok(())
    }

    pub(crate) fn dice(&self) -> Vec<f64> {
        (0..self.tp.len())
            .map(|i| {
                let denom = 2.0 * self.tp[i] + self.fp[i] + self.fn_[i];
                if denom == 0.0 {
                    f64::NAN
                } else {
                    2.0 * self.tp[i] / denom
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(values).reshape(shape)
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn pseudo_dice_softmax_skips_background_and_ignored_voxels() {
        // argmax per voxel: 0, 1, 2, 1; target 0, 1, 1, ignore(3)
        let logits = tensor(
            &[
                5., 0., 0., 0., //
                0., 5., 0., 5., //
                0., 0., 5., 0.,
            ],
            &[1, 3, 1, 4],
        );
        let target = Tensor::from_slice(&[0i16, 1, 1, 3]).reshape([1, 1, 1, 4]);
        let mut counts = DiceCounts::default();
        counts.add(&logits, &target, Some(3), false).unwrap();
        assert_eq!(
            (counts.tp.clone(), counts.fp.clone()),
            (vec![1., 0.], vec![0., 1.])
        );
        assert_eq!(counts.fn_, vec![1., 0.]);
        assert!(close(&counts.dice(), &[2.0 / 3.0, 0.0]));
        // counts accumulate over batches
        counts.add(&logits, &target, Some(3), false).unwrap();
        assert_eq!(counts.tp, vec![2., 0.]);
    }

    #[test]
    fn pseudo_dice_regions_uses_sigmoid_and_the_ignore_channel() {
        let logits = tensor(
            &[
                5., -5., 5., 5., //
                -5., 5., 5., -5.,
            ],
            &[1, 2, 1, 4],
        );
        // region channels, then the ignore channel (voxel 3 ignored)
        let target =
            Tensor::from_slice(&[1i16, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]).reshape([1, 3, 1, 4]);
        let mut counts = DiceCounts::default();
        counts.add(&logits, &target, Some(3), true).unwrap();
        assert_eq!(counts.tp, vec![2., 1.]);
        assert_eq!(counts.fp, vec![0., 1.]);
        assert_eq!(counts.fn_, vec![0., 0.]);
        assert!(close(&counts.dice(), &[1.0, 2.0 / 3.0]));
        // without an ignore label every voxel counts (target has only the region channels)
        let mut plain = DiceCounts::default();
        plain
            .add(&logits, &target.narrow(1, 0, 2), None, true)
            .unwrap();
        assert_eq!(plain.fp, vec![1., 1.]);
    }
}
