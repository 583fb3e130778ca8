"""Property: inserting attention anywhere in a stock detection YAML keeps the base graph.

For random insertion places and attention types, the variant builds, runs, and - with every
inserted layer replaced by an identity and the base's weights copied layer by layer to their new
indices - gives exactly the base model's output.
"""

from __future__ import annotations

import copy
from functools import cache

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stock_yamls import STOCK_DETECT

import ca_yolo  # noqa: F401  (registers the plugin)
from ca_yolo.nn import ATTENTIONS
from ca_yolo.yamlgen.derive import resolve_base
from ca_yolo.yamlgen.insert import insert_after, new_index_map

X = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _load(name: str) -> dict:
    import yaml

    d = yaml.safe_load(resolve_base(name)[0].read_text())
    if d.get("scales"):
        d["scale"] = next(iter(d["scales"]))  # smallest: n (t for yolov9t has no scales)
    return d


class _Net(nn.Module):
    """Layers from Ultralytics' (plugin-wrapped) parser, routed by ``from`` as Ultralytics' models do.

    Building with ``parse_model`` rather than ``DetectionModel`` skips the stride-probing forward
    pass at 256x256, which costs more than everything else here; the head then runs with zero
    strides, the same for base and variant.
    """

    def __init__(self, d: dict):
        import ultralytics.nn.tasks as tasks

        super().__init__()
        self.model, _ = tasks.parse_model(copy.deepcopy(d), 3, verbose=False)

    def forward(self, x: torch.Tensor):
        outputs = []
        for m in self.model:
            if m.f != -1:
                x = outputs[m.f] if isinstance(m.f, int) else [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x)
        return x


def _build(d: dict) -> nn.Module:
    torch.manual_seed(0)
    return _Net(d).eval()


@cache
def _base(name: str) -> tuple[dict, nn.Module, list[torch.Tensor]]:
    d = _load(name)
    model = _build(d)
    with torch.no_grad():
        return d, model, _flat(model(X))


def _flat(out) -> list[torch.Tensor]:
    """All tensors of a (nested) model output, in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in _flat(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return []


def _identity_like(m: nn.Module) -> nn.Module:
    ident = nn.Identity()
    ident.i, ident.f, ident.type, ident.np = m.i, m.f, m.type, 0  # the forward loop routes by these
    return ident


@pytest.mark.parametrize("name", STOCK_DETECT)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_insertion_keeps_the_base_graph(name, data):
    d, base, expected = _base(name)
    n_rows = len(d["backbone"]) + len(d["head"])
    after = data.draw(st.lists(st.integers(0, n_rows - 2), min_size=1, max_size=4, unique=True), label="after")
    attn = data.draw(st.sampled_from(ATTENTIONS), label="attn")
    variant_d, records = insert_after(d, after, module=attn)
    variant = _build(variant_d)

    with torch.no_grad():
        out = _flat(variant(X))  # the real attention layers run
    assert [t.shape for t in out] == [t.shape for t in expected]

    new = new_index_map(n_rows, sorted(after))
    assert [r.index for r in records] == [new[a] + 1 for a in sorted(after)]
    for b, v in enumerate(new):
        assert type(variant.model[v]) is type(base.model[b]), (b, v)
        variant.model[v].load_state_dict(base.model[b].state_dict())
    for r in records:
        assert type(variant.model[r.index]).__name__ == attn
        variant.model[r.index] = _identity_like(variant.model[r.index])
    with torch.no_grad():
        got = _flat(variant(X))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5)
