"""``ca-yolo eval``: COCO-standard mAP (pycocotools) of one checkpoint on one dataset split."""

from __future__ import annotations

from pathlib import Path

from ca_yolo.cli_args import (
    ArgError,
    check_device,
    check_ultralytics_settings,
    parse_command,
    typed,
    usage_exit_code,
)
from ca_yolo.errors import CaYoloError, check_output, report
from ca_yolo.evaluation.cocoeval import format_coco_table
from ca_yolo.evaluation.tide import format_tide_line
from ca_yolo.evaluation.vocmetric import format_voc_line

USAGE = """\
usage: ca-yolo eval model=PATH.pt data=DATA.yaml [key=value ...]

COCO-standard box metrics (pycocotools: AP@[.5:.95], AP50, AP75, AP small/medium/large, AR) of a
trained checkpoint on a YOLO-format dataset, the PASCAL VOC metric (AP@0.5, VOC07 11-point and
all-point, difficult objects ignored) and Ultralytics' own mAP50 and mAP50-95, all from one pass of
Ultralytics' validator (the pass 'yolo val' makes, so its numbers are exactly those).
The COCO ground truth is the data YAML's 'coco_gt:' file if it has one, else it is built from the
YOLO labels.

keys:
  model=     checkpoint to evaluate (required)
  data=      data YAML (required)
  split=     split to evaluate (default val)
  imgsz=     inference size (default: the size the checkpoint was trained at)
  batch=     images per forward pass (default 16; the validator's rect batches letterbox per batch)
  device=    cpu, 0, 0,1 ... (default: Ultralytics' choice)
  coco_gt=   COCO GT JSON to use instead (images matched by file name, classes by name)
  conf= iou= max_det=   validator settings (default 0.001, 0.7, 300, as in validation)
  ultralytics=  validator (default): also print Ultralytics' numbers of the pass; none: leave them
             out (the pass is the same; 'shared' is another name for validator)
  save_dir=  also write metrics.json and detections.json (COCO results format) there
"""

_KEYS = {"model", "data", "split", "imgsz", "batch", "device", "coco_gt", "conf", "iou", "max_det", "save_dir",
         "ultralytics"}  # fmt: skip
_ULTRA = {"validator": True, "shared": True, "none": False}


def main(argv: list[str]) -> int:
    """Run ``ca-yolo eval``; return 0 on success, 2 on bad arguments, 1 on a bad checkpoint, dataset or output.

    Arguments, the device, the checkpoint and ``save_dir=`` are checked before the model loads;
    ``metrics.json`` and ``detections.json`` are written together or not at all.
    """
    if (rc := usage_exit_code(argv, USAGE)) is not None:
        return rc
    try:
        args, settings, ultra = _checked_args(argv)
        from ca_yolo.evaluation.evaluate import evaluate_checkpoint
        from ca_yolo.plugin.checkpoint import read_checkpoint, require_task

        # The one loading rule first: a payload, a state_dict or a whole pickled model is refused by
        # name before Ultralytics opens the file; COCO box mAP is defined for detection models only.
        require_task(read_checkpoint(str(args["model"])), args["model"], "detect", "eval (COCO box mAP)")
        out = None if not args.get("save_dir") else Path(str(args["save_dir"]))
        if out is not None:
            check_output(out, "save_dir=", folder=True)
        result = evaluate_checkpoint(
            str(args["model"]),
            str(args["data"]),
            split=str(args.get("split") or "val"),
            device=None if args.get("device") is None else str(args["device"]),
            coco_gt=args.get("coco_gt"),
            ultralytics_val=_ULTRA[ultra],
            tide=True,
            **settings,
        )
        if out is not None:
            from ca_yolo.atomic_io import write_json_files_atomic

            try:
                write_json_files_atomic(
                    out, {"metrics.json": (result.summary(), 2), "detections.json": (result.detections_list, None)}
                )
            except OSError as e:
                raise CaYoloError(f"cannot write save_dir={out}: {e.strerror or e}; nothing was written") from None
    except CaYoloError as e:
        return report("eval", e)
    print(f"\nCOCO-standard metrics (pycocotools) of {args['model']} on {args['data']} [{args.get('split') or 'val'}]")
    print(
        f"{result.images} images, {result.gt_objects} objects, {result.detections} detections; GT: {result.gt_source}"
    )
    print(format_coco_table(result.coco))
    print(format_voc_line(result.voc))
    print(format_tide_line(result.tide))
    u = result.ultralytics
    if u:
        print(f"Ultralytics' validator: mAP50 {u['mAP50']:.3f}  mAP50-95 {u['mAP50-95']:.3f}  (same pass)")
    if out is not None:
        print(f"wrote {out / 'metrics.json'} and {out / 'detections.json'}")
    return 0


def _checked_args(argv: list[str]) -> tuple[dict, dict, str]:
    """The parsed arguments, the validator settings and the ``ultralytics=`` choice, each checked.

    Raises:
        ArgError: a malformed or unknown key, a value of the wrong type, or one Ultralytics rejects
            (its own ``get_cfg`` range checks, e.g. ``iou=2``; its ``select_device``, e.g. ``device=cuda:7``).
    """
    args = parse_command(argv, _KEYS, required=("model", "data"))
    settings = {
        "imgsz": typed(args, "imgsz", int),
        "batch": typed(args, "batch", int, 16),
        "conf": typed(args, "conf", float, 0.001),
        "iou": typed(args, "iou", float, 0.7),
        "max_det": typed(args, "max_det", int, 300),
    }
    raw = args.get("ultralytics", "validator")
    ultra = "none" if raw is None else str(raw).lower()  # 'none' parses to None
    if ultra not in _ULTRA:
        raise ArgError(f"ultralytics={args['ultralytics']} must be validator or none")
    check_ultralytics_settings({k: args[k] for k in settings if args.get(k) is not None})  # as given: 'iou=2'
    check_device(None if args.get("device") is None else str(args["device"]))
    return args, settings, ultra
