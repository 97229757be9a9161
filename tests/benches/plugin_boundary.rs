//! Does the plugin boundary cost anything? MedNeXt-S k3 trains on the CPU twice in one process:
//! loaded from its out-of-tree plugin file (every call crosses the C boundary: the forward's
//! input and outputs as libtorch handles, parameters adopted by the host's `VarStore`) and linked
//! into this binary from the same source (direct Rust calls). Rounds alternate between the two
//! so that machine noise hits both alike; the median ms per training iteration is compared.
//!
//! `cargo bench --release -p nnunet-tests --bench plugin_boundary -- [--rounds N] [--write-docs]`
//! after `scripts/build-plugins.sh`.

// MedNeXt's modules, compiled into this binary (its lib.rs, which only registers them, is not).
#[allow(dead_code, unused_imports)] // their #[cfg(test)] parts are not run here
#[path = "../../plugins/mednext/src/layers.rs"]
mod layers;
#[allow(dead_code, unused_imports)] // their #[cfg(test)] parts are not run here
#[path = "../../plugins/mednext/src/model.rs"]
mod model;
#[allow(dead_code, unused_imports)] // their #[cfg(test)] parts are not run here
#[path = "../../plugins/mednext/src/scope.rs"]
mod scope;
#[allow(dead_code, unused_imports)] // their #[cfg(test)] parts are not run here
#[path = "../../plugins/mednext/src/upkern.rs"]
mod upkern;
#[allow(dead_code, unused_imports)] // their #[cfg(test)] parts are not run here
#[path = "../../plugins/mednext/src/variant.rs"]
mod variant;

use nnunet_bench_support::{docs_file, write_section};
use nnunet_core::tch::nn::{self, OptimizerConfig};
use nnunet_core::tch::{Device, Kind, Tensor};
use nnunet_core::{Network, NetworkSpec, Registry};
use std::time::Instant;

const PATCH: [i64; 3] = [16, 32, 32];
const ITERATIONS_PER_ROUND: usize = 2;

fn spec() -> NetworkSpec {
    let architecture = serde_json::from_value(serde_json::json!({
        "network_class_name": "MedNeXt",
        "arch_kwargs": {
            "n_stages": 5, "features_per_stage": [32, 64, 128, 256, 512], "conv_op": "",
            "kernel_sizes": [], "strides": [], "n_conv_per_stage_decoder": [],
            "conv_bias": true, "norm_op": "", "norm_op_kwargs": {}, "dropout_op": null,
            "dropout_op_kwargs": null, "nonlin": "", "nonlin_kwargs": null
        }
    }))
    .expect("architecture");
    NetworkSpec {
        spatial_dims: 3,
        in_channels: 1,
        num_outputs: 3,
        architecture,
        deep_supervision: true,
        options: serde_json::Value::Null,
        patch_size: Vec::new(),
    }
}

/// A network, its store and optimiser, and one fixed batch.
struct Arm {
    network: Box<dyn Network>,
    optimizer: nn::Optimizer,
    _store: nn::VarStore,
    x: Tensor,
}

impl Arm {
    fn new(registry: &Registry) -> Arm {
        nnunet_core::tch::manual_seed(0);
        let store = nn::VarStore::new(Device::Cpu);
        let network = registry
            .build_network("mednext-s-k3", &(store.root() / "network"), &spec())
            .expect("build MedNeXt-S");
        let optimizer = nn::Sgd {
            momentum: 0.99,
            nesterov: true,
            ..Default::default()
        }
        .build(&store, 1e-3)
        .expect("optimiser");
        let mut shape = vec![2, 1];
        shape.extend(PATCH);
        let x = Tensor::randn(&shape[..], (Kind::Float, Device::Cpu));
        Arm {
            network,
            optimizer,
            _store: store,
            x,
        }
    }

    /// Milliseconds per training iteration (forward with deep supervision, loss, backward, step).
    fn round(&mut self) -> f64 {
        let start = Instant::now();
        for _ in 0..ITERATIONS_PER_ROUND {
            let outputs = self.network.forward_t(&self.x, true).expect("forward");
            let loss = outputs
                .iter()
                .map(|o| o.square().mean(Kind::Float))
                .fold(Tensor::from(0.0f32), |a, b| a + b);
            self.optimizer.backward_step(&loss);
        }
        start.elapsed().as_secs_f64() * 1e3 / ITERATIONS_PER_ROUND as f64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(10usize);
    let plugin_file = nnunet_tests::plugin_path("nnunet_plugin_mednext");
    let mut through_plugin = Registry::empty();
    through_plugin
        .load_plugin(&plugin_file)
        .expect("load the MedNeXt plugin");
    let mut linked = Registry::empty();
    linked
        .add_network("mednext-s-k3", "linked in", |path, spec| {
            let variant = &variant::VARIANTS[0];
            let options = variant::MedNeXtOptions::parse("mednext-s-k3", &spec.options)?;
            Ok(Box::new(model::MedNeXt::new(
                path, spec, variant, 3, &options,
            )?))
        })
        .expect("register");
    let mut arms = [Arm::new(&through_plugin), Arm::new(&linked)];
    for arm in arms.iter_mut() {
        arm.round(); // warm-up: allocator, libtorch's kernels
    }
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        // Alternate which arm goes first, so neither always follows the other.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            times[i].push(arms[i].round());
        }
    }
    let [plugin_ms, linked_ms] = times.map(median);
    let diff = (plugin_ms / linked_ms - 1.0) * 100.0;
    println!(
        "MedNeXt-S k3, batch 2, patch {PATCH:?}: plugin {plugin_ms:.1} ms, linked {linked_ms:.1} ms per iteration ({diff:+.1}%)"
    );
    if args.iter().any(|a| a == "--write-docs") {
        let threads = nnunet_core::tch::get_num_threads();
        let section = format!(
            "## The plugin boundary (tests/benches/plugin_boundary.rs)\n\n\
             MedNeXt-S k3 training on the CPU ({threads} libtorch threads), batch 2, patch \
             {PATCH:?}, deep supervision, SGD: from its out-of-tree plugin file vs linked into the \
             benchmark from the same source, in one process, {rounds} alternating rounds of \
             {ITERATIONS_PER_ROUND} iterations, median.\n\n\
             | MedNeXt-S k3 | ms per training iteration |\n|---|---|\n\
             | through the plugin boundary | {plugin_ms:.1} |\n| linked in | {linked_ms:.1} |\n\n\
             Difference: **{diff:+.1}%**. Tensors cross as libtorch handles (no copies).\n"
        );
        if let Err(e) = write_section(
            &docs_file(env!("CARGO_MANIFEST_DIR")),
            "tests/plugin_boundary",
            &section,
        ) {
            eprintln!("plugin_boundary bench: {e}");
            std::process::exit(1);
        }
    }
}
