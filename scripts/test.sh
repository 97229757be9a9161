#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: sets up libtorch if missing, builds every crate
# and, out of tree, every plugin (.so files the tests load at run time; scripts/build-plugins.sh),
# then runs all tests in the release profile.
#
# Real-data tests read ../shared/data; parity tests run nnU-Net 2.8.1 itself through the python
# of scripts/peer_venv.sh (exported as NNUNET_PEER_PYTHON). Without them a test is skipped and
# counted: every skip prints `SKIPPED: <test>: <reason>`, and one summary line at the end says how
# many there were. With NNUNET_REQUIRE_SHARED_DATA=1 (.ci/run sets it) a missing ../shared/data
# or nnU-Net venv fails those tests instead.
#
# Last, the dry run of the GPU check (scripts/device_check.sh --dry-run, docs/gpu.md), when the
# whole suite runs (no arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ -z "${NNUNET_PEER_PYTHON:-}" ]; then
    if peer=$(bash scripts/peer_venv.sh); then
        export NNUNET_PEER_PYTHON="$peer"
    elif [ "${NNUNET_REQUIRE_SHARED_DATA:-}" = "1" ]; then
        echo "test.sh: scripts/peer_venv.sh failed and NNUNET_REQUIRE_SHARED_DATA=1" >&2
        exit 1
    else
        echo "test.sh: no nnU-Net venv (scripts/peer_venv.sh failed); its parity tests skip" >&2
    fi
fi

export NNUNET_SKIP_LOG="${NNUNET_SKIP_LOG:-$PWD/target/test-skips.log}"
mkdir -p "$(dirname "$NNUNET_SKIP_LOG")"
: > "$NNUNET_SKIP_LOG"

# Headless Chromium for the HTML report's browser test (cli/tests/report.rs).
bash scripts/chromium.sh >/dev/null ||
    echo "test.sh: chromium could not be installed; the report's browser test skips" >&2
status=0
cargo build --release --workspace --all-targets
bash scripts/build-plugins.sh
cargo test --release --workspace "$@" || status=$?

if [ "$#" -eq 0 ]; then
    # The GPU check's dry run: every step of scripts/device_check.sh at tiny sizes on the CPU,
    # nnU-Net's included (docs/gpu.md); fails naming any step that failed.
    bash scripts/device_check.sh --dry-run || status=$?
fi

skips=$(grep -c '^SKIPPED:' "$NNUNET_SKIP_LOG" || true)
if [ "$skips" -gt 0 ]; then
    echo "SKIPPED: $skips test(s) skipped for want of their data (listed in $NNUNET_SKIP_LOG):"
    sed 's/^/  /' "$NNUNET_SKIP_LOG"
else
    echo "SKIPPED: 0 tests skipped"
fi
exit "$status"
