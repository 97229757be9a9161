"""Level-set refinement on simulated probability maps of real label maps (docs/levelset.md).

Where no trained model is at hand (HC18, CHASE_DB1 on a shared 2-core CPU), this measures what
the refinement does to the *shapes* of a dataset: each training label map is turned into a
noisy, blurred foreground probability map — p = clip(G_s(label) + a * N, 0, 1), G_s a Gaussian
blur of s pixels and N Gaussian-smoothed unit noise (sigma 1.5 px), fixed seed per case — its
argmax is the "prediction", and the plugin (examples/refine_npz, built with
`cargo build --release --example refine_npz` in plugins/levelset) refines it. Dice, HD95
(score.py's definitions) and recall (the share of true foreground kept) of argmax and refined
against the true label. A simulation, not a network: it says which shapes the length term
helps or hurts, not how much a model gains.

    python plugins/levelset/scripts/simulate.py LABELS_DIR REFINE_NPZ_BINARY --cases 10 \
        --blur 2 --noise 0.35 --options '{"mu": 0.2}' [--options '{"mu": 1}' ...]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from scipy import ndimage

from score import dice, hd95, read


def simulate(label, blur, noise, seed):
    rng = np.random.default_rng(seed)
    fg = (label > 0).astype(np.float32)
    field = ndimage.gaussian_filter(rng.standard_normal(fg.shape).astype(np.float32), 1.5)
    field /= field.std() + 1e-12
    p = np.clip(ndimage.gaussian_filter(fg, blur) + noise * field, 0.0, 1.0)
    return np.stack([1.0 - p, p])[:, None].astype(np.float32)  # (C, z=1, y, x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("labels")
    parser.add_argument("refine_npz")
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--blur", type=float, default=2.0)
    parser.add_argument("--noise", type=float, default=0.35)
    parser.add_argument("--options", action="append", default=[])
    args = parser.parse_args()
    files = sorted(f for f in os.listdir(args.labels) if f.endswith(".png"))[: args.cases]
    rows = {"argmax": ([], [], [], [])}
    rows.update({o: ([], [], [], []) for o in args.options})
    with tempfile.TemporaryDirectory() as tmp:
        for k, name in enumerate(files):
            label, spacing = read(os.path.join(args.labels, name))
            truth = label > 0
            src = os.path.join(tmp, "in.npz")
            np.savez(src, probabilities=simulate(label, args.blur, args.noise, k))
            for options in args.options:
                out = os.path.join(tmp, "out.npz")
                run = subprocess.run([args.refine_npz, src, out, "2d", "1,1,1", options],
                                     check=True, capture_output=True, text=True)
                seconds = float(run.stdout.split("refined in ")[1].split()[0])
                result = np.load(out)
                for key, arr in [(options, result["refined"][0] > 0), ("argmax", result["argmax"][0] > 0)]:
                    if key == "argmax" and options != args.options[0]:
                        continue
                    rows[key][0].append(dice(arr, truth))
                    h = hd95(arr, truth, spacing)
                    rows[key][1].append(np.nan if h is None else h)
                    rows[key][2].append(seconds if key != "argmax" else 0.0)
                    rows[key][3].append((arr & truth).sum() / max(truth.sum(), 1))
    print(f"{len(files)} label maps of {args.labels}, blur {args.blur} px, noise {args.noise}")
    print("| prediction | Dice | HD95 (px) | recall | s / case |")
    print("|---|---|---|---|---|")
    for key, (d, h, s, r) in rows.items():
        print(f"| {key} | {np.mean(d):.4f} | {np.nanmean(h):.2f} | {np.mean(r):.4f} | {np.mean(s):.2f} |")


if __name__ == "__main__":
    main()
