//! Postprocessing of predicted label maps: the built-in postprocessors (registered by name
//! through `inventory`, like every component), pipelines of them ([`Step`]), applying a
//! pipeline to a folder, and choosing one on the cross-validation predictions
//! ([`determine`], nnU-Net's `determine_postprocessing`).
//!
//! | name | what it does |
//! |---|---|
//! | `largest-component` | keeps the largest connected component of all given labels together (default: every foreground label) |
//! | `largest-component-per-class` | keeps the largest component of each given label or region, one after another |
//!
//! Connectivity is nnU-Net's: full (26 neighbours in 3D, 8 in 2D), see [`components`].

pub mod components;
pub mod determine;
pub mod largest_component;

use crate::probabilities;
use largest_component::LargestComponent;
use nnunet_core::tch::Tensor;
use nnunet_core::{BuiltIn, Error, LabelMap, Plugin, Postprocessor, Registry, Result, atomic};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// `largest-component`.
pub const LARGEST_COMPONENT: &str = "largest-component";
/// `largest-component-per-class`.
pub const LARGEST_COMPONENT_PER_CLASS: &str = "largest-component-per-class";

/// One postprocessor of a pipeline: its registered name and options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub options: Value,
}

/// `postprocessing.json`: our JSON equivalent of nnU-Net's `postprocessing.pkl` (the
/// pipeline, which `apply` reads), plus the keys of nnU-Net's own `postprocessing.json`
/// (Dice before and after, and nnU-Net's function names and kwargs). Undefined Dice values are
/// written as `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostprocessingFile {
    /// The pipeline, applied in order; empty when no postprocessing helped.
    pub postprocessors: Vec<Step>,
    /// The file ending of the label maps it applies to.
    pub file_ending: String,
    #[serde(default)]
    pub input_folder: Value,
    #[serde(default)]
    pub postprocessed: Value,
    #[serde(default)]
    pub postprocessing_fns: Vec<String>,
    #[serde(default)]
    pub postprocessing_kwargs: Vec<Value>,
}

impl PostprocessingFile {
    pub fn read(path: &Path) -> Result<Self> {
        atomic::read_json(path)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        atomic::write_json(path, self)
    }
}

/// A built-in postprocessor by name, without a registry.
pub fn build_builtin(name: &str, options: &Value) -> Result<Box<dyn Postprocessor>> {
    match name {
        LARGEST_COMPONENT | LARGEST_COMPONENT_PER_CLASS => Ok(Box::new(
            LargestComponent::from_options(name, name == LARGEST_COMPONENT_PER_CLASS, options)?,
        )),
        other => Err(Error::Invalid(format!(
            "no built-in postprocessor named {other:?}"
        ))),
    }
}

/// Builds a pipeline's postprocessors from the registry (built-in or plugin).
pub fn build_steps(registry: &Registry, steps: &[Step]) -> Result<Vec<Box<dyn Postprocessor>>> {
    steps
        .iter()
        .map(|s| (registry.postprocessor(&s.name)?.make)(&s.options))
        .collect()
}

/// Applies a pipeline to one label map.
pub fn apply_all(pipeline: &[Box<dyn Postprocessor>], seg: &mut LabelMap) -> Result<()> {
    pipeline.iter().try_for_each(|p| p.apply(seg, None))
}

/// The probabilities `nnunet predict --save-probabilities` wrote beside the label map `name`
/// of `folder` (`CASE.npz`, `(C, z, y, x)`), for postprocessors that work on them (plugin
/// postprocessors such as `levelset`); `None` when there is no such file. A file of another
/// shape than the label map is refused, naming it.
fn probabilities_beside(
    folder: &Path,
    name: &str,
    file_ending: &str,
    seg: &LabelMap,
) -> Result<Option<Tensor>> {
    let case = name.strip_suffix(file_ending).unwrap_or(name);
    let npz = folder.join(format!("{case}.npz"));
    if !npz.is_file() {
        return Ok(None);
    }
    let probabilities = probabilities::read_probability_array(&npz)?;
    let grid = probabilities::LabelGrid::of(seg);
    probabilities::check_shape(&npz, &probabilities, &grid, &folder.join(name))?;
    Ok(Some(probabilities))
}

/// Reads every `*<file_ending>` of `input`, applies the pipeline and writes it (atomically) to
/// `output` under the same name; returns the names. nnU-Net's `apply_postprocessing_to_folder`.
/// Where `predict --save-probabilities` left `CASE.npz` beside a label map, its probabilities
/// go to every postprocessor, as `predict --postprocess` passes them.
pub fn apply_to_folder(
    pipeline: &[Box<dyn Postprocessor>],
    input: &Path,
    output: &Path,
    file_ending: &str,
) -> Result<Vec<String>> {
    use rayon::prelude::*;
    let names = crate::evaluation::files_with_ending(input, file_ending)?;
    if names.is_empty() {
        return Err(Error::invalid_file(
            input,
            format!("no label maps ending in {file_ending}"),
        ));
    }
    // On failure, what this run added to `output` is removed again.
    let guard = atomic::OutputGuard::create(output)?;
    names.par_iter().try_for_each(|name| {
        let mut seg = nnunet_datasets::io::read_label(&input.join(name))?;
        let probabilities = probabilities_beside(input, name, file_ending, &seg)?;
        pipeline
            .iter()
            .try_for_each(|p| p.apply(&mut seg, probabilities.as_ref()))?;
        nnunet_datasets::io::write_label(&output.join(name), &seg)
    })?;
    guard.commit();
    Ok(names)
}

const BUILT_INS: [(&str, &str); 2] = [
    (
        LARGEST_COMPONENT,
        "keeps the largest connected component of the given labels together (option labels; \
         default every foreground label), nnU-Net's remove_all_but_largest_component",
    ),
    (
        LARGEST_COMPONENT_PER_CLASS,
        "keeps the largest connected component of each given label or region in turn \
         (option labels: numbers, or lists for regions)",
    ),
];

struct Postprocessors;

impl Plugin for Postprocessors {
    fn name(&self) -> &'static str {
        env!("CARGO_PKG_NAME")
    }

    fn build(&self, registry: &mut Registry) -> Result<()> {
        for (name, description) in BUILT_INS {
            registry.add_postprocessor(name, description, move |options| {
                build_builtin(name, options)
            })?;
        }
        Ok(())
    }
}

inventory::submit!(BuiltIn(&Postprocessors));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_registered_and_apply() {
        let registry = Registry::with_builtins().unwrap();
        let steps = vec![Step {
            name: LARGEST_COMPONENT.into(),
            options: serde_json::json!({"labels": [1]}),
        }];
        let pipeline = build_steps(&registry, &steps).unwrap();
        let mut seg = LabelMap {
            shape: [1, 1, 5],
            data: vec![1, 1, 0, 1, 2],
            geometry: Default::default(),
            is_2d: true,
        };
        apply_all(&pipeline, &mut seg).unwrap();
        assert_eq!(seg.data, vec![1, 1, 0, 0, 2]);
        assert!(registry.postprocessor(LARGEST_COMPONENT_PER_CLASS).is_ok());
        let err = build_steps(
            &registry,
            &[Step {
                name: "nope".into(),
                options: Value::Null,
            }],
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
