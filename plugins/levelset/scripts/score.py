"""Dice and HD95 per label of prediction folders against reference labels (docs/levelset.md).

The measurement behind docs/levelset.md, not part of the product (nnunet evaluate gives Dice;
surface metrics are another helper's work). Needs numpy, scipy, SimpleITK (and Pillow for
PNGs): /work/peer/venv has them.

    python plugins/levelset/scripts/score.py LABELS_DIR NAME=PRED_DIR [NAME=PRED_DIR ...] \
        [--labels 1,2] [--ending .nii.gz]

HD95 follows MONAI's compute_hausdorff_distance(percentile=95): the larger of the two directed
95th percentiles of the distances (in mm, from the files' spacing) from one boundary's voxels
to the other boundary; boundary = mask minus its erosion (full connectivity). A case where
one side lacks the label is counted apart (HD95 undefined); where both lack it, Dice is 1 and
HD95 0, as nnU-Net scores Dice.
"""
import argparse
import os
import sys

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def read(path):
    image = sitk.ReadImage(path)
    array = sitk.GetArrayFromImage(image)
    spacing = tuple(reversed(image.GetSpacing()))[-array.ndim:]
    return array, spacing


def border(mask):
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    return mask & ~ndimage.binary_erosion(mask, structure, border_value=0)


def hd95(a, b, spacing):
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return None
    ba, bb = border(a), border(b)
    to_b = ndimage.distance_transform_edt(~bb, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~ba, sampling=spacing)
    return max(np.percentile(to_b[ba], 95), np.percentile(to_a[bb], 95))


def dice(a, b):
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * (a & b).sum() / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference")
    parser.add_argument("predictions", nargs="+", help="NAME=FOLDER")
    parser.add_argument("--labels", default="1")
    parser.add_argument("--ending", default=".nii.gz")
    args = parser.parse_args()
    labels = [int(l) for l in args.labels.split(",")]
    runs = [p.split("=", 1) for p in args.predictions]
    first = runs[0][1]
    cases = sorted(f for f in os.listdir(first) if f.endswith(args.ending))
    print(f"{len(cases)} cases; Dice and HD95 (mm) mean over cases; HD95 over cases where both have the label")
    print("| prediction | label | Dice | HD95 | cases with HD95 undefined |")
    print("|---|---|---|---|---|")
    for name, folder in runs:
        for label in labels:
            dices, hds, undefined = [], [], 0
            for case in cases:
                ref, spacing = read(os.path.join(args.reference, case))
                pred, _ = read(os.path.join(folder, case))
                a, b = pred == label, ref == label
                dices.append(dice(a, b))
                h = hd95(a, b, spacing)
                if h is None:
                    undefined += 1
                else:
                    hds.append(h)
            print(f"| {name} | {label} | {np.mean(dices):.4f} | {np.mean(hds):.3f} | {undefined} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
