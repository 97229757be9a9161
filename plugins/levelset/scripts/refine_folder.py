"""Refines a folder of saved probabilities with the plugin and scores Dice and HD95 per label
before and after (docs/levelset.md).

Reads every CASE.npz (`probabilities`, (C, z, y, x), as `nnunet predict --save-probabilities`
and nnU-Net's `--save_probabilities` write them) in NPZ_DIR, takes its argmax as the prediction,
runs examples/refine_npz (`cargo build --release --example refine_npz` in plugins/levelset)
once per --options, and scores argmax and refined against LABELS_DIR/CASE<ending> with
score.py's Dice and HD95 (spacing from the label file).

    python plugins/levelset/scripts/refine_folder.py NPZ_DIR LABELS_DIR REFINE_NPZ 2d|3d \
        --ending .png --labels 1,2 --options '{}' --options '{"mu": 1}'
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np

from score import dice, hd95, read


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("npz_dir")
    parser.add_argument("labels_dir")
    parser.add_argument("refine_npz")
    parser.add_argument("dims", choices=["2d", "3d"])
    parser.add_argument("--ending", default=".nii.gz")
    parser.add_argument("--labels", default="1")
    parser.add_argument("--options", action="append", default=[])
    args = parser.parse_args()
    labels = [int(l) for l in args.labels.split(",")]
    cases = sorted(f[:-4] for f in os.listdir(args.npz_dir) if f.endswith(".npz"))
    keys = ["argmax"] + args.options
    scores = {(k, l): ([], []) for k in keys for l in labels}
    seconds = {k: [] for k in args.options}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            ref, spacing = read(os.path.join(args.labels_dir, case + args.ending))
            spacing3 = ",".join(str(s) for s in ((1.0,) * (3 - len(spacing)) + tuple(spacing)))
            results = {}
            for options in args.options:
                out = os.path.join(tmp, "out.npz")
                run = subprocess.run([args.refine_npz, os.path.join(args.npz_dir, case + ".npz"), out,
                                args.dims, spacing3, options], check=True, capture_output=True, text=True)
                seconds[options].append(float(run.stdout.split("refined in ")[1].split()[0]))
                result = np.load(out)
                results[options] = result["refined"].reshape(ref.shape)
                results["argmax"] = result["argmax"].reshape(ref.shape)
            for key, pred in results.items():
                for l in labels:
                    d, h = scores[(key, l)]
                    d.append(dice(pred == l, ref == l))
                    hh = hd95(pred == l, ref == l, spacing)
                    h.append(np.nan if hh is None else hh)
    print(f"{len(cases)} cases of {args.npz_dir}; HD95 in mm (nan where one side lacks the label)")
    print("| prediction | label | Dice | HD95 | s / case |")
    print("|---|---|---|---|---|")
    for key in keys:
        for l in labels:
            d, h = scores[(key, l)]
            s = f"{np.mean(seconds[key]):.2f}" if key in seconds else "-"
            print(f"| {key} | {l} | {np.mean(d):.4f} | {np.nanmean(h) if not np.all(np.isnan(h)) else float('nan'):.2f} | {s} |")


if __name__ == "__main__":
    main()
