#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: sets up libtorch if missing, builds every crate
# and, out of tree, every plugin (.so files the tests load at run time; scripts/build-plugins.sh),
# then runs all tests in the release profile.
# Real-data tests read ../shared/data and skip, saying why, when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --workspace --all-targets
bash scripts/build-plugins.sh
cargo test --release --workspace "$@"
