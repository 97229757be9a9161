//! The FLOPs `nnunet compare` and `nnunet summary` report for plugin networks equal what
//! `torch.utils.flop_counter.FlopCounterMode` counts on their reference implementations:
//! MedNeXt-S k3 (3D and 2D, deep supervision), MONAI 1.6's SegResNet (3D and 2D), UNETR and
//! SwinUNETR (3D and 2D) at their default options, nnU-Net 2.8's Primus-S, and STU-Net S and B,
//! each at a patch its reference accepts. The count runs on libtorch's dispatcher
//! (`nnunet_flops`), outside the plugin: nothing in the plugin ABI is involved.
//!
//! Fixtures: `tests/fixtures/flops/flops.json`, written by `tests/fixtures/flops/make_fixtures.py`
//! (its docstring says how to run it; the one addition to FlopCounterMode's table, the CPU's
//! fused attention kernel, is explained there and in flops/src/lib.rs).

#[path = "support/transformers.rs"]
mod support;

use nnunet_core::NetworkSpec;
use nnunet_core::tch::Device;
use serde_json::{Value, json};
use support::{HIPPOCAMPUS_STRIDES, read_json, registry};

fn ints(v: &Value) -> Vec<i64> {
    serde_json::from_value(v.clone()).unwrap()
}

/// The case's spec as the trainer gives it: a plans architecture block of the case's
/// dimensions with Hippocampus' 3d_fullres strides (the strides STU-Net reads; the other plugins
/// read only the fields set here), deep supervision on (the trainer's default; networks without
/// it return one output).
fn spec(case: &Value) -> NetworkSpec {
    let patch = ints(&case["patch_size"]);
    let strides: Vec<Vec<i64>> = HIPPOCAMPUS_STRIDES
        .iter()
        .map(|s| s[..patch.len()].to_vec())
        .collect();
    let mut spec = support::spec(
        &HIPPOCAMPUS_STRIDES,
        case["in_channels"].as_i64().unwrap(),
        case["num_outputs"].as_i64().unwrap(),
        json!({}),
    );
    let arch = &mut spec.architecture.arch_kwargs;
    arch.kernel_sizes = vec![vec![3; patch.len()]; strides.len()];
    arch.strides = strides;
    let d = format!("{}d", patch.len());
    arch.conv_op = arch.conv_op.replace("3d", &d);
    arch.norm_op = arch.norm_op.replace("3d", &d);
    spec.spatial_dims = patch.len();
    spec.patch_size = patch;
    spec
}

#[test]
fn plugin_network_flops_equal_torch_flop_counter_on_the_references() {
    let fixtures = read_json("flops", "flops.json");
    let cases = fixtures["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for case in cases {
        let plugin = format!("nnunet_plugin_{}", case["plugin"].as_str().unwrap());
        let registry = registry(&plugin);
        let network = case["network"].as_str().unwrap();
        let spec = spec(case);
        let started = std::time::Instant::now();
        let summary =
            nnunet_networks::summarize(&registry, network, &spec, &spec.patch_size, Device::Cpu)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        let flops = summary.flops;
        eprintln!(
            "{network} {:?}: {:.3} GFLOPs (conv {:.3}, matmul {:.3}, attention {:.3}), {:.1} s",
            spec.patch_size,
            flops.total() as f64 / 1e9,
            flops.convolution as f64 / 1e9,
            flops.matmul as f64 / 1e9,
            flops.attention as f64 / 1e9,
            started.elapsed().as_secs_f64()
        );
        assert_eq!(
            summary.output_shapes.len() as u64,
            case["outputs"].as_u64().unwrap(),
            "{case}: outputs"
        );
        assert_eq!(Some(flops.total()), case["flops"].as_u64(), "{case}");
        // Each kind of operator the network runs was seen: a count that matched only because,
        // say, attention went uncounted on both sides would fail here.
        let seen: &[(&str, u64)] = match network {
            "primus-s" => &[("matmul", flops.matmul), ("attention", flops.attention)],
            "UNETR" | "SwinUNETR" => &[("matmul", flops.matmul)],
            _ => &[],
        };
        assert!(flops.convolution > 0, "{case}: {flops:?}");
        for (kind, n) in seen {
            assert!(*n > 0, "{case}: no {kind} counted: {flops:?}");
        }
    }
}
