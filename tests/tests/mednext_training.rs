//! MedNeXt-S k3 from its run-time plugin trains on real Hippocampus patches on CPU, and UpKern
//! turns the trained k3 checkpoint into a k5 network with nearly the same outputs. A test binary
//! of its own, so that no other test draws from the random generator meanwhile.

#[path = "support/mednext.rs"]
mod support;

use nnunet_core::tch::nn::{self, OptimizerConfig};
use nnunet_core::tch::{Device, Kind, Tensor, no_grad};
use nnunet_core::{Network, Registry, TrainingOptions};
use nnunet_tests::shared_data;
use serde_json::{Value, json};
use std::path::Path;
use support::{build, registry, spec};

/// Patch size `(z, y, x)` for training on CPU.
const PATCH: [i64; 3] = [16, 32, 16];
/// A nearly whole case (of 35 × 51 × 35) for comparing UpKern's outputs: at the training patch
/// the bottleneck is a single voxel, where per-channel GroupNorm leaves only its bias.
const WHOLE: [i64; 3] = [32, 48, 32];

/// A Hippocampus case as `(z, y, x)` tensors: z-scored image and labels.
fn read_case(dir: &Path, case: &str) -> (Tensor, Tensor) {
    use nifti::{NiftiObject, NiftiType, NiftiVolume, ReaderOptions};
    let read = |path: std::path::PathBuf| {
        let obj = ReaderOptions::new().read_file(&path).unwrap();
        let volume = obj.volume();
        let raw = volume.raw_data();
        let values: Vec<f32> = match volume.data_type() {
            NiftiType::Uint8 => raw.iter().map(|&v| v as f32).collect(),
            NiftiType::Float32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            other => panic!("{}: unexpected voxel type {other:?}", path.display()),
        };
        let dims: Vec<i64> = volume.dim().iter().rev().map(|&d| d as i64).collect();
        Tensor::from_slice(&values).view(&dims[..])
    };
    let image = read(dir.join(format!("imagesTr/{case}_0000.nii.gz"))).to_kind(Kind::Float);
    let label = read(dir.join(format!("labelsTr/{case}.nii.gz"))).to_kind(Kind::Int64);
    let image = (&image - image.mean(Kind::Float)) / image.std(true);
    (image, label)
}

/// Two cases cut or padded to `patch` around their centres: `(2, 1, *patch)` images and labels.
fn hippocampus_batch(data: &Path, patch: [i64; 3]) -> (Tensor, Tensor) {
    let dir = data.join("Dataset004_Hippocampus");
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for case in ["hippocampus_001", "hippocampus_003"] {
        let (image, label) = read_case(&dir, case);
        let crop = |t: &Tensor| {
            let size = t.size();
            (0..3).fold(t.shallow_clone(), |t, axis| {
                let s = size[axis].min(patch[axis]);
                let padded = t.narrow(axis as i64, (size[axis] - s) / 2, s);
                let mut pad = vec![0i64; 6];
                pad[2 * (2 - axis) + 1] = patch[axis] - s;
                padded.constant_pad_nd(pad)
            })
        };
        images.push(crop(&image).unsqueeze(0));
        labels.push(crop(&label).unsqueeze(0));
    }
    (Tensor::stack(&images, 0), Tensor::stack(&labels, 0))
}

/// Cross-entropy over the deep-supervision outputs, weighted 1, ½, ¼, ⅛, 0 as nnU-Net does.
fn ds_loss(outputs: &[Tensor], target: &Tensor) -> Tensor {
    let weights = [1.0, 0.5, 0.25, 0.125, 0.0];
    let total: f64 = weights.iter().sum();
    let mut loss = Tensor::zeros([], (Kind::Float, Device::Cpu));
    for (i, (out, w)) in outputs.iter().zip(weights).enumerate() {
        let step = 1 << i;
        let t = target
            .slice(2, 0, None, step)
            .slice(3, 0, None, step)
            .slice(4, 0, None, step)
            .squeeze_dim(1);
        loss += out.cross_entropy_loss::<Tensor>(
            &t,
            None,
            nnunet_core::tch::Reduction::Mean,
            -100,
            0.0,
        ) * (w / total);
    }
    loss
}

/// Trains MedNeXt-S k3 for `steps` AdamW steps with the `mednext` preset; returns the losses.
fn train(
    registry: &Registry,
    vs: &nn::VarStore,
    net: &dyn Network,
    x: &Tensor,
    y: &Tensor,
    steps: usize,
) -> Vec<f64> {
    let mut options = TrainingOptions::default();
    (registry.trainer("mednext").unwrap().make)(&Value::Null)
        .unwrap()
        .configure(&mut options)
        .unwrap();
    let mut opt = nn::AdamW {
        wd: options.weight_decay,
        ..Default::default()
    }
    .build(vs, options.initial_lr)
    .unwrap();
    (0..steps)
        .map(|_| {
            let loss = ds_loss(&net.forward_t(x, true).unwrap(), y);
            opt.backward_step(&loss);
            loss.double_value(&[])
        })
        .collect()
}

#[test]
fn mednext_s_trains_on_hippocampus_patches_and_upkern_keeps_its_outputs() {
    let Some(data) = shared_data() else { return };
    nnunet_core::tch::manual_seed(0);
    let registry = registry();
    let (x, y) = hippocampus_batch(&data, PATCH);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = build(&registry, "mednext-s-k3", &vs, &spec(3, Value::Null));
    let losses = train(&registry, &vs, net.as_ref(), &x, &y, 6);
    let last = no_grad(|| ds_loss(&net.forward_t(&x, false).unwrap(), &y)).double_value(&[]);
    eprintln!("MedNeXt-S k3 losses: {losses:?}, then {last}");
    assert!(
        last < 0.7 * losses[0],
        "loss did not fall: {losses:?} then {last}"
    );

    // UpKern: the trained k3 checkpoint initialises a k5 network.
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("k3.safetensors");
    // As the trainer writes it: weights under `network.`, AdamW moments under `optimizer.`.
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (name, value) in vs.variables() {
        named.push((format!("optimizer.exp_avg.{name}"), value.zeros_like()));
        named.push((format!("network.{name}"), value));
    }
    Tensor::write_safetensors(&named, &checkpoint).unwrap();
    let whole = hippocampus_batch(&data, WHOLE).0.narrow(0, 0, 1);
    let k5 = |options: Value| {
        let vs5 = nn::VarStore::new(Device::Cpu);
        let net5 = build(&registry, "mednext-s-k5", &vs5, &spec(3, options));
        let out = no_grad(|| net5.forward_t(&whole, false).unwrap()[0].shallow_clone());
        (vs5, out)
    };
    let reference = no_grad(|| net.forward_t(&whole, false).unwrap()[0].shallow_clone());
    let (vs5, upkern) = k5(json!({"upkern_from": checkpoint}));
    let (_, fresh) = k5(Value::Null);
    let rel = |o: &Tensor| ((o - &reference).norm() / reference.norm()).double_value(&[]);
    let agree = |o: &Tensor| {
        o.argmax(1, false)
            .eq_tensor(&reference.argmax(1, false))
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[])
    };
    let (upkern_error, fresh_error) = (rel(&upkern), rel(&fresh));
    let (upkern_agree, fresh_agree) = (agree(&upkern), agree(&fresh));
    eprintln!(
        "k5 vs k3 logits, relative L2 error / argmax agreement: UpKern {upkern_error:.3} / \
         {upkern_agree:.4}, fresh k5 {fresh_error:.3} / {fresh_agree:.4}"
    );
    // Measured (seed 0): UpKern 0.35 relative error and 94 % agreement; a fresh k5 network 1.36
    // and 18 %. Kernels of another size cannot give the same outputs, only nearly.
    assert!(
        upkern_error < 0.5,
        "UpKern k5 is far from k3: {upkern_error}"
    );
    assert!(
        upkern_error < 0.4 * fresh_error,
        "{upkern_error} vs fresh {fresh_error}"
    );
    assert!(
        upkern_agree > 0.9,
        "UpKern k5 agrees on {upkern_agree} of voxels"
    );
    assert!(
        upkern_agree > fresh_agree + 0.5,
        "{upkern_agree} vs {fresh_agree}"
    );
    // Same-shaped tensors are copied; the depthwise kernels are interpolated to 5³.
    let vars5 = vs5.variables();
    let vars3 = vs.variables();
    assert!(vars5["network.stem.weight"].equal(&vars3["network.stem.weight"]));
    assert_eq!(
        vars5["network.enc_block_0.0.conv1.weight"].size(),
        [32, 1, 5, 5, 5]
    );
}
