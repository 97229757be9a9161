//! FLOPs per patch: the multiply-accumulates (MACs) of every convolution in one forward pass
//! of one patch (batch 1), counted analytically from the plans' architecture, reported as
//! FLOPs = 2 × MACs (the convention of `torch.utils.flop_counter` and fvcore ×2).
//!
//! Counted: every convolution, transposed convolution and segmentation head (deep-supervision
//! heads included when the network trains with them); not counted: normalisation,
//! nonlinearities, pooling, additions (a few % of a U-Net's work). Only for the networks whose
//! layers follow from the plans: nnU-Net's `PlainConvUNet` and `ResidualEncoderUNet`. A plugin
//! network is opaque across the plugin boundary (no layer introspection, no profiler in tch),
//! so its figure is unknown (`None`, "-" in the report) rather than guessed.
//!
//! Checked against `torch.utils.flop_counter.FlopCounterMode` on dynamic_network_architectures'
//! networks in `compare/tests/flops_reference.rs`.

use nnunet_core::{NetworkSpec, Result};
use nnunet_networks::{UNetConfig, UNetKind};

/// FLOPs (2 × conv MACs) of one forward pass of `network` on one patch, when countable.
pub fn flops_per_patch(network: &str, spec: &NetworkSpec, patch: &[i64]) -> Result<Option<u64>> {
    let kind = match network {
        "PlainConvUNet" => UNetKind::Plain,
        "ResidualEncoderUNet" => UNetKind::ResidualEncoder,
        _ => return Ok(None),
    };
    let config = UNetConfig::from_spec(kind, spec)?;
    Ok(Some(2 * unet_macs(&config, patch)))
}

fn prod(v: &[i64]) -> u64 {
    v.iter().map(|&x| x as u64).product()
}

/// MACs of a convolution from `cin` to `cout` channels with `kernel`, at `out` positions.
fn conv(cin: i64, cout: i64, kernel: &[i64], out: &[i64]) -> u64 {
    cin as u64 * cout as u64 * prod(kernel) * prod(out)
}

/// The conv MACs of nnU-Net's U-Nets (dynamic_network_architectures): encoder, decoder
/// (transposed conv, conv blocks on the concatenated skip) and segmentation heads.
pub fn unet_macs(c: &UNetConfig, patch: &[i64]) -> u64 {
    let sizes = c.stage_sizes(patch);
    let f = &c.features_per_stage;
    let n = c.n_stages();
    let mut macs = 0;
    let mut cin = c.in_channels;
    if c.kind == UNetKind::ResidualEncoder {
        macs += conv(cin, c.stem_channels, &c.kernel_sizes[0], patch);
        cin = c.stem_channels;
    }
    for s in 0..n {
        let (k, out) = (&c.kernel_sizes[s], &sizes[s]);
        for i in 0..c.encoder_depth[s] {
            let from = if i == 0 { cin } else { f[s] };
            macs += match c.kind {
                UNetKind::Plain => conv(from, f[s], k, out),
                // BasicBlockD: two convs, and a 1×1 projection when the channels change.
                UNetKind::ResidualEncoder => {
                    let projection = if from != f[s] {
                        conv(from, f[s], &[1], out)
                    } else {
                        0
                    };
                    conv(from, f[s], k, out) + conv(f[s], f[s], k, out) + projection
                }
            };
        }
        cin = f[s];
    }
    for s in 0..n - 1 {
        let (below, skip) = (n - s - 1, n - s - 2);
        let out = &sizes[skip];
        // Transposed conv, kernel = stride: each input position feeds kernel outputs.
        macs += conv(f[below], f[skip], &c.strides[below], &sizes[below]);
        for i in 0..c.decoder_convs[s] {
            let from = if i == 0 { 2 * f[skip] } else { f[skip] };
            macs += conv(from, f[skip], &c.kernel_sizes[skip], out);
        }
        if c.deep_supervision || s == n - 2 {
            macs += conv(f[skip], c.num_classes, &[1], out);
        }
    }
    macs
}
