//! Primus from its run-time plugin is nnU-Net 2.8's Primus (dynamic_network_architectures
//! 0.4.4, as `nnUNet_Primus_{S,B,M,L}_Trainer` builds it): parameter counts equal the
//! reference's for every size at the Hippocampus patch (40, 56, 40), and Primus-S with every
//! tensor set to the same fixed weights on both sides computes the reference's output on one
//! 16×32×16 input with 2 channels to 1e-4 (relative to the output's largest magnitude, at
//! least 1). Plans Primus cannot serve are refused with the reason. The plugin's `primus`
//! trainer preset trains as nnU-Net 2.8's Primus trainers: their optimiser settings, gradient
//! clipping, deep supervision and learning rate at every one of their 1000 epochs, read from
//! nnU-Net's own trainer class by `tests/fixtures/primus/make_trainer_fixture.py`.
//!
//! The fixtures come from `tests/fixtures/primus/make_fixtures.py` (its docstring says how to run
//! it); the weights are not stored but computed from a hash of each tensor's name
//! (`nnunet_tests::reference::fixed_weights`).

#[path = "support/transformers.rs"]
mod support;

use nnunet_core::tch::{Device, Kind, Tensor, nn, no_grad};
use nnunet_tests::reference::assert_close;
use serde_json::{Value, json};
use support::{
    HIPPOCAMPUS_STRIDES, assert_counts, build, load_reference, parameter_count,
    print_forward_times, read_json, registry, spec,
};

const FIXTURES: &str = "primus";
const PLUGIN: &str = "nnunet_plugin_primus";

#[test]
fn primus_s_matches_the_reference_implementation() {
    let meta = read_json(FIXTURES, "primus_s.json");
    let registry = registry(PLUGIN);
    let spec = spec(
        &HIPPOCAMPUS_STRIDES,
        meta["in_channels"].as_i64().unwrap(),
        meta["num_outputs"].as_i64().unwrap(),
        json!({"patch_size": meta["patch_size"]}),
    );
    let vs = nn::VarStore::new(Device::Cpu);
    let net = build(&registry, "primus-s", &vs, &spec).unwrap();
    assert_eq!(
        parameter_count(&vs),
        meta["parameters"].as_i64().unwrap(),
        "parameters"
    );
    // Every state_dict tensor (the mask_token buffer included) under the reference's name.
    let io = load_reference(&vs, &meta, FIXTURES, "primus_s.io.safetensors");
    let outputs = no_grad(|| net.forward_t(&io["input"], false)).unwrap();
    assert_eq!(outputs.len(), 1, "Primus has no deep supervision");
    assert_close("Primus-S output", &outputs[0], &io["output_0"], 1e-4);
    // Drop-path is off at inference only: two training passes differ, two inference passes not.
    let train = |_| no_grad(|| net.forward_t(&io["input"], true).unwrap().remove(0));
    assert!(
        !train(0).equal(&train(1)),
        "drop-path is active while training"
    );
}

#[test]
fn trainer_preset_trains_as_nnunets_primus_trainers() {
    let reference = read_json(FIXTURES, "primus_trainer.json");
    let registry = registry(PLUGIN);
    let trainer = (registry.trainer("primus").unwrap().make)(&Value::Null).unwrap();
    let mut options = nnunet_core::TrainingOptions::default();
    trainer.configure(&mut options).unwrap();
    let f = |key: &str| reference[key].as_f64().unwrap();
    assert_eq!(reference["optimizer"], "AdamW");
    assert_eq!(
        options.optimizer,
        nnunet_core::trainer::OptimizerKind::Adamw
    );
    assert_eq!(options.initial_lr, f("initial_lr"));
    assert_eq!(options.weight_decay, f("weight_decay"));
    assert_eq!(
        options.adam_betas,
        [
            reference["betas"][0].as_f64().unwrap(),
            reference["betas"][1].as_f64().unwrap()
        ]
    );
    assert_eq!(f("eps"), 1e-8, "our AdamW's eps");
    assert_eq!(options.grad_clip_norm, f("grad_clip_norm"));
    assert_eq!(
        Some(options.deep_supervision),
        reference["deep_supervision"].as_bool()
    );
    assert_eq!(options.epochs as u64, reference["epochs"].as_u64().unwrap());
    let lrs = reference["lr"].as_array().unwrap();
    assert_eq!(lrs.len(), options.epochs);
    for (epoch, lr) in lrs.iter().enumerate() {
        let (ours, theirs) = (
            trainer.learning_rate(&options, epoch).unwrap(),
            lr.as_f64().unwrap(),
        );
        assert!(
            (ours - theirs).abs() <= 1e-12 * theirs,
            "epoch {epoch}: {ours} vs {theirs}"
        );
    }
    // A shorter warm-up for short budgets; a bad option is refused by name.
    let short = (registry.trainer("primus").unwrap().make)(&json!({"warmup_epochs": 2})).unwrap();
    assert_eq!(
        short.learning_rate(&options, 1).unwrap(),
        options.initial_lr
    );
    let err = (registry.trainer("primus").unwrap().make)(&json!({"warmup": 2}))
        .err()
        .unwrap();
    assert!(err.to_string().contains("warmup"), "{err}");
}

#[test]
fn parameter_counts_equal_the_reference_for_every_size() {
    let counts = read_json(FIXTURES, "primus_counts.json");
    let registry = registry(PLUGIN);
    let spec = spec(
        &HIPPOCAMPUS_STRIDES,
        counts["in_channels"].as_i64().unwrap(),
        counts["num_outputs"].as_i64().unwrap(),
        json!({"patch_size": counts["patch"]}),
    );
    assert_counts(&registry, "primus", &spec, &counts);
}

#[test]
fn plans_primus_cannot_serve_are_refused_with_the_reason() {
    let registry = registry(PLUGIN);
    let vs = nn::VarStore::new(Device::Cpu);
    let refusal = |spec: &nnunet_core::NetworkSpec| match build(&registry, "primus-s", &vs, spec) {
        Ok(_) => panic!("built"),
        Err(e) => e.to_string(),
    };
    let s = |options| spec(&HIPPOCAMPUS_STRIDES, 1, 3, options);
    let err = refusal(&s(json!({"patch_size": [40, 50, 40]})));
    assert!(err.contains("multiple of the patch embedding 8"), "{err}");
    let err = refusal(&s(Value::Null));
    assert!(err.contains("\"patch_size\""), "{err}");
    // The plans' patch from the host serves instead of the option.
    let mut from_plans = s(Value::Null);
    from_plans.patch_size = vec![16, 16, 16];
    let fresh = nn::VarStore::new(Device::Cpu);
    assert!(build(&registry, "primus-s", &fresh, &from_plans).is_ok());
    let mut flat = s(json!({"patch_size": [64, 64]}));
    flat.spatial_dims = 2;
    assert!(refusal(&flat).contains("3D only"));

    let net = build(
        &registry,
        "primus-s",
        &vs,
        &s(json!({"patch_size": [16, 16, 16]})),
    )
    .unwrap();
    let other = Tensor::zeros([1, 1, 16, 24, 16], (Kind::Float, Device::Cpu));
    let err = no_grad(|| net.forward_t(&other, false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("16, 16, 16"), "{err}");
}

/// CPU forward time (best of 3) of one Hippocampus patch per size (not run in CI:
/// `cargo test --release -p nnunet-tests --test primus_reference -- --ignored --nocapture`).
#[test]
#[ignore]
fn forward_times_per_size() {
    let registry = registry(PLUGIN);
    let spec = spec(
        &HIPPOCAMPUS_STRIDES,
        1,
        3,
        json!({"patch_size": [40, 56, 40]}),
    );
    print_forward_times(&registry, "primus", &["s", "b", "m", "l"], &spec);
}
