"""``ca-yolo`` command line: Ultralytics' ``yolo`` syntax plus ca-yolo's own commands.

``ca-yolo MODE key=value ...`` (train, val, predict, export, benchmark, track, ...) is handed to
Ultralytics' own entry point after the plugin is registered, so every argument behaves exactly as
with ``yolo``. The words in :data:`COMMANDS` are ca-yolo's own commands; each lives in its own
module and is imported only when used, so ``ca-yolo train`` pays nothing for them.
"""

from __future__ import annotations

import importlib
import os
import sys

# name -> (module with a ``main(argv) -> int``, one-line help). Modules are imported lazily.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("ca_yolo.data.cli", "datasets: 'data voc|coco|check|sample ...' (convert, validate, make the sample)"),
    "compare": ("ca_yolo.compare.cli", "train baseline and CA models alike, evaluate them, write a report"),
    "eval": ("ca_yolo.evaluation.cli", "COCO-standard mAP (pycocotools) of one checkpoint on a dataset"),
    "yaml": ("ca_yolo.yamlgen.cli", "derive an attention variant of any model YAML"),
    "attn": ("ca_yolo.viz.cli", "draw what each CoordAtt layer attends to"),
    "bench": ("ca_yolo.bench.cli", "speed of the CA layer and of CA models against their baselines"),
    "models": ("ca_yolo.plugin.cfg_models", "list the model YAMLs shipped with ca-yolo"),
}


def help_text() -> str:
    """Return the ``ca-yolo --help`` text: our commands first, then Ultralytics' modes."""
    width = max(map(len, COMMANDS))
    ours = "\n".join(f"    ca-yolo {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items())
    return (
        "ca-yolo: Coordinate Attention for Ultralytics YOLO.\n\n"
        "  ca-yolo's own commands ('ca-yolo COMMAND --help' for each):\n"
        f"{ours}\n\n"
        "  Ultralytics modes, same syntax as 'yolo', with CoordAtt and the shipped YAMLs available:\n"
        "    ca-yolo train model=yolov8n-ca.yaml data=data/sample.yaml epochs=100 imgsz=640\n"
        "    ca-yolo val model=runs/detect/train/weights/best.pt data=data/sample.yaml\n"
        "    ca-yolo predict model=runs/detect/train/weights/best.pt source=img.jpg\n"
        "    ca-yolo export model=runs/detect/train/weights/best.pt format=onnx\n"
        "  'ca-yolo help' prints Ultralytics' full argument help.\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ``ca-yolo`` command line and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(help_text())
        return 0
    if argv[0] in COMMANDS:
        module_name, _ = COMMANDS[argv[0]]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                print(f"ca-yolo: command '{argv[0]}' is not available in this version", file=sys.stderr)
                return 2
            raise
        return int(module.main(argv[1:]) or 0)
    return _delegate_to_ultralytics(argv)


def _delegate_to_ultralytics(argv: list[str]) -> int:
    """Run Ultralytics' ``yolo`` entry point on ``argv`` with the plugin registered."""
    import ca_yolo  # noqa: F401  (registers the plugin layers and model YAMLs)
    from ultralytics.cfg import entrypoint

    if argv[0] == "help":
        print(help_text())
    # entrypoint() reads Ultralytics' ARGV, which is the very list object sys.argv was at import
    # time; its "debug" string splits on spaces and would break quoted arguments. So the list is
    # edited in place rather than rebound.
    try:
        argv = _take_attn_stats(argv)
    except ValueError as e:
        print(f"ca-yolo: {e}", file=sys.stderr)
        return 2
    saved = list(sys.argv)
    sys.argv[:] = ["yolo", *argv]
    try:
        entrypoint()
    except SystemExit as e:  # Ultralytics exits on some bad arguments; keep its code
        return e.code if isinstance(e.code, int) else 1
    except SyntaxError as e:  # Ultralytics' way to reject an unknown argument: a message, not a traceback
        print(f"ca-yolo: {e.msg if hasattr(e, 'msg') else e}", file=sys.stderr)
        return 2
    finally:
        sys.argv[:] = saved
    return 0


def _take_attn_stats(argv: list[str]) -> list[str]:
    """Remove ca-yolo's own ``attn_stats=True|False`` from a train command and act on it.

    Ultralytics rejects keys it does not know, so the key is consumed here; it sets an environment
    variable that the plugin's default trainer callback reads (also in DDP worker processes).
    """
    from ca_yolo.diagnose.stats import ENV_FLAG

    rest = []
    for a in argv:
        key, sep, value = a.partition("=")
        if sep and key == "attn_stats":
            if value not in ("True", "False", "true", "false", "1", "0"):
                raise ValueError(f"attn_stats={value} must be True or False")
            os.environ[ENV_FLAG] = "1" if value in ("True", "true", "1") else "0"
        else:
            rest.append(a)
    return rest


if __name__ == "__main__":
    sys.exit(main())
