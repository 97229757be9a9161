//! From network outputs to labels, as nnU-Net's `LabelManager` (`label_handling.py`): plain
//! labels take a softmax over the classes and the argmax; region-based datasets (a `labels`
//! entry that is a list, plus `regions_class_order`) take a sigmoid per region channel, and
//! each region whose probability exceeds 0.5 paints its label from `regions_class_order`,
//! in that order, so later (nested, inner) regions overwrite earlier ones
//! (`convert_probabilities_to_segmentation`).

use nnunet_core::tch::{Kind, Tensor};
use nnunet_core::{DatasetDescriptor, Error, LabelValue, Result};

/// How a dataset's outputs become labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelHandling {
    /// One channel per label value (background included): softmax, argmax.
    Softmax,
    /// One sigmoid channel per foreground region; the label painted for each channel, in order.
    Regions { class_order: Vec<i16> },
}

impl LabelHandling {
    /// The handling `dataset.json` asks for.
    pub fn from_dataset(dataset: &DatasetDescriptor) -> Result<Self> {
        if !dataset.has_regions() {
            return Ok(LabelHandling::Softmax);
        }
        let order = dataset.regions_class_order.as_ref().ok_or_else(|| {
            Error::Invalid(
                "dataset.json defines regions (a label whose value is a list) but no \
                 regions_class_order"
                    .into(),
            )
        })?;
        let heads = dataset.num_segmentation_heads()?;
        if order.len() != heads {
            return Err(Error::Invalid(format!(
                "dataset.json: regions_class_order has {} entries for {heads} foreground regions",
                order.len()
            )));
        }
        let class_order = order
            .iter()
            .map(|&c| {
                i16::try_from(c).map_err(|_| {
                    Error::Invalid(format!(
                        "dataset.json: regions_class_order value {c} is out of range"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(LabelHandling::Regions { class_order })
    }

    pub fn has_regions(&self) -> bool {
        matches!(self, LabelHandling::Regions { .. })
    }

    /// Probabilities `(C, …)` from logits `(C, …)`: softmax over channels, or sigmoid.
    pub fn probabilities(&self, logits: &Tensor) -> Result<Tensor> {
        let logits = logits.f_to_kind(Kind::Float)?;
        Ok(match self {
            LabelHandling::Softmax => logits.f_softmax(0, Kind::Float)?,
            LabelHandling::Regions { .. } => logits.f_sigmoid()?,
        })
    }

    /// The label map (int16, `(…)`, same device) from probabilities `(C, …)`.
    pub fn segmentation(&self, probabilities: &Tensor) -> Result<Tensor> {
        match self {
            LabelHandling::Softmax => {
                Ok(probabilities.f_argmax(0, false)?.f_to_kind(Kind::Int16)?)
            }
            LabelHandling::Regions { class_order } => {
                let channels = probabilities.size()[0];
                if channels != class_order.len() as i64 {
                    return Err(Error::Invalid(format!(
                        "{channels} region channels for {} entries of regions_class_order",
                        class_order.len()
                    )));
                }
                let mut seg = probabilities
                    .f_select(0, 0)?
                    .f_zeros_like()?
                    .f_to_kind(Kind::Int16)?;
                for (i, &label) in class_order.iter().enumerate() {
                    let mask = probabilities.f_select(0, i as i64)?.f_gt(0.5)?;
                    seg = seg.f_masked_fill(&mask, i64::from(label))?;
                }
                Ok(seg)
            }
        }
    }

    /// The label map from logits: the argmax directly (softmax does not change it), or via the
    /// sigmoid for regions.
    pub fn segmentation_from_logits(&self, logits: &Tensor) -> Result<Tensor> {
        match self {
            LabelHandling::Softmax => Ok(logits.f_argmax(0, false)?.f_to_kind(Kind::Int16)?),
            LabelHandling::Regions { .. } => self.segmentation(&self.probabilities(logits)?),
        }
    }

    /// The probability each channel gets outside the crop box (`revert_cropping_on_probabilities`):
    /// background 1 for softmax outputs, 0 for every region.
    pub fn outside_crop(&self, channel: usize) -> f64 {
        match self {
            LabelHandling::Softmax if channel == 0 => 1.0,
            _ => 0.0,
        }
    }
}

/// nnU-Net's `foreground_labels`: every label value of `dataset.json` (region members
/// included, `ignore` excluded), sorted, without 0. The cascade gets one input channel each.
pub fn foreground_labels(dataset: &DatasetDescriptor) -> Result<Vec<i16>> {
    let mut values = Vec::new();
    for (name, value) in dataset.label_values()? {
        if name == "ignore" {
            continue;
        }
        match value {
            LabelValue::Single(v) => values.push(v),
            LabelValue::Region(vs) => values.extend(vs),
        }
    }
    values.sort_unstable();
    values.dedup();
    values
        .into_iter()
        .filter(|&v| v != 0)
        .map(|v| {
            i16::try_from(v).map_err(|_| {
                Error::Invalid(format!("dataset.json: label value {v} is out of range"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brats_like() -> DatasetDescriptor {
        serde_json::from_value(serde_json::json!({
            "channel_names": {"0": "T1"},
            "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3],
                       "enhancing tumor": [3]},
            "regions_class_order": [1, 2, 3],
            "numTraining": 1,
            "file_ending": ".nii.gz"
        }))
        .unwrap()
    }

    #[test]
    fn nested_regions_paint_in_order() {
        let handling = LabelHandling::from_dataset(&brats_like()).unwrap();
        assert_eq!(
            handling,
            LabelHandling::Regions {
                class_order: vec![1, 2, 3]
            }
        );
        // Five voxels: none; whole only; whole + core; all three; core without whole (painted 2).
        let p = Tensor::from_slice(&[
            0.1f32, 0.9, 0.8, 0.7, 0.2, // whole tumor
            0.2, 0.3, 0.6, 0.9, 0.9, // tumor core
            0.0, 0.4, 0.2, 0.51, 0.5, // enhancing (0.5 is not > 0.5)
        ])
        .view([3, 1, 1, 5]);
        let seg = handling.segmentation(&p).unwrap();
        assert_eq!(seg.size(), [1, 1, 5]);
        let got: Vec<i16> = Vec::try_from(seg.flatten(0, -1)).unwrap();
        assert_eq!(got, vec![0, 1, 2, 3, 2]);
        // From logits: sigmoid(logit) > 0.5 ⇔ logit > 0.
        let logits: Tensor = (&p / (-&p + 1.0)).log();
        let from_logits: Vec<i16> = Vec::try_from(
            handling
                .segmentation_from_logits(&logits)
                .unwrap()
                .flatten(0, -1),
        )
        .unwrap();
        assert_eq!(from_logits, vec![0, 1, 2, 3, 2]);
        assert_eq!(handling.outside_crop(0), 0.0);
    }

    #[test]
    fn plain_labels_argmax_and_background_outside() {
        let mut ds = brats_like();
        ds.labels =
            serde_json::from_value(serde_json::json!({"background": 0, "a": 1, "b": 2})).unwrap();
        ds.regions_class_order = None;
        let handling = LabelHandling::from_dataset(&ds).unwrap();
        assert_eq!(handling, LabelHandling::Softmax);
        let logits = Tensor::from_slice(&[0.0f32, 5.0, 1.0, 2.0, 0.0, 9.0]).view([3, 1, 1, 2]);
        let probs = handling.probabilities(&logits).unwrap();
        let sums = probs.sum_dim_intlist(0, false, Kind::Float);
        assert!((sums - 1.0).abs().max().double_value(&[]) < 1e-6);
        let seg: Vec<i16> =
            Vec::try_from(handling.segmentation(&probs).unwrap().flatten(0, -1)).unwrap();
        assert_eq!(seg, vec![1, 2]);
        assert_eq!(handling.outside_crop(0), 1.0);
        assert_eq!(handling.outside_crop(1), 0.0);
    }

    #[test]
    fn regions_without_class_order_are_refused_and_foreground_labels_flatten() {
        let mut ds = brats_like();
        assert_eq!(foreground_labels(&ds).unwrap(), vec![1, 2, 3]);
        ds.regions_class_order = None;
        let err = LabelHandling::from_dataset(&ds).unwrap_err().to_string();
        assert!(err.contains("regions_class_order"), "{err}");
        ds.regions_class_order = Some(vec![1, 2]);
        assert!(LabelHandling::from_dataset(&ds).is_err());
    }
}
