#!/usr/bin/env bash
# Builds every plugin out of tree, as a plugin author would — each in a temporary folder with its
# own Cargo.lock, workspace and profile, depending on this checkout's nnunet-core by path — and
# puts the files the tests load in target/plugins/:
#   * the refusal fixtures (plugins/fixtures/headers/refused.rs, rustc, no dependencies);
#   * MedNeXt, the example plugins and the panicky fixture, in the release profile;
#   * the `nnunet plugin new` scaffold, by running the quick start of docs/plugins.md exactly as
#     written (debug profile), then again with serde_json pinned at 1.0.140 with
#     `arbitrary_precision` (ours: newer, without) — dependency layouts that must not matter;
#   * a scaffold of every other kind, built, tested and listed (not kept).
# The release builds share one target folder (NNUNET_PLUGIN_TARGET, default this workspace's
# target/): their own lockfiles pin the same versions as ours, so cargo reuses the compiled
# torch-sys and tch instead of building them again (LIBTORCH must then be the same string as
# .cargo/config.toml gives the workspace: $repo/.libtorch). Needs target/release/nnunet.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$repo/target/plugins"
nnunet="$repo/target/release/nnunet"
[[ -x "$nnunet" ]] || { echo "build nnunet first: cargo build --release -p nnunet-cli" >&2; exit 1; }
export LIBTORCH="${LIBTORCH:-$repo/.libtorch}" LIBTORCH_CXX11_ABI=1
unset CARGO_TARGET_DIR # the quick start builds in its own target folder, as a user's would
shared_target="${NNUNET_PLUGIN_TARGET:-$repo/target}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
step() { echo "== build-plugins: $*" >&2; }

# 1. Refusal fixtures: another plugin ABI, another libtorch flavour, a forged and a truncated header.
host_torch="$(sed -n "s/^__version__ = '\(.*\)'$/\1/p" "$LIBTORCH/version.py")"
case "$host_torch" in *+cpu) other_torch="${host_torch%+*}+cu130" ;; *) other_torch="${host_torch%+*}+cpu" ;; esac
for fixture in abi flavour forged truncated; do
    step "fixture $fixture"
    claimed="$host_torch"
    [[ $fixture == flavour ]] && claimed="$other_torch"
    FIXTURE_LIBTORCH="$claimed" rustc --edition 2024 --crate-type cdylib -C opt-level=1 \
        --cfg "fixture=\"$fixture\"" --crate-name "nnunet_fixture_$fixture" \
        -o "$out/libnnunet_fixture_$fixture.so" "$repo/plugins/fixtures/headers/refused.rs"
done

# 2. Release plugins: every crate under plugins/ (a folder with a Cargo.toml), but the refusal
#    fixtures of step 1.
mapfile -t plugin_dirs < <(cd "$repo" && find plugins -name Cargo.toml -not -path '*/target/*' \
    -not -path 'plugins/fixtures/headers/*' -printf '%h\n' | sort)
#    Each is copied out of the tree with its own lockfile (seeded from ours: cargo
#    adds what a changed nnunet-core needs, so no --locked).
for dir in "${plugin_dirs[@]}"; do
    name="$(basename "$dir")"
    step "$name (release, out of tree)"
    cp -r "$repo/$dir" "$tmp/$name"
    sed -i -E "s#path = \"(\.\./)+(core|build-support)\"#path = \"$repo/\2\"#" "$tmp/$name/Cargo.toml"
    (cd "$tmp/$name" && CARGO_TARGET_DIR="$shared_target" cargo build --release --quiet)
done
for dir in "${plugin_dirs[@]}"; do
    lib="$(sed -n 's/^name = "\(.*\)"/\1/p' "$repo/$dir/Cargo.toml" | head -n 1 | tr - _)"
    cp "$shared_target/release/lib$lib.so" "$out/"
done

# 3. The scaffold: the guide's quick start, verbatim, in a fresh folder (its own target folder).
quickstart="$(awk '/<!-- quickstart -->/ {f = 1; next} f && /^```/ {if (g) exit; g = 1; next} g' \
    "$repo/docs/plugins.md")"
[[ -n "$quickstart" ]] || { echo "docs/plugins.md: no quick start block found" >&2; exit 1; }
step "the quick start of docs/plugins.md:"$'\n'"$quickstart"
mkdir "$tmp/quickstart"
(cd "$tmp/quickstart" && PATH="$repo/target/release:$PATH" bash -euxo pipefail -c "$quickstart")
scaffold="$(find "$tmp/quickstart" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
step "$(basename "$scaffold") again, debug, serde_json =1.0.140 with arbitrary_precision"
(
    cd "$scaffold"
    cargo add --quiet serde_json@=1.0.140 --features arbitrary_precision
    cargo build --quiet
    cargo test --quiet
    grep -q 'name = "serde_json"' Cargo.lock && grep -A1 'name = "serde_json"' Cargo.lock | grep -q '1.0.140'
)
cp "$scaffold"/target/debug/lib*.so "$out/"

# 4. Every other kind `nnunet plugin new` writes builds, passes its own test and loads (debug, in
#    the scaffold's target folder, so only the new crates compile).
for kind in network trainer postprocessor io augmentation; do
    step "nnunet plugin new scaffold-$kind --kind $kind"
    (
        cd "$tmp/quickstart"
        "$nnunet" plugin new "scaffold-$kind" --kind "$kind" >/dev/null
        cd "scaffold-$kind"
        CARGO_TARGET_DIR="$scaffold/target" cargo build --quiet
        tests="$(CARGO_TARGET_DIR="$scaffold/target" cargo test --quiet 2>&1)"
        grep -q 'test result: ok. [1-9]' <<<"$tests" || { echo "$tests" >&2; exit 1; }
        listed="$("$nnunet" plugins list --plugin "$scaffold/target/debug/libscaffold_$kind.so")"
        grep -q "scaffold-$kind" <<<"$listed" || { echo "$listed" >&2; exit 1; }
    )
done
step "done: $(ls "$out" | tr '\n' ' ')"
