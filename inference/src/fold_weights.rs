//! Where a fold's network comes from: our checkpoint pair (`checkpoint_final.safetensors` +
//! `.json`) or an nnU-Net v2 checkpoint (`checkpoint_final.pth`, any name), read in Rust
//! ([`nnunet_trainers::pth`]).
//!
//! A checkpoint is named as `nnunet predict --checkpoint`/`-chk` takes it: `final`, `best`,
//! `checkpoint_final`, or a file name (`checkpoint_best.pth`, `my_checkpoint.pth`). A name
//! without extension is ours when its `.json` exists, else nnU-Net's `.pth`. An nnU-Net
//! checkpoint's network is the one its plans name (`network_class_name`), its mirroring axes
//! those it allows (`inference_allowed_mirroring_axes`).

use nnunet_core::tch::{Device, nn::VarStore};
use nnunet_core::{Error, Network, NetworkSpec, Registry, Result};
use nnunet_trainers::{checkpoint, pth};
use std::path::{Path, PathBuf};

/// A fold's checkpoint file(s).
#[derive(Clone, Debug, PartialEq)]
pub enum CheckpointFile {
    /// Ours: the name (`checkpoint_final`) of the `.safetensors` + `.json` pair.
    Ours(String),
    /// nnU-Net's `.pth`.
    Pth(PathBuf),
}

/// The checkpoint name as the user gives it (`final`, `best`, `checkpoint_best.pth`, …) in
/// the form [`resolve`] takes: `final` and `best` become `checkpoint_final`/`checkpoint_best`.
pub fn checkpoint_name(given: &str) -> String {
    match given {
        "final" | "best" | "latest" => format!("checkpoint_{given}"),
        other => other.to_string(),
    }
}

/// Finds checkpoint `name` in `fold_dir`.
pub fn resolve(fold_dir: &Path, name: &str) -> Result<CheckpointFile> {
    if name.ends_with(".pth") {
        let path = fold_dir.join(name);
        return if path.is_file() {
            Ok(CheckpointFile::Pth(path))
        } else {
            Err(Error::invalid_file(&path, "checkpoint not found"))
        };
    }
    let stem = name
        .strip_suffix(".safetensors")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(name);
    if fold_dir.join(format!("{stem}.json")).is_file() {
        return Ok(CheckpointFile::Ours(stem.to_string()));
    }
    let pth = fold_dir.join(format!("{stem}.pth"));
    if pth.is_file() {
        return Ok(CheckpointFile::Pth(pth));
    }
    Err(Error::invalid_file(
        fold_dir,
        format!("no checkpoint {stem}.json (nnunet-rs) or {stem}.pth (nnU-Net v2) in this fold"),
    ))
}

/// One fold's network, loaded.
pub struct FoldNetwork {
    pub vs: VarStore,
    pub network: Box<dyn Network>,
    /// The mirroring axes the checkpoint allows at inference (of the patch), when it says.
    pub mirroring_axes: Option<Vec<usize>>,
}

/// Builds the network of `spec` and loads `file` into it on `device`.
pub fn load(
    registry: &Registry,
    file: &CheckpointFile,
    fold_dir: &Path,
    spec: &NetworkSpec,
    device: Device,
) -> Result<FoldNetwork> {
    let mut spec = spec.clone();
    let (network_name, tensors, mirroring_axes, source) = match file {
        CheckpointFile::Ours(name) => {
            let loaded = checkpoint::load(fold_dir, name)?;
            let source = checkpoint::paths(fold_dir, name).0;
            let axes = loaded.meta.inference_allowed_mirroring_axes;
            // The weights fit the network the options described when it was trained.
            if !loaded.meta.network_options.is_null() {
                spec.options = loaded.meta.network_options;
            }
            (loaded.meta.network, loaded.network, axes, source)
        }
        CheckpointFile::Pth(path) => {
            let loaded = pth::nnunet::read(path)?;
            let name = nnunet_networks::network_name_for(&spec.architecture)?;
            (name, loaded.network, loaded.mirroring_axes, path.clone())
        }
    };
    let mut vs = VarStore::new(device);
    let network = registry.build_network(&network_name, &vs.root(), &spec)?;
    checkpoint::restore_network(&mut vs, &tensors, &source)?;
    Ok(FoldNetwork {
        vs,
        network,
        mirroring_axes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_resolve_to_ours_before_pth() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(resolve(d, "checkpoint_final").is_err());
        std::fs::write(d.join("checkpoint_final.pth"), b"").unwrap();
        assert_eq!(
            resolve(d, &checkpoint_name("final")).unwrap(),
            CheckpointFile::Pth(d.join("checkpoint_final.pth"))
        );
        std::fs::write(d.join("checkpoint_final.json"), b"").unwrap();
        assert_eq!(
            resolve(d, "checkpoint_final").unwrap(),
            CheckpointFile::Ours("checkpoint_final".into())
        );
        assert_eq!(
            resolve(d, "checkpoint_final.pth").unwrap(),
            CheckpointFile::Pth(d.join("checkpoint_final.pth"))
        );
        let err = resolve(d, "checkpoint_best.pth").unwrap_err().to_string();
        assert!(err.contains("checkpoint_best.pth"), "{err}");
    }
}
