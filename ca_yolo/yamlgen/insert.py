"""Insert layers into an Ultralytics model dict after given rows, rewriting every ``from`` index.

Inserting a layer after row ``k`` shifts every later row by one. The rewrite keeps the graph:

- a row that read ``k`` now reads the inserted layer (the attended features), whether it named
  ``k`` as ``-1`` (it follows directly), by absolute index, or by another negative offset;
- every other reference is moved to the row's new index;
- relative references stay relative (``-1`` stays ``-1``), absolute ones stay absolute.

With the inserted layers replaced by identities the variant computes exactly the base model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ca_yolo.plugin.yaml_rows import model_rows


@dataclass
class Insertion:
    """Record of one inserted row, for comments and weight transfer."""

    after: int  # base row index the layer follows
    index: int  # the inserted row's index in the variant
    module: str
    args: list = field(default_factory=list)
    reason: str = ""


def new_index_map(n_rows: int, after: list[int]) -> list[int]:
    """``new[i]``: index in the variant of base row ``i`` when layers go after each row in ``after``."""
    targets = set(after)
    shift, new = 0, []
    for i in range(n_rows):
        new.append(i + shift)
        shift += i in targets
    return new


def insert_after(
    d: dict, after: list[int], module: str = "CoordAtt", args: list | None = None, reasons: dict[int, str] | None = None
) -> tuple[dict, list[Insertion]]:
    """Return a copy of model dict ``d`` with ``[-1, 1, module, args]`` after each base row in ``after``.

    Args:
        d: Model dict (``backbone`` and ``head`` lists of ``[from, n, module, args]``).
        after: Base row indices (0-based over backbone + head; negative counts from the end).
        module: Module name of the inserted rows.
        args: Args of the inserted rows (default ``[]``).
        reasons: Optional text per base index, kept in the returned :class:`Insertion` records.

    Raises:
        ValueError: An index is out of range or is the model's last row (the detection head).
    """
    rows = model_rows(d)
    n = len(rows)
    resolved = sorted({a + n if a < 0 else a for a in after})
    for a in resolved:
        if not 0 <= a < n - 1:
            raise ValueError(f"cannot insert after row {a}: valid rows are 0..{n - 2} (row {n - 1} is the head)")
    new = new_index_map(n, resolved)
    targets = set(resolved)

    def reads(k: int) -> int:  # variant index a consumer of base row k reads from
        return new[k] + 1 if k in targets else new[k]

    def remap(ref: int, i: int) -> int:
        if ref == -1:
            return -1  # the inserted layer, if any, sits directly before the row: keeps the meaning
        if ref < 0:
            return reads(i + ref) - new[i]
        return reads(ref)

    out_rows, records = [], []
    for i, (f, r, m, a) in enumerate(copy.deepcopy(rows)):
        f = [remap(x, i) for x in f] if isinstance(f, list) else remap(f, i)
        out_rows.append([f, r, m, a])
        if i in targets:
            out_rows.append([-1, 1, module, list(args or [])])
            records.append(Insertion(i, new[i] + 1, module, list(args or []), (reasons or {}).get(i, "")))

    out = copy.deepcopy({k: v for k, v in d.items() if k not in ("backbone", "head")})
    n_backbone = len(d.get("backbone", []))
    split = new[n_backbone - 1] + 1 + (n_backbone - 1 in targets) if n_backbone else 0
    out["backbone"], out["head"] = out_rows[:split], out_rows[split:]
    return out, records
