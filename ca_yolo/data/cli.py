"""``ca-yolo data``: convert VOC/COCO to YOLO, check a YOLO dataset, make the sample dataset."""

from __future__ import annotations

import argparse
import sys

from ca_yolo.cli_args import int_at_least
from ca_yolo.errors import check_output, command_parser, report

_EPILOG = """examples:
  ca-yolo data voc --root ~/data/VOCdevkit --out datasets/VOC
  ca-yolo data coco --root ~/data/coco --out datasets/coco --images symlink
  ca-yolo data check datasets/VOC/data.yaml
  ca-yolo data sample --out datasets/sample
  ca-yolo data gt my_dataset.yaml --split val
"""


def _add_convert_args(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", default=default_out, help=f"output dataset folder (default: {default_out})")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--skip-bad", action="store_true", help="leave out bad images with a warning instead of failing")
    p.add_argument(
        "--images",
        choices=("copy", "hardlink", "symlink"),
        default="copy",
        help="how images reach the output: copy (default, safest), hardlink or symlink (no extra disk space)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``ca-yolo data`` argument parser."""
    parser = command_parser(
        "data",
        "Datasets for ca-yolo: convert PASCAL VOC / COCO to the YOLO layout, validate, make the sample.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{voc,coco,check,sample,gt}")

    p = sub.add_parser(
        "voc",
        help="PASCAL VOC XML -> YOLO (train = 07+12 trainval, val = 07 test)",
        description=(
            "Convert a VOCdevkit folder. train = VOC2007 trainval (+ VOC2012 trainval), val = VOC2007 test; "
            "without VOC2007 test: train/val splits of the years present. Difficult objects are left out of "
            "the labels and kept as ignore regions (iscrowd=1) in annotations/val.json."
        ),
    )
    p.add_argument("--root", required=True, help="the VOCdevkit folder (holding VOC2007/, VOC2012/)")
    p.add_argument("--years", nargs="+", default=None, help="years to use (default: 2007 and 2012, those present)")
    _add_convert_args(p, "datasets/VOC")

    p = sub.add_parser(
        "coco",
        help="COCO instances JSON -> YOLO (80 classes, crowd boxes skipped)",
        description=(
            "Convert COCO (annotations/instances_<split>.json, images in <split>/ or images/<split>/). "
            "Category ids 1..90 map to classes 0..79; iscrowd boxes are skipped; the val JSON is kept as coco_gt."
        ),
    )
    p.add_argument("--root", required=True, help="the COCO folder (holding annotations/, train2017/, val2017/)")
    p.add_argument("--splits", nargs=2, default=["train2017", "val2017"], metavar=("TRAIN", "VAL"))
    _add_convert_args(p, "datasets/coco")

    p = sub.add_parser("check", help="validate a YOLO dataset (exit code 1 on errors)")
    p.add_argument("data", help="data YAML")
    p.add_argument("--splits", nargs="+", choices=("train", "val", "test"), help="splits to check (default: all)")
    p.add_argument("--no-decode", action="store_true", help="do not decode images (only check they exist)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors too")
    p.add_argument(
        "--max-listed", type=int_at_least(1), default=20, help="files listed per kind of problem (default: 20)"
    )

    p = sub.add_parser("sample", help="make the synthetic sample dataset (deterministic, no download)")
    from .sample import DEFAULT_OUT, DEFAULTS

    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--seed", type=int_at_least(0), default=DEFAULTS["seed"])
    p.add_argument("--n-train", type=int_at_least(1), default=DEFAULTS["n_train"])
    p.add_argument("--n-val", type=int_at_least(1), default=DEFAULTS["n_val"])
    p.add_argument("--imgsz", type=int_at_least(32), default=DEFAULTS["imgsz"])
    p.add_argument("--force", action="store_true", help="replace a different dataset at --out")

    p = sub.add_parser("gt", help="write COCO ground truth JSON for a split of any YOLO dataset")
    p.add_argument("data", help="data YAML")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--out", default=None, help="JSON path (default: <dataset>/annotations/<split>.json)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command in ("voc", "coco", "sample"):  # before the work: a long conversion must not end in a write error
        check_output(args.out, "--out", folder=True)
    elif args.command == "gt" and args.out:
        check_output(args.out, "--out")
    if args.command == "voc":
        from .voc import convert_voc

        convert_voc(args.root, args.out, args.years, args.force, args.skip_bad, args.images)
    elif args.command == "coco":
        from .coco import convert_coco

        convert_coco(args.root, args.out, tuple(args.splits), args.force, args.skip_bad, args.images)
    elif args.command == "check":
        from .check import check_dataset

        report = check_dataset(args.data, args.splits, decode=not args.no_decode)
        print(report.format(args.max_listed))
        return 1 if report.errors or (args.strict and report.warnings) else 0
    elif args.command == "sample":
        from .sample import make_sample

        path = make_sample(args.out, args.seed, args.n_train, args.n_val, args.imgsz, args.force, log=print)
        print(path)
    elif args.command == "gt":
        from .cocojson import coco_gt_from_yolo

        print(coco_gt_from_yolo(args.data, args.split, args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``ca-yolo data ...``; return 0 on success, 1 on bad data, 2 on bad usage."""
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:  # argparse exits on --help (0) and on usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    if not args.command:
        parser.print_help()
        return 2
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"ca-yolo data {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as e:  # one line: the message of a DataError, type and message of anything else
        return report(f"data {args.command}", e)
