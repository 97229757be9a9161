#!/usr/bin/env bash
# Fills .device/ (ignored by git) with what scripts/device_check.sh needs on the GPU machine
# besides the wheels of scripts/device_wheels.sh, compressed to fit the 64 MiB a device run
# carries:
#
#   nnunet.xz, libnnunet_plugin_mednext.so.xz   the release binary and the MedNeXt plugin,
#                                               stripped (they still load each other: only the
#                                               dynamic symbols are used), xz: 131 + 62 MB → 4 MB
#   Dataset004_Hippocampus.tar.xz               the raw dataset from ../shared/data (the checkout's
#                                               ../shared does not travel), its NIfTIs unzipped
#                                               inside the xz tar: 20 → 15 MB
#
#   cargo build --release -p nnunet-cli -p nnunet-plugin-mednext && scripts/device_pack.sh
#
# device_check.sh unpacks them there (scripts/device_check/unpack.py). Prints the size of
# everything the device run carries and fails if it is over the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DC_SOURCE_DATA:-../shared/data/Dataset004_Hippocampus}
for f in target/release/nnunet target/plugins/libnnunet_plugin_mednext.so "$DATA/dataset.json"; do
    [ -f "$f" ] || { echo "device_pack: $f is missing" >&2; exit 1; }
done
rm -rf .device
mkdir -p .device
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strip -o "$tmp/nnunet" target/release/nnunet
strip --strip-unneeded -o "$tmp/libnnunet_plugin_mednext.so" target/plugins/libnnunet_plugin_mednext.so
xz -T0 -6 -c "$tmp/nnunet" >.device/nnunet.xz
xz -T0 -6 -c "$tmp/libnnunet_plugin_mednext.so" >.device/libnnunet_plugin_mednext.so.xz
cp -rL "$DATA" "$tmp/Dataset004_Hippocampus"
find "$tmp/Dataset004_Hippocampus" -name '*.nii.gz' -exec gunzip {} +
tar -C "$tmp" -cf - Dataset004_Hippocampus | xz -T0 -6 >.device/Dataset004_Hippocampus.tar.xz
ls -la .device
tree_bytes=$(git ls-files -z | xargs -0 cat | wc -c)
carried_bytes=$(find .device .whl -type f -print0 2>/dev/null | xargs -0 cat | wc -c)
[ -d .whl ] || echo "device_pack: .whl/ is missing: run scripts/device_wheels.sh" >&2
awk -v t="$tree_bytes" -v c="$carried_bytes" 'BEGIN {
    total = (t + c) / 1048576
    printf "carried in all: %.1f MiB (tracked tree %.1f, .device and .whl %.1f); the limit is 64 MiB\n", total, t / 1048576, c / 1048576
    if (total > 63) { print "device_pack: too big for one device run" > "/dev/stderr"; exit 1 } }'
