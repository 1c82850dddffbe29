#!/usr/bin/env bash
# One GPU check of bevdetr, ready for when a device is lent (≤ 8 minutes on one GPU):
#   1. smoke test: the tiny preset on the device (CUDA + bf16 autocast), one short epoch;
#   2. the `full` preset at the study's lr pair x 2 seeds, as four concurrent
#      processes on the one GPU, cut to fit (EPOCHS x TRAIN_SAMPLES; every run also stops at
#      RUN_LIMIT_S, its log up to then is kept), logging the attention statistics as always;
#   3. benchmarks/gpu_check_summary.py: samples/s, peak memory, final loss / mAP / attention
#      statistics and the diagnosis of every run in OUT/summary.md and summary.json, the curves
#      in OUT/curves.csv and OUT/evals.csv.
#
#   bash benchmarks/gpu_check.sh OUT_DIR
#
# Everything is an environment variable so that the suite runs the same script on the CPU with
# tiny cut-down settings (tests/bevdetr/test_gpu_check.py):
#   DEVICE=cuda PRESET=full LRS="5e-4 2.5e-3" SEEDS="0 1" EPOCHS=4 TRAIN_SAMPLES=8000 VAL_SAMPLES=500
#   RUN_LIMIT_S=330 SMOKE_LIMIT_S=90 SMOKE_ARGS="--epochs 1 --train-samples 320 --val-samples 32"
#   EXTRA_ARGS="" (more `bevdetr train` options for step 2)
set -u
OUT=${1:?usage: gpu_check.sh OUT_DIR}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-full}
# the study's pair is PETR's 2e-4 against 5x it; here: full's own lr against 5x it
LRS=${LRS:-"5e-4 2.5e-3"}
SEEDS=${SEEDS:-"0 1"}
EPOCHS=${EPOCHS:-4}
TRAIN_SAMPLES=${TRAIN_SAMPLES:-8000}
VAL_SAMPLES=${VAL_SAMPLES:-500}
RUN_LIMIT_S=${RUN_LIMIT_S:-330}
SMOKE_LIMIT_S=${SMOKE_LIMIT_S:-90}
SMOKE_ARGS=${SMOKE_ARGS:-"--epochs 1 --train-samples 320 --val-samples 32"}
EXTRA_ARGS=${EXTRA_ARGS:-}
HERE=$(cd "$(dirname "$0")" && pwd)
BEVDETR=(python -m bevdetr.cli train)

mkdir -p "$OUT"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "device: $DEVICE"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} > "$OUT/environment.txt" 2>&1

echo "[1/3] smoke: tiny on $DEVICE"
# shellcheck disable=SC2086
if ! timeout "$SMOKE_LIMIT_S" "${BEVDETR[@]}" --preset tiny --device "$DEVICE" $SMOKE_ARGS \
    --work-dir "$OUT/smoke" > "$OUT/smoke.txt" 2>&1; then
  echo "smoke test failed (see $OUT/smoke.txt):"
  tail -5 "$OUT/smoke.txt"
  exit 1
fi
tail -2 "$OUT/smoke.txt"

echo "[2/3] $PRESET at lr {$LRS} x seeds {$SEEDS}, concurrently on $DEVICE (each stops at ${RUN_LIMIT_S}s)"
pids=()
for lr in $LRS; do
  for seed in $SEEDS; do
    name="lr-$lr-seed$seed"
    # shellcheck disable=SC2086
    timeout "$RUN_LIMIT_S" "${BEVDETR[@]}" --preset "$PRESET" --device "$DEVICE" --lr "$lr" --seed "$seed" \
      --epochs "$EPOCHS" --train-samples "$TRAIN_SAMPLES" --val-samples "$VAL_SAMPLES" $EXTRA_ARGS \
      --work-dir "$OUT/$name" > "$OUT/$name.txt" 2>&1 &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || { rc=$?; [ "$rc" -eq 124 ] || status=$rc; }   # 124: stopped at the limit, log kept
done

echo "[3/3] summary"
python "$HERE/gpu_check_summary.py" "$OUT" || status=1
cat "$OUT/summary.md"
exit "$status"
