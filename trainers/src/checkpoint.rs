//! Checkpoints: `checkpoint_{latest,best,final}.safetensors` (network weights under `network.`,
//! optimiser state under `optimizer.`) beside a `.json` with everything else — epoch, options,
//! seed, logs, and the plans and dataset fingerprints' hashes — both written atomically.
//!
//! The pair is tied by a `generation` number stored in both; a JSON whose weights file has
//! another generation (a crash between the two renames) is reported instead of loaded.

use crate::progress::TrainingLog;
use nnunet_core::tch::{Tensor, nn::VarStore};
use nnunet_core::trainer::TrainingOptions;
use nnunet_core::{Error, Result, atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format version of the JSON sidecar.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// What a checkpoint records besides tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format: u32,
    pub generation: u64,
    /// Epochs completed.
    pub epoch: usize,
    pub options: TrainingOptions,
    pub network: String,
    /// The network's options (`--network-options`, `network_options` in TOML): inference builds
    /// the network with them, since the weights fit only the network they describe. Null in
    /// checkpoints written before this was recorded (then the network's defaults).
    #[serde(default)]
    pub network_options: serde_json::Value,
    pub loss: String,
    /// The axes (numbered over the patch's axes) test-time mirroring may flip: the axes the
    /// model was trained mirrored along (nnU-Net's `inference_allowed_mirroring_axes`). `None`
    /// in checkpoints written before this was recorded: then nnU-Net's default, all axes.
    #[serde(default)]
    pub inference_allowed_mirroring_axes: Option<Vec<usize>>,
    pub trainer: String,
    pub configuration: String,
    pub fold: String,
    pub plans_sha256: String,
    pub dataset_fingerprint_sha256: String,
    pub best_ema_pseudo_dice: Option<f64>,
    pub log: TrainingLog,
}

/// The two files of checkpoint `name` (e.g. `checkpoint_latest`) in `dir`.
pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.safetensors")),
        dir.join(format!("{name}.json")),
    )
}

/// Writes weights + optimiser state, then the metadata; each atomically.
pub fn save(
    dir: &Path,
    name: &str,
    vs: &VarStore,
    optimizer_state: &[(String, Tensor)],
    meta: &CheckpointMeta,
) -> Result<()> {
    let (weights, json) = paths(dir, name);
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| {
            (
                format!("network.{k}"),
                v.to_device(nnunet_core::tch::Device::Cpu),
            )
        })
        .collect();
    named.extend(
        optimizer_state
            .iter()
            .map(|(k, v)| (k.clone(), v.to_device(nnunet_core::tch::Device::Cpu))),
    );
    named.push(("generation".into(), Tensor::from(meta.generation as i64)));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    atomic::write_via_path(&weights, ".safetensors", |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| format!("cannot write checkpoint: {e}"))
    })?;
    atomic::write_json(&json, meta)
}

/// A loaded checkpoint: metadata, network tensors (prefix stripped), optimiser state (prefixed).
pub struct Loaded {
    pub meta: CheckpointMeta,
    pub network: Vec<(String, Tensor)>,
    pub optimizer: Vec<(String, Tensor)>,
}

/// Reads checkpoint `name` from `dir`, checking that its two files belong together.
pub fn load(dir: &Path, name: &str) -> Result<Loaded> {
    let (weights, json) = paths(dir, name);
    let meta: CheckpointMeta = atomic::read_json(&json)?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(Error::invalid_file(
            &json,
            format!(
                "checkpoint format {} is not {CHECKPOINT_FORMAT}",
                meta.format
            ),
        ));
    }
    let tensors = Tensor::read_safetensors(&weights)
        .map_err(|e| Error::invalid_file(&weights, format!("cannot read checkpoint: {e}")))?;
    let mut loaded = Loaded {
        meta,
        network: Vec::new(),
        optimizer: Vec::new(),
    };
    let mut generation = None;
    for (name, tensor) in tensors {
        if let Some(param) = name.strip_prefix("network.") {
            loaded.network.push((param.to_string(), tensor));
        } else if name == "generation" {
            generation = Some(tensor.int64_value(&[]) as u64);
        } else {
            loaded.optimizer.push((name, tensor));
        }
    }
    if generation != Some(loaded.meta.generation) {
        return Err(Error::invalid_file(
            &weights,
            format!(
                "weights are generation {generation:?} but {} says {}: the two files come from \
                 different saves (interrupted write?)",
                json.display(),
                loaded.meta.generation
            ),
        ));
    }
    Ok(loaded)
}

/// Copies loaded network tensors into `vs`; every variable must be present with its shape.
pub fn restore_network(
    vs: &mut VarStore,
    tensors: &[(String, Tensor)],
    source: &Path,
) -> Result<()> {
    let mut vars = vs.variables();
    let mut problems = Vec::new();
    for (name, tensor) in tensors {
        match vars.remove(name) {
            Some(mut var) if var.size() == tensor.size() => {
                nnunet_core::tch::no_grad(|| var.copy_(tensor));
            }
            Some(var) => problems.push(format!(
                "{name}: checkpoint {:?}, network {:?}",
                tensor.size(),
                var.size()
            )),
            None => problems.push(format!("{name}: not in this network")),
        }
    }
    problems.extend(vars.keys().map(|k| format!("{k}: missing from checkpoint")));
    if problems.is_empty() {
        Ok(())
    } else {
        problems.sort();
        Err(Error::invalid_file(
            source,
            format!("does not fit this network:\n  {}", problems.join("\n  ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::tch::Device;

    fn meta(generation: u64) -> CheckpointMeta {
        CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            generation,
            epoch: 3,
            options: TrainingOptions::default(),
            network: "PlainConvUNet".into(),
            network_options: serde_json::Value::Null,
            loss: "dice+ce".into(),
            inference_allowed_mirroring_axes: Some(vec![0, 1, 2]),
            trainer: "default".into(),
            configuration: "3d_fullres".into(),
            fold: "0".into(),
            plans_sha256: "p".into(),
            dataset_fingerprint_sha256: "f".into(),
            best_ema_pseudo_dice: Some(0.5),
            log: TrainingLog::default(),
        }
    }

    #[test]
    fn save_load_round_trip_and_mismatch_detection() {
        let dir = tempfile::tempdir().unwrap();
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().randn("w", &[3, 2], 0.0, 1.0);
        let state = vec![("optimizer.momentum.w".to_string(), w.ones_like())];
        save(dir.path(), "checkpoint_latest", &vs, &state, &meta(7)).unwrap();

        let loaded = load(dir.path(), "checkpoint_latest").unwrap();
        assert_eq!(loaded.meta, meta(7));
        assert_eq!(loaded.optimizer.len(), 1);
        let mut vs2 = VarStore::new(Device::Cpu);
        let w2 = vs2.root().zeros("w", &[3, 2]);
        restore_network(&mut vs2, &loaded.network, dir.path()).unwrap();
        assert!(w2.equal(&w));

        // A shape mismatch names the tensor and both shapes.
        let mut vs3 = VarStore::new(Device::Cpu);
        let _ = vs3.root().zeros("w", &[4, 2]);
        let err = restore_network(&mut vs3, &loaded.network, dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("w: checkpoint [3, 2], network [4, 2]"),
            "{err}"
        );

        // A JSON from another save is refused.
        atomic::write_json(&paths(dir.path(), "checkpoint_latest").1, &meta(8)).unwrap();
        let err = load(dir.path(), "checkpoint_latest").err().unwrap();
        assert!(err.to_string().contains("different saves"), "{err}");
    }
}
