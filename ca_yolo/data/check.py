"""Validate any YOLO detection dataset described by a data YAML.

Errors (exit code 1): unreadable data YAML, missing split folders, splits without images,
missing or undecodable images, label files placed beside the images (Ultralytics reads them from
the ``labels/`` twin folder only, so it would train on no boxes), one label file serving two
images (``x.jpg`` and ``x.png``), malformed label lines, class ids that are not integers or out of
range, coordinates outside [0, 1] or not numbers (boxes reaching past the image included), boxes
of zero area, duplicate boxes.
Warnings: a split without a single box, images without a label file or with an empty one
(background images, legal in YOLO but often a mistake), JPEGs without their end marker, label
files without an image.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .imageio import jpeg_is_truncated, verify_image
from .labelline import LabelLineError, parse_label_line
from .layout import label_path
from .problems import DataError
from .yamlio import SPLIT_KEYS, list_split_images, load_data_yaml

# kind -> (severity, heading). The order here is the order of the report.
KINDS: dict[str, tuple[str, str]] = {
    "yaml": ("error", "data YAML unusable"),
    "split_missing": ("error", "split path missing"),
    "no_images": ("error", "split has no images"),
    "image_missing": ("error", "image file missing"),
    "image_corrupt": ("error", "image corrupt or unreadable"),
    "label_beside_image": ("error", "label files beside the images, where Ultralytics does not look"),
    "label_shared": ("error", "label file shared by several images (Ultralytics gives each the same boxes)"),
    "label_malformed": ("error", "malformed label line"),
    "class_not_integer": ("error", "class id not an integer"),
    "class_out_of_range": ("error", "class id out of range"),
    "box_out_of_bounds": ("error", "box outside [0,1]"),
    "box_zero_area": ("error", "box with zero area"),
    "box_duplicate": ("error", "duplicate box"),
    "no_boxes": ("warning", "split without a single box (every image is background)"),
    "label_missing": ("warning", "image without label file (treated as background)"),
    "label_empty": ("warning", "empty label file (image treated as background)"),
    "jpeg_truncated": ("warning", "JPEG without end marker (Ultralytics rewrites such files in place)"),
    "label_orphan": ("warning", "label file without image"),
}

EDGE_TOL = 1e-4  # labels are written with 6 decimals; box edges may overshoot by rounding only


@dataclass
class Finding:
    """One problem: its kind (a key of :data:`KINDS`), the file, and what is wrong."""

    kind: str
    file: str
    detail: str = ""

    @property
    def severity(self) -> str:
        return KINDS[self.kind][0]


@dataclass
class CheckReport:
    """Everything :func:`check_dataset` found, with per-split image and box counts."""

    data_yaml: str
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def by_kind(self) -> dict[str, list[Finding]]:
        """Findings grouped by kind, in the order of :data:`KINDS`."""
        groups: dict[str, list[Finding]] = defaultdict(list)
        for f in self.findings:
            groups[f.kind].append(f)
        return {k: groups[k] for k in KINDS if k in groups}

    def format(self, max_per_kind: int = 20) -> str:
        """The human-readable summary: counts, then each kind of problem with its files."""
        lines = [f"Checked {self.data_yaml}"]
        for split, c in self.counts.items():
            lines.append(f"  {split}: {c['images']} images, {c['boxes']} boxes")
        for kind, items in self.by_kind().items():
            sev, title = KINDS[kind]
            lines.append(f"{sev.upper()} {title}: {len(items)}")
            for f in items[:max_per_kind]:
                lines.append(f"  {f.file}" + (f"  {f.detail}" if f.detail else ""))
            if len(items) > max_per_kind:
                lines.append(f"  ... and {len(items) - max_per_kind} more")
        verdict = "FAILED" if self.errors else "OK"
        lines.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s): {verdict}")
        return "\n".join(lines)


def check_label_text(text: str, nc: int) -> tuple[list[tuple[int, str, str]], int]:
    """Check the text of one label file.

    Returns ``([(line number, kind, detail), ...], number of valid boxes)``. Box lines have 5
    values (``cls cx cy w h``); polygon lines (``cls x1 y1 x2 y2 x3 y3 ...``) are accepted too.
    """
    found: list[tuple[int, str, str]] = []
    seen: dict[tuple, int] = {}
    n_ok = 0
    for n, line in enumerate(text.splitlines(), 1):
        try:
            parsed = parse_label_line(line)  # the one parser every label reader uses
        except LabelLineError as e:
            if e.kind == "class":  # nan, 1e999, 1.5: Ultralytics rejects the whole file
                found.append((n, "class_not_integer", str(e)))
            else:
                found.append((n, "label_malformed", str(e)))
            continue
        if parsed is None:
            continue
        vals = list(parsed.values)
        if not 0 <= parsed.cls < nc:
            found.append((n, "class_out_of_range", f"class {line.split()[0]} not in 0..{nc - 1}"))
            continue
        bad = [v for v in vals if not 0.0 <= v <= 1.0]
        if bad:
            what = "is not a number" if math.isnan(bad[0]) else "outside [0,1]"
            found.append((n, "box_out_of_bounds", f"value {bad[0]:g} {what}"))
            continue
        if len(vals) == 4:
            cx, cy, w, h = vals
            if w <= 0 or h <= 0:
                found.append((n, "box_zero_area", f"w={w:g} h={h:g}"))
                continue
            edges = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if min(edges) < -EDGE_TOL or max(edges) > 1 + EDGE_TOL:
                x0, y0, x1, y1 = edges
                found.append((n, "box_out_of_bounds", f"box reaches x {x0:.4f}..{x1:.4f}, y {y0:.4f}..{y1:.4f}"))
                continue
        else:
            xs, ys = vals[0::2], vals[1::2]
            if max(xs) - min(xs) <= 0 or max(ys) - min(ys) <= 0:
                found.append((n, "box_zero_area", "polygon has no extent"))
                continue
        key = (parsed.cls, *(round(v, 6) for v in vals))
        if key in seen:
            found.append((n, "box_duplicate", f"same as line {seen[key]}"))
            continue
        seen[key] = n
        n_ok += 1
    return found, n_ok


def _check_image(path: Path) -> tuple[str, str] | None:
    """``(kind, detail)`` for a missing, corrupt or truncated image, else None."""
    if not path.is_file():
        return "image_missing", ""
    try:
        verify_image(path)  # the converters' check: OpenCV decode, PIL verify, minimum size
    except DataError as e:
        return "image_corrupt", str(e).removeprefix(f"{path}: ")
    if path.suffix.lower() in {".jpg", ".jpeg"} and jpeg_is_truncated(path):
        return "jpeg_truncated", ""
    return None


def check_dataset(
    data_yaml: str | Path, splits: list[str] | None = None, decode: bool = True, workers: int | None = None
) -> CheckReport:
    """Check a YOLO dataset and return the report (it never raises for bad data).

    Args:
        data_yaml: the data YAML (paths resolved like Ultralytics).
        splits: which of train/val/test to check (default: those the YAML names).
        decode: decode every image (else only check that it exists).
        workers: threads for decoding (default: CPU count, at most 8).
    """
    report = CheckReport(str(data_yaml))
    try:
        data = load_data_yaml(data_yaml)
    except DataError as e:
        report.findings.append(Finding("yaml", str(data_yaml), str(e).split(": ", 1)[-1]))
        return report
    root: Path = data["path"]

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(root))
        except ValueError:
            return str(p)

    nc = data["nc"]
    label_dirs: set[Path] = set()
    label_names: set[Path] = set()
    workers = workers or min(8, os.cpu_count() or 1)
    for split in splits or [s for s in SPLIT_KEYS if data[s]]:
        if not data.get(split):
            report.findings.append(Finding("split_missing", str(data_yaml), f"no '{split}' entry"))
            continue
        try:
            images = list_split_images(data, split)
        except DataError as e:
            report.findings.append(Finding("split_missing", str(data_yaml), str(e).split(": ", 1)[-1]))
            continue
        c = report.counts.setdefault(split, {"images": 0, "boxes": 0})
        c["images"] = len(images)
        if not images:
            report.findings.append(Finding("no_images", rel(data[split][0]), f"{split} split"))
            continue
        if decode:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(_check_image, images))
        else:
            results = [None if p.is_file() else ("image_missing", "") for p in images]
        owners: dict[Path, list[Path]] = defaultdict(list)
        for img, res in zip(images, results):
            if res is not None:
                report.findings.append(Finding(res[0], rel(img), res[1]))
            lbl = label_path(img)
            owners[lbl].append(img)
            label_dirs.add(lbl.parent)
            label_names.add(lbl)
            if not lbl.is_file():
                beside = img.with_suffix(".txt")
                if beside != lbl and beside.is_file():
                    report.findings.append(
                        Finding("label_beside_image", rel(beside), f"Ultralytics reads {rel(lbl)}; move it there")
                    )
                else:
                    report.findings.append(Finding("label_missing", rel(img)))
                continue
            try:
                text = lbl.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                report.findings.append(Finding("label_malformed", rel(lbl), f"unreadable: {e}"))
                continue
            if not text.strip():
                report.findings.append(Finding("label_empty", rel(lbl)))
                continue
            found, n_ok = check_label_text(text, nc)
            c["boxes"] += n_ok
            report.findings += [Finding(kind, f"{rel(lbl)}:{n}", detail) for n, kind, detail in found]
        for lbl, imgs in owners.items():
            if len(imgs) > 1:  # 000000.jpg and 000000.png: one label file for two different pictures
                report.findings.append(Finding("label_shared", rel(lbl), "for " + ", ".join(rel(i) for i in imgs)))
        if c["boxes"] == 0:
            report.findings.append(Finding("no_boxes", rel(data[split][0]), f"{split} split: 0 boxes found"))
    # Checked over all splits together: a label folder may serve images listed by several splits.
    for d in sorted(label_dirs):
        if d.is_dir():
            for lbl in sorted(d.glob("*.txt")):
                if lbl not in label_names:
                    report.findings.append(Finding("label_orphan", rel(lbl)))
    return report
