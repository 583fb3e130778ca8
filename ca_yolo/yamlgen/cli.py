"""``ca-yolo yaml``: derive an attention variant of any Ultralytics model YAML.

ca-yolo yaml yolo11.yaml --attn CoordAtt --at backbone,neck -o yolo11-ca.yaml
ca-yolo yaml my_model.yaml --attn SE --after 4,6,8,15 -o my_model-se.yaml
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ca_yolo.errors import command_parser, report

# Where a scale letter would go in a name that has none: right after the version digits (the place
# Ultralytics' guess_model_scale reads it from).
VERSION_PREFIX = re.compile(r"^(yolo(?:e-)?v?\d+)(.*)$")


def scale_hint(out: Path, model: dict) -> str | None:
    """How to pick a scale for a written YAML: Ultralytics reads it from the file *name* only."""
    from ultralytics.nn.tasks import guess_model_scale

    scales = list(model.get("scales") or {})
    if not scales or guess_model_scale(out):
        return None
    m = VERSION_PREFIX.match(out.stem)
    if m:
        example = f"{m.group(1)}{scales[-1]}{m.group(2)}{out.suffix}"
        return f"pick a scale by name: model={example} loads {out.name} at scale '{scales[-1]}'"
    return (
        f"Ultralytics reads the scale from the file name (yolov8s-... -> 's'); '{out.name}' has none, so the "
        f"first scale '{scales[0]}' is used. Name it like yolov8-<suffix>.yaml to choose one."
    )


def _int_list(text: str) -> list[int]:
    """'4,6,8' or '[4, 6, 8]' -> [4, 6, 8]."""
    items = [t.strip() for t in text.strip().strip("[]").split(",") if t.strip()]
    try:
        return [int(t) for t in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _check_after(after: list[int], base: Path) -> None:
    """Every ``--after`` row must exist in the base and not be its head; a negative one counts from the end once.

    Raises:
        UsageError: naming the first row out of range and the valid range.
    """
    import yaml

    from ca_yolo.errors import UsageError

    d = yaml.safe_load(base.read_text(encoding="utf-8"))
    n = len(d.get("backbone") or []) + len(d.get("head") or []) if isinstance(d, dict) else 0
    if n == 0:
        return  # not a model YAML: derive() says so
    for a in after:
        if not (0 <= a <= n - 2 or -n <= a <= -2):
            raise UsageError(
                f"--after {a} is out of range: {base.name} has rows 0..{n - 1} (row {n - 1} is the head), "
                f"so layers go after rows 0..{n - 2}, or -{n}..-2 counted from the end"
            )


def _check_row_args(attn: str, args: list[int]) -> None:
    """``--args`` must be the layer's own settings (``16``: a reduction), not channel counts.

    The row rule reads a first number above 32 as a channel count, so ``--args 64`` would not be the
    reduction the help text promises; channels are measured by the plugin and never need giving.

    Raises:
        UsageError: naming the value, how the row rule reads it and the settings the layer takes.
    """
    from ca_yolo.errors import UsageError
    from ca_yolo.nn.registry import get_layer
    from ca_yolo.plugin.yaml_rows import MAX_REDUCTION, forms, settings_of, split_args

    settings = settings_of(get_layer(attn).cls)
    given = ",".join(map(str, args))
    try:
        channels, _ = split_args(args, settings)
    except ValueError as e:
        raise UsageError(f"--args {given}: {e}; {attn} rows take {forms(settings)}") from None
    if channels:
        raise UsageError(
            f"--args {given}: a first number above {MAX_REDUCTION} is a channel count in a {attn} row, not a "
            f"setting; give only the settings ({', '.join(settings)}), each <= {MAX_REDUCTION}: channels are inferred"
        )


DESCRIPTION = (
    "Write a copy of a model YAML with attention layers inserted; every 'from' index is rewritten so the variant "
    "computes the base graph plus the attention layers."
)
EPILOG = (
    "Default places (--at): backbone = after the last learned row of each stage the head uses (P3/P4/P5, before "
    "SPPF/C2PSA); neck = after each row the head reads. Example: "
    "ca-yolo yaml yolov8.yaml --attn CBAM --at backbone,neck -o yolov8-cbam.yaml"
)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``ca-yolo yaml``."""
    from ca_yolo.nn import layer_names

    p = command_parser("yaml", DESCRIPTION, epilog=EPILOG)
    p.add_argument("base", help="model YAML: a path, or a stock Ultralytics name (yolov8.yaml, yolo11n-seg.yaml, ...)")
    p.add_argument("--attn", default="CoordAtt", choices=layer_names(), help="layer to insert (default CoordAtt)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--at", default=None, help="backbone, neck or backbone,neck (default backbone,neck)")
    where.add_argument(
        "--after",
        type=_int_list,
        default=None,
        help="explicit base row indices, e.g. 4,6,8,15 (use --after=-2 for negatives)",
    )
    p.add_argument("-o", "--out", default=None, help="output YAML (default: print the YAML to stdout)")
    p.add_argument(
        "--args",
        type=_int_list,
        default=None,
        help="args of each inserted row, e.g. 16 (reduction; ECA: kernel size); default: none, channels inferred",
    )
    p.add_argument(
        "--init",
        default="identity",
        choices=["identity", "paper"],
        help="how fresh attention layers start: near the identity (default) or as in the papers' code",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return p


def main(argv: list[str]) -> int:
    """Run ``ca-yolo yaml``; returns 0 on success, 2 on a wrong command line, 1 on an unusable base or output.

    Every failure is one line ``ca-yolo yaml: error: ...`` (see :mod:`ca_yolo.errors`); nothing is
    written unless the variant builds.
    """
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except Exception as e:  # noqa: BLE001  (reported as one line; the traceback with --debug)
        return report("yaml", _classify(e, args.base))


def _classify(e: Exception, base: str) -> Exception:
    """The :class:`CaYoloError` to report for ``e``: a base that cannot be read is a data problem (1),
    any other refusal of the derivation (bad places, args the layer rejects) a usage problem (2)."""
    import yaml

    from ca_yolo.errors import CaYoloError, UsageError, not_found, yaml_problem

    if isinstance(e, CaYoloError):
        return e
    if isinstance(e, yaml.YAMLError):
        return CaYoloError(f"model YAML '{base}' is not valid YAML{yaml_problem(e)}")
    if isinstance(e, FileNotFoundError):
        return CaYoloError(not_found(e))
    if isinstance(e, UnicodeDecodeError):
        return CaYoloError(f"model YAML '{base}' is not a text file ({e.reason})")
    if isinstance(e, OSError):
        return CaYoloError(f"cannot read or write '{e.filename}': {e.strerror or e}")
    if isinstance(e, ValueError):
        return UsageError(str(e))
    return e


def _run(args: argparse.Namespace) -> int:
    from ca_yolo.atomic_io import write_text_atomic
    from ca_yolo.errors import CaYoloError, UsageError, check_output
    from ca_yolo.yamlgen.derive import derive, resolve_base

    out = Path(args.out) if args.out else None
    if out is not None and not out.is_dir() and out.suffix.lower() not in (".yaml", ".yml"):  # train refuses it
        raise UsageError(f"-o {out}: a model YAML must end in .yaml or .yml (Ultralytics reads model= by it)")
    if args.args:
        _check_row_args(args.attn, args.args)
    base_path, _ = resolve_base(args.base)
    if out is not None:
        if out.resolve() == base_path.resolve():  # --force must never destroy the input
            raise UsageError(f"-o {out} is the base YAML itself; write the variant to another file")
        check_output(out, "-o")
        if out.exists() and not args.force:
            raise CaYoloError(f"{out} exists; pass --force to overwrite it")
    if args.after:
        _check_after(args.after, base_path)
    variant = derive(
        args.base, args.attn, at=args.at or "backbone,neck", after=args.after, args=args.args, init=args.init
    )
    report_to = sys.stdout if out is not None else sys.stderr  # stdout carries the YAML when there is no -o
    if out is None:
        sys.stdout.write(variant.text)
    else:
        write_text_atomic(out, variant.text)
    print(
        f"{variant.base_name} + {len(variant.insertions)} x {args.attn}" + (f" -> {out}" if out else ""), file=report_to
    )
    for r in variant.insertions:
        print(
            f"  after base row {r.after} -> new row {r.index}" + (f"  ({r.reason})" if r.reason else ""), file=report_to
        )
    hint = scale_hint(out, variant.model) if out is not None else None
    if hint:
        print(f"note: {hint}", file=report_to)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
