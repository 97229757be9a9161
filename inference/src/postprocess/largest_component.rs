//! nnU-Net's `remove_all_but_largest_component_from_segmentation` as two postprocessors:
//!
//! * `largest-component`: the voxels of the given labels (default: every foreground label)
//!   are one mask; all but its largest connected component become background.
//! * `largest-component-per-class`: the same, once per given label or region, in order
//!   (default: each foreground label present).
//!
//! Options: `{"labels": [1, 2, [2, 3]]}` — a number is a label, a list is a region.

use super::components::largest_components;
use crate::evaluation::Target;
use nnunet_core::tch::Tensor;
use nnunet_core::{Error, LabelMap, Postprocessor, Result};
use serde_json::Value;

/// Sets to `background` every voxel of `targets` (together) outside their largest component.
pub fn remove_all_but_largest_component(seg: &mut LabelMap, targets: &[Target], background: i16) {
    let mask: Vec<bool> = seg
        .data
        .iter()
        .map(|&v| targets.iter().any(|t| t.contains(v)))
        .collect();
    let keep = largest_components(&mask, seg.shape);
    for ((v, m), k) in seg.data.iter_mut().zip(mask).zip(keep) {
        if m && !k {
            *v = background;
        }
    }
}

/// Parses one `labels` entry: a number (label) or a list of numbers (region).
pub fn target_from_json(value: &Value) -> Option<Target> {
    match value {
        Value::Number(n) => n.as_i64().map(Target::Label),
        Value::Array(vs) => vs
            .iter()
            .map(Value::as_i64)
            .collect::<Option<Vec<i64>>>()
            .map(Target::Region),
        _ => None,
    }
}

/// The JSON of a target, as [`target_from_json`] reads it.
pub fn target_to_json(target: &Target) -> Value {
    match target {
        Target::Label(v) => Value::from(*v),
        Target::Region(vs) => Value::from(vs.clone()),
    }
}

/// Reads `{"labels": [...]}` (or no options) for the postprocessor `name`.
fn parse_labels(name: &str, options: &Value) -> Result<Option<Vec<Target>>> {
    let invalid = |what: String| Error::Invalid(format!("postprocessor {name}: {what}"));
    let map = match options {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        other => return Err(invalid(format!("options must be an object, got {other}"))),
    };
    if let Some(key) = map.keys().find(|k| k.as_str() != "labels") {
        return Err(invalid(format!("unknown option {key:?} (only \"labels\")")));
    }
    let Some(labels) = map.get("labels") else {
        return Ok(None);
    };
    let list = labels
        .as_array()
        .ok_or_else(|| invalid(format!("labels must be a list, got {labels}")))?;
    list.iter()
        .map(|v| {
            target_from_json(v).ok_or_else(|| {
                invalid(format!(
                    "label {v} is neither a number nor a list of numbers"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The foreground labels present in a map, as targets.
fn present_foreground(seg: &LabelMap) -> Vec<Target> {
    seg.present_labels()
        .into_iter()
        .filter(|&v| v > 0)
        .map(|v| Target::Label(i64::from(v)))
        .collect()
}

/// `largest-component` (all given labels together) or, with `per_class`,
/// `largest-component-per-class` (each given label or region in turn).
pub struct LargestComponent {
    /// Default: the foreground labels present in each map.
    pub labels: Option<Vec<Target>>,
    pub per_class: bool,
}

impl LargestComponent {
    /// Reads the options of the postprocessor registered as `name`.
    pub fn from_options(name: &str, per_class: bool, options: &Value) -> Result<Self> {
        Ok(LargestComponent {
            labels: parse_labels(name, options)?,
            per_class,
        })
    }
}

impl Postprocessor for LargestComponent {
    fn apply(&self, seg: &mut LabelMap, _probabilities: Option<&Tensor>) -> Result<()> {
        let targets = match &self.labels {
            Some(t) => t.clone(),
            None => present_foreground(seg),
        };
        if self.per_class {
            for target in &targets {
                remove_all_but_largest_component(seg, std::slice::from_ref(target), 0);
            }
        } else {
            remove_all_but_largest_component(seg, &targets, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::Geometry;

    fn map(shape: [usize; 3], data: Vec<i16>) -> LabelMap {
        LabelMap {
            shape,
            data,
            geometry: Geometry::default(),
            is_2d: shape[0] == 1,
        }
    }

    /// `data` on a `shape` grid after the postprocessor.
    fn applied(per_class: bool, options: Value, shape: [usize; 3], data: Vec<i16>) -> Vec<i16> {
        let mut seg = map(shape, data);
        LargestComponent::from_options("test", per_class, &options)
            .unwrap()
            .apply(&mut seg, None)
            .unwrap();
        seg.data
    }

    /// A 2D map from rows of digits separated by `/`.
    fn rows(text: &str) -> Vec<i16> {
        text.chars()
            .filter(|c| c.is_ascii_digit())
            .map(|c| c.to_digit(10).unwrap() as i16)
            .collect()
    }

    #[test]
    fn all_labels_together_keep_the_largest_blob() {
        // A 1-2 blob of 4 voxels (labels touch) and a lone 1 of 2 voxels.
        let out = applied(false, Value::Null, [1, 3, 5], rows("12001/12001/00000"));
        assert_eq!(out, rows("12000/12000/00000"));
    }

    #[test]
    fn per_class_only_touches_the_given_labels() {
        // Label 1: blobs of 3 and 1; label 2: blobs of 1 and 1 (a tie: both kept).
        let labels = serde_json::json!({"labels": [1, 2]});
        let out = applied(true, labels, [1, 3, 5], rows("11001/10200/00002"));
        assert_eq!(out, rows("11000/10200/00002"));
        // Label 1 is not among the given labels: untouched.
        let only_two = serde_json::json!({"labels": [2]});
        assert_eq!(
            applied(true, only_two, [1, 1, 4], rows("1010")),
            rows("1010")
        );
    }

    #[test]
    fn three_d_region_and_bad_options() {
        // Region (1, 2) in a 3×3×3 volume: (0,0,0) = 1 and (1,0,0) = 2 form one component of
        // two; (2,2,2) = 2 is apart; (1,1,1) joins the first only by 26-connectivity.
        let idx = |z: usize, y: usize, x: usize| (z * 3 + y) * 3 + x;
        let mut data = vec![0i16; 27];
        data[idx(0, 0, 0)] = 1;
        data[idx(1, 0, 0)] = 2;
        data[idx(2, 2, 2)] = 2;
        let mut seg = map([3, 3, 3], data.clone());
        let options = serde_json::json!({"labels": [[1, 2]]});
        let pp =
            LargestComponent::from_options("largest-component-per-class", true, &options).unwrap();
        pp.apply(&mut seg, None).unwrap();
        let mut expected = data.clone();
        expected[idx(2, 2, 2)] = 0;
        assert_eq!(seg.data, expected);
        // With (1,1,1) set, the far voxel touches it by a corner: one component, kept whole.
        data[idx(1, 1, 1)] = 1;
        let mut seg = map([3, 3, 3], data.clone());
        pp.apply(&mut seg, None).unwrap();
        assert_eq!(seg.data, data);
        let err = LargestComponent::from_options(
            "largest-component",
            false,
            &serde_json::json!({"label": [1]}),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("unknown option") && err.contains("label"),
            "{err}"
        );
        assert!(
            LargestComponent::from_options(
                "largest-component",
                false,
                &serde_json::json!({"labels": ["x"]})
            )
            .is_err()
        );
    }
}
