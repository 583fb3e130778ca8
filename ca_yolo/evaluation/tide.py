"""TIDE error decomposition (Bolya et al., "TIDE: A General Toolbox for Identifying Object Detection
Errors", ECCV 2020) of box detections against COCO ground truth.

The published definitions, implemented here rather than through the ``tidecv`` package, which
needs pandas, seaborn and appdirs (none of which ca-yolo otherwise uses) for numbers that are a few
array passes over what evaluation already has. Every false positive at the foreground IoU
``t_f = 0.5`` is given one error type, tested in this order (TIDE's own):

- **Loc**: IoU with a GT of its class in ``[t_b, t_f)`` (``t_b = 0.1``);
- **Cls**: IoU >= ``t_f`` with a GT of another class;
- **Dupe**: IoU >= ``t_f`` with a GT of its class that a higher-scoring detection already matched;
- **Bkg**: IoU <= ``t_b`` with every GT;
- **Both**: anything else (wrong class and poorly localised);

and every GT that no detection matched nor a Cls/Loc error points at is **Missed**. Each error's
dAP is AP50 with only that error type fixed minus AP50 as is: a Cls or Loc error is corrected
(class or box set to its GT's, making it a true positive) unless its GT is already matched, then
it is removed like the other false positives; Missed GT are removed from the GT count. The special
errors fix all false positives (**FalsePos**: every false positive removed) or all false negatives
(**FalseNeg**: every unmatched GT removed). Matching and AP follow COCOeval at IoU 0.5 (greedy by
score, 100 detections per image and class, crowd regions ignored, 101-point interpolation), so
the unfixed AP50 is pycocotools' AP50.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ca_yolo.evaluation.apmath import interpolated_ap

MAIN_ERRORS = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Missed")
SPECIAL_ERRORS = ("FalsePos", "FalseNeg")
T_FG, T_BG = 0.5, 0.1
MAX_DETS = 100


@dataclass
class _Entry:
    """One kept detection: its score, class, outcome and (for Cls/Loc errors) the GT it points at."""

    score: float
    cls: int
    kind: str  # "TP" or an error name
    target: tuple[int, int] | None = None


@dataclass
class _Matched:
    """Every detection's outcome, the GT count per class and who matched or was pointed at."""

    entries: list[_Entry] = field(default_factory=list)
    npos: dict[int, int] = field(default_factory=dict)
    gt_class: dict[tuple[int, int], int] = field(default_factory=dict)
    matched: set[tuple[int, int]] = field(default_factory=set)


def _iou(dets: np.ndarray, gts: np.ndarray, crowd: bool) -> np.ndarray:
    """IoU matrix of xywh boxes (COCO's: for a crowd region, intersection over the detection's area)."""
    from pycocotools import mask as mask_utils

    if len(dets) == 0 or len(gts) == 0:
        return np.zeros((len(dets), len(gts)))
    return np.asarray(mask_utils.iou(dets.tolist(), gts.tolist(), [int(crowd)] * len(gts)), dtype=float)


def _match(gt: dict, detections: list[dict], image_ids: list[int] | None) -> _Matched:
    """Greedy COCO matching at IoU 0.5 per image, and the error type of every false positive."""
    images = sorted(image_ids) if image_ids is not None else sorted(im["id"] for im in gt["images"])
    wanted = set(images)
    gts: dict[int, list[dict]] = {i: [] for i in images}
    for a in gt.get("annotations", []):
        if a["image_id"] in wanted:
            gts[a["image_id"]].append(a)
    dts: dict[int, list[dict]] = {i: [] for i in images}
    for d in detections:
        if d["image_id"] in wanted:
            dts[d["image_id"]].append(d)
    out = _Matched()
    for img in images:
        real = [a for a in gts[img] if not a.get("iscrowd", 0)]
        crowd = [a for a in gts[img] if a.get("iscrowd", 0)]
        g_box = np.asarray([a["bbox"] for a in real], dtype=float).reshape(-1, 4)
        g_cls = np.asarray([a["category_id"] for a in real], dtype=int)
        c_box = np.asarray([a["bbox"] for a in crowd], dtype=float).reshape(-1, 4)
        c_cls = np.asarray([a["category_id"] for a in crowd], dtype=int)
        for j, c in enumerate(g_cls.tolist()):
            out.npos[c] = out.npos.get(c, 0) + 1
            out.gt_class[img, j] = c
        # Highest score first, at most MAX_DETS per class, as COCOeval keeps them (stable on ties).
        ranked = sorted(dts[img], key=lambda d: -d["score"])
        per_class: dict[int, int] = {}
        kept = []
        for d in ranked:
            per_class[d["category_id"]] = per_class.get(d["category_id"], 0) + 1
            if per_class[d["category_id"]] <= MAX_DETS:
                kept.append(d)
        d_box = np.asarray([d["bbox"] for d in kept], dtype=float).reshape(-1, 4)
        iou, crowd_iou = _iou(d_box, g_box, False), _iou(d_box, c_box, True)
        used = np.zeros(len(real), dtype=bool)
        for i, d in enumerate(kept):
            c = d["category_id"]
            same = g_cls == c
            free = np.where(same & ~used & (iou[i] >= T_FG), iou[i], -1.0)
            if free.size and free.max() >= T_FG:
                j = int(free.argmax())
                used[j] = True
                out.matched.add((img, j))
                out.entries.append(_Entry(d["score"], c, "TP"))
                continue
            if crowd_iou.size and (crowd_iou[i][c_cls == c] >= T_FG).any():
                continue  # inside a crowd region of its class: neither hit nor miss, as in COCOeval
            kind, j = _error_type(iou[i], same, used)
            out.entries.append(_Entry(d["score"], c, kind, None if j is None else (img, j)))
    return out


def _error_type(iou: np.ndarray, same: np.ndarray, used: np.ndarray) -> tuple[str, int | None]:
    """The TIDE type of a false positive from its IoUs with the image's GT, and for Cls/Loc the GT's index."""
    if iou.size == 0:
        return "Bkg", None
    same_iou = np.where(same, iou, 0.0)
    j = int(same_iou.argmax())
    if T_BG <= same_iou[j] < T_FG:
        return "Loc", j
    other_iou = np.where(~same, iou, 0.0)
    j = int(other_iou.argmax())
    if other_iou[j] >= T_FG:
        return "Cls", j
    if np.where(same & used, iou, 0.0).max() >= T_FG:
        return "Dupe", None
    if iou.max() <= T_BG:
        return "Bkg", None
    return "Both", None


def _map50(entries: list[tuple[float, int, bool]], npos: dict[int, int]) -> float:
    """Mean over classes with GT of COCO AP at IoU 0.5, from (score, class, is true positive) entries."""
    aps = []
    for c, n in sorted(npos.items()):
        rows = [(s, tp) for s, cls, tp in entries if cls == c]
        order = np.argsort([-s for s, _ in rows], kind="mergesort")
        tp = np.asarray([rows[k][1] for k in order], dtype=float)
        ap = interpolated_ap(tp, 1.0 - tp, n)
        if ap is not None:
            aps.append(ap)
    return float(np.mean(aps)) if aps else 0.0


def _fixed(m: _Matched, kind: str) -> tuple[list[tuple[float, int, bool]], dict[int, int]]:
    """The (score, class, is TP) entries and GT counts with errors of ``kind`` fixed."""
    npos = dict(m.npos)
    if kind in ("Missed", "FalseNeg"):
        pointed = {e.target for e in m.entries if e.kind in ("Cls", "Loc")}
        drop = {g for g in m.gt_class if g not in m.matched and (kind == "FalseNeg" or g not in pointed)}
        for g in drop:
            npos[m.gt_class[g]] -= 1
        npos = {c: n for c, n in npos.items() if n > 0}
        return [(e.score, e.cls, e.kind == "TP") for e in m.entries], npos
    claimed = set(m.matched)
    out = []
    for e in sorted(m.entries, key=lambda e: -e.score):
        if e.kind == "TP":
            out.append((e.score, e.cls, True))
        elif kind == "FalsePos" or e.kind == kind:
            if e.kind in ("Cls", "Loc") and kind == e.kind and e.target not in claimed:
                claimed.add(e.target)
                out.append((e.score, m.gt_class[e.target], True))
            # otherwise the false positive is removed
        else:
            out.append((e.score, e.cls, False))
    return out, npos


def tide_errors(gt: dict, detections: list[dict], image_ids: list[int] | None = None) -> dict:
    """TIDE's main and special error contributions of a set of COCO box detections.

    Args:
        gt: COCO GT dict (``images``, ``annotations``, ``categories``).
        detections: ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` dicts.
        image_ids: evaluate only these images (default: every GT image).

    Returns:
        ``{"AP50": ..., "dAP": {error: AP50 gained by fixing it}, "counts": {error: how many}}``, errors
        in the order ``MAIN_ERRORS + SPECIAL_ERRORS``; dAP on the 0-1 scale of AP.
    """
    m = _match(gt, detections, image_ids)
    base = _map50([(e.score, e.cls, e.kind == "TP") for e in m.entries], m.npos)
    dap = {kind: _map50(*_fixed(m, kind)) - base for kind in MAIN_ERRORS + SPECIAL_ERRORS}
    pointed = {e.target for e in m.entries if e.kind in ("Cls", "Loc")}
    counts = {kind: sum(1 for e in m.entries if e.kind == kind) for kind in MAIN_ERRORS[:-1]}
    counts["Missed"] = sum(1 for g in m.gt_class if g not in m.matched and g not in pointed)
    counts["FalsePos"] = sum(1 for e in m.entries if e.kind != "TP")
    counts["FalseNeg"] = sum(1 for g in m.gt_class if g not in m.matched)
    return {"AP50": base, "dAP": dap, "counts": counts}


def format_tide_line(tide: dict) -> str:
    """One line of :func:`tide_errors`' result: the AP50 each error type costs, in AP points (x100)."""
    parts = " ".join(f"{k} {100 * v:.2f}" for k, v in tide["dAP"].items())
    return f"TIDE (dAP50, AP points gained by fixing each error type alone): {parts}"
