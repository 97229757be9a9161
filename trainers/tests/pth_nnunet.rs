//! nnU-Net v2's own checkpoints (`../shared/interop`, written by torch.save in nnU-Net 2.8.1,
//! with optimiser state, numpy-scalar logs, `_best_ema` and `init_args`) read in Rust: the
//! network's unique tensors, the mirroring axes, trainer and configuration, in under a second;
//! a damaged file is an error naming it. FAILS when ../shared/interop is absent.

use nnunet_trainers::pth;
use std::path::PathBuf;

fn checkpoint(model: &str, file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/interop/models")
        .join(model)
        .join("fold_0")
        .join(file);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

#[test]
fn nnunet_checkpoints_read_with_their_metadata() {
    for (model, file, axes, configuration) in [
        (
            "Dataset900_Phantom3D/nnUNetTrainer_interop__nnUNetSmallPlans__3d_fullres",
            "checkpoint_final.pth",
            vec![0, 1, 2],
            "3d_fullres",
        ),
        (
            "Dataset901_Phantom2D/nnUNetTrainer_interop__nnUNetSmallPlans__2d",
            "checkpoint_best.pth",
            vec![0, 1],
            "2d",
        ),
    ] {
        let path = checkpoint(model, file);
        let started = std::time::Instant::now();
        let read = pth::nnunet::read(&path).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!("{file}: {} tensors in {seconds:.3} s", read.network.len());
        assert!(seconds < 1.0, "reading took {seconds} s");
        // 240 state-dict entries, 88 of them distinct (the rest are aliases).
        assert_eq!(read.network.len(), 88);
        assert!(
            read.network
                .iter()
                .all(|(n, _)| !n.contains("all_modules") && !n.starts_with("decoder.encoder."))
        );
        let (name, first) = &read.network[0];
        assert_eq!(name, "encoder.stages.0.0.convs.0.conv.weight");
        assert_eq!(first.size()[0], 8);
        assert_eq!(read.mirroring_axes, Some(axes));
        assert_eq!(read.trainer_name.as_deref(), Some("nnUNetTrainer_interop"));
        assert_eq!(read.configuration.as_deref(), Some(configuration));
        assert_eq!(read.epoch, Some(8));
    }
}

#[test]
fn a_damaged_checkpoint_is_an_error_naming_the_file() {
    let source = checkpoint(
        "Dataset901_Phantom2D/nnUNetTrainer_interop__nnUNetSmallPlans__2d",
        "checkpoint_best.pth",
    );
    let bytes = std::fs::read(&source).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("truncated.pth", bytes[..bytes.len() / 2].to_vec()),
        ("empty.pth", Vec::new()),
        ("text.pth", b"not a checkpoint".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = pth::nnunet::read(&path).err().expect(name).to_string();
        assert!(err.contains(name), "{err}");
    }
}
