//! A [`NetworkSpec`] from a plans configuration: input channels from `dataset.json`'s
//! `channel_names` (else the plans' `normalization_schemes`, one per channel), outputs as
//! nnU-Net's label manager counts them (labels less `ignore`; for regions, the regions less
//! background and `ignore`), unless given explicitly.

use nnunet_core::{ConfigurationPlans, DatasetDescriptor, Error, NetworkSpec, Result};

/// Number of network outputs for a `dataset.json`
/// ([`DatasetDescriptor::num_segmentation_heads`]).
pub fn num_outputs(dataset: &DatasetDescriptor) -> Result<i64> {
    Ok(dataset.num_segmentation_heads()? as i64)
}

/// The network spec for a resolved configuration (`Plans::configuration`).
pub fn network_spec_from_plans(
    configuration: &ConfigurationPlans,
    dataset: Option<&DatasetDescriptor>,
    num_outputs_override: Option<i64>,
    deep_supervision: bool,
) -> Result<NetworkSpec> {
    let architecture = configuration
        .architecture
        .clone()
        .ok_or_else(|| Error::Invalid("plans configuration has no architecture block".into()))?;
    let spatial_dims = architecture
        .arch_kwargs
        .kernel_sizes
        .first()
        .map(Vec::len)
        .ok_or_else(|| Error::Invalid("plans architecture has no kernel_sizes".into()))?;
    let in_channels = match (dataset, &configuration.normalization_schemes) {
        (Some(d), _) => d.num_channels() as i64,
        (None, Some(schemes)) => schemes.len() as i64,
        (None, None) => {
            return Err(Error::Invalid(
                "input channels unknown: no dataset.json and no normalization_schemes in the plans"
                    .into(),
            ));
        }
    };
    let num_outputs = match (num_outputs_override, dataset) {
        (Some(n), _) => n,
        (None, Some(d)) => num_outputs(d)?,
        (None, None) => {
            return Err(Error::Invalid(
                "number of outputs unknown: no dataset.json found; give the number of classes"
                    .into(),
            ));
        }
    };
    Ok(NetworkSpec {
        spatial_dims,
        in_channels,
        num_outputs,
        architecture,
        deep_supervision,
        options: serde_json::Value::Null,
        patch_size: configuration
            .patch_size
            .iter()
            .flatten()
            .map(|&s| s as i64)
            .collect(),
    })
}
