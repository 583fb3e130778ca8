"""Other names published model YAMLs give ca-yolo's layers, so those YAMLs build as written.

Each alias below was seen in public YOLO model YAMLs (or, where noted, as the class name of a widely
copied reference implementation that such YAMLs import), found by a code search over public
repositories. An alias builds the canonical layer with the same row-argument rule
(:mod:`ca_yolo.plugin.yaml_rows`); Ultralytics' layer table shows the class that was built.

Only names that Ultralytics' YAML parser does not already resolve are aliases: a test checks that
none of them shadows a name in ``ultralytics.nn.tasks`` (e.g. Ultralytics' own ``ChannelAttention``
stays Ultralytics').
"""

from __future__ import annotations

from ca_yolo.nn.registry import register_alias

ALIASES: dict[str, tuple[str, ...]] = {
    "CoordAtt": (
        "CA",  # the paper's abbreviation, the most common name in those YAMLs
        "CoordAttention",  # e.g. "CoordAttention, [1024, 1024]" after SPPF; External-Attention-pytorch's class
        "CoordinateAttention",  # e.g. "CoordinateAttention, [256]" on YOLO11/12 heads, real channels per scale
        "CA_Block",  # class name in the widely copied attention.py of the "bubbliiiing" YOLO repos
    ),
    "SE": (
        "SEAttention",  # e.g. "SEAttention, []", "[16]", "[256]", "[256, 16]" (External-Attention-pytorch)
        "SE_Block",  # as CA_Block ("se_block" there)
        "SEBlock",
        "se_block",
        "SELayer",  # e.g. "SELayer, [128, 4]" in YOLOv5 forks (channels, reduction)
    ),
    "CBAM": (
        "CBAMBlock",  # e.g. "CBAMBlock, [128]" (External-Attention-pytorch's class)
        "CBAM_Block",
        "cbam_block",  # as CA_Block
    ),
    "ECA": (
        "ECAAttention",  # e.g. "ECAAttention, [512]" (External-Attention-pytorch's class)
        "eca_layer",  # the ECA authors' reference class name
        "eca_block",  # as CA_Block
    ),
}


def register_aliases() -> None:
    """Register every alias in :data:`ALIASES` (idempotent)."""
    for name, aliases in ALIASES.items():
        for alias in aliases:
            register_alias(alias, name)
