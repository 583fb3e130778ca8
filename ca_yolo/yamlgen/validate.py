"""Check that a derived model dict builds, before it is written anywhere."""

from __future__ import annotations

import copy
import re

import torch


def check_builds(d: dict, what: str = "model", ch: int = 3) -> int:
    """Build model dict ``d`` with Ultralytics' (plugin-wrapped) parser on the meta device.

    Costs no memory or arithmetic; catches bad row args (e.g. a channel count that does not fit)
    and broken ``from`` references. Uses the first scale, like Ultralytics when none is given.

    Returns:
        The number of layers built.

    Raises:
        ValueError: The model does not build; the message names ``what`` and the parser's error.
    """
    import ultralytics.nn.tasks as tasks

    probe = copy.deepcopy(d)
    if probe.get("scales") and not probe.get("scale"):
        probe["scale"] = next(iter(probe["scales"]))
    try:
        with torch.device("meta"):
            layers, _ = tasks.parse_model(probe, probe.get("channels", ch), verbose=False)
    except Exception as e:  # any parser failure means the YAML is unusable; say which and why
        raise ValueError(f"{what} does not build: {type(e).__name__}: {e}") from e
    return len(layers)


def check_base(d: object, name: str) -> None:
    """Refuse a base that is not a model YAML Ultralytics builds, before anything is derived from it.

    Raises:
        ModelYamlError: naming the file and, where one is at fault, the row: not a mapping with
            ``backbone:``/``head:`` row lists (a dataset YAML, an empty file), a malformed row, an
            unknown module, a scale it lacks, a list ``from`` on a row whose module reads one input,
            or any other row Ultralytics' parser cannot build.
    """
    from ca_yolo.plugin.yaml_errors import check_modules
    from ca_yolo.plugin.yaml_rows import ModelYamlError, model_rows

    if not isinstance(d, dict) or not all(isinstance(d.get(k), list) and d[k] for k in ("backbone", "head")):
        dataset = isinstance(d, dict) and any(k in d for k in ("train", "val", "names"))
        hint = "; it looks like a dataset YAML" if dataset else ""
        raise ModelYamlError(f"model YAML '{name}' has no 'backbone:' and 'head:' lists of rows{hint}")
    try:
        check_modules(d)
        check_builds(d, name)
    except ModelYamlError as e:
        raise ModelYamlError(_named(str(e), name)) from None
    except ValueError as e:
        inner = e.__cause__
        if not isinstance(inner, ModelYamlError):
            raise ModelYamlError(f"model YAML '{name}' {str(e).removeprefix(name + ' ')}") from None
        m = _ROW.match(str(inner))
        if m and "list indices must be integers" in str(inner):
            i = int(m.group(1))
            frm, _, module, _ = model_rows(d)[i]
            if isinstance(frm, list):
                raise ModelYamlError(
                    f"model YAML '{name}' row {i} ({module}): 'from' is a list {frm}, but {module} reads one "
                    "input (rows such as Concat and Detect read several)"
                ) from None
        raise ModelYamlError(_named(str(inner), name)) from None


_ROW = re.compile(r"model YAML row (\d+)\b")


def _named(message: str, name: str) -> str:
    """``model YAML row 3 ...`` -> ``model YAML 'x.yaml' row 3 ...``: the file named in the message."""
    if message.startswith("model YAML") and not message.startswith(f"model YAML '{name}'"):
        return f"model YAML '{name}'" + message.removeprefix("model YAML")
    return message
