"""``ca-yolo`` command line: Ultralytics' ``yolo`` syntax plus ca-yolo's own commands.

``ca-yolo MODE key=value ...`` (train, val, predict, export, benchmark, track, ...) is handed to
Ultralytics' own entry point after the plugin is registered, so every argument behaves exactly as
with ``yolo``. The words in :data:`COMMANDS` are ca-yolo's own commands; each lives in its own
module and is imported only when used, so ``ca-yolo train`` pays nothing for them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from ca_yolo.errors import DEBUG_ENV, CaYoloError, debug_enabled, not_found, report

# What to tell a user who pressed Ctrl-C in a command that keeps finished work.
RESUME_HINTS: dict[str, str] = {
    "compare": "finished runs are kept; re-run the same command to resume",
    "data": "nothing was written",
    "yaml": "nothing was written",
    "attn": "no figure of this run was kept",
    "bench": "nothing was written",
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
    with env_var(DEBUG_ENV, "1"):
        return _main([a for a in argv if a != "--debug"])


@contextlib.contextmanager
def env_var(name: str, value: str | None = None) -> Iterator[None]:
    """Set environment variable ``name`` to ``value`` (None: leave it, the block may set it) for the block, then put
    back what it was (or remove it): an in-process caller (tests, notebooks) keeps its own setting."""
    saved = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _main(argv: list[str]) -> int:
    """:func:`main` after ``--debug`` was taken out of ``argv``."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(help_text())
        return 0
    cmd = argv[0]
    try:
        if cmd in COMMANDS:
            return _run_own_command(cmd, argv[1:])
        _refuse_typo(cmd)
        return _delegate_to_ultralytics(argv)
    except KeyboardInterrupt as e:
        hint = getattr(e, "ca_yolo_hint", None) or RESUME_HINTS.get(cmd, "stopped")
        print(f"\nca-yolo {cmd}: interrupted; {hint}", file=sys.stderr)
        return 130
    except CaYoloError as e:
        return report(cmd, e)
    except FileNotFoundError as e:  # a file named on the command line (Ultralytics' checks raise these too)
        if debug_enabled():
            traceback.print_exc()
        print(f"ca-yolo {cmd}: error: {not_found(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # unexpected: one line, the traceback on request
        return report(cmd, e)


def _refuse_typo(cmd: str) -> None:
    """A usage error for a mistyped ca-yolo command (``compar``), before Ultralytics suggests a setting instead."""
    from ultralytics.cfg import MODES, TASKS

    from ca_yolo.cli_args import ArgError, suggested_command

    theirs = {*MODES, *TASKS, "help", "checks", "version", "settings", "cfg", "copy-cfg", "solutions"}
    match = suggested_command(cmd, COMMANDS, theirs)
    if match:
        raise ArgError(f"'{cmd}' is not a command; did you mean 'ca-yolo {match}'? ('ca-yolo --help' lists them)")


def interrupted_while_starting(argv: list[str] | None = None) -> None:
    """Ctrl-C while ``import ca_yolo`` loads torch and Ultralytics, before :func:`main` runs: for the console
    script, print one line and exit with 130 (a traceback under ``--debug``); elsewhere, return (the caller re-raises).
    """
    argv = sys.argv if argv is None else argv
    if not argv or Path(argv[0]).name != "ca-yolo":
        return
    rest = [a for a in argv[1:] if a != "--debug"]
    if debug_enabled() or len(rest) < len(argv) - 1:
        traceback.print_exc()
    cmd = f"ca-yolo {rest[0]}" if rest else "ca-yolo"
    print(f"\n{cmd}: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)


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

    with env_var(ENV_FLAG):  # attn_stats= sets it for this command only
        try:
            argv = _take_attn_stats(argv)
        except ValueError as e:
            print(f"ca-yolo {argv[0]}: error: {e}", file=sys.stderr)
            return 2
        _check_files(argv)
        saved = list(sys.argv)
        sys.argv[:] = ["yolo", *argv]
        from ca_yolo.plugin.run_folders import RunFolders

        made = RunFolders()
        try:
            with made:
                entrypoint()
        except KeyboardInterrupt as e:
            e.ca_yolo_hint = made.resume_hint(argv[0])
            raise
        except SystemExit as e:  # Ultralytics exits on some bad arguments; keep its code
            return e.code if isinstance(e.code, int) else 1
        except SyntaxError as e:  # Ultralytics' way to reject an unknown argument: a message, not a traceback
            print(f"ca-yolo {argv[0]}: error: {e.msg if hasattr(e, 'msg') else e}", file=sys.stderr)
            return 2
        except (ValueError, RuntimeError, AssertionError, OSError) as e:
            from ca_yolo.plugin.failures import dataset_failure, write_failure

            clean = dataset_failure(e) or write_failure(e)
            if clean is None:
                raise
            raise clean from e
        finally:
            sys.argv[:] = saved
    return 0


def _check_files(argv: list[str]) -> None:
    """Refuse, before Ultralytics starts, files named on the command line that it would fail on later.

    - ``model=`` / ``pretrained=`` ``.pt`` files that are missing, folders, cut short, not a
      checkpoint, of the wrong kind (a plain state_dict, a whole pickled model) or refused by safe
      loading: each is opened once under ca-yolo's one loading rule
      (:func:`ca_yolo.plugin.checkpoint.read_checkpoint`), so a payload is refused before anything else
      reads the file. A bare name (``yolov8n.pt``) that is not on disk is left to Ultralytics when it
      is one of the assets Ultralytics downloads, or lies in its weights folder.
    - ``data=`` of ``train``/``val``: a data YAML that is missing, or (when it has no ``download:``
      script that could still make the images) one that Ultralytics' own dataset check rejects.
      Otherwise ``train`` fails only after it has made its run folder.
    - The model's task against the data (a segmentation model on box labels, a classification
      model on a data YAML), and every label of the splits used against the YAML's ``names``.
    - Sizes and counts out of range (``imgsz=-64``, ``batch=0``): usage errors, exit 2.
    - ``project=`` (and ``name=``) where no run folder can be made: a file in the way, a read-only folder.
    - For ``val``, a checkpoint whose class count differs from the data YAML's: Ultralytics would
      report metrics under the wrong class names.
    """
    from ca_yolo.cli_args import empty_value

    if (empty := empty_value(argv[1:])) is not None:
        raise empty
    kv = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
    mode, model = argv[0], kv.get("model", "")
    _check_numbers(mode, kv)
    if kv.get("project"):  # a run folder under a file or in a read-only folder: refused before any work
        from ca_yolo.errors import check_output

        run = Path(kv["project"]) / kv["name"] if kv.get("name") else Path(kv["project"])
        check_output(run, "project/name=" if kv.get("name") else "project=", folder=True)
    ckpt = _check_pt(model, "checkpoint")
    if mode == "train" and kv.get("pretrained", "").endswith(".pt"):
        _check_pt(kv["pretrained"], "pretrained checkpoint")
    spec = None
    if mode in ("train", "val") and kv.get("data"):
        split = kv.get("split", "val") if mode == "val" else None
        spec = _check_data(kv["data"], split)
    if spec is not None:
        from ca_yolo.data.precheck import check_label_classes, task_problem

        task = kv.get("task") or _model_task(model, ckpt)
        problem = task_problem(task, spec, split or "train") if task else None
        if problem:
            raise CaYoloError(f"model '{model}' cannot use dataset '{kv['data']}': {problem}")
        # Ultralytics would drop each label file with an unknown class id (a warning) and train on the rest.
        check_label_classes(spec, kv["data"], (split,) if split else ("train", "val"))
    if mode == "val" and spec is not None and ckpt is not None:
        from ca_yolo.evaluation.checkpoint import check_class_count

        check_class_count(model, kv["data"], ckpt)


def _check_numbers(mode: str, kv: dict[str, str]) -> None:
    """Sizes and counts out of range (``imgsz=-64``, ``batch=0``) as usage errors (exit 2) before Ultralytics
    starts; values that are not plain numbers (``imgsz=[640,480]``) are left to Ultralytics' own parser."""
    from ca_yolo.cli_args import check_counts, parse_value

    numbers = {k: parse_value(v) for k, v in kv.items() if k in ("imgsz", "batch", "workers")}
    check_counts({k: v for k, v in numbers.items() if isinstance(v, (int, float))}, training=mode == "train")


def _model_task(model: str, ckpt: dict | None) -> str | None:
    """The task of ``model=`` (a loaded checkpoint, or a model YAML), or None when it cannot be told here."""
    from ultralytics.nn.tasks import guess_model_task

    if ckpt is not None:
        from ca_yolo.plugin.checkpoint import checkpoint_task

        return checkpoint_task(ckpt)
    if not model.endswith((".yaml", ".yml")):
        return None
    import ultralytics.nn.tasks as tasks  # its yaml_model_load, as the plugin wrapped it (finds our YAMLs)

    try:
        return guess_model_task(tasks.yaml_model_load(model))
    except Exception:  # noqa: BLE001  (Ultralytics reports an unreadable model YAML itself)
        return None


def _check_pt(value: str, what: str) -> dict | None:
    """The checkpoint dict of ``.pt`` path ``value`` (None when it is not a local ``.pt`` file), or a
    :class:`CaYoloError` naming it when ca-yolo's loading rule or Ultralytics would refuse it."""
    if not value.endswith(".pt") or "://" in value:
        return None
    path = Path(value)
    if not path.exists():
        from ultralytics.utils import SETTINGS
        from ultralytics.utils.checks import check_yolov5u_filename
        from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

        name = check_yolov5u_filename(value)
        if (Path(SETTINGS["weights_dir"]) / name).exists():
            return None  # Ultralytics' own asset: its loader, which honours safe loading, reads it
        if path.parent == Path(".") and name in GITHUB_ASSETS_NAMES:
            from ultralytics.utils import ONLINE  # Ultralytics' own DNS check at import: nothing is downloaded

            if not ONLINE:  # its download would fail after retries with a multi-line ConnectionError
                raise CaYoloError(
                    f"{what} '{value}' is not on disk, and Ultralytics cannot download it offline: give the path of "
                    f"a local .pt file (e.g. {name} copied from a machine that is online)"
                )
            return None  # Ultralytics downloads it
        hint = "" if path.parent != Path(".") else " (nor one of the checkpoints Ultralytics downloads)"
        raise CaYoloError(f"{what} '{value}' not found{hint}")
    from ca_yolo.plugin.checkpoint import read_checkpoint

    return read_checkpoint(path, what)


def _check_data(value: str, split: str | None = None) -> dict | None:
    """The loaded data YAML ``value`` (None when left to Ultralytics), or a :class:`CaYoloError` when it is
    missing or Ultralytics would reject it.

    A bare name (``coco8.yaml``) that is not on disk is left to Ultralytics, which ships some. With
    ``split`` (``val``), every image of that split is decoded too: Ultralytics' validator would skip
    an unreadable one with a warning (for a non-image file, about a missing HEIF module) and report
    metrics on the rest with exit code 0.
    """
    path = Path(value)
    if not value.endswith((".yaml", ".yml")) or (path.parent == Path(".") and not path.exists()):
        return None
    from ca_yolo.data.yamlio import list_split_images, load_checked

    if path.is_file():
        import yaml

        from ca_yolo.data.yamlio import read_yaml_text

        try:
            raw = yaml.safe_load(read_yaml_text(path))
        except (OSError, yaml.YAMLError, CaYoloError):
            raw = None  # load_checked reports it
        if isinstance(raw, dict) and raw.get("download"):
            return None  # Ultralytics may still make the dataset
    data = load_checked(value, split=split or "val")
    if split and data.get(split):
        from ca_yolo.data.imageio import verify_images

        images = list_split_images(data, split)
        bad = [r for r in verify_images(images).values() if isinstance(r, Exception)]
        if bad:
            names = "; ".join(map(str, bad[:3])) + ("; ..." if len(bad) > 3 else "")
            raise CaYoloError(
                f"{len(bad)} of {len(images)} images of the '{split}' split of '{value}' cannot be read ({names}); "
                "fix or remove them ('ca-yolo data check' lists them all)"
            )
    return data


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
