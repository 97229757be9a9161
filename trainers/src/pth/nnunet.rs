//! nnU-Net v2's checkpoint (`checkpoint_final.pth`, …): what we take from it and what we write
//! into it.
//!
//! Read: the tensors of `network_weights` (the state dict; the aliases PyTorch lists for
//! shared modules — `decoder.encoder.*`, `*.all_modules.*` — are the same storages and are
//! dropped, and `module.`/`_orig_mod.` prefixes are stripped), `trainer_name`,
//! `init_args['configuration']`, `current_epoch` and `inference_allowed_mirroring_axes`.
//! Everything else (optimiser state, logs, `_best_ema`, …) is parsed and ignored.
//!
//! Written (export): the dict `nnUNetTrainer.save_checkpoint` writes, with our network's
//! tensors under their nnU-Net names plus those aliases, so that `nnUNetv2_predict`'s strict
//! `load_state_dict` accepts it; no optimiser state.

use super::archive::{PthArchive, Storage, write};
use super::value::Value;
use nnunet_core::tch::Tensor;
use nnunet_core::{Error, Result};
use std::path::Path;

/// What prediction needs from an nnU-Net checkpoint.
pub struct NnunetCheckpoint {
    /// Network tensors under our (= nnU-Net's unique) names, on the CPU.
    pub network: Vec<(String, Tensor)>,
    pub trainer_name: Option<String>,
    pub configuration: Option<String>,
    pub epoch: Option<i64>,
    /// `inference_allowed_mirroring_axes`: `None` when absent (nnU-Net then mirrors all axes).
    pub mirroring_axes: Option<Vec<usize>>,
}

/// Reads an nnU-Net v2 checkpoint.
pub fn read(path: &Path) -> Result<NnunetCheckpoint> {
    let mut archive = PthArchive::open(path)?;
    let root = std::mem::replace(&mut archive.root, Value::None);
    let bad = |msg: &str| Error::invalid_file(path, msg.to_string());
    let weights = root
        .get("network_weights")
        .and_then(Value::as_dict)
        .ok_or_else(|| bad("no network_weights dict: not an nnU-Net v2 checkpoint"))?;
    let mut seen = std::collections::HashSet::new();
    let mut network = Vec::new();
    for (key, value) in weights {
        let (Value::Str(name), Value::Tensor(t)) = (key, value) else {
            return Err(bad(
                "network_weights holds something other than named tensors",
            ));
        };
        if !seen.insert((t.storage.key.clone(), t.offset, t.shape.clone())) {
            continue; // an alias of a tensor already taken
        }
        let name = name
            .strip_prefix("module.")
            .unwrap_or(name)
            .strip_prefix("_orig_mod.")
            .unwrap_or(name);
        network.push((name.to_string(), archive.tensor(t)?));
    }
    let mirroring_axes = match root.get("inference_allowed_mirroring_axes") {
        None | Some(Value::None) => None,
        Some(v) => Some(
            v.as_seq()
                .and_then(|axes| {
                    axes.iter()
                        .map(|a| a.as_int().and_then(|i| usize::try_from(i).ok()))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad("inference_allowed_mirroring_axes is not a tuple of axes"))?,
        ),
    };
    Ok(NnunetCheckpoint {
        network,
        trainer_name: root
            .get("trainer_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        configuration: root
            .get("init_args")
            .and_then(|a| a.get("configuration"))
            .and_then(Value::as_str)
            .map(str::to_string),
        epoch: root.get("current_epoch").and_then(Value::as_int),
        mirroring_axes,
    })
}

/// What an exported checkpoint records besides the network.
pub struct ExportInfo<'a> {
    pub trainer_name: &'a str,
    pub configuration: &'a str,
    pub fold: &'a str,
    pub epoch: usize,
    pub plans: &'a serde_json::Value,
    pub dataset: &'a serde_json::Value,
    pub mirroring_axes: &'a [usize],
}

/// The other names PyTorch's `state_dict` lists for tensor `name` of a dynamic_network_architectures
/// U-Net: the decoder's reference to the encoder, and each conv block's `all_modules`
/// sequential (conv = 0, norm = 1).
pub fn state_dict_aliases(name: &str) -> Vec<String> {
    let mut names = vec![name.to_string()];
    if name.starts_with("encoder.") {
        names.push(format!("decoder.{name}"));
    }
    let mut out = Vec::new();
    for n in names {
        let sequential = n
            .replace(".conv.", ".all_modules.0.")
            .replace(".norm.", ".all_modules.1.");
        if sequential != n {
            out.push(sequential);
        }
        out.push(n);
    }
    out.retain(|n| n != name);
    out
}

/// Writes `network` (our names) as an nnU-Net v2 checkpoint at `path`.
pub fn write_checkpoint(
    path: &Path,
    network: &[(String, Tensor)],
    info: &ExportInfo<'_>,
) -> Result<()> {
    let mut storages = Vec::new();
    let mut weights = Vec::new();
    for (i, (name, tensor)) in network.iter().enumerate() {
        let (storage, tref) = Storage::new(i.to_string(), tensor)?;
        storages.push(storage);
        weights.push((Value::Str(name.clone()), Value::Tensor(tref.clone())));
        for alias in state_dict_aliases(name) {
            weights.push((Value::Str(alias), Value::Tensor(tref.clone())));
        }
    }
    let s = |v: &str| Value::Str(v.to_string());
    let fold = info
        .fold
        .parse::<i64>()
        .map_or_else(|_| s(info.fold), Value::Int);
    let init_args = Value::Dict(vec![
        (s("plans"), Value::from_json(info.plans)),
        (s("configuration"), s(info.configuration)),
        (s("fold"), fold),
        (s("dataset_json"), Value::from_json(info.dataset)),
        (
            s("device"),
            Value::Object {
                module: "torch".into(),
                name: "device".into(),
                args: vec![s("cpu")],
            },
        ),
    ]);
    let axes = info
        .mirroring_axes
        .iter()
        .map(|&a| Value::Int(a as i64))
        .collect();
    let root = Value::Dict(vec![
        (s("network_weights"), Value::OrderedDict(weights)),
        (s("optimizer_state"), Value::None),
        (s("grad_scaler_state"), Value::None),
        (s("logging"), Value::Dict(Vec::new())),
        (s("_best_ema"), Value::None),
        (s("current_epoch"), Value::Int(info.epoch as i64)),
        (s("init_args"), init_args),
        (s("trainer_name"), s(info.trainer_name)),
        (s("inference_allowed_mirroring_axes"), Value::Tuple(axes)),
    ]);
    write(path, &root, &storages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnunet_core::tch::{Device, Kind};

    #[test]
    fn aliases_follow_pytorch_state_dict_names() {
        assert_eq!(
            state_dict_aliases("encoder.stages.0.0.convs.1.norm.bias"),
            vec![
                "encoder.stages.0.0.convs.1.all_modules.1.bias",
                "decoder.encoder.stages.0.0.convs.1.all_modules.1.bias",
                "decoder.encoder.stages.0.0.convs.1.norm.bias",
            ]
        );
        assert!(state_dict_aliases("decoder.seg_layers.0.weight").is_empty());
    }

    #[test]
    fn an_exported_checkpoint_reads_back_identically_without_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint_final.pth");
        let w = Tensor::randn([4, 1, 3, 3], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([4], (Kind::Float, Device::Cpu));
        let network = vec![
            ("encoder.stages.0.0.convs.0.conv.weight".to_string(), w),
            ("decoder.seg_layers.0.bias".to_string(), b),
        ];
        let json = serde_json::json!({"configuration": "2d", "x": [1.5, null]});
        let info = ExportInfo {
            trainer_name: "nnUNetTrainer",
            configuration: "2d",
            fold: "0",
            epoch: 7,
            plans: &json,
            dataset: &json,
            mirroring_axes: &[0, 1],
        };
        write_checkpoint(&path, &network, &info).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.network.len(), 2);
        for ((n1, t1), (n2, t2)) in network.iter().zip(&back.network) {
            assert_eq!(n1, n2);
            assert!(t1.equal(t2));
        }
        assert_eq!(back.mirroring_axes, Some(vec![0, 1]));
        assert_eq!(back.configuration.as_deref(), Some("2d"));
        assert_eq!(back.trainer_name.as_deref(), Some("nnUNetTrainer"));
        assert_eq!(back.epoch, Some(7));
    }
}
