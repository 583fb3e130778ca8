"""``ca-yolo attn``: draw what each CoordAtt layer of a model attends to, one figure per image."""

from __future__ import annotations

import sys
from pathlib import Path

from ca_yolo.errors import CaYoloError
from ca_yolo.evaluation.kvargs import ArgError, parse_command, usage_exit_code

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
    """Run ``ca-yolo attn``; return 0 on success, 2 on bad arguments, 1 on an unusable model or image."""
    if (rc := usage_exit_code(argv, USAGE)) is not None:
        return rc
    from ca_yolo.viz.capture import NoAttentionLayersError

    try:
        args = parse_command(argv, _KEYS, required=("model", "source"))
        channels = str(args.get("channels") or "mean").lower()
        if channels not in {"mean", "topk"}:
            raise ArgError(f"channels={args['channels']} must be mean or topk")
        k = args.get("k", 4)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ArgError(f"k={k} must be a positive integer")
        imgsz = args.get("imgsz", 640)
        if not isinstance(imgsz, int) or isinstance(imgsz, bool) or imgsz < 32:
            raise ArgError(f"imgsz={imgsz} must be an integer >= 32")
        layers = args.get("layers")
        layers = None if layers is None else str(layers)

        from ca_yolo.viz.save import save_attention_figures

        images = _readable_images(str(args["source"]))
        model = str(args["model"])
        if model.endswith(".pt"):
            from ca_yolo.evaluation.checkpoint import require_checkpoint

            require_checkpoint(model)
        out = output_dir(args)
        written = save_attention_figures(
            model, images, out, layers=layers, channels=channels, k=k, imgsz=imgsz,
            conf=float(args.get("conf", 0.25)), device=None if args.get("device") is None else str(args["device"]),
        )  # fmt: skip
    except ArgError as e:
        print(f"ca-yolo attn: error: {e}", file=sys.stderr)
        return e.exit_code
    except (CaYoloError, NoAttentionLayersError, FileNotFoundError, ValueError) as e:  # a file named is unusable
        print(f"ca-yolo attn: error: {e}", file=sys.stderr)
        return 1
    print(f"Saved {len(written)} attention figure(s) to {out}")
    return 0
