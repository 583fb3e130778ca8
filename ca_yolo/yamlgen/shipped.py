"""The model YAMLs shipped in ``ca_yolo/cfg/models``: which base and places each is derived from.

Regenerate them with ``python -m ca_yolo.yamlgen.shipped``; a test checks the files match.
"""

from __future__ import annotations

from ca_yolo.cfg import MODELS_DIR

# output name -> (stock Ultralytics base, --at)
SHIPPED: dict[str, tuple[str, str]] = {
    f"{family}-ca{suffix}.yaml": (f"{family}.yaml", at)
    for family in ("yolov8", "yolo11", "yolo26")
    for suffix, at in (("", "backbone,neck"), ("-backbone", "backbone"), ("-neck", "neck"))
}


def render_shipped(name: str) -> str:
    """YAML text of shipped model ``name`` as the generator makes it now."""
    from ca_yolo.yamlgen.derive import derive

    base, at = SHIPPED[name]
    return derive(base, "CoordAtt", at=at).text


def write_all() -> list[str]:
    """(Re)write every shipped YAML; return the names written."""
    from ca_yolo.yamlgen.emit import write_yaml

    for name in SHIPPED:
        write_yaml(render_shipped(name), MODELS_DIR / name)
    return list(SHIPPED)


if __name__ == "__main__":
    import ca_yolo  # noqa: F401  (registers CoordAtt)

    print("\n".join(write_all()))
