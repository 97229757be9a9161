//! What `dataset.json`'s labels mean for training, as nnU-Net's `LabelManager` derives it: the
//! foreground labels (the cascade's one-hot input channels, one per label), and for a
//! region-based dataset the foreground regions (one sigmoid output and one target channel
//! each), with the ignore label appended as a last target channel, as nnU-Net's
//! `ConvertSegmentationToRegionsTransform` receives them.

use nnunet_core::dataset::LabelValue;
use nnunet_core::{DatasetDescriptor, Error, Result};

fn as_label(name: &str, value: i64) -> Result<i16> {
    i16::try_from(value).map_err(|_| {
        Error::Invalid(format!(
            "dataset.json: label {name:?} value {value} does not fit a 16-bit label map"
        ))
    })
}

/// The labels other than `ignore`, in `dataset.json` order, each as its list of values (one
/// value for a plain label).
fn label_lists(dataset: &DatasetDescriptor) -> Result<Vec<Vec<i16>>> {
    dataset
        .label_values()?
        .into_iter()
        .filter(|(name, _)| name != "ignore")
        .map(|(name, value)| {
            let values = match value {
                LabelValue::Single(v) => vec![v],
                LabelValue::Region(vs) => vs,
            };
            values.into_iter().map(|v| as_label(&name, v)).collect()
        })
        .collect()
}

/// Every label value except background (0) and the ignore label, sorted and unique
/// (`LabelManager.foreground_labels`).
pub fn foreground_labels(dataset: &DatasetDescriptor) -> Result<Vec<i16>> {
    let mut labels: Vec<i16> = label_lists(dataset)?.into_iter().flatten().collect();
    labels.sort_unstable();
    labels.dedup();
    labels.retain(|&l| l != 0);
    Ok(labels)
}

/// The foreground regions in `dataset.json` order (`LabelManager.foreground_regions`): each
/// label that is not background or `ignore`, a single value being a region of one label.
/// `None` for a dataset without regions. Requires `regions_class_order` with one entry per
/// region, as nnU-Net does.
pub fn foreground_regions(dataset: &DatasetDescriptor) -> Result<Option<Vec<Vec<i16>>>> {
    if !dataset.has_regions() {
        return Ok(None);
    }
    let regions: Vec<Vec<i16>> = label_lists(dataset)?
        .into_iter()
        .filter(|values| values.iter().any(|&v| v != 0))
        .collect();
    match &dataset.regions_class_order {
        None => Err(Error::Invalid(
            "dataset.json defines regions (labels with lists of values) but no \
             regions_class_order"
                .into(),
        )),
        Some(order) if order.len() != regions.len() => Err(Error::Invalid(format!(
            "dataset.json: regions_class_order has {} entries for {} regions",
            order.len(),
            regions.len()
        ))),
        Some(_) => Ok(Some(regions)),
    }
}

/// The regions the data pipeline converts targets to: the foreground regions, plus the ignore
/// label as its own last channel when there is one (the losses and pseudo-Dice read it as the
/// mask of ignored voxels).
pub fn target_regions(dataset: &DatasetDescriptor) -> Result<Option<Vec<Vec<i16>>>> {
    let Some(mut regions) = foreground_regions(dataset)? else {
        return Ok(None);
    };
    if let Some(ignore) = dataset.ignore_label() {
        regions.push(vec![as_label("ignore", ignore)?]);
    }
    Ok(Some(regions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(labels: serde_json::Value, order: Option<Vec<i64>>) -> DatasetDescriptor {
        serde_json::from_value(serde_json::json!({
            "channel_names": {"0": "MRI"},
            "labels": labels,
            "numTraining": 1,
            "file_ending": ".nii.gz",
            "regions_class_order": order,
        }))
        .unwrap()
    }

    #[test]
    fn regions_and_labels_as_nnunet_derives_them() {
        let d = dataset(
            serde_json::json!({"background": 0, "whole": [1, 2], "lesion": 2, "ignore": 3}),
            Some(vec![1, 2]),
        );
        assert_eq!(foreground_labels(&d).unwrap(), [1, 2]);
        assert_eq!(
            foreground_regions(&d).unwrap(),
            Some(vec![vec![1, 2], vec![2]])
        );
        assert_eq!(
            target_regions(&d).unwrap(),
            Some(vec![vec![1, 2], vec![2], vec![3]])
        );
        assert_eq!(d.num_segmentation_heads().unwrap(), 2);

        let plain = dataset(serde_json::json!({"background": 0, "a": 1, "b": 2}), None);
        assert_eq!(foreground_regions(&plain).unwrap(), None);
        assert_eq!(foreground_labels(&plain).unwrap(), [1, 2]);

        let no_order = dataset(serde_json::json!({"background": 0, "whole": [1, 2]}), None);
        let err = foreground_regions(&no_order).unwrap_err().to_string();
        assert!(err.contains("regions_class_order"), "{err}");
    }
}
