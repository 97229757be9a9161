//! nnU-Net's raw layout: `dataset.json`, case discovery and dataset lookup.
//!
//! * [`load_descriptor`] reads `dataset.json`, naming every missing required key
//!   (`channel_names` — or v1's `modality` —, `labels`, `numTraining`, `file_ending`).
//! * [`training_cases`] lists training cases as nnU-Net's
//!   `get_filenames_of_train_images_and_targets` does: from the explicit `dataset` map when
//!   present (paths relative to the dataset folder, `$VAR`/`${VAR}` expanded), else from
//!   `imagesTr/CASE_XXXX<ending>` (identifiers sorted, each with its channel files sorted) and
//!   `labelsTr/CASE<ending>`. [`test_cases`] does the same for `imagesTs`.
//! * [`find_dataset`] resolves `4`, `004`, `Dataset004_Hippocampus`, or a folder path, under
//!   `nnUNet_raw`.
//! * [`RawDataset`] implements [`nnunet_core::Dataset`] and is registered as dataset format
//!   `nnunet-raw`.

use crate::io::read_label;
use nnunet_core::paths::NnunetPaths;
use nnunet_core::{Case, CaseId, Dataset, DatasetDescriptor, Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Keys nnU-Net requires in `dataset.json` (`modality` is accepted for `channel_names`).
pub const REQUIRED_KEYS: [&str; 4] = ["channel_names", "labels", "numTraining", "file_ending"];

/// The files of one case. `label` is where the label map must be (training cases) or `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCase {
    pub id: CaseId,
    pub images: Vec<PathBuf>,
    pub label: Option<PathBuf>,
}

/// The required keys missing from a parsed `dataset.json`.
pub fn missing_required_keys(json: &serde_json::Value) -> Vec<&'static str> {
    REQUIRED_KEYS
        .into_iter()
        .filter(|&key| {
            json.get(key).is_none() && !(key == "channel_names" && json.get("modality").is_some())
        })
        .collect()
}

/// Reads `dataset.json`, with an error naming the file and every missing required key.
pub fn load_descriptor(path: &Path) -> Result<DatasetDescriptor> {
    let json: serde_json::Value = nnunet_core::atomic::read_json(path)?;
    if !json.is_object() {
        return Err(Error::invalid_file(path, "must hold a JSON object"));
    }
    let missing = missing_required_keys(&json);
    if !missing.is_empty() {
        return Err(Error::invalid_file(
            path,
            format!(
                "missing required key{} {}",
                if missing.len() > 1 { "s" } else { "" },
                missing
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let descriptor: DatasetDescriptor = serde_json::from_value(json).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    nnunet_core::dataset::check_unique_label_values(&descriptor.labels)
        .map_err(|message| Error::invalid_file(path, message))?;
    check_channel_keys(path, &descriptor)?;
    Ok(descriptor)
}

/// Channel keys must be `"0"` … `"N-1"`: channel `k` is the file `CASE_000k`.
fn check_channel_keys(path: &Path, descriptor: &DatasetDescriptor) -> Result<()> {
    let n = descriptor.channel_names.len();
    let mut keys: Vec<Option<usize>> = descriptor
        .channel_names
        .keys()
        .map(|k| k.parse().ok())
        .collect();
    keys.sort();
    if keys.iter().copied().eq((0..n).map(Some)) {
        return Ok(());
    }
    Err(Error::invalid_file(
        path,
        format!(
            "channel_names keys must be \"0\" to \"{}\" (channel k is the file CASE_000k), got {}",
            n.saturating_sub(1),
            descriptor
                .channel_names
                .keys()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Expands `$VAR` and `${VAR}` from the environment (unset variables are left as written).
fn expand_vars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match std::env::var(name) {
            Ok(value) if !name.is_empty() => out.push_str(&value),
            _ => out.push_str(&rest[pos..pos + 1 + consumed]),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

fn resolve(root: &Path, file: &str) -> PathBuf {
    let expanded = PathBuf::from(expand_vars(file));
    if expanded.is_absolute() {
        expanded
    } else {
        root.join(expanded)
    }
}

/// Files in `folder` ending in `ending`, sorted by name (none when the folder is absent). An
/// entry with that ending that cannot be followed (a symlink loop, a dangling link) is an error.
fn files_with_ending(folder: &Path, ending: &str) -> Result<Vec<String>> {
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))? {
        let entry = entry.map_err(|e| Error::io(folder, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(ending) {
            continue;
        }
        // Follows symlinks: a loop or a dangling link is reported, not skipped.
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| {
            Error::invalid_file(
                &path,
                format!("cannot read (a broken or looping link?): {e}"),
            )
        })?;
        if meta.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `CASE` of `CASE_XXXX<ending>`, when the name has that form.
fn case_of_channel_file<'a>(name: &'a str, ending: &str) -> Option<&'a str> {
    let stem = name.strip_suffix(ending)?;
    let (case, channel) = stem.rsplit_once('_')?;
    (channel.len() == 4 && channel.bytes().all(|b| b.is_ascii_digit())).then_some(case)
}

/// Cases in an images folder (`imagesTr`, `imagesTs`): `CASE_XXXX<ending>` grouped by case,
/// channel files in name order. Files not of that form are ignored here (verify reports them).
pub fn cases_in_folder(folder: &Path, ending: &str) -> Result<BTreeMap<CaseId, Vec<PathBuf>>> {
    let mut cases: BTreeMap<CaseId, Vec<PathBuf>> = BTreeMap::new();
    for name in files_with_ending(folder, ending)? {
        if let Some(case) = case_of_channel_file(&name, ending) {
            cases
                .entry(case.to_string())
                .or_default()
                .push(folder.join(&name));
        }
    }
    Ok(cases)
}

/// Training cases, from the explicit `dataset` map or from `imagesTr`/`labelsTr`.
pub fn training_cases(root: &Path, descriptor: &DatasetDescriptor) -> Result<Vec<RawCase>> {
    if let Some(map) = &descriptor.dataset {
        let json_path = root.join("dataset.json");
        let mut cases = Vec::with_capacity(map.len());
        for (id, entry) in map {
            let bad = |what: &str| {
                Error::invalid_file(&json_path, format!("dataset entry {id:?}: {what}"))
            };
            let images = entry
                .get("images")
                .and_then(|v| v.as_array())
                .ok_or_else(|| bad("\"images\" must be a list of files"))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|f| resolve(root, f))
                        .ok_or_else(|| bad("\"images\" must hold file names"))
                })
                .collect::<Result<Vec<_>>>()?;
            let label = entry
                .get("label")
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad("\"label\" must be a file name"))?;
            cases.push(RawCase {
                id: id.clone(),
                images,
                label: Some(resolve(root, label)),
            });
        }
        return Ok(cases);
    }
    let cases = labelled_cases(
        &root.join("imagesTr"),
        &root.join("labelsTr"),
        &descriptor.file_ending,
    )?;
    warn_orphan_labels(&root.join("labelsTr"), &descriptor.file_ending, &cases);
    Ok(cases)
}

/// Warns about label files in `labels` without an image case: nnU-Net leaves them out
/// silently, which hides a misnamed or missing image.
fn warn_orphan_labels(labels: &Path, ending: &str, cases: &[RawCase]) {
    let Ok(entries) = std::fs::read_dir(labels) else {
        return;
    };
    let known: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let mut orphans: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(ending)?;
            (!known.contains(id)).then_some(name)
        })
        .collect();
    if orphans.is_empty() {
        return;
    }
    orphans.sort();
    tracing::warn!(
        "{} label file(s) in {} have no image and are left out: {}",
        orphans.len(),
        labels.display(),
        orphans.join(", ")
    );
}

/// Test cases in `imagesTs` (none when the folder is absent).
pub fn test_cases(root: &Path, descriptor: &DatasetDescriptor) -> Result<Vec<RawCase>> {
    unlabelled_cases(&root.join("imagesTs"), &descriptor.file_ending)
}

/// Cases of an images folder without labels.
pub fn unlabelled_cases(images: &Path, ending: &str) -> Result<Vec<RawCase>> {
    Ok(cases_in_folder(images, ending)?
        .into_iter()
        .map(|(id, images)| RawCase {
            id,
            images,
            label: None,
        })
        .collect())
}

/// Cases of an images folder, each with its label `labels/CASE<ending>` (which may not exist).
pub fn labelled_cases(images: &Path, labels: &Path, ending: &str) -> Result<Vec<RawCase>> {
    Ok(cases_in_folder(images, ending)?
        .into_iter()
        .map(|(id, images)| RawCase {
            label: Some(labels.join(format!("{id}{ending}"))),
            id,
            images,
        })
        .collect())
}

/// The numeric id of a dataset name `DatasetXXX_Name`.
pub fn dataset_id_of(name: &str) -> Option<u32> {
    name.strip_prefix("Dataset")?.get(..3)?.parse().ok()
}

/// Finds a raw dataset folder by id (`4`, `004`), name (`Dataset004_Hippocampus`) or path.
pub fn find_dataset(paths: &NnunetPaths, name_or_id: &str) -> Result<PathBuf> {
    let as_path = Path::new(name_or_id);
    if as_path.join("dataset.json").is_file() {
        return Ok(as_path.to_path_buf());
    }
    let Some(raw) = &paths.raw else {
        return Err(Error::Invalid(format!(
            "cannot find dataset {name_or_id:?}: {} is not set (point it at the folder holding \
             DatasetXXX_Name folders)",
            nnunet_core::paths::RAW_VAR
        )));
    };
    if name_or_id.starts_with("Dataset") {
        let folder = raw.join(name_or_id);
        return if folder.is_dir() {
            Ok(folder)
        } else {
            Err(Error::invalid_file(folder, "no such dataset folder"))
        };
    }
    let id: u32 = name_or_id.parse().map_err(|_| {
        Error::Invalid(format!(
            "{name_or_id:?} is neither a dataset id (e.g. 4), a name (Dataset004_Name) nor a \
             folder with a dataset.json"
        ))
    })?;
    let prefix = format!("Dataset{id:03}_");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(raw).map_err(|e| Error::io(raw, e))? {
        let entry = entry.map_err(|e| Error::io(raw, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && entry.path().is_dir() {
            found.push(entry.path());
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::invalid_file(
            raw,
            format!("no dataset with id {id} (no folder {prefix}*)"),
        )),
        _ => Err(Error::invalid_file(
            raw,
            format!(
                "more than one dataset with id {id}: {}",
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A dataset in nnU-Net's raw layout: the training cases of `imagesTr`/`labelsTr`.
pub struct RawDataset {
    root: PathBuf,
    descriptor: DatasetDescriptor,
    ids: Vec<CaseId>,
    cases: BTreeMap<CaseId, RawCase>,
}

impl RawDataset {
    /// Opens the dataset folder `root` (holding `dataset.json`).
    pub fn open(root: &Path) -> Result<Self> {
        let descriptor = load_descriptor(&root.join("dataset.json"))?;
        let list = training_cases(root, &descriptor)?;
        let ids = list.iter().map(|c| c.id.clone()).collect();
        Ok(RawDataset {
            root: root.to_path_buf(),
            descriptor,
            ids,
            cases: list.into_iter().map(|c| (c.id.clone(), c)).collect(),
        })
    }

    /// The dataset folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder name, e.g. `Dataset004_Hippocampus`.
    pub fn name(&self) -> String {
        self.root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The files of a case.
    pub fn case_files(&self, case: &str) -> Result<&RawCase> {
        self.cases.get(case).ok_or_else(|| {
            Error::invalid_file(&self.root, format!("no training case named {case:?}"))
        })
    }

    /// All training cases with their files, in id order.
    pub fn raw_cases(&self) -> impl Iterator<Item = &RawCase> {
        self.ids.iter().filter_map(|id| self.cases.get(id))
    }
}

impl Dataset for RawDataset {
    fn descriptor(&self) -> &DatasetDescriptor {
        &self.descriptor
    }

    fn cases(&self) -> &[CaseId] {
        &self.ids
    }

    fn load(&self, case: &str) -> Result<Case> {
        let files = self.case_files(case)?;
        let image = crate::case_image::read_case_image(
            &files.id,
            &files.images,
            self.descriptor.num_channels(),
        )?;
        let label = files.label.as_deref().map(read_label).transpose()?;
        Ok(Case {
            id: files.id.clone(),
            image,
            label,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::tests::shared_data;

    #[test]
    fn discovers_the_shared_datasets() {
        let Some(data) = shared_data() else { return };
        let root = data.join("Dataset004_Hippocampus");
        let dataset = RawDataset::open(&root).unwrap();
        assert_eq!(dataset.cases().len(), 208);
        assert_eq!(dataset.cases()[0], "hippocampus_001");
        assert_eq!(dataset.name(), "Dataset004_Hippocampus");
        let case = dataset.load("hippocampus_003").unwrap();
        assert_eq!(case.image.shape, case.label.unwrap().shape);
        let tests = test_cases(&root, dataset.descriptor()).unwrap();
        assert_eq!(tests.len(), 52);
        assert!(
            tests
                .iter()
                .all(|c| c.label.is_none() && c.images.len() == 1)
        );

        let chase = RawDataset::open(&data.join("Dataset101_CHASEDB1")).unwrap();
        assert_eq!(chase.cases().len(), 20);
        assert_eq!(chase.descriptor().num_channels(), 3);
        let case = chase.case_files("Image_01L").unwrap();
        assert_eq!(case.images.len(), 1, "one RGB file gives three channels");
    }

    #[test]
    fn finds_datasets_by_id_name_and_path() {
        let Some(data) = shared_data() else { return };
        let paths = NnunetPaths {
            raw: Some(data.clone()),
            ..Default::default()
        };
        let expected = data.join("Dataset004_Hippocampus");
        assert_eq!(find_dataset(&paths, "4").unwrap(), expected);
        assert_eq!(find_dataset(&paths, "004").unwrap(), expected);
        assert_eq!(
            find_dataset(&paths, "Dataset004_Hippocampus").unwrap(),
            expected
        );
        assert_eq!(
            find_dataset(&NnunetPaths::default(), expected.to_str().unwrap()).unwrap(),
            expected
        );
        let err = find_dataset(&paths, "7").unwrap_err().to_string();
        assert!(err.contains("Dataset007_"), "{err}");
        let err = find_dataset(&NnunetPaths::default(), "4")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nnUNet_raw"), "{err}");
        assert_eq!(dataset_id_of("Dataset101_CHASEDB1"), Some(101));
    }

    #[test]
    fn explicit_dataset_map_and_missing_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let json = serde_json::json!({
            "channel_names": {"0": "CT"},
            "labels": {"background": 0, "organ": 1},
            "numTraining": 1,
            "file_ending": ".nii.gz",
            "dataset": {"a": {"images": ["imgs/a.nii.gz"], "label": "${NNUNET_RS_TEST_UNSET}/a.nii.gz"}}
        });
        let path = tmp.path().join("dataset.json");
        std::fs::write(&path, json.to_string()).unwrap();
        let descriptor = load_descriptor(&path).unwrap();
        let cases = training_cases(tmp.path(), &descriptor).unwrap();
        assert_eq!(cases[0].images, vec![tmp.path().join("imgs/a.nii.gz")]);
        assert_eq!(
            cases[0].label,
            Some(tmp.path().join("${NNUNET_RS_TEST_UNSET}/a.nii.gz"))
        );

        std::fs::write(
            &path,
            r#"{"channel_names": {"0": "CT"}, "file_ending": ".png"}"#,
        )
        .unwrap();
        let err = load_descriptor(&path).unwrap_err().to_string();
        assert!(
            err.contains("dataset.json")
                && err.contains("\"labels\"")
                && err.contains("\"numTraining\""),
            "{err}"
        );
    }
}
