"""How a YAML row's arguments become constructor arguments for channel-preserving layers.

Ultralytics' parser never tells a third-party layer its input channels, so the plugin measures
them (:mod:`ca_yolo.plugin.parser`) and calls a layer's *yaml_args* function with them.

The rule for attention rows (README, "Attention rows in any YAML"), for ``args`` of positive
integers, at most two channel counts followed by the layer's own settings, which each layer class
declares as ``row_settings`` (CoordAtt and SE: ``r``, the default; CBAM: ``r, k``; ECA: ``k``)::

    []                  defaults
    [r]                 a number <= 32 is a setting, never a channel count
    [C] / [C, r]        a first number > 32 is a channel count (nominal or real)
    [inp, oup] / [inp, oup, r]
                        the paper's CoordAtt(inp, oup, reduction): a second number > 32, or equal to
                        the first, is a channel count too; a third number is always a setting

So a number that can be a channel count is never read as a reduction, and a reduction above 32 is
only ever taken from an explicit third number. CBAM also follows Ultralytics' ``CBAM(c1,
kernel_size)`` order: a lone setting of 3 or 7 (its only kernel sizes) is the kernel size.

Channel counts are checked against the row's real input channels ``c1``: a count matches if it *is*
``c1`` (written for one scale), is the input's *nominal* count (what it has at width 1 without the
``max_channels`` cap, e.g. 768 for a Concat of nominal 512 and 256 maps: the parser measures it), or
scales to ``c1`` by Ultralytics' rule for its own layers (``make_divisible(min(c, max_channels) *
width, 8)``). The layer is always built with ``c1`` (an attention layer cannot change the channel
count); a count that matches none of these gets one warning naming the row, the written and the real
count.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ultralytics.utils.ops import make_divisible

from ca_yolo.errors import CaYoloError

# A number up to this is read as a setting (reduction, kernel size), above it as a channel count.
# Reductions beyond 32 are meaningless here: mip = max(8, C // r) is already at its floor of 8 for C <= 256.
MAX_REDUCTION = 32
# Settings a row may give after the channel counts when the layer class declares no ``row_settings``.
DEFAULT_ROW_SETTINGS: tuple[str, ...] = ("reduction",)
_SHORT = {"reduction": "r", "kernel_size": "k", "k_size": "k"}
_LONE_KERNEL_SIZES = (3, 7)  # Ultralytics' SpatialAttention accepts only these


class ModelYamlError(CaYoloError, ValueError):
    """A model YAML cannot be built as written; the message is one line naming the row and module."""


def model_rows(d: dict) -> list[list]:
    """Rows ``[from, n, module, args]`` of a model dict, backbone then head, indexed as Ultralytics does."""
    return list(d.get("backbone") or []) + list(d.get("head") or [])


def picked_scale(d: dict) -> tuple[str, list]:
    """(scale name, [depth, width, max_channels]) as Ultralytics' parser picks them for model dict ``d``.

    The name is ``d["scale"]``, else the first of ``scales:``. Where ``scales:`` has no entry for it
    (no block, or a name it does not declare) the name is "" and the multipliers are the top-level
    ``depth_multiple`` / ``width_multiple`` (default 1.0) with no channel cap (inf).
    """
    scales = d.get("scales")
    if scales:
        name = d.get("scale") or next(iter(scales))
        if name in scales:
            return name, list(scales[name])
    return "", [d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0), float("inf")]


@dataclass(frozen=True)
class RowContext:
    """Where a YAML row sits and how the model is scaled, for building and for error messages."""

    index: int  # row index over backbone + head, as in Ultralytics' layer table
    name: str  # module name as written in the row, e.g. "CoordAtt" or an alias such as "CA"
    width: float = 1.0
    max_channels: float = float("inf")
    scale: str = ""
    cls: type | None = None  # the registered class the row builds
    nominal: int | None = None  # the input's channels at width 1 without the max_channels cap, if measured
    warnings: list[str] = field(default_factory=list, compare=False)  # filled by yaml_args functions

    @property
    def where(self) -> str:
        """``model YAML row 5 (CA)``: the prefix of every message about this row."""
        return f"model YAML row {self.index} ({self.name})"

    def scaled(self, channels: int) -> int:
        """Channels a nominal count becomes at this scale (Ultralytics' rule for its own layers)."""
        return int(make_divisible(min(channels, self.max_channels) * self.width, 8))


def settings_of(cls: type | None) -> tuple[str, ...]:
    """Names of the settings a row may give after its channel counts: the class's ``row_settings``
    (constructor order), by default ``("reduction",)``."""
    return getattr(cls, "row_settings", DEFAULT_ROW_SETTINGS)


def split_args(args: list, settings: tuple[str, ...]) -> tuple[list[int], dict[str, int]]:
    """Split a row's args into channel counts and named settings by the module's rule (no channel check).

    Raises:
        ValueError: Non-integers, or more numbers than the layer has places for (message without row).
    """
    if not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in args):
        raise ValueError("only positive integers")
    n_channels = 0
    if len(args) >= 2 and args[0] == args[1]:
        n_channels = 2  # (inp, oup) with oup == inp: a reduction never repeats the channel count
    elif args and args[0] > MAX_REDUCTION:
        n_channels = 2 if len(args) >= 2 and args[1] > MAX_REDUCTION else 1
    channels, rest = list(args[:n_channels]), list(args[n_channels:])
    if len(rest) > len(settings):
        raise ValueError(f"{len(rest)} settings after {n_channels} channel counts, at most {len(settings)}")
    if len(rest) == 1 and "kernel_size" in settings and rest[0] in _LONE_KERNEL_SIZES:
        return channels, {"kernel_size": rest[0]}
    return channels, dict(zip(settings, rest))


def forms(settings: tuple[str, ...]) -> str:
    """The accepted row forms for a layer's settings, e.g. ``[], [r], [C, r], [inp, oup, r]``."""
    s = ", ".join(_SHORT.get(n, n) for n in settings)
    return f"[], [{s}], [C, {s}], [inp, oup, {s}] (trailing numbers optional)"


def attention_yaml_args(c1: int, args: list, ctx: RowContext) -> list:
    """Constructor args ``[c1, *settings]`` for a channel-preserving attention layer.

    Args:
        c1: Real input channels of the row.
        args: The row's argument list from the YAML.
        ctx: Row position, model scaling and the class built; channel mismatches are appended to
            ``ctx.warnings`` (one line per row).

    Raises:
        ModelYamlError: The args fit none of the forms (the message names the row and the forms).
    """
    settings = settings_of(ctx.cls)
    try:
        channels, given = split_args(args, settings)
    except ValueError as e:
        raise ModelYamlError(f"{ctx.where}: args {args} fit none of the forms {forms(settings)}: {e}") from None
    wrong = [c for c in channels if c not in (c1, ctx.nominal) and ctx.scaled(c) != c1]
    if wrong:
        scaled = [ctx.scaled(c) for c in wrong]
        at = f" at scale '{ctx.scale}'" if ctx.scale else f" at width {ctx.width:g}"
        becomes = f" ({', '.join(map(str, scaled))}{at})" if scaled != wrong else ""
        nominal = f" (nominal {ctx.nominal})" if ctx.nominal not in (None, c1) else ""
        ctx.warnings.append(
            f"{ctx.where}: written channels {', '.join(map(str, wrong))}{becomes}, real input {c1}{nominal}; "
            f"built with {c1} (an attention layer keeps its input's channels)"
        )
    return [c1, *_positional(ctx.cls, settings, given)]


def _positional(cls: type | None, settings: tuple[str, ...], given: dict[str, int]) -> list[int]:
    """Settings as positional constructor args after ``c1``; a skipped one takes the constructor's default."""
    if not given:
        return []
    last = max(settings.index(k) for k in given)
    params = inspect.signature(cls).parameters if cls is not None else {}
    return [given[n] if n in given else params[n].default for n in settings[: last + 1]]
