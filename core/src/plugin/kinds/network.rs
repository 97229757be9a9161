//! Networks across the boundary. The plugin builds the network in a `VarStore` of its own whose
//! path mirrors the host's, then hands the host a handle to every variable (a shallow clone:
//! the same `TensorImpl`, no copy). The host adds them to its own `VarStore` under the same
//! names, so its optimiser, checkpoints, precision casts and `--pretrained` act on the very
//! tensors the plugin's `forward_t` reads.

use crate::plugin::client::Foreign;
use crate::plugin::server::{Incoming, Outgoing, Served, export, unknown_method};
use crate::registry::NetworkCtor;
use crate::{Error, Network, NetworkSpec, Registry, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};

pub(crate) struct Factory(pub NetworkCtor);

#[derive(Serialize, Deserialize)]
struct BuildArgs {
    spec: NetworkSpec,
    /// The host path's components (`["network"]`).
    path: Vec<String>,
    device: i64,
}

#[derive(Serialize, Deserialize)]
struct Param {
    /// Full name in the `VarStore` (`network.stem.weight`).
    name: String,
    trainable: bool,
}

#[derive(Serialize, Deserialize)]
struct Built {
    /// One per tensor in the reply, in order.
    params: Vec<Param>,
    heads: Vec<String>,
}

fn device_code(device: Device) -> i64 {
    match device {
        Device::Cpu => -1,
        Device::Cuda(index) => index as i64,
        Device::Mps => -2,
        Device::Vulkan => -3,
    }
}

fn device_of(code: i64) -> Device {
    match code {
        -2 => Device::Mps,
        -3 => Device::Vulkan,
        i if i >= 0 => Device::Cuda(i as usize),
        _ => Device::Cpu,
    }
}

impl Served for Factory {
    const WHAT: &'static str = "network constructor";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        // SAFETY: constructors are called through `&self` only.
        let this = unsafe { &*this };
        match method {
            "build" => {
                let args: BuildArgs = input.parse()?;
                let store = nn::VarStore::new(device_of(args.device));
                let path = args.path.iter().fold(store.root(), |p, c| p / c);
                let network = (this.0)(&path, &args.spec)?;
                let heads = network.head_parameter_prefixes();
                let mut params = Vec::new();
                for (name, tensor) in store.variables() {
                    params.push(Param {
                        name,
                        trainable: tensor.requires_grad(),
                    });
                    out.tensor(tensor);
                }
                out.json(&Built { params, heads })?;
                out.object(export(Exported(network)));
                Ok(())
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct Exported(Box<dyn Network>);

impl Served for Exported {
    const WHAT: &'static str = "network";
    unsafe fn serve(this: *mut Self, method: &str, input: &Incoming, out: &Outgoing) -> Result<()> {
        match method {
            "forward_t" => {
                // SAFETY: `forward_t` takes `&self`.
                let this = unsafe { &*this };
                let train: bool = input.parse()?;
                for output in this.0.forward_t(input.tensor(0)?, train)? {
                    out.tensor(output);
                }
                Ok(())
            }
            "set_deep_supervision" => {
                // SAFETY: the host calls this through `&mut self`: access is exclusive.
                let this = unsafe { &mut *this };
                this.0.set_deep_supervision(input.parse()?)
            }
            other => Err(unknown_method(Self::WHAT, other)),
        }
    }
}

struct ForeignNetwork {
    object: Foreign,
    /// Asked once at construction: the heads do not change afterwards.
    heads: Vec<String>,
}

impl Network for ForeignNetwork {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Vec<Tensor>> {
        Ok(self.object.call("forward_t", &train, &[x])?.into_tensors())
    }
    fn set_deep_supervision(&mut self, enabled: bool) -> Result<()> {
        self.object.call("set_deep_supervision", &enabled, &[])?;
        Ok(())
    }
    fn head_parameter_prefixes(&self) -> Vec<String> {
        self.heads.clone()
    }
}

/// Adds the plugin's variables to the host's store under `path`.
fn adopt(path: &nn::Path, params: Vec<Param>, tensors: Vec<Tensor>) -> Result<()> {
    if params.len() != tensors.len() {
        return Err(Error::Invalid(format!(
            "plugin boundary: {} parameter names for {} tensors",
            params.len(),
            tensors.len()
        )));
    }
    let prefix: Vec<&str> = path.components().collect();
    for (param, tensor) in params.into_iter().zip(tensors) {
        let parts: Vec<&str> = param.name.split('.').collect();
        let relative = parts.strip_prefix(&prefix[..]).filter(|r| !r.is_empty());
        let Some((leaf, dirs)) = relative.and_then(|r| r.split_last()) else {
            return Err(Error::Invalid(format!(
                "plugin network created {:?} outside its path {:?}",
                param.name,
                prefix.join(".")
            )));
        };
        let sub = dirs
            .split_first()
            .map(|(first, rest)| rest.iter().fold(path.sub(first), |p, d| p.sub(d)));
        let _ = sub
            .as_ref()
            .unwrap_or(path)
            .add(leaf, tensor, param.trainable);
    }
    Ok(())
}

pub(crate) fn import(
    registry: &mut Registry,
    name: &str,
    desc: &str,
    factory: Foreign,
) -> Result<()> {
    registry.add_network(name, desc, move |path, spec| {
        let args = BuildArgs {
            spec: spec.clone(),
            path: path.components().map(String::from).collect(),
            device: device_code(path.device()),
        };
        let mut reply = factory.call("build", &args, &[])?;
        let built: Built = reply.parse()?;
        let object = reply.take_object()?;
        adopt(path, built.params, reply.take_tensors())?;
        Ok(Box::new(ForeignNetwork {
            object,
            heads: built.heads,
        }))
    })
}
