//! Primus-S from its run-time plugin trains on the 3D phantom on CPU: a few AdamW steps on two
//! whole phantom cases (32 × 56 × 64, a multiple of the 8³ patch embedding) lower the
//! cross-entropy and leave the background (organ voxels predicted). Drop-path is on while
//! training (rate 0.2, the nnU-Net 2.8 trainers'). A test binary of its own, so that no other
//! test draws from the random generator meanwhile.

#[path = "support/transformers.rs"]
mod support;

use nnunet_core::tch::nn::{self, OptimizerConfig};
use nnunet_core::tch::{Device, Kind, Reduction, Tensor, no_grad};
use nnunet_datasets::phantom::{Dim, phantom_case, phantom_grid};
use serde_json::json;
use support::{HIPPOCAMPUS_STRIDES, build, registry, spec};

/// Training crop `(z, y, x)`: multiples of the 8³ patch embedding (2 × 4 × 4 tokens), small
/// enough for CPU.
const CROP: [i64; 3] = [16, 32, 32];

/// `t` (`(z, y, x)`) cut to [`CROP`] around `centre`, kept inside the volume.
fn crop(t: &Tensor, centre: &[i64]) -> Tensor {
    (0..3).fold(t.shallow_clone(), |t, axis| {
        let side = t.size()[axis];
        let start = (centre[axis] - CROP[axis] / 2).clamp(0, side - CROP[axis]);
        t.narrow(axis as i64, start, CROP[axis])
    })
}

/// Two phantom cases cut to [`CROP`] around their organ: `(2, 1, *CROP)` z-scored images and
/// `(2, *CROP)` labels.
fn phantom_batch() -> (Tensor, Tensor) {
    let (shape, _) = phantom_grid(Dim::Three);
    let dims: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for index in 0..2 {
        let (image, label) = phantom_case(Dim::Three, 0, index);
        let x = Tensor::from_slice(&image.channels[0]).view(&dims[..]);
        let y = Tensor::from_slice(&label.data)
            .view(&dims[..])
            .to_kind(Kind::Int64);
        let centre: Vec<i64> = Vec::try_from(y.gt(0).nonzero().to_kind(Kind::Float).mean_dim(
            0,
            false,
            Kind::Float,
        ))
        .map(|c: Vec<f32>| c.iter().map(|&v| v.round() as i64).collect())
        .unwrap();
        let x = crop(&x, &centre);
        images.push(((&x - x.mean(Kind::Float)) / x.std(true)).unsqueeze(0));
        labels.push(crop(&y, &centre));
    }
    (Tensor::stack(&images, 0), Tensor::stack(&labels, 0))
}

#[test]
fn primus_s_trains_on_the_3d_phantom() {
    nnunet_core::tch::manual_seed(0);
    let (x, y) = phantom_batch();
    let patch: Vec<i64> = x.size()[2..].to_vec();
    let registry = registry("nnunet_plugin_primus");
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = spec(&HIPPOCAMPUS_STRIDES, 1, 3, json!({"patch_size": patch}));
    let net = build(&registry, "primus-s", &vs, &spec).unwrap();
    let mut opt = nn::AdamW {
        wd: 5e-2,
        ..Default::default()
    }
    .build(&vs, 1e-3)
    .unwrap();
    let loss = |train: bool| {
        let logits = net.forward_t(&x, train).unwrap().remove(0);
        logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)
    };
    let losses: Vec<f64> = (0..STEPS)
        .map(|_| {
            let l = loss(true);
            opt.backward_step_clip_norm(&l, 1.0);
            l.double_value(&[])
        })
        .collect();
    let last = no_grad(|| loss(false)).double_value(&[]);
    let predicted = no_grad(|| net.forward_t(&x, false).unwrap().remove(0).argmax(1, false));
    let organ = predicted.eq(1).sum(Kind::Int64).int64_value(&[]);
    eprintln!("Primus-S on the phantom: losses {losses:?}, then {last}; {organ} voxels organ");
    assert!(
        last < 0.7 * losses[0],
        "loss did not fall: {losses:?} then {last}"
    );
    assert!(organ > 0, "only background predicted");
}

/// AdamW steps (each one forward and backward of two whole phantom cases).
const STEPS: usize = 8;
