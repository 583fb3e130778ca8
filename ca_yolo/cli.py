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
import traceback

from ca_yolo.errors import DEBUG_ENV, CaYoloError, debug_enabled, one_line

# What to tell a user who pressed Ctrl-C in a command that keeps finished work.
RESUME_HINTS: dict[str, str] = {
    "compare": "finished runs are kept; re-run the same command to resume",
    "data": "nothing was written",
    "train": "resume with 'ca-yolo train resume=True model=<run folder>/weights/last.pt'",
}

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
        "  'ca-yolo help' prints Ultralytics' full argument help.\n\n"
        f"  Errors are one line; add --debug (or set {DEBUG_ENV}=1) to see the traceback.\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ``ca-yolo`` command line and return its exit code.

    Every failure ends as one line ``ca-yolo <cmd>: error: ...`` on stderr: exit code 2 for usage
    mistakes, 1 for data and model problems and for unexpected errors (whose traceback ``--debug``
    or ``CA_YOLO_DEBUG=1`` shows), 130 for Ctrl-C.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" not in argv:
        return _main(argv)
    # --debug is accepted anywhere; an env var so subprocesses (DDP workers) see it too. Restored
    # afterwards, so an in-process caller (tests, notebooks) does not keep debug mode.
    saved = os.environ.get(DEBUG_ENV)
    os.environ[DEBUG_ENV] = "1"
    try:
        return _main([a for a in argv if a != "--debug"])
    finally:
        if saved is None:
            os.environ.pop(DEBUG_ENV, None)
        else:
            os.environ[DEBUG_ENV] = saved


def _main(argv: list[str]) -> int:
    """:func:`main` after ``--debug`` was taken out of ``argv``."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(help_text())
        return 0
    cmd = argv[0]
    try:
        if cmd in COMMANDS:
            return _run_own_command(cmd, argv[1:])
        return _delegate_to_ultralytics(argv)
    except KeyboardInterrupt:
        hint = RESUME_HINTS.get(cmd, "stopped")
        print(f"\nca-yolo {cmd}: interrupted; {hint}", file=sys.stderr)
        return 130
    except CaYoloError as e:
        if debug_enabled():
            traceback.print_exc()
        print(f"ca-yolo {cmd}: error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # unexpected: one line, the traceback on request
        if debug_enabled():
            traceback.print_exc()
        tail = "" if debug_enabled() else " (add --debug for the traceback)"
        print(f"ca-yolo {cmd}: error: {one_line(e)}{tail}", file=sys.stderr)
        return 1


def _run_own_command(cmd: str, argv: list[str]) -> int:
    """Import the command's module (only now, so other commands pay nothing for it) and run it."""
    module_name, _ = COMMANDS[cmd]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"ca-yolo: command '{cmd}' is not available in this version", file=sys.stderr)
            return 2
        raise
    try:
        return int(module.main(argv) or 0)
    except SystemExit as e:  # argparse-based commands exit on --help (0) and usage errors (2, already printed)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)


def _delegate_to_ultralytics(argv: list[str]) -> int:
    """Run Ultralytics' ``yolo`` entry point on ``argv`` with the plugin registered."""
    from ultralytics.cfg import entrypoint

    if argv[0] == "help":
        print(help_text())
    # entrypoint() reads Ultralytics' ARGV, which is the very list object sys.argv was at import
    # time; its "debug" string splits on spaces and would break quoted arguments. So the list is
    # edited in place rather than rebound.
    from ca_yolo.diagnose.stats import ENV_FLAG

    saved_flag = os.environ.get(ENV_FLAG)  # restored below: in-process callers keep their setting
    try:
        argv = _take_attn_stats(argv)
    except ValueError as e:
        print(f"ca-yolo {argv[0]}: error: {e}", file=sys.stderr)
        return 2
    _check_model_file(argv)
    saved = list(sys.argv)
    sys.argv[:] = ["yolo", *argv]
    try:
        entrypoint()
    except SystemExit as e:  # Ultralytics exits on some bad arguments; keep its code
        return e.code if isinstance(e.code, int) else 1
    except SyntaxError as e:  # Ultralytics' way to reject an unknown argument: a message, not a traceback
        print(f"ca-yolo {argv[0]}: error: {e.msg if hasattr(e, 'msg') else e}", file=sys.stderr)
        return 2
    finally:
        sys.argv[:] = saved
        if saved_flag is None:
            os.environ.pop(ENV_FLAG, None)
        else:
            os.environ[ENV_FLAG] = saved_flag
    return 0


def _check_model_file(argv: list[str]) -> None:
    """Refuse a ``model=`` checkpoint that is missing, cut short or not a checkpoint, before Ultralytics.

    A bare name (``yolov8n.pt``) that is not on disk is left to Ultralytics, which may download it.
    For ``val``, a checkpoint whose class count differs from the data YAML's is refused too:
    Ultralytics would report metrics under the wrong class names.
    """
    from pathlib import Path

    from ca_yolo.evaluation.checkpoint import require_checkpoint

    kv = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
    model = kv.get("model", "")
    if not model.endswith(".pt") or (Path(model).parent == Path(".") and not Path(model).exists()):
        return
    require_checkpoint(model)
    if argv[0] == "val" and kv.get("data"):
        from ca_yolo.evaluation.checkpoint import check_class_count

        check_class_count(model, kv["data"])


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
