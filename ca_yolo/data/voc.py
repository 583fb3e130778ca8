"""PASCAL VOC (VOCdevkit XML) -> YOLO dataset, with the standard train/val protocol.

Protocol: train = VOC2007 trainval (+ VOC2012 trainval when present), val = VOC2007 test. When
the VOC2007 test annotations are absent, train = the ``train`` split and val = the ``val`` split
of every year present (the run says so and records it in the data YAML as ``protocol``).

Objects marked ``difficult`` are left out of the YOLO labels (train and val) and kept in the
val COCO ground truth as ignore regions (``iscrowd: 1``), as the VOC evaluation ignores them.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_output_dir
from .classes import VOC_NAMES
from .cocojson import GtBox, GtImage, write_coco_gt
from .conversion import write_conversion_files
from .files import write_split
from .imageio import read_image_size, size_mismatch, verify_images
from .labels import clip_box, yolo_line
from .problems import DataError, Problems

DEFAULT_YEARS = ("2007", "2012")
_CLASS_INDEX = {n: i for i, n in enumerate(VOC_NAMES)}


@dataclass
class VocObject:
    """One ``<object>``: class index, VOC 1-based inclusive pixel box, difficult flag."""

    cls: int
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool


@dataclass
class VocAnnotation:
    """One parsed annotation XML."""

    filename: str
    width: int  # 0 when <size> is missing or zero
    height: int
    objects: list[VocObject] = field(default_factory=list)


def _text(el: ET.Element, tag: str, xml: Path, default: str | None = None) -> str:
    child = el.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if default is not None:
            return default
        raise DataError(f"{xml}: <{tag}> missing in <{el.tag}>")
    return child.text.strip()


def _number(el: ET.Element, tag: str, xml: Path, default: str | None = None) -> float:
    s = _text(el, tag, xml, default)
    try:
        value = float(s)
    except ValueError:
        raise DataError(f"{xml}: <{tag}> is not a number: {s!r}") from None
    if not math.isfinite(value):  # float() takes 'nan' and 'inf', which would poison every box computed from them
        raise DataError(f"{xml}: <{tag}> is not a finite number: {s!r}")
    return value


def _size(el: ET.Element, tag: str, xml: Path) -> int:
    """A ``<size>`` side: a whole number of pixels >= 0 (0 or absent: read from the image)."""
    value = _number(el, tag, xml, "0")
    if value < 0 or value != int(value):
        raise DataError(f"{xml}: <{tag}> must be a whole number of pixels, got {_text(el, tag, xml, '0')!r}")
    return int(value)


def parse_voc_xml(xml: str | Path) -> VocAnnotation:
    """Parse a VOC annotation file. Raises DataError naming the file for malformed XML, missing
    fields, non-numeric values or an unknown class name."""
    xml = Path(xml)
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        raise DataError(f"{xml}: malformed XML ({e})") from None
    except OSError as e:
        raise DataError(f"{xml}: cannot read ({e.strerror or e})") from None
    if root.tag != "annotation":
        raise DataError(f"{xml}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    w = _size(size, "width", xml) if size is not None else 0
    h = _size(size, "height", xml) if size is not None else 0
    ann = VocAnnotation(_text(root, "filename", xml, ""), w, h)
    for obj in root.findall("object"):
        name = _text(obj, "name", xml)
        if name not in _CLASS_INDEX:
            raise DataError(f"{xml}: unknown class name {name!r} (VOC has: {', '.join(VOC_NAMES)})")
        difficult = _text(obj, "difficult", xml, "0")
        if difficult not in {"0", "1"}:
            raise DataError(f"{xml}: <difficult> must be 0 or 1, got {difficult!r}")
        box = obj.find("bndbox")
        if box is None:
            raise DataError(f"{xml}: <object> {name!r} has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(box, t, xml) for t in ("xmin", "ymin", "xmax", "ymax"))
        ann.objects.append(VocObject(_CLASS_INDEX[name], xmin, ymin, xmax, ymax, difficult == "1"))
    return ann


def _read_ids(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _split_ids(year_dir: Path, split: str) -> list[str] | None:
    """Ids of ImageSets/Main/<split>.txt (trainval falls back to train + val); None if absent."""
    main = year_dir / "ImageSets" / "Main"
    f = main / f"{split}.txt"
    if f.is_file():
        return _read_ids(f)
    if split == "trainval" and (main / "train.txt").is_file() and (main / "val.txt").is_file():
        return _read_ids(main / "train.txt") + _read_ids(main / "val.txt")
    return None


def _has_test_annotations(voc2007: Path) -> bool:
    ids = _split_ids(voc2007, "test")
    return bool(ids) and (voc2007 / "Annotations" / f"{ids[0]}.xml").is_file()


def voc_protocol(root: Path, years: list[str]) -> tuple[dict[str, list[tuple[str, str]]], str, bool]:
    """Decide the splits: ``({"train": [(year, id)], "val": [...]}, description, standard)``.

    ``standard`` is False when VOC2007 test is missing and the val splits stand in for it.
    """
    dirs = {y: root / f"VOC{y}" for y in years}
    if "2007" in dirs and _has_test_annotations(dirs["2007"]):
        splits = {"train": [], "val": [("2007", i) for i in _split_ids(dirs["2007"], "test")]}
        for y in years:
            ids = _split_ids(dirs[y], "trainval")
            if ids is None:
                raise DataError(f"{dirs[y] / 'ImageSets/Main'}: no trainval.txt (or train.txt + val.txt)")
            splits["train"] += [(y, i) for i in ids]
        desc = " + ".join(f"VOC{y} trainval" for y in years)
        return splits, f"train = {desc}; val = VOC2007 test", True
    splits = {"train": [], "val": []}
    for y in years:
        for s in ("train", "val"):
            ids = _split_ids(dirs[y], s)
            if ids is None:
                raise DataError(f"{dirs[y] / 'ImageSets/Main'}: no {s}.txt")
            splits[s] += [(y, i) for i in ids]
    tr = " + ".join(f"VOC{y} train" for y in years)
    va = " + ".join(f"VOC{y} val" for y in years)
    return splits, f"train = {tr}; val = {va} (VOC2007 test not found; not the standard protocol)", False


@dataclass
class _Item:
    """A source image ready to be written."""

    src_image: Path
    stem: str
    width: int
    height: int
    lines: list[str]
    gt: list[GtBox]
    n_difficult: int


def _convert_one(year_dir: Path, vid: str) -> _Item:
    """Read and check one image's annotation; raise DataError naming the file when it is bad."""
    xml = year_dir / "Annotations" / f"{vid}.xml"
    if not xml.is_file():
        raise DataError(f"{xml}: annotation file missing (listed in ImageSets)")
    ann = parse_voc_xml(xml)
    img = year_dir / "JPEGImages" / f"{vid}.jpg"
    if not img.is_file() and ann.filename:
        img = year_dir / "JPEGImages" / ann.filename
    if not img.is_file():
        raise DataError(f"{img}: image missing (annotated in {xml.name})")
    w, h = ann.width, ann.height
    if w <= 0 or h <= 0:  # <size> absent or zero: only then is the image decoded
        w, h = read_image_size(img)
    lines, gt, n_difficult = [], [], 0
    for o in ann.objects:
        # VOC pixels are 1-based and inclusive; as 0-based edges the box is (xmin-1, ymin-1, xmax-1,
        # ymax-1) -- the convention Ultralytics' VOC converter and the common COCO exports use.
        try:
            x0, y0, x1, y1 = clip_box(o.xmin - 1, o.ymin - 1, o.xmax - 1, o.ymax - 1, w, h)
        except ValueError as e:
            raise DataError(f"{xml}: {VOC_NAMES[o.cls]} {e}") from None
        gt.append(GtBox(o.cls, x0, y0, x1, y1, ignore=o.difficult))
        if o.difficult:
            n_difficult += 1
        else:
            lines.append(yolo_line(o.cls, x0, y0, x1, y1, w, h))
    return _Item(img, img.stem, w, h, lines, gt, n_difficult)


def _verify_item_images(items: dict[str, list[_Item]], problems: Problems) -> None:
    """Decode every image to be written; drop (and record) those that are unusable or not the annotated size.

    Boxes are normalised by the XML's ``<size>``, so an image of another size would get wrong labels.
    """
    sizes = verify_images(it.src_image for its in items.values() for it in its)
    for split, its in items.items():
        kept = []
        for it in its:
            got = sizes[it.src_image]
            if isinstance(got, DataError):
                problems.add(it.src_image, str(got).removeprefix(f"{it.src_image}: "))
            elif got != (it.width, it.height):
                problems.add(it.src_image, size_mismatch(it.src_image, got, (it.width, it.height), "its annotation"))
            else:
                kept.append(it)
        items[split] = kept


def convert_voc(
    root: str | Path,
    out: str | Path,
    years: list[str] | tuple[str, ...] | None = None,
    force: bool = False,
    skip_bad: bool = False,
    images: str = "copy",
    log=print,
) -> Path:
    """Convert a VOCdevkit folder to a YOLO dataset at ``out`` and return its data YAML path.

    Args:
        root: the ``VOCdevkit`` folder (holding ``VOC2007``/``VOC2012``); only read.
        out: output folder; written as a whole at the end (see :mod:`ca_yolo.data.atomic`).
        years: years to use; None = those of 2007/2012 present (an explicitly named year that is
            missing is an error).
        force: replace an existing output folder.
        skip_bad: leave out images with problems (warned and counted) instead of failing.
        images: ``copy`` | ``hardlink`` | ``symlink`` (see :func:`ca_yolo.data.files.place_image`).
        log: receives progress lines.

    Output: ``images/{train,val}/<id>.jpg``, ``labels/{train,val}/<id>.txt``,
    ``annotations/val.json`` (COCO ground truth, difficult objects as ``iscrowd: 1``),
    ``conversion.json`` (counts) and ``data.yaml`` (``coco_gt: annotations/val.json``).
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if not root.is_dir():
        raise DataError(f"{root}: VOC root folder does not exist")
    if years:
        years = [str(y) for y in years]
        for y in years:
            if not (root / f"VOC{y}").is_dir():
                raise DataError(f"{root / f'VOC{y}'}: folder for year {y} does not exist")
    else:
        years = [y for y in DEFAULT_YEARS if (root / f"VOC{y}").is_dir()]
        if not years:
            raise DataError(f"{root}: holds neither VOC2007 nor VOC2012 (expected <root>/VOC2007, ...)")
    splits, protocol, standard = voc_protocol(root, years)
    if not standard:
        log(f"NOTE: {protocol}")

    problems = Problems(skip_bad=skip_bad)
    items: dict[str, list[_Item]] = {}
    stems: dict[str, str] = {}
    for split, ids in splits.items():
        items[split] = []
        for year, vid in ids:
            try:
                item = _convert_one(root / f"VOC{year}", vid)
            except DataError as e:
                problems.add(f"VOC{year}/{vid}", str(e))
                continue
            key = item.stem
            if key in stems:
                problems.add(f"VOC{year}/{vid}", f"image name {key} already used by {stems[key]}")
                continue
            stems[key] = f"VOC{year} {split}"
            items[split].append(item)
    _verify_item_images(items, problems)
    problems.settle(f"VOC conversion of {root}", items, where=lambda split: root)

    counts = {}
    with atomic_output_dir(out, force=force, sources=(root,)) as tmp:
        for split, its in items.items():
            written = write_split(tmp, split, ((it.src_image, it.lines) for it in its), images)
            counts[split] = {**written, "difficult": sum(it.n_difficult for it in its)}
        gt = [GtImage(it.src_image.name, it.width, it.height, it.gt) for it in items["val"]]
        write_coco_gt(tmp / "annotations" / "val.json", gt, list(VOC_NAMES), description=f"VOC val: {protocol}")
        write_conversion_files(
            tmp,
            root,
            out,
            {"years": years, "protocol": protocol, "splits": counts},
            problems,
            {
                "train": "images/train",
                "val": "images/val",
                "names": list(VOC_NAMES),
                "coco_gt": "annotations/val.json",
                "protocol": protocol,
            },
            header=(
                f"PASCAL VOC as YOLO, written by 'ca-yolo data voc' from {root}\n"
                "Difficult objects are not in labels/; annotations/val.json keeps them as iscrowd=1 (ignored)."
            ),
        )
    for split, c in counts.items():
        log(f"{split}: {c['images']} images, {c['boxes']} boxes ({c['difficult']} difficult left out)")
    log(f"wrote {out / 'data.yaml'}")
    return out / "data.yaml"
