"""Registry of the layers ca-yolo makes available to Ultralytics model YAMLs.

A layer says how it is built where it is defined::

    @register_layer()
    class CoordAtt(nn.Module):
        ...

Registration records the class under the name a YAML row uses and, optionally, a *yaml_args*
function that turns the row's arguments into constructor arguments once the input channel count
is known (Ultralytics' parser only knows channel counts of its own layers, so the plugin supplies
them; see :mod:`ca_yolo.plugin.parser`). Without one, the plugin's rule for channel-preserving
attention rows applies (:mod:`ca_yolo.plugin.yaml_rows`). :func:`create_layer` builds any
registered layer by name.

Everything else the package needs to know about a layer is declared once, on its class, and read
from there (the registry, the YAML rules, the diagnostics and the figures):

- ``row_settings``: the settings a YAML row may give after its channel counts, in constructor
  order (default ``("reduction",)``);
- ``gates(x)``: the gates the layer multiplies its input by, a tuple named by ``gate_names``
  (default ``("g_h", "g_w")``, Coordinate Attention's, which third-party CA layers follow too);
- ``gate_convs``: the submodules whose parameters produce the gates' logits.

A layer may also be known by other names (:func:`register_alias`): published model YAMLs call
Coordinate Attention ``CA``, ``CoordAttention``, ... (the table is :mod:`ca_yolo.nn.aliases`).
:func:`get_layer` answers for aliases too, with the canonical spec; :func:`layer_names` lists only
canonical names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

# f(c1, args, ctx) -> constructor args; ctx is the plugin's RowContext (where the row sits, the model's scale).
YamlArgs = Callable[[int, list, Any], list]

# The gate names of a layer class that declares none: Coordinate Attention's (g_h, g_w).
DEFAULT_GATE_NAMES: tuple[str, ...] = ("g_h", "g_w")


@dataclass(frozen=True)
class LayerSpec:
    """A registered layer: its class and how a YAML row's args become constructor args (None: the default rule)."""

    name: str
    cls: type[nn.Module]
    yaml_args: YamlArgs | None = None


_LAYERS: dict[str, LayerSpec] = {}
_ALIASES: dict[str, str] = {}  # alias -> canonical name


def register_layer(name: str | None = None, yaml_args: YamlArgs | None = None) -> Callable[[type], type]:
    """Class decorator that makes a layer usable in model YAMLs under ``name`` (default: class name).

    Args:
        name: Name used in the YAML ``module`` column.
        yaml_args: ``f(c1, args, ctx) -> constructor args``; None (default) accepts the channel-preserving
            attention forms ``[]``, ``[r]``, ``[C]``, ``[C, r]``, ``[inp, oup]`` and ``[inp, oup, r]``
            (:mod:`ca_yolo.plugin.yaml_rows`).
    """

    def decorator(cls: type) -> type:
        key = name or cls.__name__
        if key in _ALIASES:
            raise ValueError(f"layer name '{key}' is already an alias of '{_ALIASES[key]}'")
        known = _LAYERS.get(key)
        if known is not None and known.cls is not cls and known.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"layer name '{key}' is already registered by {known.cls.__module__}.{known.cls.__name__}")
        _LAYERS[key] = LayerSpec(key, cls, yaml_args)
        return cls

    return decorator


def register_alias(alias: str, name: str) -> None:
    """Make ``alias`` another YAML name of the registered layer ``name`` (idempotent).

    Raises:
        ValueError: ``name`` is not registered, or ``alias`` already names another layer.
    """
    if name not in _LAYERS:
        raise ValueError(f"cannot alias '{alias}' to '{name}': no layer of that name is registered")
    if alias in _LAYERS or _ALIASES.get(alias, name) != name:
        owner = alias if alias in _LAYERS else _ALIASES[alias]
        raise ValueError(f"alias '{alias}' for '{name}' is already taken by '{owner}'")
    _ALIASES[alias] = name


def get_layer(name: str) -> LayerSpec | None:
    """Return the registered layer called ``name`` (a canonical name or an alias), or None."""
    return _LAYERS.get(_ALIASES.get(name, name))


def layer_aliases() -> dict[str, str]:
    """Every alias and the canonical layer name it stands for."""
    return dict(_ALIASES)


def layer_names() -> list[str]:
    """Names of all registered layers, in registration order."""
    return list(_LAYERS)


def registered_classes() -> list[type[nn.Module]]:
    """Classes of all registered layers (e.g. to allow them in restricted checkpoint loading)."""
    return [spec.cls for spec in _LAYERS.values()]


def create_layer(name: str, channels: int, **kwargs: Any) -> nn.Module:
    """Build a registered layer by name, like timm's ``create_attn``.

    Args:
        name: Registered name or alias, e.g. ``"CoordAtt"`` or ``"CA"``.
        channels: Input (and output) channel count.
        **kwargs: Passed to the layer's constructor, e.g. ``reduction=16``.

    Raises:
        KeyError: ``name`` is not registered; the message lists the known names.
    """
    spec = get_layer(name)
    if spec is None:
        raise KeyError(f"unknown layer '{name}'; registered layers: {', '.join(_LAYERS) or 'none'}")
    return spec.cls(channels, **kwargs)


def gate_names(module: nn.Module) -> tuple[str, ...]:
    """Names of the gates ``module.gates(x)`` returns, as its class declares them (default ``g_h, g_w``)."""
    return tuple(getattr(module, "gate_names", DEFAULT_GATE_NAMES))


def is_registered_layer(module: nn.Module) -> bool:
    """Whether ``module`` is an instance of a registered layer class."""
    return isinstance(module, tuple(registered_classes()))
