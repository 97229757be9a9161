//! Which input cases one `nnunet predict` run does, as `nnUNetv2_predict` chooses them: its
//! share of the sorted cases (`--num-parts N --part-id K`: cases K, K+N, K+2N, …), minus the
//! cases already finished when continuing (`--continue-prediction`).
//!
//! A case is finished when its segmentation exists (and, when probabilities are saved, its
//! `.npz` and the `.npz.json` sidecar written after it too). Outputs are written atomically
//! (`nnunet_core::atomic`) and the segmentation before the probabilities, so an existing file
//! is always complete and a case interrupted between them is predicted again.

use crate::predict::InputCase;
use nnunet_core::{Error, Result};
use std::path::Path;

/// How to split and resume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Number of parts the cases are split into (0 or 1: one part).
    pub num_parts: usize,
    /// Which part this run predicts (0-based).
    pub part_id: usize,
    /// Skip cases whose outputs exist.
    pub continue_prediction: bool,
}

impl Selection {
    /// Refuses a part id out of range (before any work is done).
    pub fn check(&self) -> Result<()> {
        let parts = self.num_parts.max(1);
        if self.part_id >= parts {
            return Err(Error::Invalid(format!(
                "--part-id {} is out of range: with --num-parts {parts} it must be 0 to {}",
                self.part_id,
                parts - 1
            )));
        }
        Ok(())
    }
}

/// The cases of `cases` (sorted by id) that this run predicts into `output`.
pub fn select(
    cases: Vec<InputCase>,
    selection: &Selection,
    output: &Path,
    file_ending: &str,
    save_probabilities: bool,
) -> Result<Vec<InputCase>> {
    selection.check()?;
    let parts = selection.num_parts.max(1);
    let finished = |case: &InputCase| {
        output.join(format!("{}{file_ending}", case.id)).is_file()
            && (!save_probabilities || {
                let (npz, sidecar) = crate::probabilities::probability_paths(output, &case.id);
                npz.is_file() && sidecar.is_file()
            })
    };
    Ok(cases
        .into_iter()
        .skip(selection.part_id)
        .step_by(parts)
        .filter(|case| !(selection.continue_prediction && finished(case)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(n: usize) -> Vec<InputCase> {
        (0..n)
            .map(|i| InputCase {
                id: format!("case_{i}"),
                images: Vec::new(),
            })
            .collect()
    }

    fn ids(cases: &[InputCase]) -> Vec<&str> {
        cases.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn parts_interleave_and_finished_cases_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let part = |id, cont, probs| {
            let s = Selection {
                num_parts: 2,
                part_id: id,
                continue_prediction: cont,
            };
            select(cases(5), &s, out, ".nii.gz", probs).unwrap()
        };
        assert_eq!(ids(&part(0, false, false)), ["case_0", "case_2", "case_4"]);
        assert_eq!(ids(&part(1, false, false)), ["case_1", "case_3"]);
        std::fs::write(out.join("case_2.nii.gz"), b"").unwrap();
        assert_eq!(ids(&part(0, true, false)), ["case_0", "case_4"]);
        // Without its probabilities, a case saved with --save-probabilities is not finished.
        assert_eq!(ids(&part(0, true, true)), ["case_0", "case_2", "case_4"]);
        std::fs::write(out.join("case_2.npz"), b"").unwrap();
        assert_eq!(ids(&part(0, true, true)), ["case_0", "case_2", "case_4"]);
        std::fs::write(out.join("case_2.npz.json"), b"").unwrap();
        assert_eq!(ids(&part(0, true, true)), ["case_0", "case_4"]);
        let bad = Selection {
            num_parts: 2,
            part_id: 2,
            continue_prediction: false,
        };
        let err = select(cases(3), &bad, out, ".png", false).unwrap_err();
        assert!(err.to_string().contains("--part-id 2"), "{err}");
    }
}
