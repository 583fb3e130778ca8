"""Check that a derived model dict builds, before it is written anywhere."""

from __future__ import annotations

import copy

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
