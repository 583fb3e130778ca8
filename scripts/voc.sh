#!/usr/bin/env bash
# PASCAL VOC, full scale: train on VOC2007 trainval + VOC2012 trainval (16,551 images), evaluate on
# VOC2007 test (4,952 images) with pycocotools and Ultralytics' validator; baseline vs CA variants.
#
#   VOC_ROOT=/data/VOCdevkit bash scripts/voc.sh
#
# VOC_ROOT is the VOCdevkit folder holding VOC2007/ (trainval and test) and VOC2012/ (trainval).
# Resumable: run the same command again after an interruption; finished runs are skipped and an
# interrupted run resumes from its last checkpoint. The report lands in runs/compare/voc/report.md.
#
# Schedule: Ultralytics' defaults (100 epochs, imgsz 640, batch 16, SGD/auto optimizer, mosaic
# closed for the last 10 epochs), from scratch, 3 seeds, identical for every model.
#
# Expected run time (ESTIMATES, not measured: no GPU was available where this script was written;
# basis: YOLOv8n trains at roughly 150-300 images/s at 640 px on a data-center GPU with 8 loader
# workers, usually loader-bound). One run = one model, one seed, 100 epochs incl. per-epoch val:
#   yolov8n:  ~2-3 h on one A100 / H100,  ~4-6 h on one RTX 3090 / A10,  ~10-12 h on one T4.
#   The CA variants add ~5-10 % per epoch. The default 4 models x 3 seeds = 12 runs is about
#   1-1.5 days on one H100; MODELS=yolov8n.yaml,yolov8n-ca.yaml halves that.
# compare prints an ETA for the whole comparison after the first run: trust that over these lines.
source "$(dirname "$0")/full_scale.sh"  # strict mode, repo root, CA_YOLO/SEEDS/DEVICE, prepare_data, compare

: "${VOC_ROOT:?set VOC_ROOT to the VOCdevkit folder holding VOC2007/ (with test) and VOC2012/}"
DATA=${DATA:-datasets/VOC}
MODELS=${MODELS:-yolov8n.yaml,yolov8n-ca.yaml,yolov8n-ca-backbone.yaml,yolov8n-ca-neck.yaml}

# 1. Convert once (VOC XML -> YOLO labels + COCO GT of VOC2007 test; difficult objects = ignore regions).
prepare_data voc --root "$VOC_ROOT" --years 2007 2012

# 2. Train every model once per seed with identical settings, evaluate, write the report.
compare voc "$@"
