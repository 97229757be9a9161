"""The no-image baseline of docs/localisation.md: every validation case of a fold is predicted at
the mean landmark row of the fold's training cases (rows are 1 mm, so the error is in mm).

Run: python scripts/localisation_baseline.py $nnUNet_preprocessed/DatasetNNN_X $nnUNet_raw/DatasetNNN_X
(needs numpy and nibabel; the MIP dataset from `nnunet convert mip`, its splits_final.json from
`nnunet train`). Prints each fold's error mean ± sd and the folds' mean ± sd.
"""
import json, sys, numpy as np, nibabel as nib
pre, raw = sys.argv[1], sys.argv[2]
splits = json.load(open(f"{pre}/splits_final.json"))
def row(case):
    a = np.asarray(nib.load(f"{raw}/labelsTr/{case}.nii.gz").dataobj).squeeze()
    # nibabel (x, y) = our (cols, rows): rows are axis 1
    w = (a > 0).sum(axis=0)
    return float((np.arange(a.shape[1]) * w).sum() / w.sum())
means = []
for k, s in enumerate(splits):
    m = np.mean([row(c) for c in s["train"]])
    e = [abs(row(c) - m) for c in s["val"]]
    means.append(np.mean(e))
    print(f"fold {k}: {np.mean(e):.2f} ± {np.std(e, ddof=1):.2f} mm")
print(f"folds: {np.mean(means):.2f} ± {np.std(means, ddof=1):.2f} mm")
