"""Give registered layers their input channels when Ultralytics parses a model YAML.

Ultralytics' ``parse_model(d, ch, verbose)`` builds every model (detect, segment, pose, obb, ...)
and resolves a row's module name in its own module namespace. It sets input channels only for its
built-in layers; any other layer is called with the YAML args untouched. We therefore wrap it:

1. If the YAML names no registered layer, the original parser runs unchanged.
2. Otherwise a *probe* copy of the YAML, with each registered row replaced by ``nn.Identity``
   (which, like our layers, keeps the channel count), is built on the ``meta`` device and run on a
   meta tensor. That costs no memory or arithmetic and yields every layer's output channels using
   Ultralytics' own rules for its own layers - nothing of its channel bookkeeping is copied here.
3. Each registered row's args are rewritten to explicit constructor args (see
   :mod:`ca_yolo.nn.yaml_args`) and the original parser builds the real model from that copy, so
   Ultralytics' layer table and ``model.info()`` show the true parameter counts.

The model keeps the user's YAML dict (``model.yaml``); only the parser's private copy is rewritten.
A top-level ``attention_init: identity|paper`` key picks how the attention layers start
(:mod:`ca_yolo.nn.gate_init`); it stays in ``model.yaml``, so every rebuild (trainer, resume, DDP
workers) starts them the same way.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import torch

from ca_yolo.nn.gate_init import attention_init, check_mode
from ca_yolo.nn.registry import get_layer
from ca_yolo.nn.yaml_args import RowContext, model_rows

_PROBE_SIZE = 256  # divisible by every stride Ultralytics uses (up to 64 for P6 models)
_FALLBACK_SIZE = 64  # a real CPU tensor, used only if some layer cannot run on the meta device
_PROBED: dict[tuple[str, int], list[int]] = {}  # channel probes by (model rows, input channels)


def wrap_parse_model(original: Callable) -> Callable:
    """Return a ``parse_model`` that resolves registered layers, then calls ``original``."""

    def parse_model(d: dict, ch: int, verbose: bool = True) -> Any:
        # The YAML's attention_init: key picks how fresh attention layers start (gate_init).
        mode = d.get("attention_init")
        if mode is None:
            return original(resolve_rows(d, ch, original), ch, verbose)
        with attention_init(check_mode(mode, "model YAML key attention_init")):
            return original(resolve_rows(d, ch, original), ch, verbose)

    parse_model.__doc__ = original.__doc__
    parse_model.__wrapped__ = original
    parse_model._ca_yolo_wrapper = True
    return parse_model


def resolve_rows(d: dict, ch: int, parse: Callable) -> dict:
    """Return a copy of model dict ``d`` whose registered-layer rows carry constructor args.

    Args:
        d: Model dict as loaded from the YAML (``backbone`` + ``head`` rows ``[from, n, module, args]``).
        ch: Input image channels.
        parse: Ultralytics' original ``parse_model``, used for the channel probe.

    Raises:
        ValueError: A registered row takes several inputs, or its args do not fit (see yaml_args).
    """
    rows = model_rows(d)
    ours = {i: get_layer(r[2]) for i, r in enumerate(rows) if isinstance(r[2], str) and get_layer(r[2])}
    if not ours:
        return d
    for i, spec in ours.items():
        if not isinstance(rows[i][0], int):
            raise ValueError(f"model YAML row {i} ({spec.name}): takes one input, got from={rows[i][0]}")
    sources = {i: (rows[i][0] + i if rows[i][0] < 0 else rows[i][0]) for i in ours}
    # Ultralytics builds the same YAML several times per run (trainer, validator, exporter): probe once.
    key = (json.dumps({k: d.get(k) for k in ("backbone", "head", "scales", "scale", "width_multiple")},
                      sort_keys=True, default=str), ch)
    channels = _PROBED.get(key)
    if channels is None:
        shapes = probe_shapes(d, ch, parse, set(ours), max(sources.values()))
        channels = _PROBED[key] = [s[1] if s else -1 for s in shapes]
        while len(_PROBED) > 64:
            _PROBED.pop(next(iter(_PROBED)))
    width, max_channels, scale = _scaling(d)

    out = copy.deepcopy(d)
    n_backbone = len(d.get("backbone", []))
    for i, spec in ours.items():
        ctx = RowContext(index=i, name=spec.name, width=width, max_channels=max_channels, scale=scale)
        c1 = ch if sources[i] < 0 else channels[sources[i]]
        if c1 < 0:
            raise ValueError(f"model YAML row {i} ({spec.name}): its input (layer {sources[i]}) is not a feature map")
        section, j = ("backbone", i) if i < n_backbone else ("head", i - n_backbone)
        out[section][j][3] = spec.yaml_args(c1, list(rows[i][3]), ctx)
    return out


def _scaling(d: dict) -> tuple[float, float, str]:
    """(width, max_channels, scale) the way Ultralytics' parser picks them for ``d``."""
    scales = d.get("scales")
    if scales:
        scale = d.get("scale") or next(iter(scales))
        if scale in scales:
            _, width, max_channels = scales[scale]
            return width, max_channels, scale
    return d.get("width_multiple", 1.0), float("inf"), ""


def probe_shapes(
    d: dict, ch: int = 3, parse: Callable | None = None, ours: set[int] | None = None, last: int | None = None
) -> list[tuple[int, ...] | None]:
    """Output shapes of layers 0..last for a 1 x ch x 256 x 256 input (None where not a tensor).

    Registered-layer rows (``ours``, default: all rows naming a registered layer) are replaced by
    identities, so this works before those layers can be built. Runs on the meta device: free.
    """
    if parse is None:
        import ultralytics.nn.tasks as tasks

        parse = getattr(tasks.parse_model, "__wrapped__", tasks.parse_model)
    if ours is None:
        ours = {i for i, r in enumerate(model_rows(d)) if isinstance(r[2], str) and get_layer(r[2])}
    last = len(model_rows(d)) - 2 if last is None else last  # the head's last row is the detection head
    scale = _PROBE_SIZE / _FALLBACK_SIZE
    probe = copy.deepcopy(d)
    if probe.get("scales") and not probe.get("scale"):
        probe["scale"] = next(iter(probe["scales"]))  # the real parse warns about this; the probe need not
    n_backbone = len(d.get("backbone", []))
    for i in ours:
        section, j = ("backbone", i) if i < n_backbone else ("head", i - n_backbone)
        probe[section][j][2:4] = ["nn.Identity", []]
    try:
        with torch.device("meta"):
            layers, _ = parse(probe, ch, verbose=False)
            return _run_layers(layers, torch.empty(1, ch, _PROBE_SIZE, _PROBE_SIZE), last)
    except (NotImplementedError, RuntimeError):
        # A layer without meta support: fall back to a small real tensor, reporting sizes as if 256.
        layers, _ = parse(copy.deepcopy(probe), ch, verbose=False)
        with torch.no_grad():
            shapes = _run_layers(layers.eval(), torch.zeros(1, ch, _FALLBACK_SIZE, _FALLBACK_SIZE), last)
        return [s and (*s[:2], *(round(v * scale) for v in s[2:])) for s in shapes]


def _run_layers(layers: torch.nn.Sequential, x: torch.Tensor, last: int) -> list[tuple[int, ...] | None]:
    """Run ``layers`` the way Ultralytics' models route ``from`` indices; return each output's shape."""
    outputs, shapes = [], []
    for m in layers[: last + 1]:
        if m.f != -1:
            x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
        x = m(x)
        outputs.append(x)
        shapes.append(tuple(x.shape) if isinstance(x, torch.Tensor) else None)
    return shapes
