"""Find the model YAMLs shipped in ``ca_yolo/cfg/models`` by bare name, from any directory.

Ultralytics' ``yaml_model_load(path)`` reads ``path`` if it exists, else the scale-less name
(``yolov8s-ca.yaml`` -> ``yolov8-ca.yaml``) if *that* exists, each time looking first at the path
as given (so the working directory for a bare name) and then inside its own package. We wrap it so
that a bare name that neither form finds as a file, and that we ship, loads the shipped file (the
name itself or its scale-less form) from our folder, with the scale read from the name by
Ultralytics' own ``guess_model_scale``, as it does for its own YAMLs. So the order is Ultralytics'
own with our folder added: a file the user has (the name or its scale-less form, in the working
directory) always wins over a shipped one. Anything else - paths, local files, Ultralytics' own
names - passes through untouched.

Every load of a model YAML by a name that is not itself the file logs which file was used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ultralytics.utils import LOGGER

from ca_yolo.cfg import MODELS_DIR
from ca_yolo.plugin.wrapping import mark_wrapper

# Ultralytics' rule for the scale-less name (an expression inside its yaml_model_load, not a function
# it exports): the scale letter right after the first version digits is dropped.
SCALE_LETTER = re.compile(r"(\d+)([nslmx])(.+)?$")


def shipped_models() -> list[str]:
    """Names of the model YAMLs shipped with ca-yolo (scale-less, e.g. ``yolov8-ca.yaml``)."""
    return sorted(p.name for p in MODELS_DIR.glob("*.yaml"))


def find_shipped(name: str | Path) -> Path | None:
    """Path in our cfg folder that Ultralytics should load for a bare ``name``, else None."""
    name = str(name)
    if Path(name).name != name or not name.endswith((".yaml", ".yml")):
        return None
    unscaled = unscaled_name(name)
    # Ultralytics' test for "the file exists" (checks.check_file): the user's file wins.
    if os.path.exists(name) or os.path.exists(unscaled):
        return None
    if (MODELS_DIR / name).is_file() or (MODELS_DIR / unscaled).is_file():
        return MODELS_DIR / name
    return None


def unscaled_name(name: str, letter: str = "") -> str:
    """``yolov8s-ca.yaml`` -> ``yolov8-ca.yaml``: the name (or path) without its scale letter, as Ultralytics
    forms it; with ``letter``, that scale letter in its place instead (``yolov8n-ca.yaml``)."""
    return SCALE_LETTER.sub(rf"\g<1>{letter}\g<3>", name)


def file_used(path: str | Path, shipped: Path | None) -> str | None:
    """The file ``yaml_model_load(path)`` reads, by Ultralytics' own lookup (None if not found)."""
    from ultralytics.utils.checks import check_yaml

    if shipped is not None:
        return str(shipped if shipped.is_file() else MODELS_DIR / unscaled_name(shipped.name))
    unified = unscaled_name(str(path))
    try:
        return check_yaml(path, hard=False) or check_yaml(unified, hard=False) or None
    except Exception:  # lookup failures are Ultralytics' to report when it loads the file
        return None


def wrap_yaml_model_load(original: Callable) -> Callable:
    """Return a ``yaml_model_load`` that also finds ca-yolo's shipped YAMLs by bare name."""

    def yaml_model_load(path):
        shipped = find_shipped(path)
        used = file_used(path, shipped)
        if shipped is None:
            d = original(path)
        else:
            from ultralytics.nn.tasks import guess_model_scale

            # The shipped file itself, by its own path: Ultralytics forms the scale-less name by stripping the
            # first '<digits><scale letter>' of the whole path string, which a folder such as 'tmp.ch7mAiAiqZ'
            # or 'env3s' would match instead of the file name. Scale and name are then the given name's, read
            # by Ultralytics' own rule, as it does for its own YAMLs.
            d = original(used)
            d["scale"] = guess_model_scale(path)
            d["yaml_file"] = str(path)
        if used and os.path.abspath(used) != os.path.abspath(str(path)):
            LOGGER.info(f"model YAML {path}: using {os.path.abspath(used)} ({_origin(used)})")
        return d

    return mark_wrapper(yaml_model_load, original)


def _origin(file: str) -> str:
    """Where a model YAML file lives, in words, for the log line."""
    import ultralytics

    path = Path(file).resolve()
    if path.is_relative_to(MODELS_DIR.resolve()):
        return "shipped with ca-yolo"
    if path.is_relative_to(Path(ultralytics.__file__).resolve().parent):
        return "shipped with Ultralytics"
    return "working directory" if path.parent == Path.cwd().resolve() else "local file"


def main(argv: list[str]) -> int:
    """``ca-yolo models``: list the shipped model YAMLs."""
    if argv and argv[0] in {"-h", "--help"}:
        print(
            "usage: ca-yolo models\n\nLists the model YAMLs shipped with ca-yolo. Use them by name with a scale "
            "letter, e.g. model=yolov8s-ca.yaml."
        )
        return 0
    print(f"Model YAMLs in {MODELS_DIR} (add a scale letter n/s/m/l/x after the digits):")
    for name in shipped_models():
        print(f"  {name}")
    return 0
