//! What `nnunet summary` prints: the stages a plans architecture block describes (features,
//! kernels, strides, depth, output size at the patch), the parameter count and output shapes of
//! the network actually built (any registered network, plugin or not), and nnU-Net's activation
//! count estimate (`compute_conv_feature_map_size`, which its planner uses for the VRAM budget),
//! and the FLOPs of that forward pass, counted on libtorch's dispatcher ([`nnunet_flops`]) so
//! that a plugin network is counted as well as a built-in one.

use crate::config::{UNetConfig, UNetKind};
use nnunet_core::tch::{Device, Kind, Tensor, nn};
use nnunet_core::{Error, NetworkSpec, Registry, Result};
pub use nnunet_flops::Flops;
use std::fmt;

/// One encoder or decoder stage.
#[derive(Clone, Debug, PartialEq)]
pub struct StageInfo {
    /// `encoder N` or `decoder N` (decoder stages counted from the lowest resolution).
    pub name: String,
    pub features: i64,
    pub kernel: Vec<i64>,
    /// Encoder: the stage's stride; decoder: the transposed conv's upsampling factor.
    pub stride: Vec<i64>,
    /// Convs (or residual blocks, for the ResEnc encoder) in the stage.
    pub depth: i64,
    /// Spatial size of the stage's output at the summarised patch size.
    pub output_size: Vec<i64>,
}

/// A network's summary at one patch size.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSummary {
    pub network: String,
    pub in_channels: i64,
    pub num_outputs: i64,
    pub patch_size: Vec<i64>,
    pub stages: Vec<StageInfo>,
    pub parameters: i64,
    /// nnU-Net's activation count estimate; `None` for networks other than the two U-Nets.
    pub activations: Option<i64>,
    /// Shapes of the forward outputs for a batch of 1, highest resolution first.
    pub output_shapes: Vec<Vec<i64>>,
    /// FLOPs of that forward pass (one patch, batch 1).
    pub flops: Flops,
}

/// nnU-Net's `compute_conv_feature_map_size(input_size)`: the number of activations its conv,
/// transposed-conv and segmentation outputs hold for one sample, as in dynamic_network_architectures.
pub fn conv_feature_map_size(config: &UNetConfig, input_size: &[i64]) -> i64 {
    let prod = |size: &[i64]| size.iter().product::<i64>();
    let sizes = config.stage_sizes(input_size);
    let f = &config.features_per_stage;
    let mut total = 0;
    let mut size = input_size.to_vec();
    let mut cin = config.in_channels;
    if config.kind == UNetKind::ResidualEncoder {
        total += config.stem_channels * prod(&size);
        cin = config.stem_channels;
    }
    for (s, after) in sizes.iter().enumerate() {
        let depth = config.encoder_depth[s];
        total += match config.kind {
            UNetKind::Plain => depth * f[s] * prod(after),
            UNetKind::ResidualEncoder => {
                let skip = if cin != f[s] || &size != after { 1 } else { 0 };
                (2 * depth + skip) * f[s] * prod(after)
            }
        };
        cin = f[s];
        size = after.clone();
    }
    let n = config.n_stages();
    for s in 0..n - 1 {
        let skip_size = prod(&sizes[n - s - 2]);
        let features = f[n - s - 2];
        total += config.decoder_convs[s] * features * skip_size; // conv blocks
        total += features * skip_size; // transposed conv
        if config.deep_supervision || s == n - 2 {
            total += config.num_classes * skip_size;
        }
    }
    total
}

/// The stage table of a U-Net config at `patch_size`.
pub fn stages(config: &UNetConfig, patch_size: &[i64]) -> Vec<StageInfo> {
    let sizes = config.stage_sizes(patch_size);
    let n = config.n_stages();
    let mut stages: Vec<StageInfo> = (0..n)
        .map(|s| StageInfo {
            name: format!("encoder {s}"),
            features: config.features_per_stage[s],
            kernel: config.kernel_sizes[s].clone(),
            stride: config.strides[s].clone(),
            depth: config.encoder_depth[s],
            output_size: sizes[s].clone(),
        })
        .collect();
    stages.extend((0..n - 1).map(|s| StageInfo {
        name: format!("decoder {s}"),
        features: config.features_per_stage[n - s - 2],
        kernel: config.kernel_sizes[n - s - 2].clone(),
        stride: config.strides[n - s - 1].clone(),
        depth: config.decoder_convs[s],
        output_size: sizes[n - s - 2].clone(),
    }));
    stages
}

/// Builds `network` from the registry for `spec` in a fresh store on `device`, counts its
/// parameters, and runs one forward pass on zeros of shape `(1, in_channels, *patch_size)`,
/// counting its FLOPs.
pub fn summarize(
    registry: &Registry,
    network: &str,
    spec: &NetworkSpec,
    patch_size: &[i64],
    device: Device,
) -> Result<NetworkSummary> {
    let ours = match network {
        "PlainConvUNet" => Some(UNetKind::Plain),
        "ResidualEncoderUNet" => Some(UNetKind::ResidualEncoder),
        _ => None,
    }
    .map(|kind| UNetConfig::from_spec(kind, spec))
    .transpose()?;
    let config = match &ours {
        Some(config) => config.clone(),
        // Other networks: describe the plans' stages as the plain U-Net would read them.
        None => UNetConfig::from_spec(UNetKind::Plain, spec)
            .or_else(|_| UNetConfig::from_spec(UNetKind::ResidualEncoder, spec))?,
    };
    let run = forward_once(registry, network, spec, patch_size, device)?;
    Ok(NetworkSummary {
        network: network.to_string(),
        in_channels: spec.in_channels,
        num_outputs: spec.num_outputs,
        patch_size: patch_size.to_vec(),
        stages: stages(&config, patch_size),
        parameters: run.parameters,
        activations: ours.map(|c| conv_feature_map_size(&c, patch_size)),
        output_shapes: run.output_shapes,
        flops: run.flops,
    })
}

/// FLOPs of one forward pass of `network` (built for `spec`, as it trains: with deep
/// supervision if `spec` asks for it) on one patch of zeros, batch 1, on `device` (the count
/// does not depend on it).
pub fn flops_per_patch(
    registry: &Registry,
    network: &str,
    spec: &NetworkSpec,
    patch_size: &[i64],
    device: Device,
) -> Result<Flops> {
    Ok(forward_once(registry, network, spec, patch_size, device)?.flops)
}

/// What one counted forward pass of a freshly built network gives.
struct ForwardRun {
    parameters: i64,
    output_shapes: Vec<Vec<i64>>,
    flops: Flops,
}

fn forward_once(
    registry: &Registry,
    network: &str,
    spec: &NetworkSpec,
    patch_size: &[i64],
    device: Device,
) -> Result<ForwardRun> {
    if patch_size.len() != spec.spatial_dims {
        return Err(Error::Invalid(format!(
            "patch size {patch_size:?} has {} axes but the network is {}D",
            patch_size.len(),
            spec.spatial_dims
        )));
    }
    let vs = nn::VarStore::new(device);
    let net = registry.build_network(network, &vs.root(), spec)?;
    let parameters = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let mut shape = vec![1, spec.in_channels];
    shape.extend_from_slice(patch_size);
    let x = Tensor::zeros(shape.as_slice(), (Kind::Float, device));
    let (outputs, flops) =
        nnunet_flops::count(|| nnunet_core::tch::no_grad(|| net.forward_t(&x, false)))
            .map_err(|e| Error::Invalid(format!("{network}: {e}")))?;
    Ok(ForwardRun {
        parameters,
        output_shapes: outputs?.iter().map(Tensor::size).collect(),
        flops,
    })
}

/// `12.35 G` for 12,345,678,901.
pub fn giga(flops: u64) -> String {
    format!("{:.2} G", flops as f64 / 1e9)
}

fn join(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join("x")
}

fn thousands(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl fmt::Display for NetworkSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} input channel(s), {} output(s), patch {}",
            self.network,
            self.in_channels,
            self.num_outputs,
            join(&self.patch_size)
        )?;
        writeln!(
            f,
            "{:<10} {:>8} {:>8} {:>8} {:>6} {:>14}",
            "stage", "features", "kernel", "stride", "depth", "output size"
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "{:<10} {:>8} {:>8} {:>8} {:>6} {:>14}",
                s.name,
                s.features,
                join(&s.kernel),
                join(&s.stride),
                s.depth,
                join(&s.output_size)
            )?;
        }
        writeln!(f, "parameters: {}", thousands(self.parameters))?;
        match self.activations {
            Some(a) => writeln!(
                f,
                "activations (nnU-Net's estimate, one sample): {}",
                thousands(a)
            )?,
            None => writeln!(f, "activations: n/a for this network")?,
        }
        writeln!(
            f,
            "FLOPs per patch (forward, batch 1): {}FLOPs (convolutions {}, matrix products {}, \
             attention {})",
            giga(self.flops.total()),
            giga(self.flops.convolution),
            giga(self.flops.matmul),
            giga(self.flops.attention)
        )?;
        writeln!(f, "forward outputs (batch 1):")?;
        for shape in &self.output_shapes {
            writeln!(f, "  {shape:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1928489), "1,928,489");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(-1000), "-1,000");
    }
}
