"""The model YAMLs shipped in ``ca_yolo/cfg/models``: which base, layer and places each is derived from.

Regenerate them with ``python -m ca_yolo.yamlgen.shipped``; a test checks the files match.

- ``{yolov8,yolo11,yolo26}-ca{,-backbone,-neck}.yaml``: CoordAtt at the default places.
- ``yolov8-{se,cbam,eca,ca-h,ca-w}.yaml``: ablation siblings at exactly the places of
  ``yolov8-ca.yaml`` (backbone,neck), so yolov8n + {SE, CBAM, ECA, CA, CA-H, CA-W} differ only in
  the attention layer. Each resolves by name with a scale letter (``yolov8n-ca-h.yaml``).
- ``yolov8-ca-paper.yaml``: ``yolov8-ca.yaml`` with ``attention_init: paper`` (the CA paper's
  initialisation instead of ca-yolo's near-identity start), for exact reproduction and for the
  comparison that shows why the default changed.
"""

from __future__ import annotations

from ca_yolo.cfg import MODELS_DIR

# output name -> (stock Ultralytics base, registered layer, --at[, --init])
SHIPPED: dict[str, tuple[str, ...]] = {
    **{
        f"{family}-ca{suffix}.yaml": (f"{family}.yaml", "CoordAtt", at)
        for family in ("yolov8", "yolo11", "yolo26")
        for suffix, at in (("", "backbone,neck"), ("-backbone", "backbone"), ("-neck", "neck"))
    },
    **{
        f"yolov8-{suffix}.yaml": ("yolov8.yaml", attn, "backbone,neck")
        for suffix, attn in (
            ("se", "SE"),
            ("cbam", "CBAM"),
            ("eca", "ECA"),
            ("ca-h", "CoordAttH"),
            ("ca-w", "CoordAttW"),
        )
    },
    "yolov8-ca-paper.yaml": ("yolov8.yaml", "CoordAtt", "backbone,neck", "paper"),
}


def render_shipped(name: str) -> str:
    """YAML text of shipped model ``name`` as the generator makes it now."""
    from ca_yolo.yamlgen.derive import derive

    base, attn, at, *init = SHIPPED[name]
    return derive(base, attn, at=at, init=init[0] if init else None).text


def write_all() -> list[str]:
    """(Re)write every shipped YAML; return the names written."""
    from ca_yolo.atomic_io import write_text_atomic

    for name in SHIPPED:
        write_text_atomic(MODELS_DIR / name, render_shipped(name))
    return list(SHIPPED)


if __name__ == "__main__":
    import ca_yolo  # noqa: F401  (registers the attention layers)

    print("\n".join(write_all()))
