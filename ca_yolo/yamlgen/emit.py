"""Write a model dict back as a readable Ultralytics YAML, one row per line with its index."""

from __future__ import annotations

import re

import yaml

from ca_yolo.yamlgen.insert import Insertion, new_index_map


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()  # safe_dump ends a bare scalar document with '...'


def base_row_comments(text: str) -> list[str]:
    """Trailing ``# ...`` comment of each row line of a YAML text, in row order ('' if none)."""
    comments, in_rows = [], False
    for line in text.splitlines():
        if re.match(r"^(backbone|head)\s*:", line):
            in_rows = True
            continue
        if in_rows and re.match(r"^\S", line):
            in_rows = False
        if in_rows and re.match(r"^\s*-\s*\[", line):
            comments.append(line.split("#", 1)[1].strip() if "#" in line else "")
    return comments


def _strip_index(comment: str) -> str:
    # Base comments often start with the row index ("15 (P3/8-small)"), which no longer holds.
    return re.sub(r"^\d+\s*-?\s*", "", comment).strip()


def render(
    variant: dict, records: list[Insertion], header: str, base_comments: list[str] | None = None, n_base: int = 0
) -> str:
    """YAML text for ``variant``: ``header`` comment block, top-level keys, then commented rows."""
    lines = [f"# {h}".rstrip() for h in header.strip().splitlines()]
    lines.append("")
    for key, value in variant.items():
        if key in ("backbone", "head", "yaml_file", "scale"):
            continue
        if key == "scales" and isinstance(value, dict):
            lines.append("scales: # [depth, width, max_channels]")
            lines += [f"  {k}: {_flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {_flow(value)}")
    inserted = {r.index: r for r in records}
    base_of = {}
    if n_base:
        for base_i, new_i in enumerate(new_index_map(n_base, [r.after for r in records])):
            base_of[new_i] = base_i
    index = 0
    for section in ("backbone", "head"):
        lines += ["", f"{section}:"]
        if section == "backbone":
            lines.append("  # [from, repeats, module, args]")
        for row in variant.get(section, []):
            if index in inserted:
                r = inserted[index]
                note = f"{index} <- inserted after base row {r.after}" + (f": {r.reason}" if r.reason else "")
            else:
                b = base_of.get(index, index)
                extra = _strip_index(base_comments[b]) if base_comments and b < len(base_comments) else ""
                note = f"{index}" + (f" (base {b})" if records and b != index else "") + (f" {extra}" if extra else "")
            lines.append(f"  - {_flow(row)} # {note}")
            index += 1
    return "\n".join(lines) + "\n"
