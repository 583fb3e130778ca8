# Shared by coco.sh and voc.sh (sourced, not run): the full-scale protocol, one copy for both datasets.
#
# Sourcing it turns on strict mode, moves to the repository root and sets the defaults every
# full-scale study shares (CA_YOLO, SEEDS, DEVICE; each overridable from the environment). The
# sourcing script sets DATA (the converted dataset) and MODELS, then calls prepare_data and compare.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CA_YOLO=${CA_YOLO:-ca-yolo}
SEEDS=${SEEDS:-0,1,2}
DEVICE=${DEVICE:-0}

# prepare_data CONVERTER ARGS...: convert once (`ca-yolo data CONVERTER ARGS...` into $DATA, images
# symlinked) unless $DATA/data.yaml exists, then check the dataset.
prepare_data() {
  if [[ ! -f "$DATA/data.yaml" ]]; then
    $CA_YOLO data "$@" --out "$DATA" --images symlink
  fi
  $CA_YOLO data check "$DATA/data.yaml"
}

# compare NAME [KEY=VALUE...]: train every model once per seed with identical settings (Ultralytics'
# default schedule: 100 epochs, imgsz 640, batch 16, from scratch), evaluate, write the report to
# runs/compare/NAME/report.md. Extra keys override these settings.
compare() {
  local name=$1
  shift
  $CA_YOLO compare data="$DATA/data.yaml" models="$MODELS" seeds="$SEEDS" \
    epochs=100 imgsz=640 batch=16 device="$DEVICE" workers=8 \
    project=runs/compare name="$name" "$@"
}
