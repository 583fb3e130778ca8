"""Default places for attention layers in a detection YAML (``--at backbone,neck``).

The rule, measured on the model rather than read from comments:

- **backbone**: for each stride the detection head consumes (P3/P4/P5, or P2..P5 / P3..P6 for the
  -p2 / -p6 variants), after the *last learned backbone row at that stride that precedes the first
  pooling or attention tail block* (SPPF, SPP, SPPELAN, C2PSA, PSA, AIFI). "Learned" skips
  parameter-free rows (pooling, padding, upsampling, concatenation), so YOLOv3-tiny gets its stage
  convs rather than its max-pools. These are the stage blocks that end each stage: rows 4, 6, 8 in
  YOLOv5/8/9t/10/11/12/26 (plus 2 for -p2 and 10 for -p6), 22, 25, 28 in YOLOv9e. Attending before
  SPPF keeps the pyramid pooling on attended features, as in the CA paper's placement in
  MobileNetV2 blocks.
- **neck**: after each row the head reads (its ``from`` list), i.e. the last block of each output
  scale, so the head sees attended features (YOLOv8: 15, 18, 21).
"""

from __future__ import annotations

import json
from functools import lru_cache

from ca_yolo.plugin.parser import probe_shapes
from ca_yolo.plugin.yaml_rows import model_rows

TAIL_BLOCKS = {"SPPF", "SPP", "SPPELAN", "C2PSA", "PSA", "AIFI"}
# Rows without parameters never end a stage for this rule (they only move or merge features).
PARAMETER_FREE = {
    "Concat",
    "Index",
    "CBFuse",
    "nn.Upsample",
    "nn.MaxPool2d",
    "nn.AvgPool2d",
    "nn.ZeroPad2d",
    "nn.Identity",
    "nn.Dropout",
}
PLACES = ("backbone", "neck")


def default_places(d: dict, at: str | list[str] = "backbone,neck") -> dict[int, str]:
    """Base row indices (with a reason each) for ``at`` = backbone, neck or both.

    Raises:
        ValueError: ``at`` names something other than backbone/neck, or the model has no head rows.
    """
    parts = [p.strip() for p in (at.split(",") if isinstance(at, str) else at) if p.strip()]
    bad = [p for p in parts if p not in PLACES]
    if bad or not parts:
        raise ValueError(f"--at takes backbone, neck or backbone,neck; got {at!r}")
    rows = model_rows(d)
    head_from = rows[-1][0]
    head_inputs = [head_from] if isinstance(head_from, int) else list(head_from)
    head_inputs = [k + len(rows) - 1 if k < 0 else k for k in head_inputs]
    places: dict[int, str] = {}
    if "backbone" in parts:
        places.update(_backbone_places(d, rows, head_inputs))
    if "neck" in parts:
        for k in head_inputs:
            places.setdefault(k, f"neck: feeds the head (input {head_inputs.index(k) + 1} of {len(head_inputs)})")
    return dict(sorted(places.items()))


@lru_cache(maxsize=32)
def _strides(key: str) -> tuple[int | None, ...]:
    """Stride of each row's output (None where not a feature map) for a model dict given as JSON."""
    d = json.loads(key)
    shapes = probe_shapes(d, d.get("ch", 3), last=len(model_rows(d)) - 2)
    size = 256  # probe input size
    return tuple(size // s[-1] if s and len(s) == 4 else None for s in shapes)


def _backbone_places(d: dict, rows: list[list], head_inputs: list[int]) -> dict[int, str]:
    # The probe builds the model (on the meta device); cached because one base is often derived
    # several times (the shipped YAMLs: 8 variants of yolov8.yaml).
    stride = _strides(json.dumps(d, sort_keys=True))
    wanted = sorted({stride[k] for k in head_inputs if k < len(stride) and stride[k]})
    n_backbone = len(d.get("backbone", []))
    tail = next((i for i in range(n_backbone) if str(rows[i][2]).split(".")[-1] in TAIL_BLOCKS), n_backbone)
    places = {}
    for s in wanted:
        at_stride = [i for i in range(tail) if stride[i] == s]
        learned = [i for i in at_stride if str(rows[i][2]) not in PARAMETER_FREE]
        at_stride = learned or at_stride
        if at_stride:
            places[at_stride[-1]] = f"backbone: ends the P{s.bit_length() - 1}/{s} stage"
    return places
