#!/usr/bin/env bash
# Sets up nnU-Net v2 2.8.1 itself beside the project, outside the tree, for the fixtures, parity
# tests, benchmarks and the GPU check that run nnU-Net side by side with nnunet-rs.
#
#   scripts/peer_venv.sh          creates it if missing, then prints the path of its python
#
# The venv lives in $NNUNET_PEER_VENV (default: ~/.cache/nnunet-rs/peer-venv). It reuses the
# torch 2.11.0 of the project's own .venv (scripts/setup.sh) through a .pth file, so only
# nnunetv2 and its small dependencies are downloaded. Idempotent; a second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2

NNUNET_VERSION="2.8.1"
TORCH_VERSION="2.11.0"  # the project's own (scripts/setup.sh); pinned so pip keeps it
PEER="${NNUNET_PEER_VENV:-$HOME/.cache/nnunet-rs/peer-venv}"

peer_ok() {
    [ -x "$PEER/bin/python" ] && "$PEER/bin/python" - "$NNUNET_VERSION" "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys
import importlib.metadata as md
try:
    ok = md.version("nnunetv2") == sys.argv[1] and md.version("torch").split("+")[0] == sys.argv[2]
    import torch, nnunetv2  # noqa: F401
except Exception:
    sys.exit(1)
sys.exit(0 if ok else 1)
PY
}

if ! peer_ok; then
    echo "peer_venv: installing nnunetv2==$NNUNET_VERSION into $PEER (first run only)" >&2
    mkdir -p "$(dirname "$PEER")"
    [ -x "$PEER/bin/python" ] || python3 -m venv "$PEER"
    site=$("$PEER/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    project_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$project_site" > "$site/nnunet_rs_project_torch.pth"
    "$PEER/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
        "nnunetv2==$NNUNET_VERSION" "torch==$TORCH_VERSION"
    peer_ok || { echo "peer_venv: nnunetv2 $NNUNET_VERSION is not importable from $PEER" >&2; exit 1; }
fi
echo "$PEER/bin/python"
