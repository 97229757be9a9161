"""The table of scripts/device_check.sh: reads the work folder, writes one markdown file.

    python3 report.py WORK_DIR OUT_MD MODE DEVICE "FAILED STEPS"

Standard library only. Every figure says where it comes from in docs/gpu.md; a figure whose step
failed or did not run is shown as "-".
"""

import glob
import json
import os
import re
import sys

DATASET = "Dataset004_Hippocampus"
RS_FOLD = "nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0"
NN_FOLD = "nnUNetTrainer_DeviceCheck__nnUNetPlans__3d_fullres/fold_0"


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def newest(pattern):
    files = sorted(glob.glob(pattern), key=os.path.getmtime)
    return files[-1] if files else None


def steps(work):
    """name -> (status, seconds, limit) from logs/steps.tsv."""
    out = {}
    for line in read(os.path.join(work, "logs", "steps.tsv")).splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            out[parts[0]] = (parts[1], parts[2], parts[3])
    return out


def config(work):
    out = {}
    for line in read(os.path.join(work, "logs", "config.txt")).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def training_log(log_path):
    """(epoch seconds, train losses) of a training log, ours or nnU-Net's."""
    text = read(log_path) if log_path else ""
    times = [float(x) for x in re.findall(r"Epoch time: ([0-9.]+) s", text)]
    losses = [float(x) for x in re.findall(r"train_loss (-?[0-9.]+(?:e-?[0-9]+)?)", text)]
    return times, losses


def steady(times):
    """Mean epoch time without the first epoch (warm-up), or the only one."""
    if not times:
        return None
    rest = times[1:] or times
    return sum(rest) / len(rest)


def gpu_samples(work, name):
    """(busy %, peak MiB above the first sample) from logs/NAME.smi.csv, or (None, None)."""
    util, mem = [], []
    for line in read(os.path.join(work, "logs", name + ".smi.csv")).splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            util.append(int(parts[1]))
            mem.append(int(parts[2]))
    if not util:
        return None, None
    busy = [i for i, u in enumerate(util) if u > 0]
    window = util[busy[0] : busy[-1] + 1] if busy else util
    return sum(window) / len(window), max(mem) - mem[0]


def fmt(value, pattern="{:.1f}"):
    return "-" if value is None else pattern.format(value)


def dice_text(summary):
    """'0.8912 (1: 0.90, 2: 0.88)' from a summary.json, or '-'."""
    if not summary:
        return "-"
    fg = summary.get("foreground_mean", {}).get("Dice")
    labels = ", ".join(
        f"{k}: {v.get('Dice', float('nan')):.4f}" for k, v in sorted(summary.get("mean", {}).items())
    )
    return f"**{fg:.4f}** ({labels})" if fg is not None else "-"


def loss_text(losses):
    if len(losses) < 2:
        return f"{losses[0]:.4f} (one epoch)" if losses else "-"
    verdict = "falls" if losses[-1] < losses[0] else "DOES NOT FALL"
    return f"{losses[0]:.4f} → {losses[-1]:.4f} ({verdict})"


def plans_text(work):
    """Whether both tools planned 3d_fullres the same, with the patch and batch size."""
    ours = read_json(os.path.join(work, "rs", "pre", DATASET, "nnUNetPlans.json"))
    theirs = read_json(os.path.join(work, "nn", "pre", DATASET, "nnUNetPlans.json"))
    if not ours:
        return "-", "-"
    keys = ["patch_size", "batch_size", "spacing", "normalization_schemes", "architecture"]
    a = ours["configurations"]["3d_fullres"]
    rs = f"patch {a.get('patch_size')}, batch {a.get('batch_size')}"
    if not theirs:
        return rs, "-"
    b = theirs["configurations"]["3d_fullres"]
    differ = [k for k in keys if a.get(k) != b.get(k)]
    nn = f"patch {b.get('patch_size')}, batch {b.get('batch_size')}"
    return rs, nn + ("; same as ours" if not differ else f"; DIFFERS in {', '.join(differ)}")


def speed_row(work, tool, log, sample_name, iters):
    times, losses = training_log(log)
    per_iter = steady(times)
    busy, peak = gpu_samples(work, sample_name)
    return {
        "ms": fmt(per_iter * 1000 / iters if per_iter and iters else None),
        "busy": fmt(busy, "{:.0f} %"),
        "peak": fmt(peak, "{:.0f} MiB"),
        "loss": loss_text(losses),
    }


def doctor_lines(work):
    text = read(os.path.join(work, "logs", "doctor.log"))
    keep = ("libtorch", "CUDA available", "GPU", "cuDNN", "CPU threads")
    return [l.strip() for l in text.splitlines() if l.strip().startswith(keep)]


def main():
    work, out_md, mode, device, failed = sys.argv[1:6]
    st, cfg = steps(work), config(work)
    secs = lambda n: st[n][1] + " s" if n in st and st[n][0] == "0" else "-"
    si, ai = int(cfg.get("DC_SPEED_ITERS", "0")), int(cfg.get("DC_ITERS", "0"))
    rs_speed = speed_row(
        work, "rs", os.path.join(work, "rs", "speed", DATASET, RS_FOLD, "training_log.txt"), "speed_rs", si
    )
    nn_speed = speed_row(
        work, "nn", newest(os.path.join(work, "nn", "speed", DATASET, NN_FOLD, "training_log_*.txt")), "speed_nn", si
    )
    rs_acc = speed_row(
        work, "rs", os.path.join(work, "rs", "acc", DATASET, RS_FOLD, "training_log.txt"), "accuracy_rs", ai
    )
    nn_acc = speed_row(
        work, "nn", newest(os.path.join(work, "nn", "acc", DATASET, NN_FOLD, "training_log_*.txt")), "accuracy_nn", ai
    )
    mednext = speed_row(
        work, "rs", newest(os.path.join(work, "rs", "mednext", DATASET, "*", "fold_0", "training_log.txt")),
        "mednext", int(cfg.get("DC_MEDNEXT_ITERS", "0")),
    )
    rs_dice = read_json(os.path.join(work, "rs", "acc", DATASET, RS_FOLD, "validation", "summary.json"))
    nn_dice = read_json(os.path.join(work, "nn", "acc", DATASET, NN_FOLD, "validation", "summary.json"))
    agree = read_json(os.path.join(work, "pred", f"agreement_{device}_vs_cpu_fp32.json"))
    pred_count = lambda d: len(glob.glob(os.path.join(work, "pred", d, "*.nii.gz")))
    plans_rs, plans_nn = plans_text(work)
    epochs = read(os.path.join(work, "logs", "accuracy_epochs.txt")).strip() or "-"
    splits = [read(os.path.join(work, t, "pre", DATASET, "splits_final.json")) for t in ("rs", "nn")]
    same_splits = "yes" if splits[0] and splits[0] == splits[1] else "no"

    rows = [
        ("plans 3d_fullres", plans_rs, plans_nn),
        (f"ii. speed ({cfg.get('DC_SPEED_EPOCHS')} epochs × {si} it.): ms per iteration", rs_speed["ms"], nn_speed["ms"]),
        ("ii. GPU busy while training", rs_speed["busy"], nn_speed["busy"]),
        ("ii. peak GPU memory (above idle)", rs_speed["peak"], nn_speed["peak"]),
        ("ii. train loss, first → last epoch", rs_speed["loss"], nn_speed["loss"]),
        ("ii. step wall time (start-up included)", secs("speed_rs"), secs("speed_nn")),
        (f"iii. equal budget: {epochs} epochs × {ai} it., wall time", secs("accuracy_rs"), secs("accuracy_nn")),
        ("iii. ms per iteration / GPU busy", f"{rs_acc['ms']} / {rs_acc['busy']}", f"{nn_acc['ms']} / {nn_acc['busy']}"),
        ("iii. train loss, first → last epoch", rs_acc["loss"], nn_acc["loss"]),
        (f"iii. fold 0 validation Dice (fg mean; per label; same split: {same_splits})", dice_text(rs_dice), dice_text(nn_dice)),
        ("iv. MedNeXt-S k3 (plugin): ms per iteration / peak memory", f"{mednext['ms']} / {mednext['peak']}", "n/a"),
        ("iv. MedNeXt-S train loss", mednext["loss"], "n/a"),
        (f"v. predict imagesTs on {device}: wall time (cases)", f"{secs('predict_rs')} ({pred_count('rs_' + device)})",
         f"{secs('predict_nn')} ({pred_count('nn_' + device)})"),
        ("v. ours on CPU, fp32: wall time (cases)", f"{secs('predict_rs_cpu')} ({pred_count('rs_cpu_fp32')})", "n/a"),
        (f"v. ours {device} vs ours CPU fp32: Dice", dice_text(agree), "n/a"),
    ]
    lines = [f"# Device check ({mode} run, device {device})", ""]
    lines += [f"    {l}" for l in doctor_lines(work)] + [""]
    lines += ["| figure | nnunet-rs | nnU-Net 2.8.1 |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", "| step | exit | seconds | limit |", "|---|---|---|---|"]
    lines += [f"| {n} | {s} | {t} | {l} |" for n, (s, t, l) in st.items()]
    lines += ["", f"Failed steps: {failed}" if failed.strip() else "All steps passed.", ""]
    with open(out_md, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
