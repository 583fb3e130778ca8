"""The import layering the package docstring describes: no import points to a higher layer, and no
module imports itself back through others (read from the source, nothing is imported)."""

from __future__ import annotations

import ast

from conftest import REPO

import ca_yolo

PACKAGE = REPO / "ca_yolo"


def module_imports() -> dict[str, set[str]]:
    """Each ``ca_yolo`` module and the ``ca_yolo`` modules it imports (at the top or inside functions)."""
    names = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(REPO).with_suffix("").parts
        names[f] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    known = set(names.values())
    graph: dict[str, set[str]] = {}
    for f, mod in names.items():
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # ``import ca_yolo`` (for its registration) adds no arrow: importing any module runs it first.
            found |= {t for t in targets if t in known and t not in (mod, "ca_yolo")}
        graph[mod] = found
    return graph


def layer_of(module: str) -> int:
    """The layer of ``module``: that of the longest prefix listed in :data:`ca_yolo.LAYERS`."""
    best = max((p for layer in ca_yolo.LAYERS for p in layer if module == p or module.startswith(p + ".")), key=len)
    return next(i for i, layer in enumerate(ca_yolo.LAYERS) if best in layer)


def test_no_import_points_to_a_higher_layer():
    upward = [
        f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
        for m, targets in module_imports().items()
        for t in targets
        if layer_of(t) > layer_of(m)
    ]
    assert upward == []


def test_no_import_cycle():
    graph, state, cycles = module_imports(), {}, []

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                cycles.append(" -> ".join([*path[path.index(t) :], t]))
            elif t not in state:
                visit(t, [*path, t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
