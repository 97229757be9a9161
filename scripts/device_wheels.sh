#!/usr/bin/env bash
# Downloads nnU-Net v2 2.8.1 and the packages it imports that the GPU machine lacks into .whl/
# (ignored by git), for scripts/device_check.sh to install offline there into /tmp/site.
#
#   scripts/device_wheels.sh        (here, with network; ~3 minutes, most of it recompressing)
#
# The GPU machine has Python 3.12, PyTorch 2.11.0 with its nvidia-* libraries, numpy, scipy,
# scikit-image, scikit-learn, pandas, matplotlib, seaborn, tifffile, requests, einops, msgpack
# (docs/gpu.md; /work/.library/device/KINDS.md lists them), so those are not carried. What is
# left is pinned to the versions of scripts/peer_venv.sh's venv. imagecodecs (27 MB) is left out:
# tifffile falls back to its own codecs and nnU-Net does not need it for NIfTI.
#
# Everything the device run carries must stay under 64 MiB, and SimpleITK's wheel alone is 53 MB;
# its members (and blosc2's, cc3d's, nibabel's) are recompressed with LZMA, which pip reads, to
# about 29 MB, and test data and static libraries are left out of them: 37 MB in all. Wheels are fetched with the flags of the device's README (cp312, manylinux x86-64,
# no dependencies); acvl-utils has no wheel and is built from its source here (pure Python).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
    nnunetv2==2.8.1
    dynamic-network-architectures==0.4.4
    batchgenerators==0.25.5
    batchgeneratorsv2==0.3.6
    simpleitk==2.5.7
    nibabel==5.4.2
    blosc2==4.15.0
    ndindex==1.10.1
    connected-components-3d==4.1.1
    yacs==0.1.8
    graphviz==0.21
    fft-conv-pytorch==1.2.0
)
SOURCE_ONLY=(acvl-utils==0.2.6)
RECOMPRESS=(simpleitk blosc2 connected_components_3d nibabel)

rm -rf .whl
mkdir -p .whl
for w in "${WHEELS[@]}"; do
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$w"
done
for w in "${SOURCE_ONLY[@]}"; do
    python3 -m pip wheel -q --disable-pip-version-check --no-deps -w .whl "$w"
done

for name in "${RECOMPRESS[@]}"; do
    for whl in .whl/"$name"-*.whl; do
        python3 - "$whl" <<'PY'
import copy, fnmatch, os, sys, zipfile
# Members no import needs: test data (nibabel's is 2.5 MB) and blosc2's static library.
OMIT = ["*/tests/*", "*.a"]
src = sys.argv[1]
tmp = src + ".tmp"
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_LZMA) as zout:
    for info in zin.infolist():
        if any(fnmatch.fnmatch(info.filename, p) for p in OMIT):
            continue
        data = zin.read(info.filename)  # read before touching the entry's compression
        out = copy.copy(info)
        out.compress_type = zipfile.ZIP_LZMA
        zout.writestr(out, data)
os.replace(tmp, src)
PY
    done
done
ls -la .whl
du -sh .whl
