#!/usr/bin/env bash
# The GPU check of issue #16, in one run: CUDA training with AMP, its speed and memory beside
# nnU-Net v2 2.8.1's on the same plans and iterations, an equal-budget accuracy comparison, MedNeXt
# from its plugin, and prediction of the 52 Hippocampus test images on CUDA. docs/gpu.md says how
# to carry it to a GPU machine and what each figure means.
#
#   scripts/device_check.sh              on the GPU machine (reads .device/ and .whl/, writes $OUT)
#   scripts/device_check.sh --dry-run    the same steps at tiny sizes on the CPU (CI runs this)
#
# Before a device run, here: scripts/device_wheels.sh (nnU-Net's wheels into .whl/) and
# scripts/device_pack.sh (binary, plugin and data, compressed, into .device/). The dry run needs neither: it
# uses target/release/, ../shared/data and the nnU-Net venv of scripts/peer_venv.sh
# (DC_NNUNET=0 skips nnU-Net's steps).
#
# Every step runs under its own time limit, and the whole under DC_BUDGET_S, so one failure or
# hang leaves the other steps' figures. Results: $OUT/device_check.md (the table), logs.tar.gz
# (every log, nvidia-smi samples, training logs, summaries), predictions.tar.gz, and the trained
# folds (weights without optimiser state) as folds.tar.xz, split into parts below 16 MiB.
# Exits non-zero, naming the failed steps, if any step failed.
#
# Sizes (environment, defaults device / dry run): DC_EPOCHS 10/1 × DC_ITERS 250/2 iterations
# (DC_VAL_ITERS 50/1 validation batches) for the accuracy step, fewer epochs when the speed step
# shows they would not fit; DC_SPEED_EPOCHS 3/1 × DC_SPEED_ITERS 60/2 (DC_SPEED_VAL_ITERS 2/1);
# DC_MEDNEXT_ITERS 20/1; DC_TRAIN_CASES all/20 and DC_TEST_CASES all/3 (a subset of the raw data);
# DC_BUDGET_S 500/1800 for the whole run; DC_LIMIT_SCALE 1/4 multiplies every step's time limit;
# DC_NNUNET_COMPILE f (nnU-Net's torch.compile; t turns it on).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

MODE=device
OUT_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dry-run) MODE=dry ;;
    --out) OUT_ARG=$2; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "device_check: unknown argument $1 (use --dry-run, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$MODE" = device ]; then
    : "${DC_EPOCHS:=10}" "${DC_ITERS:=250}" "${DC_VAL_ITERS:=50}"
    : "${DC_SPEED_EPOCHS:=3}" "${DC_SPEED_ITERS:=60}" "${DC_SPEED_VAL_ITERS:=2}"
    : "${DC_MEDNEXT_ITERS:=20}" "${DC_TRAIN_CASES:=all}" "${DC_TEST_CASES:=all}"
    : "${DC_BUDGET_S:=500}" "${DC_DEVICE:=cuda}"
    : "${DC_WORK:=/tmp/device_check}"
    : "${DC_BIN:=$DC_WORK/input/nnunet}" "${DC_PLUGIN:=$DC_WORK/input/libnnunet_plugin_mednext.so}"
    : "${DC_DATA:=$DC_WORK/input/Dataset004_Hippocampus}"
    OUT=${OUT_ARG:-${OUT:-}}
    [ -n "$OUT" ] || { echo "device_check: \$OUT is not set (use --out DIR)" >&2; exit 2; }
else
    : "${DC_EPOCHS:=1}" "${DC_ITERS:=2}" "${DC_VAL_ITERS:=1}"
    : "${DC_SPEED_EPOCHS:=1}" "${DC_SPEED_ITERS:=2}" "${DC_SPEED_VAL_ITERS:=1}"
    : "${DC_MEDNEXT_ITERS:=1}" "${DC_TRAIN_CASES:=20}" "${DC_TEST_CASES:=3}"
    # Limits are the device's, × 4: a CPU is slower than a GPU even at tiny sizes (MedNeXt).
    : "${DC_BUDGET_S:=1800}" "${DC_DEVICE:=cpu}" "${DC_LIMIT_SCALE:=4}"
    : "${DC_BIN:=$REPO/target/release/nnunet}"
    : "${DC_PLUGIN:=$REPO/target/plugins/libnnunet_plugin_mednext.so}"
    : "${DC_DATA:=$REPO/../shared/data/Dataset004_Hippocampus}"
    : "${DC_WORK:=$REPO/target/device_check_dry/work}"
    OUT=${OUT_ARG:-$REPO/target/device_check_dry/out}
fi
: "${DC_NNUNET:=1}" "${DC_NNUNET_COMPILE:=f}" "${DC_PACK_RESERVE_S:=25}"
DC_STARTED=$(date +%s)
DC_FAILED=()
DATASET=Dataset004_Hippocampus
W=$DC_WORK
LOGS=$W/logs
rm -rf "$W"
mkdir -p "$LOGS" "$OUT" "$W/raw" "$W/pred"
: >"$LOGS/steps.tsv"
for v in DC_EPOCHS DC_ITERS DC_VAL_ITERS DC_SPEED_EPOCHS DC_SPEED_ITERS DC_SPEED_VAL_ITERS \
    DC_MEDNEXT_ITERS DC_TRAIN_CASES DC_TEST_CASES DC_BUDGET_S DC_DEVICE DC_NNUNET DC_NNUNET_COMPILE; do
    echo "$v=${!v}"
done >"$LOGS/config.txt"
# shellcheck source=device_check/lib.sh
. "$REPO/scripts/device_check/lib.sh"

echo "device_check: $MODE run, device $DC_DEVICE, work $W, out $OUT, budget ${DC_BUDGET_S} s"
if [ "$MODE" = device ]; then
    # .device/ holds the binary, plugin and data compressed (scripts/device_pack.sh).
    step unpack 60 python3 "$REPO/scripts/device_check/unpack.py" "$REPO/.device" "$W/input"
fi
for f in "$DC_BIN" "$DC_PLUGIN"; do
    [ -f "$f" ] || { echo "device_check: $f is missing (device run: scripts/device_pack.sh; dry run: cargo build --release)" >&2; exit 2; }
done
[ -f "$DC_DATA/dataset.json" ] || { echo "device_check: no dataset at $DC_DATA" >&2; exit 2; }
BIN=$DC_BIN

# --- Python with nnU-Net, and libtorch for our binary ---------------------------------------------
PY=python3
if [ "$MODE" = device ]; then
    # The binary's rpath names the torch of the machine it was built on; use this machine's.
    TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
    [ -n "$TORCH_LIB" ] && export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    { echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; ldd "$BIN"; } >"$LOGS/ldd.log" 2>&1
    if [ "$DC_NNUNET" = 1 ]; then
        step python_setup 120 python3 -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target /tmp/site "$REPO"/.whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
elif [ "$DC_NNUNET" = 1 ]; then
    PY=$(bash scripts/peer_venv.sh) || { echo "device_check: scripts/peer_venv.sh failed (DC_NNUNET=0 skips nnU-Net)" >&2; exit 2; }
fi
export nnUNet_extTrainer=$REPO/scripts/device_check/nnunet_trainers
export nnUNet_compile=$DC_NNUNET_COMPILE
NP=$(nproc)
NN_PREDICT_PROCS=()
NN_TRAIN_ENV=()
if [ "$MODE" = dry ]; then
    # nnU-Net spawns worker processes (data augmentation, export: 8 by default), each importing
    # torch; on 2 CPUs that start-up is most of a dry run. No workers: the same code paths.
    # (nnUNet_n_proc_DA=0 only for training: the planner passes it to torch.set_num_threads.)
    export nnUNet_def_n_proc=1
    NP=1
    NN_PREDICT_PROCS=(-npp 1 -nps 1)
    NN_TRAIN_ENV=(nnUNet_n_proc_DA=0)
fi

# entry MODULE FUNCTION: the command line of an nnU-Net console command, run by this Python (as an
# array in ENTRY, since `timeout` runs programs, not shell functions).
entry() { ENTRY=("$PY" -c "import sys; from $1 import $2 as f; sys.exit(f())"); }

# --- data: the raw dataset, whole or a subset ------------------------------------------------------
RAW=$W/raw/$DATASET
if ! "$PY" "$REPO/scripts/device_check/subset.py" "$DC_DATA" "$RAW" "$DC_TRAIN_CASES" "$DC_TEST_CASES" \
    >"$LOGS/data.log" 2>&1; then
    cat "$LOGS/data.log"
    echo "device_check: could not prepare the dataset" >&2
    exit 2
fi
export nnUNet_raw=$W/raw
# nnU-Net's folders of one tool (rs, nn) and one results folder (speed, acc, mednext), as `env`
# command prefixes.
RS_SPEED=(env "nnUNet_preprocessed=$W/rs/pre" "nnUNet_results=$W/rs/speed")
RS_ACC=(env "nnUNet_preprocessed=$W/rs/pre" "nnUNet_results=$W/rs/acc")
RS_MEDNEXT=(env "nnUNet_preprocessed=$W/rs/pre" "nnUNet_results=$W/rs/mednext")
NN_SPEED=(env "nnUNet_preprocessed=$W/nn/pre" "nnUNet_results=$W/nn/speed")
NN_ACC=(env "nnUNet_preprocessed=$W/nn/pre" "nnUNet_results=$W/nn/acc")
mkdir -p "$W"/rs/pre "$W"/nn/pre

# --- i. doctor ------------------------------------------------------------------------------------
step doctor 30 "$BIN" doctor
cat "$LOGS/doctor.log"

# --- plans and preprocessing, both tools ----------------------------------------------------------
step preprocess_rs 150 "${RS_ACC[@]}" "$BIN" plan-and-preprocess -d 4 -c 3d_fullres
if [ "$DC_NNUNET" = 1 ]; then
    entry nnunetv2.experiment_planning.plan_and_preprocess_entrypoints plan_and_preprocess_entry
    step preprocess_nn 200 "${NN_ACC[@]}" "${ENTRY[@]}" -d 4 -c 3d_fullres -np "$NP" -npfp "$NP"
fi

TRAIN_COMMON=(train -d 4 -c 3d_fullres -f 0 --device "$DC_DEVICE")
entry nnunetv2.run.run_training run_training_entry
NN_TRAIN=("${NN_TRAIN_ENV[@]}" "${ENTRY[@]}" 4 3d_fullres 0 -tr nnUNetTrainer_DeviceCheck
    -device "$DC_DEVICE")
RS_FOLD=nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0
NN_FOLD=nnUNetTrainer_DeviceCheck__nnUNetPlans__3d_fullres/fold_0
# Fold 0 must be the same cases for both: nnU-Net uses our splits_final.json.
share_splits() {
    local ours=$W/rs/pre/$DATASET/splits_final.json
    [ -f "$ours" ] && [ -d "$W/nn/pre/$DATASET" ] && cp "$ours" "$W/nn/pre/$DATASET/splits_final.json"
}

# --- ii. speed: a fixed number of iterations, ours then nnU-Net's ---------------------------------
sampled_step speed_rs 120 "${RS_SPEED[@]}" "$BIN" "${TRAIN_COMMON[@]}" \
    --epochs "$DC_SPEED_EPOCHS" --iterations-per-epoch "$DC_SPEED_ITERS" \
    --validation-iterations "$DC_SPEED_VAL_ITERS" --no-validation
share_splits
if [ "$DC_NNUNET" = 1 ]; then
    sampled_step speed_nn 150 "${NN_SPEED[@]}" DEVICE_CHECK_EPOCHS="$DC_SPEED_EPOCHS" \
        DEVICE_CHECK_ITERS="$DC_SPEED_ITERS" DEVICE_CHECK_VAL_ITERS="$DC_SPEED_VAL_ITERS" \
        DEVICE_CHECK_SKIP_VAL=1 "${NN_TRAIN[@]}"
fi

# --- iv. MedNeXt-S from its plugin, a few iterations ----------------------------------------------
sampled_step mednext 90 "${RS_MEDNEXT[@]}" "$BIN" "${TRAIN_COMMON[@]}" \
    --network mednext-s-k3 --trainer mednext --plugin "$DC_PLUGIN" \
    --epochs 1 --iterations-per-epoch "$DC_MEDNEXT_ITERS" --validation-iterations 1 --no-validation

# --- iii. equal budget: the same epochs × iterations for both, fold 0 validation Dice -------------
# Epochs: DC_EPOCHS, or fewer when the speed step's epoch times say they would not fit in the time
# left (kept for prediction: DC_PREDICT_RESERVE_S).
: "${DC_PREDICT_RESERVE_S:=$([ "$MODE" = device ] && echo 110 || echo 60)}"
: "${DC_ACC_OVERHEAD_S:=$([ "$MODE" = device ] && echo 45 || echo 30)}"
TOOLS=1
[ "$DC_NNUNET" = 1 ] && TOOLS=2
ACC_LIMIT=$((($(remaining) - DC_PREDICT_RESERVE_S) / TOOLS))
EPOCHS=$DC_EPOCHS
per_iter() { # seconds per iteration of a speed log, or nothing
    local s
    s=$(steady_epoch_seconds "$1") || return 0
    awk -v s="$s" -v n="$((DC_SPEED_ITERS + DC_SPEED_VAL_ITERS))" 'BEGIN { printf "%.5f", s / n }'
}
if [ "$MODE" = device ]; then
    SLOWEST=$( { per_iter "$W/rs/speed/$DATASET/$RS_FOLD/training_log.txt"
        echo; per_iter "$(newest "$W"/nn/speed/$DATASET/$NN_FOLD/training_log_*.txt)"; } |
        awk 'NF { if ($1 > m) m = $1 } END { if (m > 0) print m }')
    if [ -n "$SLOWEST" ]; then
        FIT=$(awk -v l="$ACC_LIMIT" -v o="$DC_ACC_OVERHEAD_S" -v p="$SLOWEST" \
            -v n="$((DC_ITERS + DC_VAL_ITERS))" 'BEGIN { e = int((l - o) / (p * n)); print (e < 1 ? 1 : e) }')
        [ "$FIT" -lt "$EPOCHS" ] && EPOCHS=$FIT
    fi
fi
echo "$EPOCHS" >"$LOGS/accuracy_epochs.txt"
echo "== accuracy: $EPOCHS epoch(s) × $DC_ITERS iterations each (asked: $DC_EPOCHS), limit ${ACC_LIMIT} s each"
sampled_step accuracy_rs "$ACC_LIMIT" "${RS_ACC[@]}" "$BIN" "${TRAIN_COMMON[@]}" \
    --epochs "$EPOCHS" --iterations-per-epoch "$DC_ITERS" --validation-iterations "$DC_VAL_ITERS"
if [ "$DC_NNUNET" = 1 ]; then
    share_splits
    sampled_step accuracy_nn "$ACC_LIMIT" "${NN_ACC[@]}" DEVICE_CHECK_EPOCHS="$EPOCHS" \
        DEVICE_CHECK_ITERS="$DC_ITERS" DEVICE_CHECK_VAL_ITERS="$DC_VAL_ITERS" "${NN_TRAIN[@]}"
fi

# --- v. predict the test images: ours on the device and on the CPU, nnU-Net's on the device ------
step predict_rs 120 "${RS_ACC[@]}" "$BIN" predict -i "$RAW/imagesTs" -o "$W/pred/rs_$DC_DEVICE" \
    -d 4 -c 3d_fullres -f 0 --device "$DC_DEVICE"
step predict_rs_cpu 150 "${RS_ACC[@]}" "$BIN" predict -i "$RAW/imagesTs" -o "$W/pred/rs_cpu_fp32" \
    -d 4 -c 3d_fullres -f 0 --device cpu --precision fp32
step agreement 30 "$BIN" evaluate "$W/pred/rs_cpu_fp32" "$W/pred/rs_$DC_DEVICE" -d 4 \
    -o "$W/pred/agreement_${DC_DEVICE}_vs_cpu_fp32.json"
if [ "$DC_NNUNET" = 1 ]; then
    entry nnunetv2.inference.predict_from_raw_data predict_entry_point
    step predict_nn 150 "${NN_ACC[@]}" "${ENTRY[@]}" -i "$RAW/imagesTs" -o "$W/pred/nn_$DC_DEVICE" -d 4 -c 3d_fullres -f 0 \
        -tr nnUNetTrainer_DeviceCheck -device "$DC_DEVICE" --disable_progress_bar "${NN_PREDICT_PROCS[@]}"
fi

# --- vi. the table, logs, predictions and folds into $OUT -----------------------------------------
DC_PACK_RESERVE_S=0
step report 30 "$PY" "$REPO/scripts/device_check/report.py" "$W" "$OUT/device_check.md" \
    "$MODE" "$DC_DEVICE" "${DC_FAILED[*]:-}"
step pack 60 "$PY" "$REPO/scripts/device_check/pack.py" "$W" "$OUT"
cat "$OUT/device_check.md" 2>/dev/null
echo "device_check: $(elapsed) s in all; files in $OUT:"
ls -la "$OUT"
if [ ${#DC_FAILED[@]} -gt 0 ]; then
    echo "device_check: FAILED steps: ${DC_FAILED[*]}" >&2
    exit 1
fi
echo "device_check: all steps passed"
