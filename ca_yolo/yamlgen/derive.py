"""Derive an attention variant of a model YAML: resolve the base, pick places, insert, render."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ca_yolo.errors import UsageError
from ca_yolo.nn.gate_init import DEFAULT_MODE, check_mode
from ca_yolo.plugin.cfg_models import file_used, find_shipped, unscaled_name
from ca_yolo.yamlgen.emit import base_row_comments, render
from ca_yolo.yamlgen.insert import Insertion, insert_after
from ca_yolo.yamlgen.places import default_places
from ca_yolo.yamlgen.validate import check_base, check_builds

WHY = {
    "CoordAtt": (
        "Coordinate Attention (Hou et al., CVPR 2021) pools along H and along W separately, so its channel\n"
        "gates keep where things are: cheap (a few % params) and position-aware, which suits detection."
    ),
    "SE": (
        "Squeeze-and-Excitation (Hu et al., CVPR 2018): one gate per channel from the global average through\n"
        "a C -> C/16 -> C MLP. An ablation sibling of CoordAtt: channel attention without position."
    ),
    "CBAM": (
        "CBAM (Woo et al., ECCV 2018), the paper's block: channel gates from avg- and max-pooling through a\n"
        "shared C -> C/16 -> C MLP, then a 7x7-conv spatial gate. An ablation sibling of CoordAtt."
    ),
    "ECA": (
        "ECA (Wang et al., CVPR 2020): channel gates from the global average through a 1-D conv across\n"
        "channels, kernel size adapted to C, no reduction. An ablation sibling of CoordAtt."
    ),
    "CoordAttH": (
        "CoordAttH: Coordinate Attention with only its height-indexed gate (pooled over W), the CA paper's\n"
        "own single-direction ablation."
    ),
    "CoordAttW": (
        "CoordAttW: Coordinate Attention with only its width-indexed gate (pooled over H), the CA paper's\n"
        "own single-direction ablation."
    ),
}


# First line of the header derive() writes: '# <base> with <layer> layers (...)'.
GENERATED_FROM = re.compile(r"# (\S+\.ya?ml) with \w+ layers \(")

INIT_NOTE = {
    "identity": [
        "Fresh attention layers start near the identity (gates at sigmoid(4)); for the papers'",
        "initialisation add the top-level key 'attention_init: paper' (ca-yolo yaml --init paper).",
    ],
    "paper": [
        "attention_init: paper - the attention layers start with PyTorch's default initialisation, as in",
        "the papers' code (gates near 0.5), for exact reproduction; ca-yolo's default starts them near the identity.",
    ],
}


@dataclass
class Variant:
    """A derived model: its dict, the YAML text, and what was inserted where."""

    base_name: str
    model: dict
    text: str
    insertions: list[Insertion]


def resolve_base(base: str | Path) -> tuple[Path, str]:
    """Path of a base YAML (a file, or a stock Ultralytics name such as ``yolo11.yaml``) and its name."""
    from ultralytics.utils.checks import check_yaml

    path = Path(base)
    if path.is_file():
        return path, path.name
    if path.is_dir():
        from ca_yolo.plugin.yaml_rows import ModelYamlError

        raise ModelYamlError(f"model YAML '{base}' is a folder, not a YAML file")
    if path.suffix not in (".yaml", ".yml"):  # Ultralytics' lookup asserts on other suffixes
        raise FileNotFoundError(f"model YAML '{base}' not found")
    shipped = find_shipped(str(path))  # the names 'ca-yolo models' lists (yolov8-ca.yaml, yolov8n-ca.yaml)
    if shipped is not None:
        found = file_used(str(path), shipped)
        return Path(found), Path(found).name
    unscaled = unscaled_name(path.name)
    found = check_yaml(str(path), hard=False) or check_yaml(unscaled, hard=False)
    if not found:
        raise FileNotFoundError(
            f"model YAML '{base}' is neither a file nor a stock Ultralytics model name (nor one of 'ca-yolo models')"
        )
    return Path(found), Path(found).name


def attention_rows(d: dict) -> list[tuple[int, str]]:
    """``(row index, module)`` of the rows of model dict ``d`` whose module is a registered attention layer."""
    from ca_yolo.nn.registry import layer_names

    names = set(layer_names())
    rows = list(d.get("backbone") or []) + list(d.get("head") or [])
    return [(i, r[2]) for i, r in enumerate(rows) if isinstance(r, list) and len(r) > 2 and r[2] in names]


def derive(
    base: str | Path,
    attn: str = "CoordAtt",
    at: str | None = "backbone,neck",
    after: list[int] | None = None,
    args: list | None = None,
    title: str = "",
    check: bool = True,
    init: str | None = None,
) -> Variant:
    """Build an attention variant of ``base``.

    Args:
        base: A YAML file or a stock Ultralytics model name.
        attn: Registered layer name to insert.
        at: ``backbone``, ``neck`` or ``backbone,neck`` (ignored when ``after`` is given).
        after: Explicit base row indices to insert after.
        args: Row args for the inserted layers (default ``[]``: channels are inferred).
        title: First header line; default names the base and the layer.
        check: Build the variant on the meta device (free) so bad args fail here, not at training time.
        init: ``"paper"`` writes ``attention_init: paper`` (PyTorch's default initialisation of the
            attention layers, as in the papers' code); None or ``"identity"`` leaves the default, under
            which fresh attention layers start near the identity (:mod:`ca_yolo.nn.gate_init`).

    Raises:
        FileNotFoundError: ``base`` is neither a file nor a stock name.
        ModelYamlError: (with ``check``) the base itself is not a model YAML that builds.
        UsageError: ``base`` already has attention rows and no ``after`` rows were given.
        ValueError: Unknown layer name, bad places, or a variant that does not build.
    """
    import yaml

    from ca_yolo.nn.registry import get_layer, layer_names

    if get_layer(attn) is None:
        raise ValueError(f"unknown attention '{attn}'; registered: {', '.join(layer_names())}")
    path, name = resolve_base(base)
    text = path.read_text(encoding="utf-8")
    d = yaml.safe_load(text)
    if check:
        check_base(d, str(base))
    present = attention_rows(d)
    if present and not after:  # default places again would stack a second set on the first
        by_module: dict[str, list[str]] = {}
        for i, m in present:
            by_module.setdefault(m, []).append(str(i))
        listed = "; ".join(f"{m} at rows {', '.join(rows)}" for m, rows in by_module.items())
        made_from = GENERATED_FROM.match(text)  # the header 'ca-yolo yaml' writes names the base
        base_hint = f" ({made_from.group(1)})" if made_from else ""
        raise UsageError(
            f"model YAML '{base}' already has attention layers ({listed}); derive from its base YAML{base_hint} "
            "instead, or give --after to add layers at rows of your choice"
        )
    rows = len(d.get("backbone", [])) + len(d.get("head", []))
    if after:
        places = {a + rows if a < 0 else a: "" for a in after}  # negative: counted from the end, as in Python
    else:
        places = default_places(d, at or "backbone,neck")
    model, records = insert_after(d, list(places), module=attn, args=args, reasons=places)
    if init not in (None, DEFAULT_MODE):
        model["attention_init"] = check_mode(init, "--init")
    if check:
        check_builds(model, f"{name} + {attn}")
    where = "explicit rows " + ",".join(map(str, sorted(places))) if after else f"--at {at}"
    header = "\n".join(
        [
            title
            or f"{name} with {attn} layers ({where}). Generated by 'ca-yolo yaml'; edit the generator, not this file.",
            "",
            WHY.get(attn, f"{attn}: a channel-preserving attention layer registered by ca-yolo."),
            "",
            "Inserted (base row -> new row):",
            *[f"  after {r.after} -> {r.index}{': ' + r.reason if r.reason else ''}" for r in records],
            "Every 'from' index is rewritten so the graph equals the base plus these layers; a row that",
            "read an attended layer now reads the attention output.",
            *INIT_NOTE[model.get("attention_init", DEFAULT_MODE)],
        ]
    )
    n_base = len(d.get("backbone", [])) + len(d.get("head", []))
    return Variant(name, model, render(model, records, header, base_row_comments(text), n_base), records)
