"""The sample detection dataset: made from a seed, with no download, in a few seconds.

Four classes of flat shapes -- ``circle``, ``square``, ``triangle``, ``cross`` -- each mostly in
its own colour family (red, green, blue, yellow) but in a random colour one time in five, so a
detector must use shape as well as colour. Objects span 10-50 % of the image side (log-uniform,
so small ones are common), sit anywhere (a little may be cut off at the border), may overlap
(IoU up to 0.3; larger ones are drawn first so none is hidden), rotate freely, and lie on a
textured background with distractors: lines and small blobs in any colour, noise and
occasional blur. Boxes are the exact pixel extent of each drawn shape.

Image ``i`` of a split depends only on ``(seed, split, i)``, so growing a split keeps the images
it already had, and the same parameters give byte-identical files.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import yaml

from .atomic import atomic_output_dir
from .cocojson import GtBox, GtImage, write_coco_gt
from .imageio import write_jpeg
from .labels import write_label_file, yolo_line
from .problems import DataError, OutputExistsError
from .yamlio import write_data_yaml

SAMPLE_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
# OpenCV hue (0..180) of each class's colour family: red, green, blue, yellow.
_CLASS_HUES = (0, 60, 115, 28)
GENERATOR_VERSION = 1  # bump when the drawing changes, so old copies are not taken as current
DEFAULT_OUT = Path("datasets") / "sample"
DEFAULTS = {"seed": 0, "n_train": 240, "n_val": 60, "imgsz": 160}
_SPLIT_CODE = {"train": 1, "val": 2}


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted colour with a gradient and a smooth texture (HxWx3 float32, 0..255)."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(0, 90), rng.integers(70, 200)]]])
    base = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)[0, 0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (math.cos(angle) * xx + math.sin(angle) * yy)[..., None] * rng.uniform(-50, 50)
    coarse = rng.normal(0, 25, (6, 6, 3)).astype(np.float32)
    texture = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + ramp + texture, 0, 255)


def _random_colour(rng: np.random.Generator, hue: int | None) -> tuple[int, int, int]:
    """A saturated BGR colour near ``hue`` (None: any hue)."""
    h = rng.integers(0, 180) if hue is None else (hue + rng.integers(-8, 9)) % 180
    hsv = np.uint8([[[h, rng.integers(150, 256), rng.integers(150, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _shape_polygon(
    cls: int, cx: float, cy: float, s: float, theta: float, rng: np.random.Generator
) -> np.ndarray | None:
    """Vertices (Nx2 float) of a square, triangle or cross of size ``s``; None for the circle."""
    if cls == 0:
        return None
    if cls == 1:
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * (s / 2 / math.sqrt(2))
    elif cls == 2:
        a = np.array([90, 210, 330]) * math.pi / 180 + rng.uniform(-0.12, 0.12, 3)
        pts = np.stack([np.cos(a), np.sin(a)], 1) * (s / 2)
    else:
        t, h = 0.17, 0.5  # arm half-width and half-length, as fractions of s
        pts = (
            np.array(
                [
                    [-t, -h],
                    [t, -h],
                    [t, -t],
                    [h, -t],
                    [h, t],
                    [t, t],
                    [t, h],
                    [-t, h],
                    [-t, t],
                    [-h, t],
                    [-h, -t],
                    [-t, -t],
                ]
            )
            * s
        )
    c, sn = math.cos(theta), math.sin(theta)
    return pts @ np.array([[c, sn], [-sn, c]]) + (cx, cy)


def _overlap_ok(box: tuple, boxes: list[tuple]) -> bool:
    """New box (drawn on top) may cover at most 40 % of an earlier one, with IoU at most 0.3."""
    x0, y0, x1, y1 = box
    for a0, b0, a1, b1 in boxes:
        iw, ih = min(x1, a1) - max(x0, a0), min(y1, b1) - max(y0, b0)
        if iw <= 0 or ih <= 0:
            continue
        inter = iw * ih
        area_new, area_old = (x1 - x0) * (y1 - y0), (a1 - a0) * (b1 - b0)
        if inter / (area_new + area_old - inter) > 0.3 or inter / area_old > 0.4:
            return False
    return True


def render_sample_image(
    seed: int, split: str, index: int, imgsz: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int, int]]]:
    """Draw one image; return ``(image HxWx3 uint8 BGR, [(cls, x0, y0, x1, y1), ...])``.

    Box edges are 0-based pixel edges (``x1`` exclusive) of the shape as drawn.
    """
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], index])
    img = _background(rng, imgsz)
    for _ in range(rng.integers(2, 9)):  # clutter lines
        p, q = rng.integers(0, imgsz, 2), rng.integers(0, imgsz, 2)
        cv2.line(
            img, tuple(map(int, p)), tuple(map(int, q)), _random_colour(rng, None), int(rng.integers(1, 3)), cv2.LINE_AA
        )
    for _ in range(rng.integers(0, 6)):  # small blobs, below the smallest object size
        c = tuple(map(int, rng.integers(0, imgsz, 2)))
        axes = tuple(map(int, rng.integers(1, max(2, imgsz // 32), 2)))
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, _random_colour(rng, None), -1, cv2.LINE_AA)

    n = 0 if rng.random() < 0.05 else int(rng.integers(1, 6))
    sizes = sorted(np.exp(rng.uniform(math.log(0.10 * imgsz), math.log(0.50 * imgsz), n)), reverse=True)
    boxes: list[tuple[int, int, int, int, int]] = []
    for s in sizes:
        cls = int(rng.integers(0, len(SAMPLE_NAMES)))
        colour = _random_colour(rng, None if rng.random() < 0.2 else _CLASS_HUES[cls])
        for _ in range(30):  # placement attempts
            cx, cy = rng.uniform(0.35 * s, imgsz - 0.35 * s, 2)
            poly = _shape_polygon(cls, cx, cy, s, rng.uniform(0, 2 * math.pi), rng)
            mask = np.zeros((imgsz, imgsz), np.uint8)
            if poly is None:
                cv2.circle(mask, (round(cx), round(cy)), round(s / 2), 255, -1)
            else:
                cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
            ys, xs = np.nonzero(mask)
            if xs.size == 0:
                continue
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            if _overlap_ok(box, [b[1:] for b in boxes]):
                break
        else:
            continue  # no room for this one
        img[mask > 0] = colour
        if rng.random() < 0.5:  # a darker outline on some shapes
            dark = tuple(int(c * 0.5) for c in colour)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(img, contours, -1, dark, 1, cv2.LINE_AA)
        boxes.append((cls, *box))

    img += rng.normal(0, rng.uniform(2, 8), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out, boxes


def _params(seed: int, n_train: int, n_val: int, imgsz: int) -> dict:
    return {"generator": GENERATOR_VERSION, "seed": seed, "n_train": n_train, "n_val": n_val, "imgsz": imgsz}


def _existing_params(out: Path) -> dict | None:
    """The parameters recorded in ``out/data.yaml`` if the dataset there is complete, else None."""
    try:
        data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
        params = data["sample"]
        for split, n in (("train", params["n_train"]), ("val", params["n_val"])):
            if sum(1 for _ in (out / "images" / split).glob("*.jpg")) != n:
                return None
            if sum(1 for _ in (out / "labels" / split).glob("*.txt")) != n:
                return None
        if not (out / "annotations" / "val.json").is_file():
            return None
        return {**params, "_path": data.get("path")}
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def _data_yaml(out: Path, params: dict) -> dict:
    return {
        "path": str(out),
        "train": "images/train",
        "val": "images/val",
        "names": list(SAMPLE_NAMES),
        "coco_gt": "annotations/val.json",
        "sample": params,
    }


_HEADER = (
    "ca-yolo sample dataset (synthetic shapes), written by 'ca-yolo data sample'.\n"
    "Made again, identically, by make_sample() with the parameters under 'sample:'."
)


def make_sample(
    out: str | Path = DEFAULT_OUT,
    seed: int = DEFAULTS["seed"],
    n_train: int = DEFAULTS["n_train"],
    n_val: int = DEFAULTS["n_val"],
    imgsz: int = DEFAULTS["imgsz"],
    force: bool = False,
    log=None,
) -> Path:
    """Make the sample dataset at ``out`` (if needed) and return the path of ``out/data.yaml``.

    Idempotent: when ``out`` already holds a complete sample made with the same parameters it
    is returned untouched (only its ``path:`` entry is rewritten if the folder was moved). A
    different dataset at ``out`` is replaced only with ``force`` (else OutputExistsError).

    Layout: ``images/{train,val}/NNNNNN.jpg`` (imgsz x imgsz), ``labels/{train,val}/NNNNNN.txt``,
    ``annotations/val.json`` (COCO ground truth, ``coco_gt``) and ``data.yaml``.
    """
    if n_train < 1 or n_val < 1 or imgsz < 32:
        raise ValueError(f"need n_train >= 1, n_val >= 1 and imgsz >= 32 (got {n_train}, {n_val}, {imgsz})")
    out = Path(out).resolve()
    params = _params(int(seed), int(n_train), int(n_val), int(imgsz))
    existing = _existing_params(out)
    if existing is not None and not force:
        recorded_path = existing.pop("_path")
        if existing == params:
            if recorded_path != str(out):
                try:
                    write_data_yaml(out / "data.yaml", _data_yaml(out, params), _HEADER)
                except OSError as e:
                    raise DataError(f"cannot write {out / 'data.yaml'}: {e.strerror or e}") from None
            return out / "data.yaml"
        raise OutputExistsError(
            f"{out} holds a sample made with {existing}, not {params}; pass force=True (--force) to replace it"
        )
    try:
        _write_sample(out, params, force)
    except OutputExistsError:
        # Another process (a parallel run of the same command) may have just finished the same
        # dataset: that one is as good as ours.
        again = _existing_params(out)
        if again is None or {k: v for k, v in again.items() if k != "_path"} != params:
            raise
    if log:
        log(f"wrote the sample dataset ({n_train} train + {n_val} val images, {imgsz}px) to {out}")
    return out / "data.yaml"


def _write_sample(out: Path, params: dict, force: bool) -> None:
    """Render every image and write the dataset to ``out`` in one atomic step."""
    n_train, n_val, imgsz = params["n_train"], params["n_val"], params["imgsz"]
    with atomic_output_dir(out, force=force) as tmp:
        gt: list[GtImage] = []
        for split, n in (("train", n_train), ("val", n_val)):
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "labels" / split).mkdir(parents=True)
            for i in range(n):
                img, boxes = render_sample_image(params["seed"], split, i, imgsz)
                name = f"{i:06d}"
                write_jpeg(tmp / "images" / split / f"{name}.jpg", img, quality=92)
                lines = [yolo_line(c, x0, y0, x1, y1, imgsz, imgsz) for c, x0, y0, x1, y1 in boxes]
                write_label_file(tmp / "labels" / split / f"{name}.txt", lines)
                if split == "val":
                    gt.append(
                        GtImage(f"{name}.jpg", imgsz, imgsz, [GtBox(c, x0, y0, x1, y1) for c, x0, y0, x1, y1 in boxes])
                    )
        write_coco_gt(tmp / "annotations" / "val.json", gt, list(SAMPLE_NAMES), description="ca-yolo sample, val split")
        write_data_yaml(tmp / "data.yaml", _data_yaml(out, params), _HEADER)
