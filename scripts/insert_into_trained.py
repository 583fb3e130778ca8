"""What inserting attention layers does to a trained detector before any fine-tuning (epoch 0).

For a trained baseline checkpoint and each attention variant, the baseline's tensors are transferred
into the variant (``ca_yolo.transfer_weights``), then:

- train mode: relative difference of the variant's raw head outputs to the baseline's on val images
  (BatchNorm normalises with batch statistics, so a uniform scale in front of a conv + BN cancels);
- eval mode: Ultralytics' val mAP50-95 / mAP50 of the untouched transfer (BatchNorm uses the running
  statistics recorded for the baseline's features: the first validation of a fine-tune sees this).

Prints a JSON object and a markdown table; ``--out`` writes both.

    python scripts/insert_into_trained.py runs/compare/sample-init/yolov8n-seed0/weights/best.pt \
        --data datasets/sample/data.yaml --imgsz 160 --models yolov8n-ca-paper.yaml,yolov8n-ca.yaml
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True)
    p.add_argument("--imgsz", type=int, default=160)
    p.add_argument("--models", default="yolov8n-ca-paper.yaml,yolov8n-ca.yaml")
    p.add_argument("--out", default=None, help="folder for insert.json / insert.md")
    a = p.parse_args()

    import copy

    import cv2
    import numpy as np
    import torch
    from train_mode_change import train_mode_change  # scripts/train_mode_change.py, beside this script
    from ultralytics import YOLO
    from ultralytics.data.augment import LetterBox

    import ca_yolo
    from ca_yolo.evaluation.dataset import read_split

    base = YOLO(a.checkpoint)
    images = read_split(Path(a.data), "val").images[:16]
    lb = LetterBox((a.imgsz, a.imgsz), auto=False)
    x = torch.from_numpy(np.stack([lb(image=cv2.imread(str(i)))[..., ::-1].transpose(2, 0, 1) for i in images]).copy())
    x = x.float() / 255

    def val(yolo) -> dict:
        m = yolo.val(data=a.data, imgsz=a.imgsz, batch=16, device="cpu", plots=False, verbose=False, workers=0)
        return {"mAP50-95": round(float(m.box.map), 4), "mAP50": round(float(m.box.map50), 4)}

    ref_model = copy.deepcopy(base.model).float()
    rows = [{"model": "baseline (as trained)", "train_mode_rel_diff": 0.0, **val(base)}]
    for cfg in a.models.split(","):
        variant = YOLO(cfg)
        variant.model = type(variant.model)(cfg, nc=len(base.model.names), verbose=False)  # the baseline's classes
        ca_yolo.transfer_weights(variant.model, base.model)
        variant.model.names = base.model.names
        diff = train_mode_change(ref_model, copy.deepcopy(variant.model), x)
        # Ultralytics validates a checkpoint-like model: give it the baseline's args.
        variant.model.args = base.model.args
        rows.append({"model": Path(cfg).stem, "train_mode_rel_diff": round(diff, 4), **val(variant)})
    table = [
        "| model (baseline weights transferred, no training) | train-mode output rel. diff | eval mAP50-95 "
        "| eval mAP50 |",
        "|---|---:|---:|---:|",
    ]
    table += [
        f"| {r['model']} | {r['train_mode_rel_diff']:.4f} | {r['mAP50-95']:.3f} | {r['mAP50']:.3f} |" for r in rows
    ]
    print(json.dumps(rows, indent=1))
    print("\n".join(table))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "insert.json").write_text(json.dumps(rows, indent=1))
        (out / "insert.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
