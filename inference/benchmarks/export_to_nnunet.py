"""Turns one of our trained folds into an nnU-Net v2 model folder, so `nnUNetv2_predict` runs the
very same weights as `nnunet predict` (the predict benchmark, and a parity check of the two
predictors).

Usage: export_to_nnunet.py OUR_TRAINER_DIR NNUNET_TRAINER_DIR FOLD

Our checkpoint stores the network's tensors under nnU-Net's own state-dict names with a
`network.` prefix (safetensors), so the export is a rename plus nnU-Net's checkpoint keys.
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


def main(ours: Path, theirs: Path, fold: str) -> None:
    meta = json.loads((ours / f"fold_{fold}" / "checkpoint_final.json").read_text())
    tensors = load_file(str(ours / f"fold_{fold}" / "checkpoint_final.safetensors"))
    weights = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}
    plans = json.loads((ours / "plans.json").read_text())
    dataset = json.loads((ours / "dataset.json").read_text())
    configuration = meta["configuration"]
    pm = PlansManager(plans)
    cm = pm.get_configuration(configuration)
    lm = pm.get_label_manager(dataset)
    num_in = len(dataset.get("channel_names", dataset.get("modality")))
    net = nnUNetTrainer.build_network_architecture(pm, cm, num_in, lm.num_segmentation_heads, False)
    # nnU-Net's state dict also lists aliases (decoder.encoder.*, all_modules.*) of the same
    # tensors; the unique names are those of named_parameters/named_buffers.
    expected = dict(net.named_parameters())
    expected.update(dict(net.named_buffers()))
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        sys.exit(f"state dicts differ: missing {missing[:5]}, extra {extra[:5]}")
    with torch.no_grad():
        for k, v in expected.items():
            if tuple(v.shape) != tuple(weights[k].shape):
                sys.exit(f"{k}: shape {tuple(weights[k].shape)} vs nnU-Net {tuple(v.shape)}")
            v.copy_(weights[k])
    patch = cm.patch_size
    axes = tuple(range(len(patch)))
    fold_dir = theirs / f"fold_{fold}"
    fold_dir.mkdir(parents=True, exist_ok=True)
    for name in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
        if (ours / name).exists():
            shutil.copy(ours / name, theirs / name)
    torch.save({
        "network_weights": net.state_dict(),
        "optimizer_state": None,
        "grad_scaler_state": None,
        "logging": {},
        "_best_ema": None,
        "current_epoch": meta["epoch"],
        "init_args": {"plans": plans, "configuration": configuration, "fold": int(fold) if fold.isdigit() else fold,
                      "dataset_json": dataset, "device": torch.device("cpu")},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": axes,
    }, fold_dir / "checkpoint_final.pth")
    print(f"wrote {fold_dir / 'checkpoint_final.pth'} ({len(weights)} tensors)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
