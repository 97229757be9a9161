"""The files scripts/device_check.sh leaves in $OUT, within what comes back from the GPU machine
(at most 8 files of at most 16 MiB, 64 MiB in all):

    logs.tar.gz          every step log, nvidia-smi samples, training logs, progress.png, plans,
                         splits and validation summaries (no weights)
    predictions.tar.gz   the imagesTs predictions (ours on the device and on the CPU, nnU-Net's)
    folds.tar.xz[.partN] the two equal-budget folds, ours and nnU-Net's, as model folders that
                         predict: weights without optimiser state, plans, dataset.json,
                         validation predictions; split into parts below 15 MiB
                         (`cat folds.tar.xz.part* | tar -xJ` joins them)

    python3 pack.py WORK_DIR OUT_DIR

Standard library only; nnU-Net's .pth is slimmed with torch when torch imports, else kept whole.
"""

import json
import os
import shutil
import struct
import sys
import tarfile

DATASET = "Dataset004_Hippocampus"
PART_BYTES = 15 * 1024 * 1024
WEIGHTS = (".safetensors", ".pth")


def without_weights(info):
    return None if info.name.endswith(WEIGHTS) or ".tmp-" in info.name else info


def add_if_exists(tar, path, arcname, filter=None):
    if os.path.exists(path):
        tar.add(path, arcname=arcname, filter=filter)


def slim_safetensors(src, dst):
    """Copies a safetensors file keeping the network tensors and `generation` (what predict reads)."""
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        keep, chunks, offset = {}, [], 0
        for name, meta in sorted(header.items()):
            if name == "__metadata__":
                keep[name] = meta
                continue
            if not (name.startswith("network.") or name == "generation"):
                continue
            start, end = meta["data_offsets"]
            f.seek(base + start)
            chunks.append(f.read(end - start))
            keep[name] = dict(meta, data_offsets=[offset, offset + end - start])
            offset += end - start
    text = json.dumps(keep, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def slim_pth(src, dst):
    """nnU-Net's checkpoint without optimiser and grad-scaler state, when torch is importable."""
    try:
        import torch

        checkpoint = torch.load(src, map_location="cpu", weights_only=False)
        for key in ("optimizer_state", "grad_scaler_state"):
            checkpoint.pop(key, None)
        torch.save(checkpoint, dst)
    except Exception as e:  # torch missing or the file unreadable: keep it whole
        print(f"pack: keeping {src} whole ({e})")
        shutil.copy(src, dst)


def stage_model(fold_dir, stage_root, tool):
    """Copies a trained fold's model folder (plans, dataset.json, fold_0 slimmed) into stage_root/tool."""
    if not os.path.isdir(fold_dir):
        return False
    model_dir = os.path.dirname(fold_dir)
    target = os.path.join(stage_root, tool, DATASET, os.path.basename(model_dir))
    for name in os.listdir(model_dir):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            os.makedirs(target, exist_ok=True)
            shutil.copy(path, target)
    fold_target = os.path.join(target, "fold_0")
    shutil.copytree(fold_dir, fold_target, ignore=shutil.ignore_patterns("*.safetensors", "*.pth", "*.tmp-*", "checkpoint_best*", "checkpoint_latest*"))
    for name in os.listdir(fold_dir):
        if name.startswith("checkpoint_final") and name.endswith(".safetensors"):
            slim_safetensors(os.path.join(fold_dir, name), os.path.join(fold_target, name))
        elif name == "checkpoint_final.pth":
            slim_pth(os.path.join(fold_dir, name), os.path.join(fold_target, name))
    return True


def split(path):
    """Splits path into path.partN files below PART_BYTES when it is larger."""
    if os.path.getsize(path) <= PART_BYTES:
        return [path]
    parts = []
    with open(path, "rb") as f:
        while True:
            chunk = f.read(PART_BYTES)
            if not chunk:
                break
            part = f"{path}.part{len(parts)}"
            with open(part, "wb") as p:
                p.write(chunk)
            parts.append(part)
    os.remove(path)
    return parts


def main():
    work, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    with tarfile.open(os.path.join(out, "logs.tar.gz"), "w:gz") as tar:
        add_if_exists(tar, os.path.join(work, "logs"), "logs")
        for tool in ("rs", "nn"):
            for kind in ("speed", "acc", "mednext"):
                add_if_exists(tar, os.path.join(work, tool, kind), f"{tool}_{kind}", without_weights)
            for name in ("nnUNetPlans.json", "splits_final.json", "dataset_fingerprint.json"):
                add_if_exists(tar, os.path.join(work, tool, "pre", DATASET, name), f"{tool}_pre/{name}")
    with tarfile.open(os.path.join(out, "predictions.tar.gz"), "w:gz") as tar:
        add_if_exists(tar, os.path.join(work, "pred"), "predictions")

    stage = os.path.join(work, "pack")
    shutil.rmtree(stage, ignore_errors=True)
    staged = [
        stage_model(os.path.join(work, "rs", "acc", DATASET, "nnUNetTrainer__nnUNetPlans__3d_fullres", "fold_0"),
                    stage, "nnunet-rs"),
        stage_model(os.path.join(work, "nn", "acc", DATASET, "nnUNetTrainer_DeviceCheck__nnUNetPlans__3d_fullres",
                                 "fold_0"), stage, "nnunetv2"),
    ]
    if any(staged):
        folds = os.path.join(out, "folds.tar.xz")
        with tarfile.open(folds, "w:xz", preset=1) as tar:  # weights hardly compress: be quick
            for tool in sorted(os.listdir(stage)):
                tar.add(os.path.join(stage, tool), arcname=tool)
        split(folds)
    for name in sorted(os.listdir(out)):
        print(f"{name}: {os.path.getsize(os.path.join(out, name)) / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
