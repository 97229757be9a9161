//! The dataset model: nnU-Net v2's `dataset.json`, case identifiers, and the [`Dataset`] trait
//! through which stages read cases whatever their on-disk format.

use crate::{Image, LabelMap, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A case identifier, e.g. `hippocampus_001`.
pub type CaseId = String;

/// A label's value in `dataset.json`: one integer, or a list of them for a region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabelValue {
    Single(i64),
    Region(Vec<i64>),
}

/// `dataset.json` as nnU-Net v2 reads it. Unknown keys are kept and written back unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetDescriptor {
    /// Channel index (as a string, `"0"`) → name; the name picks the normalisation.
    #[serde(alias = "modality")]
    pub channel_names: BTreeMap<String, String>,
    /// Label name → value (or list of values for regions). Order is kept as written.
    pub labels: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "numTraining")]
    pub num_training: usize,
    pub file_ending: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions_class_order: Option<Vec<i64>>,
    /// Optional explicit case → files map (`{"case": {"images": [...], "label": "..."}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite_image_reader_writer: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Checks that no two labels of a `labels` map share one single (non-region) value; the error
/// names both labels and the value.
pub fn check_unique_label_values(
    labels: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<(), String> {
    let mut seen: std::collections::BTreeMap<i64, &String> = Default::default();
    for (name, value) in labels {
        if let Some(v) = value.as_i64()
            && let Some(first) = seen.insert(v, name)
        {
            return Err(format!(
                "labels \"{first}\" and \"{name}\" both have value {v}; each label needs its own value"
            ));
        }
    }
    Ok(())
}

impl DatasetDescriptor {
    /// Number of input channels.
    pub fn num_channels(&self) -> usize {
        self.channel_names.len()
    }

    /// Channel names in channel order.
    pub fn channel_names_ordered(&self) -> Vec<String> {
        let mut v: Vec<(usize, &String)> = self
            .channel_names
            .iter()
            .filter_map(|(k, n)| k.parse().ok().map(|i| (i, n)))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// The labels parsed, in the order written. Two labels with the same single value are an
    /// error naming both.
    pub fn label_values(&self) -> Result<Vec<(String, LabelValue)>> {
        check_unique_label_values(&self.labels)
            .map_err(|e| crate::Error::Invalid(format!("dataset.json: {e}")))?;
        self.labels
            .iter()
            .map(|(name, value)| {
                serde_json::from_value(value.clone())
                    .map(|v| (name.clone(), v))
                    .map_err(|e| {
                        crate::Error::Invalid(format!(
                            "dataset.json: label {name:?} must be an integer or a list of integers: {e}"
                        ))
                    })
            })
            .collect()
    }

    /// The ignore label's value, if a label named `ignore` exists.
    pub fn ignore_label(&self) -> Option<i64> {
        match self.labels.get("ignore") {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            _ => None,
        }
    }

    /// Output channels of a network for this dataset, nnU-Net's `num_segmentation_heads`: the
    /// distinct label values (background included, `ignore` excluded), or with regions the
    /// regions other than background.
    pub fn num_segmentation_heads(&self) -> Result<usize> {
        let labels = self.label_values()?;
        let labels = labels.iter().filter(|(name, _)| name != "ignore");
        if self.has_regions() {
            Ok(labels
                .filter(|(_, value)| match value {
                    LabelValue::Single(v) => *v != 0,
                    LabelValue::Region(vs) => vs.iter().any(|&v| v != 0),
                })
                .count())
        } else {
            let mut values: Vec<i64> = labels
                .filter_map(|(_, value)| match value {
                    LabelValue::Single(v) => Some(*v),
                    LabelValue::Region(_) => None,
                })
                .collect();
            values.sort_unstable();
            values.dedup();
            Ok(values.len())
        }
    }

    /// True when any label is a region (a list of values).
    pub fn has_regions(&self) -> bool {
        self.labels.values().any(|v| v.is_array())
    }
}

/// One loaded case: its channels and, for training cases, its label map.
#[derive(Clone, Debug)]
pub struct Case {
    pub id: CaseId,
    pub image: Image,
    pub label: Option<LabelMap>,
}

/// A source of cases. The built-in one reads nnU-Net's raw layout; plugins may add others.
pub trait Dataset: Send + Sync {
    fn descriptor(&self) -> &DatasetDescriptor;
    fn cases(&self) -> &[CaseId];
    fn load(&self, case: &str) -> Result<Case>;
}
