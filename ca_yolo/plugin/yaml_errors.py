"""One-line errors for a model YAML's own problems, naming the row and its module.

Without this a YAML that names a module nobody provides fails with a bare ``KeyError: 'SPPF_EMA'``
from inside the parser, and a row whose args its module does not take (a YOLOv5 ``Detect, [nc,
anchors]`` head) with a ``TypeError`` about positional arguments - raised inside ca-yolo's channel
probe when the YAML also uses an attention layer, so the plugin looks guilty. Here:

- :func:`check_modules` checks that the model's scale is one the YAML declares, then resolves every
  row's module name the way Ultralytics' ``parse_model`` does (``nn.X`` in ``torch.nn``,
  ``torchvision.ops.X``, else a name in ``ultralytics.nn.tasks``, where the plugin puts its layers;
  aliases count too) before anything is built;
- :func:`row_error` turns an exception raised while Ultralytics' parser builds a row into a
  :class:`ModelYamlError` naming that row. The row index is read from the parser's frame in the
  traceback (its loop variable ``i``); if a future Ultralytics renames it, the original exception
  is re-raised unchanged.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import torch

from ca_yolo.nn.registry import get_layer, layer_aliases, layer_names
from ca_yolo.plugin.cfg_models import unscaled_name
from ca_yolo.plugin.yaml_rows import ModelYamlError, model_rows

__all__ = ["ModelYamlError", "check_modules", "row_error", "suggestions"]


def check_modules(d: dict) -> None:
    """Raise :class:`ModelYamlError` for a scale the YAML lacks, or for its first malformed or unknown row."""
    check_scale(d)
    for section in ("backbone", "head"):
        if not isinstance(d.get(section), list):
            raise ModelYamlError(f"model YAML: '{section}:' must be a list of rows, got {d.get(section)!r}")
    for i, row in enumerate(model_rows(d)):
        if not isinstance(row, (list, tuple)) or len(row) != 4:
            raise ModelYamlError(f"model YAML row {i}: expected [from, repeats, module, args], got {row!r}")
        name = row[2]
        if isinstance(name, str) and not _module_exists(name):
            close = suggestions(name)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ModelYamlError(f"model YAML row {i}: unknown module '{name}' (not in Ultralytics or ca-yolo{hint})")
        if not isinstance(row[3], (list, tuple)):
            raise ModelYamlError(f"model YAML row {i} ({name}): args must be a list, got {row[3]!r}")


def check_scale(d: dict) -> None:
    """Raise :class:`ModelYamlError` if the model's scale is not one of the YAML's ``scales``.

    Ultralytics takes the scale from the model name (``yolov8s-x.yaml`` -> s) and fails with a bare
    ``KeyError: 's'`` when a published YAML declares fewer scales (often only the one its authors used).
    """
    scales, scale = d.get("scales"), d.get("scale")
    if not isinstance(scales, dict) or not scales or not scale or scale in scales:
        return
    file = Path(str(d.get("yaml_file") or ""))
    where, origin, hint = f" {file.name}" if file.name else "", "", ""
    from ultralytics.nn.tasks import guess_model_scale

    if file.name and guess_model_scale(file) == scale:
        origin = " (the letter in the model name)"
        hint = f"; name one of those, e.g. {unscaled_name(file.name, next(iter(scales)))}"
    raise ModelYamlError(
        f"model YAML{where}: scale '{scale}'{origin} is not one of its scales ({', '.join(map(str, scales))}){hint}"
    )


def _module_exists(name: str) -> bool:
    """Whether Ultralytics' parser (with ca-yolo registered) resolves module ``name``."""
    import ultralytics.nn.tasks as tasks

    if name.startswith("nn."):
        return hasattr(torch.nn, name[3:])
    if name.startswith("torchvision.ops."):
        import torchvision

        return hasattr(torchvision.ops, name[16:])
    return get_layer(name) is not None or name in vars(tasks)


def suggestions(name: str, n: int = 3) -> list[str]:
    """Known module names close to ``name``, closest first.

    A known name that is one of ``name``'s ``_``-separated parts comes first (``SPPF_EMA`` -> SPPF:
    forks name a modified block after the original), then near spellings ignoring case (difflib
    ratio >= 0.75, strict enough that sharing a suffix like ``Attention`` or ``Block`` is not enough).
    """
    import ultralytics.nn.tasks as tasks

    known = {k for k, v in vars(tasks).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)}
    known |= set(layer_names()) | set(layer_aliases())
    by_lower = {}
    for k in sorted(known):
        by_lower.setdefault(k.lower(), k)
    parts = [by_lower[p.lower()] for p in name.split("_") if p and p != name and p.lower() in by_lower]
    close = [by_lower[k] for k in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.75)]
    return list(dict.fromkeys(_torch_equivalent(name) + parts + close))[:n]


# Activation classes of reference attention code (the CA paper's coordatt.py defines h_sigmoid and
# h_swish next to CoordAtt) that torch.nn provides under another name.
_TORCH_NAMES = {"hswish": "Hardswish", "hsigmoid": "Hardsigmoid", "swish": "SiLU"}


def _torch_equivalent(name: str) -> list[str]:
    """``['nn.Hardswish']`` for ``h_swish``: the torch.nn class a YAML row can name instead, if any."""
    key = name.lower().replace("_", "")
    key = _TORCH_NAMES.get(key, key)
    match = [k for k in dir(torch.nn) if k.lower() == key.lower() and isinstance(getattr(torch.nn, k), type)]
    return [f"nn.{match[0]}"] if match else []


def row_error(e: BaseException, d: dict, parse: Callable) -> ModelYamlError | None:
    """A one-line :class:`ModelYamlError` for exception ``e`` raised while ``parse`` built a row of ``d``.

    ``d`` is the model dict as the YAML wrote it (Ultralytics' parser resolves names like ``nc`` in
    place, so callers keep a copy from before the parse). Returns None when ``e`` did not come from
    inside ``parse`` building a row (not the YAML's problem, or not one we can place: re-raise it).
    """
    i = _row_index(e.__traceback__, inspect.unwrap(parse).__code__)
    rows = model_rows(d)
    if i is None or not 0 <= i < len(rows):
        return None
    _, _, name, args = rows[i]
    spec = get_layer(name) if isinstance(name, str) else None
    owner = "ca-yolo's" if spec is not None else "Ultralytics'"
    built = spec.cls.__name__ if spec is not None else name
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    detail = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    hint = ""
    if "anchors" in d or any(a == "anchors" for a in args if isinstance(a, str)):
        hint = "; 'anchors' is a YOLOv5 anchor-based head, Ultralytics 8+ heads are anchor-free: write [nc]"
    return ModelYamlError(
        f"model YAML row {i} ({name}): its args {yaml_list(args)} do not fit {owner} {built} ({detail}){hint}"
    )


def yaml_list(args: list) -> str:
    """``args`` as the YAML row wrote them, e.g. ``[nc, anchors]`` (no Python quotes)."""
    return "[" + ", ".join(yaml_list(a) if isinstance(a, list) else str(a) for a in args) + "]"


def _row_index(tb: TracebackType | None, code) -> int | None:
    """The parser's loop index ``i`` in the innermost frame running ``code`` in traceback ``tb``."""
    index = None
    while tb is not None:
        if tb.tb_frame.f_code is code:
            i = tb.tb_frame.f_locals.get("i")
            index = i if isinstance(i, int) else index
        tb = tb.tb_next
    return index
