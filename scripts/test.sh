#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: sets up libtorch if missing, builds every crate
# and plugin (.so files the tests load at run time), then runs all tests in the release profile.
# Real-data tests read ../shared/data and skip, saying why, when it is absent. Last, the dry run
# of the GPU check (scripts/device_check.sh --dry-run, docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --workspace --all-targets
cargo test --release --workspace "$@"
# The GPU check's dry run: every step of scripts/device_check.sh at tiny sizes on the CPU, nnU-Net's
# included (docs/gpu.md); fails naming any step that failed.
bash scripts/device_check.sh --dry-run
