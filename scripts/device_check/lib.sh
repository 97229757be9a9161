# Helpers of scripts/device_check.sh (sourced, not run): the step runner with its time limits, the
# nvidia-smi sampler, and reading epoch times out of training logs.
#
# Every step's exit status and seconds go to $LOGS/steps.tsv (name, status, seconds, limit), which
# report.py turns into the table; a step's output goes to $LOGS/<name>.log.

# Seconds since the check started.
elapsed() { echo $(($(date +%s) - DC_STARTED)); }

# Seconds left before the packing reserve.
remaining() { echo $((DC_STARTED + DC_BUDGET_S - DC_PACK_RESERVE_S - $(date +%s))); }

# step NAME LIMIT_S COMMAND...: runs COMMAND under `timeout` (the smaller of LIMIT_S × DC_LIMIT_SCALE
# and the time left), output to $LOGS/NAME.log; records the outcome. Returns the command's status.
# A step that has too little time left is not started and counts as failed ("no-time").
step() {
    local name=$1 limit=$(($2 * ${DC_LIMIT_SCALE:-1}))
    shift 2
    local left
    left=$(remaining)
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
        printf '%s\tno-time\t0\t0\n' "$name" >>"$LOGS/steps.tsv"
        echo "== $name: NOT RUN (out of time at $(elapsed) s)"
        DC_FAILED+=("$name")
        return 124
    fi
    echo "== $name (limit ${limit} s, at $(elapsed) s): $*"
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout -k 10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$limit" >>"$LOGS/steps.tsv"
    if [ "$rc" -eq 0 ]; then
        echo "   ok in ${secs} s"
    else
        [ "$rc" -eq 124 ] && echo "   TIMED OUT after ${secs} s" || echo "   FAILED (exit $rc) after ${secs} s"
        echo "   --- last lines of $LOGS/$name.log:"
        tail -n 25 "$LOGS/$name.log" | sed 's/^/   | /'
        DC_FAILED+=("$name")
    fi
    return "$rc"
}

# sampler_start NAME / sampler_stop: nvidia-smi samples (ms timestamp, GPU busy %, memory MiB)
# every 200 ms into $LOGS/NAME.smi.csv while a step runs; nothing without nvidia-smi.
sampler_start() {
    DC_SAMPLER_PID=""
    command -v nvidia-smi >/dev/null 2>&1 || return 0
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used \
        --format=csv,noheader,nounits -lms 200 >"$LOGS/$1.smi.csv" 2>/dev/null &
    DC_SAMPLER_PID=$!
}

sampler_stop() {
    [ -n "${DC_SAMPLER_PID:-}" ] || return 0
    kill "$DC_SAMPLER_PID" 2>/dev/null
    wait "$DC_SAMPLER_PID" 2>/dev/null
    DC_SAMPLER_PID=""
}

# sampled_step NAME LIMIT COMMAND...: `step` with the GPU sampler around it.
sampled_step() {
    local name=$1
    sampler_start "$name"
    step "$@"
    local rc=$?
    sampler_stop
    return "$rc"
}

# epoch_seconds LOGFILE: the "Epoch time: X s" values of a training log (ours and nnU-Net's
# write the same line), one a line.
epoch_seconds() {
    [ -f "$1" ] || return 0
    sed -n 's/.*Epoch time: \([0-9.]*\) s.*/\1/p' "$1"
}

# steady_epoch_seconds LOGFILE: the mean epoch time without the first epoch (cuDNN autotuning,
# allocator warm-up, worker start-up), or the first one when there is only one.
steady_epoch_seconds() {
    epoch_seconds "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        if (NR == 1) { printf "%.3f", v[1]; exit }
        s = 0; for (i = 2; i <= NR; i++) s += v[i]; printf "%.3f", s / (NR - 1) }'
}

# newest FILE-GLOB...: the most recently modified of the files given (nnU-Net's training logs
# carry a timestamp in their name).
newest() { ls -t "$@" 2>/dev/null | head -n 1; }
