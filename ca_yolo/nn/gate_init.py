"""How a fresh attention layer starts: near the identity (default) or as the paper's code does.

Why this exists (measured in ``docs/attention-training.md``): every attention layer here multiplies
its input by sigmoid gates. With PyTorch's default initialisation a fresh gate sits around
sigmoid(0) = 0.5, so a fresh CoordAtt layer scales its input by g_h * g_w ~ 0.25, and does so with
input-dependent random factors. In a YOLO that shrinks each attended feature map 4x where it meets
unscaled features (Concat -> Conv) and where later BatchNorm running statistics were made for
another scale: training from scratch lags the baseline, and inserting CA into a trained detector
throws its accuracy away (mAP50-95 0.33 -> 0.01 after one fine-tuning epoch).

``"identity"`` (the default) starts every gate at a constant sigmoid(``GATE_LOGIT``): the layer's
last (gate-producing) weights are zero and their bias is ``GATE_LOGIT``, so a fresh CoordAtt
layer computes 0.964 * x for every input, and the rest of the network trains as if it were absent
until the gate weights move off zero (which they do on the first step: their gradient is not
zero). ``"paper"`` keeps PyTorch's default initialisation, as the authors' reference code does.
Either way the modules, parameters and inference ops are the paper's block; only the starting
values differ.

The mode comes from a model YAML's top-level key ``attention_init: identity|paper`` (read by the
plugin's parser) or, in Python, from :func:`attention_init` around the model's construction.

Attention layers also draw their random initial weights from a private random stream
(:func:`isolated_rng`), so inserting them does not change the initial weights of any other layer:
with the same seed, a CA variant starts from exactly the baseline's weights plus its CA layers, and
a comparison measures CA, not a different random start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn as nn

MODES = ("identity", "paper")
DEFAULT_MODE = "identity"
# sigmoid(4) = 0.982: a CoordAtt layer (two gates) starts at 0.964 x, a one-gate layer at 0.982 x.
# Larger logits start closer to the identity but learn more slowly (the gate's gradient is scaled
# by sigmoid'(logit): 0.018 here, 0.25 at 0); the choice is measured in docs/attention-training.md.
GATE_LOGIT = 4.0

_MODE: ContextVar[str] = ContextVar("ca_yolo_attention_init", default=DEFAULT_MODE)


def check_mode(mode: object, where: str = "attention_init") -> str:
    """Return ``mode`` if it is a known initialisation mode, else raise a ValueError naming it."""
    if mode not in MODES:
        raise ValueError(f"{where}: '{mode}' is not one of {', '.join(MODES)}")
    return str(mode)


def current_mode() -> str:
    """The initialisation mode attention layers built now will use."""
    return _MODE.get()


@contextmanager
def attention_init(mode: str) -> Iterator[None]:
    """Build attention layers inside this block with initialisation ``mode`` ("identity" or "paper").

    Example::

        with ca_yolo.attention_init("paper"):
            layer = ca_yolo.CoordAtt(64)
    """
    token = _MODE.set(check_mode(mode))
    try:
        yield
    finally:
        _MODE.reset(token)


@contextmanager
def isolated_rng() -> Iterator[None]:
    """Draw random initial weights from a private stream; the global torch RNG is left as it was.

    The private stream is seeded from the global state (so it is deterministic under a seed) without
    advancing it, so the layers built after this block get the very values they would get without it.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), device="cpu")))
        yield


def init_gate_(layer: nn.Conv2d | nn.Conv1d | nn.Linear, mode: str, scale: float = 1.0) -> None:
    """Initialise a gate-producing layer in place: zero weights and bias ``scale * GATE_LOGIT`` in identity mode.

    In paper mode the layer keeps PyTorch's default initialisation. A layer without bias (ECA's
    conv, CBAM's spatial conv) can only be zeroed: its gate then starts at exactly sigmoid(0) = 0.5.
    """
    if mode == "paper":
        return
    with torch.no_grad():
        layer.weight.zero_()
        if layer.bias is not None:
            layer.bias.fill_(scale * GATE_LOGIT)  # read at call time: studies may vary GATE_LOGIT
