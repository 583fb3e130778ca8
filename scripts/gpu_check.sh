#!/usr/bin/env bash
# The GPU check, one command, at most 9 minutes on one H200 (the steps' limits; about 5 when they finish
# early), or at most 5 with QUICK=1 (fewer timing rounds, no tile sweep: ratios scatter more): the GPU bench
# table (`ca-yolo bench --device 0 --parts gpu`), the layer probe, the CUDA tests and one
# `ca-yolo compare device=0` smoke run on the sample data; last, a summary page (summary.md).
#
# On a machine with a CUDA GPU, ca-yolo's dependencies installed (or carried as wheels: see docs/gpu.md):
#   bash scripts/gpu_check.sh OUT_DIR          # or: QUICK=1 bash scripts/gpu_check.sh OUT_DIR
# Every step has its own time limit, so one failure does not eat the others; logs and results go to OUT_DIR.
# The bench and the probe save their JSON after every row: a step its limit stops keeps what it measured.
set -u
OUT=${1:-runs/gpu-check}
mkdir -p "$OUT"
: > "$OUT/steps.txt"

step() {  # step NAME LIMIT_S COMMAND...; a limit of 0 skips the step
    local name=$1 limit=$2 start rc
    shift 2
    if [ "$limit" = 0 ]; then echo "$name: skipped" | tee -a "$OUT/steps.txt"; return; fi
    echo "== $name (limit ${limit} s): $*"
    start=$(date +%s)
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    echo "$name: exit $rc after $(( $(date +%s) - start )) s" | tee -a "$OUT/steps.txt"
    tail -n 15 "$OUT/$name.log"
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import torch, triton, ultralytics; print(torch.__version__, triton.__version__, ultralytics.__version__, \
torch.cuda.get_device_name(0))" > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"
# a copy without .git (git archive) names its commit in COMMIT
{ git rev-parse --short HEAD 2>/dev/null || cat COMMIT 2>/dev/null || echo "commit unknown"; } > "$OUT/commit.txt"

# Most important first, limits in LIMITS (a lent GPU machine may give one 10-minute call): the bench
# for yolov8n-ca (the two forms users run; the training rows get 5 rounds of 3 steps: with 3 of 2 they
# scattered by +-0.07 between checks), the layer probe, the bench for the other two families, the CUDA tests
# (the training ones first), the compare smoke run. BENCH_ARGS="" runs the full default table in the first
# bench step (about 5.5 minutes on its own); a limit of 0 skips a step.
BENCH_COMMON=(python3 -m ca_yolo.cli bench --device 0 --parts gpu)
BENCH_TIMING=(--gpu-iters 10,5,3 --gpu-rounds 5,4,5 --gpu-forms triton,torch)
# seconds: bench, probe, bench-others, tests-training, tests, compare (540 in all; QUICK=1: 300)
LIMITS=(160 90 130 50 70 40)
if [ "${QUICK:-0}" = 1 ]; then
    BENCH_TIMING=(--gpu-iters 10,5,2 --gpu-rounds 3,3,3 --gpu-forms triton,torch)
    LIMITS=(100 40 50 30 40 40)
    PROBE_ARGS=${PROBE_ARGS---no-sweep}
fi
# shellcheck disable=SC2086
step bench "${BENCH_LIMIT:-${LIMITS[0]}}" "${BENCH_COMMON[@]}" ${BENCH_ARGS---models yolov8-ca.yaml ${BENCH_TIMING[*]}} \
    --out "$OUT/bench-gpu.json" --markdown "$OUT/bench-gpu.md"
step probe "${PROBE_LIMIT:-${LIMITS[1]}}" python3 scripts/gpu_layer_probe.py "$OUT/layer-probe.json" ${PROBE_ARGS:-}
step bench-others "${BENCH_OTHERS_LIMIT:-${LIMITS[2]}}" "${BENCH_COMMON[@]}" --models yolo11-ca.yaml,yolo26-ca.yaml \
    "${BENCH_TIMING[@]}" --out "$OUT/bench-gpu-others.json" --markdown "$OUT/bench-gpu-others.md"
# the training kernels' CUDA checks first (the newest kernels), then the rest
TRAINING_TESTS="training or gate_net or gradients or autocast"
step tests-training "${TRAINING_TESTS_LIMIT:-${LIMITS[3]}}" python3 -m pytest -q -p no:cacheprovider tests/test_gpu_forms.py \
    -k "$TRAINING_TESTS"
step tests "${TESTS_LIMIT:-${LIMITS[4]}}" python3 -m pytest -q -p no:cacheprovider tests/test_gpu_forms.py \
    tests/test_coordatt_compile.py -k "not ($TRAINING_TESTS)"
step compare "${COMPARE_LIMIT:-${LIMITS[5]}}" python3 -m ca_yolo.cli compare device=0 epochs=1 seeds=0 workers=2 \
    project="$OUT/compare"
# the goals, per-layer times and steps on one page, last, where a truncated log still shows it
python3 scripts/gpu_check_summary.py "$OUT" | tee "$OUT/summary.md"
