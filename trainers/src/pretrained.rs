//! `--pretrained`: loading weights trained elsewhere into a new network, all but the
//! segmentation heads, with every shape mismatch named.

use nnunet_core::tch::{self, Tensor, nn::VarStore};
use nnunet_core::{Error, Result};
use std::path::Path;

/// Loads pretrained weights into `vs`, skipping tensors under `skip_prefixes` (the segmentation
/// heads). Accepts our checkpoints (`network.` prefix) and plain safetensors. Every shape
/// mismatch is reported with both shapes.
pub fn load_pretrained(vs: &mut VarStore, path: &Path, skip_prefixes: &[String]) -> Result<usize> {
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| Error::invalid_file(path, format!("cannot read weights: {e}")))?;
    let vars = vs.variables();
    let mut problems = Vec::new();
    let mut loaded = 0;
    for (name, tensor) in tensors {
        let name = name.strip_prefix("network.").unwrap_or(&name).to_string();
        if skip_prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let Some(var) = vars.get(&name) else {
            continue;
        };
        if var.size() != tensor.size() {
            problems.push(format!(
                "{name}: pretrained {:?}, this network {:?}",
                tensor.size(),
                var.size()
            ));
            continue;
        }
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.copy_(&tensor));
        loaded += 1;
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(Error::invalid_file(
            path,
            format!(
                "pretrained weights do not fit this network ({} shape mismatch(es)):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ),
        ));
    }
    Ok(loaded)
}
