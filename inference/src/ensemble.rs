//! `nnunet ensemble`, as `nnUNetv2_ensemble` (`ensembling/ensemble.py`): the saved
//! probabilities (`<case>.npz`, [`crate::probabilities`]) of several prediction folders are
//! averaged case by case, turned into labels (argmax, or region painting for region-based
//! datasets, [`crate::label_handling`]) and written in the dataset's file format on the grid of
//! the first folder's `<case>.npz.json`; with `save_probabilities` the averaged probabilities are
//! written too. `dataset.json` is copied into the output, as nnU-Net does.
//!
//! Every input must hold the same cases (nnU-Net asserts the same); a case missing from one
//! input is an error naming that folder.
//!
//! A folder written by nnU-Net has `<case>.pkl` instead of our `<case>.npz.json`; there the grid is
//! taken from the segmentation `<case><file_ending>` beside the npz, so nnU-Net's prediction
//! folders can be ensembled too.

use crate::label_handling::LabelHandling;
use crate::probabilities::{
    LabelGrid, SavedProbabilities, check_shape, read_probabilities, read_probability_array,
    read_saved_grid, write_probabilities,
};
use nnunet_core::tch::{Device, Kind};
use nnunet_core::{DatasetDescriptor, Error, Result, atomic};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The case names (`<case>.npz` without the ending) of a folder.
fn npz_cases(folder: &Path) -> Result<BTreeSet<String>> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))?;
    let mut cases = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(folder, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(case) = name.strip_suffix(".npz")
            && !name.starts_with('.')
        {
            cases.insert(case.to_string());
        }
    }
    Ok(cases)
}

/// The cases to ensemble (sorted): every case with probabilities in any input, each of which
/// must be in every input.
pub fn common_cases(inputs: &[PathBuf]) -> Result<Vec<String>> {
    let per_folder: Vec<BTreeSet<String>> =
        inputs.iter().map(|f| npz_cases(f)).collect::<Result<_>>()?;
    let all: BTreeSet<String> = per_folder.iter().flatten().cloned().collect();
    if all.is_empty() {
        return Err(Error::Invalid(format!(
            "no saved probabilities (CASE.npz) in {}; predict with --save-probabilities",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for (folder, cases) in inputs.iter().zip(&per_folder) {
        let missing: Vec<&String> = all.difference(cases).collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).map(|s| s.as_str()).collect();
            return Err(Error::invalid_file(
                folder,
                format!(
                    "{} case(s) that other inputs have are missing here ({}{}): every folder \
                     must hold the same cases' probabilities",
                    missing.len(),
                    shown.join(", "),
                    if missing.len() > shown.len() {
                        ", …"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(all.into_iter().collect())
}

/// `<case>.npz` of `folder` with its grid: from our sidecar
/// ([`crate::probabilities::read_saved_grid`]), else (a folder nnU-Net wrote) from the label
/// map `<case><file_ending>` beside it.
fn read_with_grid(folder: &Path, case: &str, file_ending: &str) -> Result<SavedProbabilities> {
    let npz = folder.join(format!("{case}.npz"));
    let segmentation = folder.join(format!("{case}{file_ending}"));
    if !segmentation.is_file() || read_saved_grid(&npz)?.is_some() {
        return read_probabilities(&npz);
    }
    let label = nnunet_datasets::io::read_label(&segmentation)?;
    let probabilities = read_probability_array(&npz)?;
    let grid = LabelGrid::of(&label);
    check_shape(&npz, &probabilities, &grid, &segmentation)?;
    Ok(SavedProbabilities {
        probabilities,
        grid,
    })
}

/// Ensembles `inputs` into `output`; returns the written label maps.
pub fn ensemble_folders(
    inputs: &[PathBuf],
    output: &Path,
    dataset: &DatasetDescriptor,
    save_probabilities: bool,
) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(Error::Invalid("ensemble: no input folders".into()));
    }
    let labels = LabelHandling::from_dataset(dataset)?;
    let heads = dataset.num_segmentation_heads()? as i64;
    let cases = common_cases(inputs)?;
    // On failure, what this run added to `output` is removed again.
    let guard = atomic::OutputGuard::create(output)?;
    atomic::write_json(&output.join("dataset.json"), dataset)?;
    let mut written = Vec::with_capacity(cases.len());
    for case in &cases {
        let first = inputs[0].join(format!("{case}.npz"));
        let saved = read_with_grid(&inputs[0], case, &dataset.file_ending)?;
        let mut sum = saved.probabilities;
        for folder in &inputs[1..] {
            let file = folder.join(format!("{case}.npz"));
            let p = read_probability_array(&file)?;
            if p.size() != sum.size() {
                return Err(Error::invalid_file(
                    &file,
                    format!(
                        "probabilities of shape {:?}, but {} has {:?}",
                        p.size(),
                        first.display(),
                        sum.size()
                    ),
                ));
            }
            sum += p;
        }
        let average = sum / inputs.len() as f64;
        if average.size()[0] != heads {
            return Err(Error::invalid_file(
                &first,
                format!(
                    "{} probability channels, dataset.json has {heads} output channels",
                    average.size()[0]
                ),
            ));
        }
        let seg = labels
            .segmentation(&average)?
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Int16)?
            .f_contiguous()?;
        let data = Vec::<i16>::try_from(seg.f_flatten(0, -1)?)
            .map_err(|e| Error::invalid_file(&first, format!("segmentation to host: {e}")))?;
        let path = output.join(format!("{case}{}", dataset.file_ending));
        nnunet_datasets::io::write_label(&path, &saved.grid.label_map(data))?;
        if save_probabilities {
            write_probabilities(output, case, &average, &saved.grid)?;
        }
        written.push(path);
    }
    guard.commit();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::Geometry;
    use nnunet_core::tch::Tensor;

    fn dataset() -> DatasetDescriptor {
        serde_json::from_value(serde_json::json!({
            "channel_names": {"0": "MRI"},
            "labels": {"background": 0, "a": 1, "b": 2},
            "numTraining": 1,
            "file_ending": ".nii.gz"
        }))
        .unwrap()
    }

    fn grid() -> LabelGrid {
        LabelGrid {
            shape: [1, 2, 2],
            geometry: Geometry {
                spacing: [2.0, 0.5, 0.5],
                origin: [1.0, 2.0, 3.0],
                ..Default::default()
            },
            is_2d: false,
        }
    }

    /// Probabilities `(3, 1, 2, 2)` from per-voxel rows of three class probabilities.
    fn probs(rows: [[f32; 3]; 4]) -> Tensor {
        let flat: Vec<f32> = (0..3)
            .flat_map(|c| rows.iter().map(move |r| r[c]))
            .collect();
        Tensor::from_slice(&flat).view([3, 1, 2, 2])
    }

    #[test]
    fn averaged_probabilities_give_the_expected_labels() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, out) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("out"),
        );
        // Voxel 0: A says 1, B says 2 more weakly → 1. Voxel 1: both say 2. Voxel 2: A says 0
        // weakly, B says 1 strongly → 1. Voxel 3: background in both.
        let pa = probs([
            [0.1, 0.8, 0.1],
            [0.1, 0.2, 0.7],
            [0.5, 0.4, 0.1],
            [0.9, 0.05, 0.05],
        ]);
        let pb = probs([
            [0.1, 0.4, 0.5],
            [0.0, 0.1, 0.9],
            [0.1, 0.9, 0.0],
            [0.8, 0.1, 0.1],
        ]);
        write_probabilities(&a, "case_1", &pa, &grid()).unwrap();
        write_probabilities(&b, "case_1", &pb, &grid()).unwrap();
        let written = ensemble_folders(&[a, b], &out, &dataset(), true).unwrap();
        assert_eq!(written, vec![out.join("case_1.nii.gz")]);
        let label = nnunet_datasets::io::read_label(&written[0]).unwrap();
        assert_eq!(label.data, vec![1, 2, 1, 0]);
        assert_eq!(label.shape, [1, 2, 2]);
        assert_eq!(label.geometry, grid().geometry);
        let merged = read_probabilities(&out.join("case_1.npz")).unwrap();
        let expected = (&pa + &pb) / 2.0;
        assert!(
            (merged.probabilities - expected)
                .abs()
                .max()
                .double_value(&[])
                < 1e-6
        );
        assert!(out.join("dataset.json").is_file());
    }

    #[test]
    fn a_case_missing_in_one_input_names_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("first"), dir.path().join("second"));
        let p = probs([[1.0, 0.0, 0.0]; 4]);
        write_probabilities(&a, "case_1", &p, &grid()).unwrap();
        write_probabilities(&a, "case_2", &p, &grid()).unwrap();
        write_probabilities(&b, "case_1", &p, &grid()).unwrap();
        let err = ensemble_folders(&[a, b.clone()], &dir.path().join("out"), &dataset(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&b.display().to_string()), "{err}");
        assert!(err.contains("case_2"), "{err}");
    }

    #[test]
    fn a_folder_written_by_nnunet_takes_its_grid_from_the_segmentation() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
        let p = probs([
            [0.1, 0.8, 0.1],
            [0.1, 0.2, 0.7],
            [0.5, 0.4, 0.1],
            [0.9, 0.05, 0.05],
        ]);
        write_probabilities(&ours, "case_1", &p, &grid()).unwrap();
        // nnU-Net's folder: the npz, its segmentation, and a .pkl we do not read.
        write_probabilities(&theirs, "case_1", &p, &grid()).unwrap();
        std::fs::remove_file(theirs.join("case_1.npz.json")).unwrap();
        std::fs::write(theirs.join("case_1.pkl"), b"pickle").unwrap();
        let label = grid().label_map(vec![1, 2, 0, 0]);
        nnunet_datasets::io::write_label(&theirs.join("case_1.nii.gz"), &label).unwrap();
        let out = dir.path().join("out");
        ensemble_folders(&[theirs.clone(), ours], &out, &dataset(), false).unwrap();
        let merged = nnunet_datasets::io::read_label(&out.join("case_1.nii.gz")).unwrap();
        assert_eq!(merged.data, vec![1, 2, 0, 0]);
        assert_eq!(merged.geometry, grid().geometry);
        // Without the segmentation either, the missing json is named.
        std::fs::remove_file(theirs.join("case_1.nii.gz")).unwrap();
        let err = ensemble_folders(&[theirs], &out, &dataset(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("case_1.npz.json"), "{err}");
    }
}
