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
   :mod:`ca_yolo.plugin.yaml_rows`) and the original parser builds the real model from that copy, so
   Ultralytics' layer table and ``model.info()`` show the true parameter counts.

Rows may name a layer by an alias (``CA``, ``SEAttention``, ... :mod:`ca_yolo.nn.aliases`); the
private copy names the canonical class. Before any of this, every row's module must resolve
(:func:`~ca_yolo.plugin.yaml_errors.check_modules`), and an exception raised while Ultralytics
builds a row becomes a one-line :class:`~ca_yolo.plugin.yaml_errors.ModelYamlError` naming it.

The model keeps the user's YAML dict (``model.yaml``); only the parser's private copy is rewritten.
A top-level ``attention_init: identity|paper`` key picks how the attention layers start
(:mod:`ca_yolo.nn.gate_init`); it stays in ``model.yaml``, so every rebuild (trainer, resume, DDP
workers) starts them the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import torch
from ultralytics.utils import LOGGER

from ca_yolo.nn.gate_init import attention_init, check_mode
from ca_yolo.nn.registry import get_layer
from ca_yolo.plugin.wrapping import mark_wrapper
from ca_yolo.plugin.yaml_errors import ModelYamlError, check_modules, row_error
from ca_yolo.plugin.yaml_rows import RowContext, attention_yaml_args, model_rows, picked_scale

_PROBE_SIZE = 256  # divisible by every stride Ultralytics uses (up to 64 for P6 models)
_FALLBACK_SIZE = 64  # a real CPU tensor, used only if some layer cannot run on the meta device
_PROBED: dict[tuple[str, int], list[int]] = {}  # channel probes by (model rows, input channels)
_NOMINAL: dict[tuple[str, int], list[int]] = {}  # the same at width 1 without the max_channels cap
_WARNED: set[tuple[tuple[str, int], str]] = set()  # channel warnings given, by probe key: one per row


def wrap_parse_model(original: Callable) -> Callable:
    """Return a ``parse_model`` that resolves registered layers, then calls ``original``."""

    def parse_model(d: dict, ch: int, verbose: bool = True) -> Any:
        # The YAML's attention_init: key picks how fresh attention layers start (gate_init).
        mode = d.get("attention_init")
        if mode is None:
            return build(original, resolve_rows(d, ch, original), ch, verbose, written=d)
        with attention_init(check_mode(mode, "model YAML key attention_init")):
            return build(original, resolve_rows(d, ch, original), ch, verbose, written=d)

    return mark_wrapper(parse_model, original)


def build(parse: Callable, d: dict, ch: int, verbose: bool, written: dict | None = None) -> Any:
    """``parse(d, ch, verbose)``, with a failure while building a row raised as a one-line ModelYamlError.

    ``written`` is the model dict as the YAML wrote it (default ``d``), for the message.
    """
    before = copy.deepcopy({k: (written or d).get(k) for k in ("backbone", "head", "anchors") if k in (written or d)})
    try:
        return parse(d, ch, verbose)
    except ModelYamlError:
        raise
    except Exception as e:
        error = row_error(e, before, parse)
        if error is None:
            raise
        raise error from None


def resolve_rows(d: dict, ch: int, parse: Callable) -> dict:
    """Return a copy of model dict ``d`` whose registered-layer rows carry constructor args.

    Alias rows (``CA``, ...) name the canonical layer in the copy. A channel count that matches the
    row's input neither as written nor as nominal (:func:`nominal_channels`) gets one warning per row
    (and per model, not per rebuild: Ultralytics builds a model several times per run).

    Args:
        d: Model dict as loaded from the YAML (``backbone`` + ``head`` rows ``[from, n, module, args]``).
        ch: Input image channels.
        parse: Ultralytics' original ``parse_model``, used for the channel probe.

    Raises:
        ModelYamlError: A row is malformed or names an unknown module, or a row fails to build in the probe.
        ValueError: A registered row takes several inputs, or its args do not fit (see yaml_args).
    """
    check_modules(d)
    rows = model_rows(d)
    ours = {i: get_layer(r[2]) for i, r in enumerate(rows) if isinstance(r[2], str) and get_layer(r[2])}
    if not ours:
        return d
    for i in ours:
        if not isinstance(rows[i][0], int):
            raise ModelYamlError(f"model YAML row {i} ({rows[i][2]}): takes one input, got from={rows[i][0]}")
    sources = {i: (rows[i][0] + i if rows[i][0] < 0 else rows[i][0]) for i in ours}
    # Ultralytics builds the same YAML several times per run (trainer, validator, exporter): probe once.
    key = (
        json.dumps(
            {k: d.get(k) for k in ("backbone", "head", "scales", "scale", "width_multiple")},
            sort_keys=True,
            default=str,
        ),
        ch,
    )
    channels = _PROBED.get(key)
    if channels is None:
        shapes = probe_shapes(d, ch, parse, set(ours), max(sources.values()))
        channels = _PROBED[key] = [s[1] if s else -1 for s in shapes]
        while len(_PROBED) > 64:
            _PROBED.pop(next(iter(_PROBED)))
    scale, (_, width, max_channels) = picked_scale(d)

    out = copy.deepcopy(d)
    n_backbone = len(d.get("backbone", []))
    for i, spec in ours.items():
        ctx = RowContext(index=i, name=rows[i][2], width=width, max_channels=max_channels, scale=scale, cls=spec.cls)
        c1 = ch if sources[i] < 0 else channels[sources[i]]
        if c1 < 0:
            raise ModelYamlError(f"{ctx.where}: its input (layer {sources[i]}) is not a feature map")
        yaml_args = spec.yaml_args or attention_yaml_args
        args = yaml_args(c1, list(rows[i][3]), ctx)
        if ctx.warnings:  # a count neither real nor scaling to it may still be the input's nominal count
            nominal = nominal_channels(d, ch, parse, key, set(ours), max(sources.values()))
            ctx = dataclasses.replace(ctx, nominal=ch if sources[i] < 0 else nominal[sources[i]], warnings=[])
            args = yaml_args(c1, list(rows[i][3]), ctx)
        section, j = ("backbone", i) if i < n_backbone else ("head", i - n_backbone)
        out[section][j][2:4] = [spec.name, args]
        for message in ctx.warnings:
            if (key, message) not in _WARNED:
                _WARNED.add((key, message))
                LOGGER.warning(message)
    return out


def nominal_channels(d: dict, ch: int, parse: Callable, key: tuple, ours: set[int], last: int) -> list[int]:
    """Output channels of layers 0..last at width 1 without the ``max_channels`` cap (the YAML's own numbers).

    This is what a count written "before width scaling" means, also for layers Ultralytics does not
    scale one by one (a Concat of nominal 512 and 256 maps is nominally 768). Measured only when a row's
    count matches neither the real input nor Ultralytics' scaling rule; cached per model like the probe.
    """
    channels = _NOMINAL.get(key)
    if channels is None:
        unscaled = {k: v for k, v in d.items() if k not in ("scales", "scale")}
        unscaled.update(width_multiple=1.0, depth_multiple=1e-6)  # depth never changes channels: one repeat
        shapes = probe_shapes(unscaled, ch, parse, ours, last)
        channels = _NOMINAL[key] = [s[1] if s else -1 for s in shapes]
        while len(_NOMINAL) > 64:
            _NOMINAL.pop(next(iter(_NOMINAL)))
    return channels


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
            layers, _ = build(parse, copy.deepcopy(probe), ch, verbose=False, written=d)
            return _run_layers(layers, torch.empty(1, ch, _PROBE_SIZE, _PROBE_SIZE), last)
    except (NotImplementedError, RuntimeError):
        # A layer without meta support: fall back to a small real tensor, reporting sizes as if 256.
        layers, _ = build(parse, copy.deepcopy(probe), ch, verbose=False, written=d)
        with torch.no_grad():
            try:
                shapes = _run_layers(layers.eval(), torch.zeros(1, ch, _FALLBACK_SIZE, _FALLBACK_SIZE), last)
            except _LayerFailed as e:
                # A real failure of the YAML's own graph (e.g. a Concat of maps of different sizes).
                name = model_rows(d)[e.index][2]
                raise ModelYamlError(
                    f"model YAML row {e.index} ({name}): fails on a {_FALLBACK_SIZE}x{_FALLBACK_SIZE} input "
                    f"({type(e.cause).__name__}: "
                    f"{str(e.cause).strip().splitlines()[0] if str(e.cause).strip() else ''})"
                ) from None
        return [s and (*s[:2], *(round(v * scale) for v in s[2:])) for s in shapes]


def _run_layers(layers: torch.nn.Sequential, x: torch.Tensor, last: int) -> list[tuple[int, ...] | None]:
    """Run ``layers`` the way Ultralytics' models route ``from`` indices; return each output's shape."""
    outputs, shapes = [], []
    for m in layers[: last + 1]:
        if m.f != -1:
            x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
        try:
            x = m(x)
        except (NotImplementedError, RuntimeError) as e:
            raise _LayerFailed(m.i, e) from e
        outputs.append(x)
        shapes.append(tuple(x.shape) if isinstance(x, torch.Tensor) else None)
    return shapes


class _LayerFailed(RuntimeError):
    """Layer ``index`` of a probe raised ``cause`` (a RuntimeError, so the meta fallback still applies)."""

    def __init__(self, index: int, cause: BaseException):
        super().__init__(f"layer {index}: {cause}")
        self.index, self.cause = index, cause
