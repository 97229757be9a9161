"""Unpacks what scripts/device_pack.sh put in .device/ into a folder on the GPU machine.

    python3 unpack.py DEVICE_DIR TARGET_DIR

`NAME.xz` becomes TARGET_DIR/NAME (executable); `NAME.tar.xz` is extracted into TARGET_DIR and
every `.nii` in it is gzipped back to `.nii.gz` (device_pack.sh unzips them so that xz can
compress the voxels). Standard library only.
"""

import gzip
import lzma
import os
import shutil
import sys
import tarfile


def main():
    source, target = sys.argv[1:3]
    os.makedirs(target, exist_ok=True)
    for name in sorted(os.listdir(source)):
        path = os.path.join(source, name)
        if name.endswith(".tar.xz"):
            with tarfile.open(path, "r:xz") as tar:
                tar.extractall(target, filter="data")
        elif name.endswith(".xz"):
            out = os.path.join(target, name[: -len(".xz")])
            with lzma.open(path) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(out, 0o755)
    count = 0
    for root, _, files in os.walk(target):
        for name in files:
            if name.endswith(".nii"):
                path = os.path.join(root, name)
                with open(path, "rb") as src, gzip.open(path + ".gz", "wb", compresslevel=1) as dst:
                    shutil.copyfileobj(src, dst)
                os.remove(path)
                count += 1
    print(f"unpacked {source} into {target} ({count} NIfTI files gzipped)")


if __name__ == "__main__":
    main()
