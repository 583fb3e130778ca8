"""Find the model YAMLs shipped in ``ca_yolo/cfg/models`` by bare name, from any directory.

Ultralytics looks a bare YAML name up inside its own package only. We wrap its
``yaml_model_load(path)`` so that a bare name that is not a file in the working directory, and
that we ship (directly, or as its scale-less form: ``yolov8s-ca.yaml`` -> ``yolov8-ca.yaml``), is
replaced by a path into our folder *with the name unchanged*. Ultralytics then strips the scale
letter and reads the scale from the name as it does for its own YAMLs. Anything else - paths,
local files, Ultralytics' own names - passes through untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from ca_yolo.cfg import MODELS_DIR

# Same shape as Ultralytics' rule: a scale letter right after the version digits is dropped.
_SCALE_LETTER = re.compile(r"(\d+)([nslmx])(.+)?$")


def shipped_models() -> list[str]:
    """Names of the model YAMLs shipped with ca-yolo (scale-less, e.g. ``yolov8-ca.yaml``)."""
    return sorted(p.name for p in MODELS_DIR.glob("*.yaml"))


def find_shipped(name: str | Path) -> Path | None:
    """Path in our cfg folder that Ultralytics should load for a bare ``name``, else None."""
    name = str(name)
    if Path(name).name != name or Path(name).exists() or not name.endswith((".yaml", ".yml")):
        return None
    stem, suffix = name.rsplit(".", 1)
    unscaled = _SCALE_LETTER.sub(r"\1\3", stem) + "." + suffix
    if (MODELS_DIR / name).is_file() or (MODELS_DIR / unscaled).is_file():
        return MODELS_DIR / name
    return None


def wrap_yaml_model_load(original: Callable) -> Callable:
    """Return a ``yaml_model_load`` that also finds ca-yolo's shipped YAMLs by bare name."""

    def yaml_model_load(path):
        shipped = find_shipped(path)
        d = original(shipped or path)
        if shipped is not None:
            d["yaml_file"] = str(path)  # keep the name the user gave, as Ultralytics does for its own
        return d

    yaml_model_load.__doc__ = original.__doc__
    yaml_model_load.__wrapped__ = original
    yaml_model_load._ca_yolo_wrapper = True
    return yaml_model_load


def main(argv: list[str]) -> int:
    """``ca-yolo models``: list the shipped model YAMLs."""
    if argv and argv[0] in {"-h", "--help"}:
        print("usage: ca-yolo models\n\nLists the model YAMLs shipped with ca-yolo. Use them by name with a scale "
              "letter, e.g. model=yolov8s-ca.yaml.")
        return 0
    print(f"Model YAMLs in {MODELS_DIR} (add a scale letter n/s/m/l/x after the digits):")
    for name in shipped_models():
        print(f"  {name}")
    return 0
