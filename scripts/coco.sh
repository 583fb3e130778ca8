#!/usr/bin/env bash
# MS COCO, full scale: train on train2017 (118k images), evaluate on val2017 (5k images) against the
# official instances_val2017.json with pycocotools (and Ultralytics' validator); baseline vs CA.
#
#   COCO_ROOT=/data/coco bash scripts/coco.sh
#
# COCO_ROOT holds annotations/instances_{train,val}2017.json and train2017/, val2017/ (or
# images/train2017/, images/val2017/). Resumable: run the same command again after an
# interruption. The report lands in runs/compare/coco/report.md.
#
# Schedule: Ultralytics' defaults (100 epochs here, which is what `yolo train` uses; the published
# YOLOv8 COCO numbers use 500 epochs: pass epochs=500 to reproduce that), imgsz 640, batch 16,
# from scratch, 3 seeds, identical for every model.
#
# Expected run time (ESTIMATES, not measured: no GPU was available where this script was written;
# basis: YOLOv8n trains at roughly 150-300 images/s at 640 px on a data-center GPU with 8 loader
# workers). One run = one model, one seed, 100 epochs incl. per-epoch val on 5k images:
#   yolov8n:  ~12-20 h on one A100 / H100 (~7-12 min per epoch),  ~1.5-2.5 days on one RTX 3090.
#   2 models x 3 seeds = 6 runs is about 3-5 days on one H100; with several GPUs pass
#   DEVICE=0,1,2,3 (Ultralytics DDP, the batch of 16 is split across them).
# compare prints an ETA for the whole comparison after the first run: trust that over these lines.
source "$(dirname "$0")/full_scale.sh"  # strict mode, repo root, CA_YOLO/SEEDS/DEVICE, prepare_data, compare

: "${COCO_ROOT:?set COCO_ROOT to the COCO folder holding annotations/, train2017/, val2017/}"
DATA=${DATA:-datasets/coco}
MODELS=${MODELS:-yolov8n.yaml,yolov8n-ca.yaml}

# 1. Convert once (COCO JSON -> YOLO labels; the official val JSON is kept as the COCO GT).
prepare_data coco --root "$COCO_ROOT" --splits train2017 val2017

# 2. Train every model once per seed with identical settings, evaluate, write the report.
compare coco "$@"
