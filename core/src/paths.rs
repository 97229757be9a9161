//! nnU-Net's three folders, from the same environment variables nnU-Net v2 reads.

use std::path::PathBuf;

/// The three nnU-Net folders; each is `None` when its variable is unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NnunetPaths {
    pub raw: Option<PathBuf>,
    pub preprocessed: Option<PathBuf>,
    pub results: Option<PathBuf>,
}

/// Variable names, as nnU-Net v2 spells them.
pub const RAW_VAR: &str = "nnUNet_raw";
pub const PREPROCESSED_VAR: &str = "nnUNet_preprocessed";
pub const RESULTS_VAR: &str = "nnUNet_results";

impl NnunetPaths {
    /// Reads `nnUNet_raw`, `nnUNet_preprocessed` and `nnUNet_results`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        NnunetPaths {
            raw: var(RAW_VAR),
            preprocessed: var(PREPROCESSED_VAR),
            results: var(RESULTS_VAR),
        }
    }

    /// `(variable, value)` for each folder, in nnU-Net's order.
    pub fn entries(&self) -> [(&'static str, Option<&PathBuf>); 3] {
        [
            (RAW_VAR, self.raw.as_ref()),
            (PREPROCESSED_VAR, self.preprocessed.as_ref()),
            (RESULTS_VAR, self.results.as_ref()),
        ]
    }
}

/// nnU-Net's model folder name `<trainer>__<plans>__<configuration>`, after the trainer name as
/// given (`nnUNetTrainer_5epochs_NoMirroring__nnUNetPlans__2d`).
pub fn trainer_folder_name(trainer: &str, plans: &str, configuration: &str) -> String {
    format!("{trainer}__{plans}__{configuration}")
}

/// `<results>/<dataset>/<trainer>__<plans>__<configuration>`.
pub fn trainer_folder(
    results: &std::path::Path,
    dataset: &str,
    trainer: &str,
    plans: &str,
    configuration: &str,
) -> PathBuf {
    results
        .join(dataset)
        .join(trainer_folder_name(trainer, plans, configuration))
}
