"""How a YAML row's arguments become constructor arguments for channel-preserving layers.

Ultralytics' parser never tells a third-party layer its input channels, so the plugin measures
them (:mod:`ca_yolo.plugin.parser`) and calls a layer's *yaml_args* function with them.
For attention layers the accepted row forms are::

    [-1, 1, CoordAtt, []]            # defaults
    [-1, 1, CoordAtt, [16]]          # reduction (a single number <= MAX_REDUCTION)
    [-1, 1, CoordAtt, [1024]]        # nominal channels before width scaling (YOLO-fork style)
    [-1, 1, CoordAtt, [1024, 32]]    # nominal channels, reduction

A nominal channel count is checked against the real input channels after width scaling, the same
rule Ultralytics applies to its own layers: ``make_divisible(min(c, max_channels) * width, 8)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A single number up to this is read as a reduction ratio, above it as a channel count. Reductions
# beyond 32 are meaningless here: mip = max(8, C // r) is already at its floor of 8 for C <= 256.
MAX_REDUCTION = 32


def model_rows(d: dict) -> list[list]:
    """Rows ``[from, n, module, args]`` of a model dict, backbone then head, indexed as Ultralytics does."""
    return list(d.get("backbone") or []) + list(d.get("head") or [])


@dataclass(frozen=True)
class RowContext:
    """Where a YAML row sits and how the model is scaled, for building and for error messages."""

    index: int  # row index over backbone + head, as in Ultralytics' layer table
    name: str  # module name in the row, e.g. "CoordAtt"
    width: float = 1.0
    max_channels: float = float("inf")
    scale: str = ""

    def scaled(self, channels: int) -> int:
        """Channels a nominal count becomes at this scale (Ultralytics' rule for its own layers)."""
        return math.ceil(min(channels, self.max_channels) * self.width / 8) * 8


def attention_yaml_args(c1: int, args: list, ctx: RowContext) -> list:
    """Constructor args ``[c1]`` or ``[c1, reduction]`` for a channel-preserving attention layer.

    Args:
        c1: Real input channels of the row.
        args: The row's argument list from the YAML.
        ctx: Row position and model scaling.

    Raises:
        ValueError: Too many args, non-integers, or a nominal channel count that does not match.
    """
    where = f"model YAML row {ctx.index} ({ctx.name})"
    if len(args) > 2 or not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in args):
        raise ValueError(
            f"{where}: args must be [], [reduction], [channels] or [channels, reduction] with positive integers, "
            f"got {args}"
        )
    if not args:
        return [c1]
    if len(args) == 1 and args[0] <= MAX_REDUCTION:
        return [c1, args[0]]
    nominal, reduction = args[0], (args[1] if len(args) == 2 else None)
    expected = ctx.scaled(nominal)
    if expected != c1:
        at_scale = f" at scale '{ctx.scale}'" if ctx.scale else ""
        raise ValueError(
            f"{where}: channels {nominal} become {expected}{at_scale} (width {ctx.width}, max_channels "
            f"{ctx.max_channels:g}), but the row's input has {c1} channels; expected nominal channels that "
            f"scale to {c1}, or omit the channel argument"
        )
    return [c1] if reduction is None else [c1, reduction]
