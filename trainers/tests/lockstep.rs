//! Lockstep training parity with nnU-Net: the same initial weights and the same 20 batches
//! (ours, after augmentation) go through our training step and through nnU-Net's own
//! `nnUNetTrainer.train_step`; the losses agree to 1e-4 relative at every step and the weights
//! after 20 steps are close. Each step is one epoch of one iteration, so the poly schedule moves
//! the learning rate every step. This checks the optimiser (SGD, Nesterov, momentum 0.99, weight
//! decay 3e-5), gradient clipping at 12, the deep-supervision weights and the schedule together.
//!
//! Fixtures in `tests/fixtures/lockstep/`: `write_lockstep_inputs` (ignored; run it to remake
//! them) writes `arch.json`, `initial.safetensors` (state-dict names) and `batches.safetensors`
//! (`x_i`, the full-resolution target `t_i_0` and its deep-supervision versions `t_i_k`);
//! `make_lockstep_reference.py` (peer venv, nnunetv2 2.8.1) feeds them to nnU-Net and writes
//! `reference.safetensors` (`loss` per step and the final weights).

use nnunet_core::tch::{Device, Kind, Tensor, nn::VarStore};
use nnunet_core::{ArchitectureSpec, LossSpec, NetworkSpec, Registry, TrainingOptions};
use nnunet_losses::{build_loss_from_expr, downsample_target};
use nnunet_trainers::optim::{Optimizer, OptimizerConfig};
use nnunet_trainers::step::{LazyDeepSupervision, Step};
use nnunet_trainers::synthetic::ellipsoid_cases;
use nnunet_trainers::{AugmentConfig, DataLoader, InMemoryCases, LoaderConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

const STEPS: usize = 20;
const PATCH: [usize; 2] = [32, 32];
const BATCH: usize = 2;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lockstep")
        .join(name)
}

/// A small 2D PlainConvUNet: 3 stages of 4, 8, 16 features, instance norm, leaky ReLU.
fn architecture() -> serde_json::Value {
    serde_json::json!({
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": 3,
            "features_per_stage": [4, 8, 16],
            "conv_op": "torch.nn.modules.conv.Conv2d",
            "kernel_sizes": [[3, 3], [3, 3], [3, 3]],
            "strides": [[1, 1], [2, 2], [2, 2]],
            "n_conv_per_stage": [2, 2, 2],
            "n_conv_per_stage_decoder": [2, 2],
            "conv_bias": true,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": true},
            "dropout_op": null,
            "dropout_op_kwargs": null,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": true}
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]
    })
}

/// The network with 1 input channel and 3 classes, deep supervision on.
fn build(registry: &Registry, vs: &VarStore) -> Box<dyn nnunet_core::Network> {
    let architecture: ArchitectureSpec = serde_json::from_value(architecture()).unwrap();
    let spec = NetworkSpec {
        spatial_dims: 2,
        in_channels: 1,
        num_outputs: 3,
        architecture,
        deep_supervision: true,
        options: serde_json::Value::Null,
        patch_size: Vec::new(),
    };
    registry
        .build_network("PlainConvUNet", &vs.root(), &spec)
        .unwrap()
}

fn read(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .into_iter()
        .collect()
}

#[test]
#[ignore = "writes the fixtures; run by hand, then make_lockstep_reference.py"]
fn write_lockstep_inputs() {
    std::fs::create_dir_all(fixture("")).unwrap();
    let registry = Registry::with_builtins().unwrap();
    nnunet_core::tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let network = build(&registry, &vs);
    let initial: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    Tensor::write_safetensors(&initial, fixture("initial.safetensors")).unwrap();

    let cases = ellipsoid_cases(8, 1, [1, 40, 40], [1, 56, 56], 7);
    let loader = DataLoader::new(
        Arc::new(InMemoryCases::new(cases)),
        LoaderConfig::training(AugmentConfig::nnunet(&PATCH).unwrap(), BATCH),
        7,
    )
    .unwrap();
    let outputs = nnunet_core::tch::no_grad(|| {
        network.forward_t(
            &Tensor::zeros([1, 1, 32, 32], (Kind::Float, Device::Cpu)),
            false,
        )
    })
    .unwrap();
    let sizes: Vec<Vec<i64>> = outputs.iter().map(|o| o.size()[2..].to_vec()).collect();
    let mut batches = Vec::new();
    for i in 0..STEPS {
        let (x, targets) = loader
            .batch(i as u64)
            .unwrap()
            .to_tensors(Device::Cpu)
            .unwrap();
        batches.push((format!("x_{i}"), x));
        let target = targets[0].f_clamp_min(0).unwrap();
        for (k, t) in downsample_target(&target, &sizes)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            batches.push((format!("t_{i}_{k}"), t));
        }
    }
    Tensor::write_safetensors(&batches, fixture("batches.safetensors")).unwrap();
    let arch = serde_json::to_string_pretty(&architecture()).unwrap();
    std::fs::write(fixture("arch.json"), arch + "\n").unwrap();
}

#[test]
fn twenty_training_steps_match_nnunet() {
    let registry = Registry::with_builtins().unwrap();
    let mut vs = VarStore::new(Device::Cpu);
    let network = build(&registry, &vs);
    vs.load(fixture("initial.safetensors")).unwrap();
    let batches = read("batches.safetensors");
    let reference = read("reference.safetensors");

    let mut options = TrainingOptions {
        epochs: STEPS,
        iterations_per_epoch: 1,
        ..TrainingOptions::default()
    };
    let trainer =
        (registry.trainer("nnUNetTrainer").unwrap().make)(&serde_json::Value::Null).unwrap();
    trainer.configure(&mut options).unwrap();
    let loss = build_loss_from_expr(
        &registry,
        "dice+ce",
        &LossSpec {
            batch_dice: false,
            ignore_label: None,
            regions: false,
            options: serde_json::Value::Null,
        },
    )
    .unwrap();
    let mut losses = LazyDeepSupervision::new(loss);
    let mut optimizer = Optimizer::new(
        &vs,
        OptimizerConfig::from_options(&options),
        options.initial_lr,
    );
    let step = Step {
        network: &*network,
        network_name: "PlainConvUNet",
        vs: &vs,
        grad_clip_norm: options.grad_clip_norm,
        use_amp: false,
        data_parallel: None,
    };
    let expected = &reference["loss"];
    for i in 0..STEPS {
        optimizer.set_lr(trainer.learning_rate(&options, i).unwrap());
        let target = &batches[&format!("t_{i}_0")];
        let ours = step
            .run(
                &mut losses,
                &mut optimizer,
                None,
                &batches[&format!("x_{i}")],
                target,
            )
            .unwrap()
            .double_value(&[]);
        let theirs = expected.double_value(&[i as i64]);
        let relative = (ours - theirs).abs() / theirs.abs().max(1e-8);
        eprintln!("step {i}: ours {ours:.7} nnU-Net {theirs:.7} (relative {relative:.1e})");
        assert!(
            relative < 1e-4,
            "step {i}: loss {ours} vs nnU-Net's {theirs}"
        );
    }
    let mut worst = (String::new(), 0.0);
    for (name, ours) in vs.variables() {
        let theirs = &reference[&format!("weight.{name}")];
        let scale = theirs.abs().max().double_value(&[]).max(1e-3);
        let diff = (&ours - theirs).abs().max().double_value(&[]) / scale;
        if diff > worst.1 {
            worst = (name, diff);
        }
    }
    eprintln!(
        "weights after {STEPS} steps: largest relative difference {:.1e} ({})",
        worst.1, worst.0
    );
    assert!(
        worst.1 < 1e-3,
        "{}: relative difference {:.2e}",
        worst.0,
        worst.1
    );
}
