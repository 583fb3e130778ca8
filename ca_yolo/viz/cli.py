"""``ca-yolo attn``: draw what each CoordAtt layer of a model attends to, one figure per image."""

from __future__ import annotations

from pathlib import Path

from ca_yolo.cli_args import ArgError, check_device, parse_command, usage_exit_code
from ca_yolo.errors import CaYoloError, check_output, report

USAGE = """\
usage: ca-yolo attn model=best.pt source=IMG|DIR [key=value ...]

For each image, one PNG: the image with its detections, then for each attention layer the map
g_h x g_w (mean over channels, or the k channels with the largest spread) as a heat map over the
image, with the 1-D gates g_h and g_w drawn along its left and bottom edges. Panel titles give the
layer index, stride and channel count.

keys:
  model=     checkpoint (or model YAML) with CoordAtt layers (required)
  source=    an image or a folder of images (required)
  layers=    all (default) or comma-separated layer indices, e.g. 5,8
  channels=  mean (default) or topk
  k=         channels per layer with channels=topk (default 4)
  imgsz=     inference size (default 640)
  conf=      detection confidence threshold (default 0.25)
  device=    cpu, 0, ... (default: Ultralytics' choice)
  project= name=  output folder project/name, incremented if it exists (default runs/attn/exp)
  exist_ok=  True to reuse project/name instead of incrementing
  out=       write to exactly this folder instead of project/name
"""

_KEYS = {"model", "source", "layers", "channels", "k", "imgsz", "conf", "device", "project", "name", "exist_ok", "out"}


def output_dir(args: dict) -> Path:
    """``out=`` as given, else ``project/name`` incremented the Ultralytics way unless ``exist_ok``."""
    from ultralytics.utils.files import increment_path

    if args.get("out"):
        return Path(str(args["out"]))
    base = Path(str(args.get("project") or "runs/attn")) / str(args.get("name") or "exp")
    return increment_path(base, exist_ok=bool(args.get("exist_ok")))


def _readable_images(source: str) -> list[Path]:
    """The images of ``source``, each decoded first: one bad file fails the command before any figure is written.

    Raises:
        FileNotFoundError, ValueError: from :func:`ca_yolo.viz.predict.list_images`.
        DataError: naming the first unreadable image.
    """
    from ca_yolo.data.imageio import verify_images
    from ca_yolo.viz.predict import list_images

    images = list_images(source)
    bad = [r for r in verify_images(images).values() if isinstance(r, Exception)]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise bad[0].__class__(f"{bad[0]}{more}; nothing was written")
    return images


def main(argv: list[str]) -> int:
    """Run ``ca-yolo attn``; return 0 on success, 2 on bad arguments, 1 on an unusable model, image or output.

    Every failure is one line ``ca-yolo attn: error: ...``, and leaves no figure behind: images are
    decoded and the output folder checked before the model runs, and figures of a run that fails
    midway are removed.
    """
    if (rc := usage_exit_code(argv, USAGE)) is not None:
        return rc
    try:
        args = _checked_args(argv)
        images = _readable_images(str(args["source"]))
        model = str(args["model"])
        _check_model(model)
        out = output_dir(args)
        check_output(out, "out=" if args.get("out") else "project/name=", folder=True)
        written = _save(model, images, out, args)
    except Exception as e:  # noqa: BLE001  (one line; the traceback with --debug)
        from ca_yolo.viz.capture import NoAttentionLayersError

        if isinstance(e, (NoAttentionLayersError, FileNotFoundError, ValueError)) and not isinstance(e, CaYoloError):
            e = CaYoloError(str(e))  # a file named is unusable
        return report("attn", e)
    print(f"Saved {len(written)} attention figure(s) to {out}")
    return 0


def _checked_args(argv: list[str]) -> dict:
    """The parsed ``key=value`` arguments, each checked; an :class:`ArgError` (exit 2) names a bad one."""
    args = parse_command(argv, _KEYS, required=("model", "source"))
    channels = str(args.get("channels") or "mean").lower()
    if channels not in {"mean", "topk"}:
        raise ArgError(f"channels={args['channels']} must be mean or topk")
    args["channels"] = channels
    k = args.get("k", 4)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ArgError(f"k={k} must be a positive integer")
    imgsz = args.get("imgsz", 640)
    if not isinstance(imgsz, int) or isinstance(imgsz, bool) or imgsz < 32:
        raise ArgError(f"imgsz={imgsz} must be an integer >= 32")
    conf = args.get("conf", 0.25)
    if not isinstance(conf, (int, float)) or isinstance(conf, bool) or not 0 <= conf <= 1:
        raise ArgError(f"conf={conf} must be a number in [0, 1]")
    check_device(None if args.get("device") is None else str(args["device"]))
    return args


def _check_model(model: str) -> None:
    """Refuse a model path that is a folder, missing, or a broken checkpoint, before anything runs."""
    path = Path(model)
    if path.is_dir():
        raise CaYoloError(f"model '{model}' is a folder; give a checkpoint (.pt) or a model YAML")
    if model.endswith(".pt"):
        from ca_yolo.plugin.checkpoint import read_checkpoint

        read_checkpoint(model)  # the one loading rule: a payload is refused before Ultralytics opens the file


def _save(model: str, images: list[Path], out: Path, args: dict) -> list[Path]:
    """Write the figures; if that fails midway, remove the ones this run wrote (and the folders it made)."""
    import shutil

    from ca_yolo.viz.save import figure_names, save_attention_figures

    made_out = not out.exists()
    top = out  # the outermost folder this run would create
    while made_out and not top.parent.exists():
        top = top.parent
    new = [out / n for n in figure_names(images) if not (out / n).exists()]
    try:
        return save_attention_figures(
            model, images, out, layers=None if args.get("layers") is None else str(args["layers"]),
            channels=args["channels"], k=args.get("k", 4), imgsz=args.get("imgsz", 640),
            conf=float(args.get("conf", 0.25)), device=None if args.get("device") is None else str(args["device"]),
        )  # fmt: skip
    except BaseException:
        if made_out:
            shutil.rmtree(top, ignore_errors=True)
        else:
            for p in new:
                p.unlink(missing_ok=True)
        raise
