#!/usr/bin/env bash
# Baseline vs CA (and SE, CBAM at identical places) on real PASCAL VOC 2007 images.
#
#   bash scripts/voc_cpu_study.sh            # CPU study (~2 h on 2 cores), runs in the background
#   FOREGROUND=1 bash scripts/voc_cpu_study.sh
#   FULL=1 VOC_ROOT=/data/VOCdevkit bash scripts/voc_cpu_study.sh   # paper-scale protocol on a GPU
#
# Resumable: run the same command again after an interruption; finished runs are skipped and an
# interrupted run resumes from its last checkpoint (that is `ca-yolo compare`'s behaviour).
#
# The CPU schedule, chosen before any result was seen (nothing is tuned on the val split):
#   - data: the VOC2007 subset in ../shared/data/voc2007-subset (official train/val split), thinned
#     to every 3rd train id (622 images) and every 4th val id (471 images). Two CPU cores train a
#     YOLOv8n at roughly 10-20 images/s at 160 px (measured here, 5-10 under load), so 10 epochs
#     plus a per-epoch val is ~6-10 min per run, and 4 models x 3 seeds = 12 runs fit in about 2 h.
#     Measured: 60 min for all 12 runs (3-6 min each; see docs/results/voc2007-cpu/STUDY.md).
#   - imgsz 160: VOC objects are large (median box ~1/3 of the image side), so most stay
#     detectable at 160 px, and it buys 2.5x the epochs of 256 px for the same time.
#   - 10 epochs from scratch (no pretrained weights: none may be downloaded, and the question is
#     whether the layer helps the detector learn), batch 16, close_mosaic 2 (mosaic for the first
#     8 epochs, as Ultralytics closes it for the last ~10% of longer schedules), nbs 16 (Ultralytics'
#     nominal batch 64 would accumulate 4 batches per step: only ~100 optimizer steps in the whole
#     schedule; measured on the sample dataset, nbs 16 is what lets a 10-epoch run learn at all),
#     everything else Ultralytics' defaults, identical for every model.
#   - 3 seeds per model, so the paired CA - baseline difference is set against seed noise.
# At this scale absolute mAP is low; the study asks only whether CA's difference to the baseline
# exceeds seed-to-seed noise under identical conditions.
set -euo pipefail
cd "$(dirname "$0")/.."

# Overridable for a quick smoke run of this script (e.g. STUDY=voc-smoke EPOCHS=1 SEEDS=0
# TRAIN_EVERY=40 VAL_EVERY=60) or a follow-up (STUDY=voc2007-cpu-20ep EPOCHS=20
# MODELS=yolov8n.yaml,yolov8n-ca.yaml); the defaults are the study. EXTRA="attn_stats=True" adds
# compare keys (here: each run's attention statistics).
STUDY=${STUDY:-voc2007-cpu}
EPOCHS=${EPOCHS:-10}
SEEDS=${SEEDS:-0,1,2}
TRAIN_EVERY=${TRAIN_EVERY:-3}
VAL_EVERY=${VAL_EVERY:-4}
OUT_DIR=${OUT_DIR:-docs/results/$STUDY}
RUNS=runs/voc-study
LOG=$RUNS/$STUDY.log
CA_YOLO=${CA_YOLO:-ca-yolo}
MODELS=${MODELS:-yolov8n.yaml,yolov8n-ca.yaml,yolov8n-se.yaml,yolov8n-cbam.yaml}

if [[ "${FOREGROUND:-0}" != 1 && "${FULL:-0}" != 1 ]]; then
  mkdir -p "$RUNS"
  FOREGROUND=1 nohup bash "$0" >>"$LOG" 2>&1 &
  echo "VOC CPU study running in the background (pid $!); log: $LOG; report: $OUT_DIR/report.md"
  exit 0
fi

if [[ "${FULL:-0}" == 1 ]]; then
  # Paper-scale protocol: VOC07+12 trainval -> VOC07 test, all images, 640 px, Ultralytics' default
  # schedule (100 epochs), 3 seeds. Needs a GPU and the full VOCdevkit (VOC2007 with test, VOC2012).
  : "${VOC_ROOT:?set VOC_ROOT to the VOCdevkit folder holding VOC2007/ (with test) and VOC2012/}"
  [[ -f datasets/VOC/data.yaml ]] || $CA_YOLO data voc --root "$VOC_ROOT" --out datasets/VOC --images symlink
  $CA_YOLO compare data=datasets/VOC/data.yaml models=$MODELS seeds=0,1,2 epochs=100 imgsz=640 batch=16 \
    project=runs/voc-study name=voc-full
  exit 0
fi

SUBSET=${VOC_SUBSET:-../shared/data/voc2007-subset}
[[ -d "$SUBSET/VOCdevkit/VOC2007" ]] || { echo "no VOC subset at $SUBSET (set VOC_SUBSET)" >&2; exit 1; }
start=$(date +%s)
echo "== $(date -u +%FT%TZ) VOC CPU study starts"
if [[ ! -f datasets/$STUDY/data.yaml ]]; then
  python scripts/voc_subset_view.py "$SUBSET/VOCdevkit" "datasets/$STUDY-src/VOCdevkit" --train-every "$TRAIN_EVERY" --val-every "$VAL_EVERY"
  $CA_YOLO data voc --root "datasets/$STUDY-src/VOCdevkit" --out "datasets/$STUDY" --images symlink --force
fi
$CA_YOLO compare data=datasets/$STUDY/data.yaml models=$MODELS seeds=$SEEDS epochs=$EPOCHS imgsz=160 batch=16 \
  close_mosaic=2 nbs=16 device=cpu workers=0 plots=False project=$RUNS name=$STUDY ${EXTRA:-}
end=$(date +%s)

# Keep the small, readable part of the report in the repo: no checkpoints, no dataset files.
mkdir -p "$OUT_DIR"
src=$RUNS/$STUDY
find "$src" -maxdepth 1 -type f \( -name '*.md' -o -name '*.json' -o -name '*.csv' -o -name '*.png' \) \
  -exec cp {} "$OUT_DIR"/ \;
[[ -d "$src/plots" ]] && mkdir -p "$OUT_DIR/plots" && cp "$src"/plots/*.png "$OUT_DIR/plots/" 2>/dev/null || true
[[ -d "$src/attention" ]] && mkdir -p "$OUT_DIR/attention" && cp -r "$src"/attention/. "$OUT_DIR/attention/" || true
for f in "$src"/*/attention_stats.csv "$src"/*/attention_stats.png; do
  [[ -f "$f" ]] && mkdir -p "$OUT_DIR/attention_stats" && cp "$f" "$OUT_DIR/attention_stats/$(basename "$(dirname "$f")")-$(basename "$f")"
done
cat >"$OUT_DIR/STUDY.md" <<EOT
# VOC2007 CPU study: how it was run

- Command: \`bash scripts/voc_cpu_study.sh\` (resumable; see the script's header for the schedule and why)
- This invocation: $(date -u -d @"$start" +%FT%TZ) to $(date -u -d @"$end" +%FT%TZ), wall time $(( (end - start) / 60 )) min
  (resumed runs count only the time of this invocation; report.md has per-run times)
- Data: $(python -c "import json;d=json.load(open('datasets/$STUDY/conversion.json'));print(d.get('protocol',''))" 2>/dev/null || echo VOC2007 subset), thinned by scripts/voc_subset_view.py (--train-every $TRAIN_EVERY --val-every $VAL_EVERY), $EPOCHS epochs, seeds $SEEDS
- Machine: $(nproc) CPU cores, $(python -c "import platform;print(platform.processor() or platform.machine())"), no GPU
EOT
echo "== $(date -u +%FT%TZ) VOC CPU study done in $(( (end - start) / 60 )) min; report: $OUT_DIR/report.md"
