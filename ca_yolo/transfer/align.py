"""Which base row is which variant row: align a base model YAML with an attention variant of it.

A variant is its base with registered attention rows inserted (``ca-yolo yaml``). Given both model
dicts, :func:`align` finds where each base row went, checking that

- every variant row is either a base row, in order, with the same repeats, module and args, or an
  inserted row whose module is a registered layer (reading the row just before it),
- every ``from`` reference still means the same thing: a base row that read row ``r`` reads, in the
  variant, ``r``'s new index or the last attention layer inserted right after it (relative and
  absolute forms are compared by the row they point at),
- both use the same scale (depth, width, max_channels).

Anything else is not "this checkpoint is the base of this model", and the error names the first
row where the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from ca_yolo.errors import CaYoloError
from ca_yolo.nn.registry import get_layer
from ca_yolo.plugin.yaml_rows import model_rows, picked_scale

_MAX_STEPS = 100_000  # backtracking budget; real models need a few dozen steps


class TransferError(CaYoloError, ValueError):
    """The checkpoint is not the base of the model it is transferred into."""


@dataclass(frozen=True)
class Alignment:
    """Where base rows went in the variant.

    Attributes:
        index_map: ``index_map[b]`` is the variant row of base row ``b``.
        inserted: Variant rows that are inserted attention layers (not in the base).
    """

    index_map: tuple[int, ...]
    inserted: tuple[int, ...]

    @property
    def identity(self) -> bool:
        """True when nothing was inserted: the two models have the same layers."""
        return not self.inserted


def _scale(d: dict) -> tuple[str, list]:
    """(scale name, multipliers) as Ultralytics' parser picks them; [depth, width] for a model without scales."""
    name, multipliers = picked_scale(d)
    return name, multipliers if name else multipliers[:2]


def _absolute(f: int | list, i: int) -> tuple[str, tuple[int, ...]]:
    """A row's ``from`` as absolute row indices (Ultralytics: negative counts back from row ``i``)."""
    refs = [f] if isinstance(f, int) else list(f)
    return ("int" if isinstance(f, int) else "list"), tuple(r + i if r < 0 else r for r in refs)


def _row_text(row: list) -> str:
    return f"[{row[0]}, {row[1]}, {row[2]}, {row[3]}]"


def align(base: dict, variant: dict, what: str = "checkpoint") -> Alignment:
    """Map the rows of model dict ``base`` to those of ``variant`` (a base plus inserted attention rows).

    Args:
        base: Model dict of the checkpoint (its ``model.yaml``).
        variant: Model dict of the model receiving the weights.
        what: How to name the checkpoint in error messages (e.g. its path).

    Raises:
        TransferError: The scales differ, or ``variant`` is not ``base`` plus registered layers; the
            message names the first variant row that does not fit.
    """
    B, V = model_rows(base), model_rows(variant)
    if len(V) < len(B):
        raise TransferError(f"{what} is not the base of this model: it has {len(B)} layers, the model only {len(V)}")

    index_map: list[int] = []
    inserted: list[int] = []
    worst = [(-1, -1), ""]  # furthest (base row, variant row) reached, and why it failed there
    steps = [0]

    def fail(j: int, i: int, why: str) -> bool:
        if (j, i) > worst[0]:
            worst[0], worst[1] = (j, i), why
        return False

    def reads(r: int, i: int) -> int:
        """Variant row that stands for base row ``r`` as an input, while base row len(index_map) sits at ``i``."""
        nxt = index_map[r + 1] if r + 1 < len(index_map) else i
        return nxt - 1  # r's new row, or the last attention layer inserted right after it

    def search(i: int, j: int) -> bool:
        steps[0] += 1
        if steps[0] > _MAX_STEPS:
            raise TransferError(f"{what}: could not align the model's layers with the checkpoint's (too ambiguous)")
        if j == len(B):
            return i == len(V) or fail(j, i, f"variant row {i} {_row_text(V[i])} comes after the base's last row")
        if i == len(V):
            return fail(j, i, f"base row {j} {_row_text(B[j])} is missing from the model")
        vrow, brow = V[i], B[j]
        if list(vrow[1:]) == list(brow[1:]):
            vkind, vref = _absolute(vrow[0], i)
            bkind, bref = _absolute(brow[0], j)
            expected = tuple(-1 if r < 0 else reads(r, i) for r in bref)
            if vkind == bkind and vref == expected:
                index_map.append(i)
                if search(i + 1, j + 1):
                    return True
                index_map.pop()
            else:
                fail(
                    j,
                    i,
                    f"variant row {i} {_row_text(vrow)} reads rows {list(vref)}, but base row {j} "
                    f"{_row_text(brow)} maps to rows {list(expected)}",
                )
        else:
            fail(j, i, f"variant row {i} {_row_text(vrow)} differs from base row {j} {_row_text(brow)}")
        spec = get_layer(vrow[2]) if isinstance(vrow[2], str) else None
        if spec is not None and len(V) - i > len(B) - j:
            if _absolute(vrow[0], i) != ("int", (i - 1,)):
                return fail(j, i, f"inserted row {i} {_row_text(vrow)} must read the row just before it (from -1)")
            inserted.append(i)
            if search(i + 1, j):
                return True
            inserted.pop()
        return False

    if not search(0, 0):
        raise TransferError(f"{what} is not the base of this model: {worst[1]}")
    (bs, bm), (vs, vm) = _scale(base), _scale(variant)
    if bm != vm:  # same layers, other widths/depths: no tensor would fit
        raise TransferError(
            f"{what} is not the base of this model: it is scale '{bs}' {list(bm)}, the model is scale '{vs}' "
            f"{list(vm)}; use the baseline checkpoint of the same scale"
        )
    return Alignment(tuple(index_map), tuple(inserted))
