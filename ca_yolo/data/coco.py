"""MS-COCO (instances JSON) -> YOLO dataset with the standard 80-class mapping.

Category ids 1..90 become class indices 0..79 (:data:`ca_yolo.data.classes.COCO_ID_TO_INDEX`).
``iscrowd`` annotations are not written as labels (they are not single objects). Boxes of zero
width or height, which the official files contain a few of, are dropped and counted; a negative
width or height is an error naming the annotation. Every image written is decoded first. The val
JSON is copied unchanged into the output (``coco_gt``), so pycocotools evaluates against the
official ground truth, crowd regions and mask areas included; ``coco_gt_source`` records where
it came from.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_output_dir
from .classes import COCO_CATEGORY_IDS, COCO_ID_TO_INDEX, COCO_NAMES
from .cocojson import image_id_from_stem
from .conversion import write_conversion_files
from .files import name_clashes, write_split
from .imageio import size_mismatch, verify_images
from .labels import clip_box, yolo_line
from .problems import DataError, Problems

DEFAULT_SPLITS = ("train2017", "val2017")


def find_coco_files(root: Path, split: str) -> tuple[Path, Path]:
    """``(instances JSON, image folder)`` of a split, in the official or Ultralytics' layout.

    Looks for ``annotations/instances_<split>.json`` and images in ``<split>/`` or
    ``images/<split>/``. Raises DataError naming what is missing.
    """
    ann = root / "annotations" / f"instances_{split}.json"
    if not ann.is_file():
        raise DataError(f"{ann}: annotation file missing")
    for d in (root / split, root / "images" / split):
        if d.is_dir():
            return ann, d
    raise DataError(f"{root / split}: image folder missing (also looked in {root / 'images' / split})")


def load_instances(path: Path) -> dict:
    """Load and structurally check an instances JSON; DataError names the file and the fault."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON ({e})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: top level must be an object with images/annotations/categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: '{key}' list missing")
    for c in data["categories"]:
        if not isinstance(c, dict):
            raise DataError(f"{path}: category entry {str(c)[:80]} is not an object")
        cid = c.get("id")
        if not isinstance(cid, int) or cid not in COCO_ID_TO_INDEX:
            raise DataError(f"{path}: category id {cid!r} ({c.get('name')!r}) is not one of the 80 COCO detection ids")
        if c.get("name") != COCO_NAMES[COCO_ID_TO_INDEX[cid]]:
            raise DataError(
                f"{path}: category id {cid} is named {c.get('name')!r}, "
                f"COCO calls it {COCO_NAMES[COCO_ID_TO_INDEX[cid]]!r}"
            )
    return data


@dataclass
class _Item:
    src_image: Path
    lines: list[str]


def _with_integer(entries: list, key: str, what: str, source: str, problems: Problems) -> Iterator[dict]:
    """The entries that are objects with an integer ``key``; each other one goes to ``problems``."""
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get(key), int):
            yield entry
        else:
            problems.add(source, f"{what} {str(entry)[:120]} has no integer {key}")


def _split_items(ann_path: Path, img_dir: Path, problems: Problems, counts: dict) -> list[_Item]:
    """Check one split and build its label lines; bad images go to ``problems``."""
    data = load_instances(ann_path)
    images: dict[int, dict] = {}
    for im in _with_integer(data["images"], "id", "image entry", ann_path.name, problems):
        try:
            iid, name, w, h = im["id"], str(im["file_name"]), float(im["width"]), float(im["height"])
        except (KeyError, TypeError, ValueError):
            problems.add(ann_path.name, f"image entry {str(im)[:120]} lacks id/file_name/width/height")
            continue
        if not all(math.isfinite(v) and v > 0 for v in (w, h)):  # nan passes float() and would break every box
            problems.add(
                ann_path.name,
                f"image id {iid} ({name}): width {im['width']!r} / height {im['height']!r} are not positive numbers",
            )
            continue
        if iid in images:
            problems.add(ann_path.name, f"image id {iid} appears twice")
            continue
        images[iid] = {"name": name, "w": w, "h": h, "lines": [], "bad": None}
    crowd = degenerate = mismatched_ids = 0
    for a in _with_integer(data["annotations"], "image_id", "annotation", ann_path.name, problems):
        im = images.get(a["image_id"])
        if im is None:
            problems.add(ann_path.name, f"annotation {a.get('id')} refers to unknown image id {a.get('image_id')!r}")
            continue
        if im["bad"]:
            continue
        if a.get("iscrowd", 0):
            crowd += 1
            continue
        cid = a.get("category_id")
        if not isinstance(cid, int) or cid not in COCO_ID_TO_INDEX:
            im["bad"] = f"annotation {a.get('id')}: category id {cid!r} is not one of the 80 COCO detection ids"
            continue
        try:
            x, y, w, h = (float(v) for v in a["bbox"])
        except (KeyError, TypeError, ValueError):
            im["bad"] = f"annotation {a.get('id')}: bbox {a.get('bbox')!r} is not [x, y, w, h]"
            continue
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            im["bad"] = f"annotation {a.get('id')}: bbox {a.get('bbox')!r} holds a value that is not a finite number"
            continue
        if w < 0 or h < 0:  # not a box at all: a broken file, not one of the official zero-size ones
            im["bad"] = f"annotation {a.get('id')}: bbox {a.get('bbox')!r} has a negative width or height"
            continue
        if w == 0 or h == 0:
            degenerate += 1  # a handful exist in the official files; nothing to learn from
            continue
        try:
            x0, y0, x1, y1 = clip_box(x, y, x + w, y + h, im["w"], im["h"])
        except ValueError as e:
            im["bad"] = f"annotation {a.get('id')}: {e}"
            continue
        im["lines"].append(yolo_line(COCO_ID_TO_INDEX[cid], x0, y0, x1, y1, im["w"], im["h"]))
    items = []
    taken: dict[Path, int] = {}  # source image -> the image id that claimed it
    present = {
        iid: img_dir / im["name"] for iid, im in images.items() if not im["bad"] and (img_dir / im["name"]).is_file()
    }
    sizes = verify_images(present.values())  # every image written is decoded once
    for iid, im in images.items():
        src = img_dir / im["name"]
        got = sizes.get(src)
        if im["bad"]:
            problems.add(src, im["bad"])
        elif got is None:
            problems.add(src, f"image missing (listed in {ann_path.name})")
        elif isinstance(got, DataError):
            problems.add(src, str(got).removeprefix(f"{src}: "))
        elif got != (int(im["w"]), int(im["h"])):
            problems.add(src, size_mismatch(src, got, (im["w"], im["h"]), ann_path.name))
        elif src in taken:
            problems.add(
                src,
                f"listed twice in {ann_path.name} (image ids {taken[src]} and {iid}); "
                "one output file cannot hold both ids' boxes",
            )
        else:
            taken[src] = iid
            mismatched_ids += image_id_from_stem(src.stem) != iid
            items.append(_Item(src, im["lines"]))
    clashes = name_clashes(it.src_image for it in items)
    for src, first in clashes.items():
        problems.add(src, f"same output name '{src.stem}' as {first} (both listed in {ann_path.name}); rename one")
    items = [it for it in items if it.src_image not in clashes]
    counts.update(
        images=len(items),
        boxes=sum(len(i.lines) for i in items),
        crowd_skipped=crowd,
        degenerate_skipped=degenerate,
        ids_not_from_stem=mismatched_ids,
    )
    return items


def convert_coco(
    root: str | Path,
    out: str | Path,
    splits: tuple[str, str] = DEFAULT_SPLITS,
    force: bool = False,
    skip_bad: bool = False,
    images: str = "copy",
    log=print,
) -> Path:
    """Convert a COCO folder to a YOLO dataset at ``out`` and return its data YAML path.

    Args:
        root: folder with ``annotations/instances_<split>.json`` and ``<split>/`` (or
            ``images/<split>/``) image folders; only read.
        out: output folder, written as a whole at the end.
        splits: ``(train split, val split)`` names.
        force, skip_bad, images, log: as in :func:`ca_yolo.data.voc.convert_voc`.

    Output: ``images/<split>/``, ``labels/<split>/``, ``annotations/instances_<val>.json`` (the
    original, unchanged), ``conversion.json`` and ``data.yaml``.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if not root.is_dir():
        raise DataError(f"{root}: COCO root folder does not exist")
    train_split, val_split = splits
    sources = {s: find_coco_files(root, s) for s in (train_split, val_split)}
    problems = Problems(skip_bad=skip_bad)
    counts: dict[str, dict] = {}
    items: dict[str, list[_Item]] = {}
    for split, (ann, img_dir) in sources.items():
        counts[split] = {}
        items[split] = _split_items(ann, img_dir, problems, counts[split])
    problems.settle(f"COCO conversion of {root}", items, where=lambda split: sources[split][0])
    val_json = sources[val_split][0]
    if counts[val_split]["ids_not_from_stem"]:
        log(
            f"NOTE: {counts[val_split]['ids_not_from_stem']} image ids in {val_json.name} differ from their file "
            "stems; evaluation must match predictions by file name"
        )

    with atomic_output_dir(out, force=force, sources=(root,)) as tmp:
        for split, its in items.items():
            counts[split].update(write_split(tmp, split, ((it.src_image, it.lines) for it in its), images))
        (tmp / "annotations").mkdir()
        shutil.copyfile(val_json, tmp / "annotations" / val_json.name)
        write_conversion_files(
            tmp,
            root,
            out,
            {"splits": counts},
            problems,
            {
                "train": f"images/{train_split}",
                "val": f"images/{val_split}",
                "names": list(COCO_NAMES),
                "coco_gt": f"annotations/{val_json.name}",
                "coco_gt_cat_ids": list(COCO_CATEGORY_IDS),
                "coco_gt_source": str(val_json),
            },
            header=(
                f"MS-COCO as YOLO, written by 'ca-yolo data coco' from {root}\n"
                "coco_gt is an unchanged copy of the official val JSON; "
                "coco_gt_cat_ids[i] is the category id of class i."
            ),
        )
    for split, c in counts.items():
        log(
            f"{split}: {c['images']} images, {c['boxes']} boxes "
            f"({c['crowd_skipped']} crowd and {c['degenerate_skipped']} zero-size boxes left out)"
        )
    log(f"wrote {out / 'data.yaml'}")
    return out / "data.yaml"
