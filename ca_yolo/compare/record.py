"""A finished run's record: what ``<run>/run.json`` holds, typed.

The JSON form is unchanged (same keys, same order), so comparison folders written before still
read, including records from before the VOC metric (no ``voc`` key).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class RunRecord:
    """One trained and evaluated run.

    Attributes:
        model, cfg, seed: the model's name (YAML stem), its YAML as given, the training seed.
        settings: the comparison's shared settings the run was trained with (``run_settings``).
        weights: the evaluated checkpoint, relative to the run folder.
        epochs_trained, seconds, resumed: training length, wall time of this (last) part, and
            whether it continued an interrupted run.
        finished_at: UTC time stamp, ISO format.
        coco: pycocotools metrics (``COCO_METRICS`` keys; None where undefined).
        voc: PASCAL VOC means ``mAP50_07`` and ``mAP50_all`` of the same pass (empty in older records).
        ultralytics: Ultralytics' validator numbers of the same pass (``mAP50``, ``mAP50-95``, ...).
        counts: ``images``, ``gt_objects``, ``detections``.
        gt_source: where the COCO ground truth came from.
        per_class: class name -> COCO ``AP`` and ``AP50`` of the same pass (empty in older records).
        curve: per-epoch validation ``epoch``, ``mAP50-95``, ``mAP50`` from Ultralytics' results.csv.
        ran_on: where the run trained: ``backend``, ``host``, ``device`` and, on Ray, ``node_id``,
            ``ip`` and ``gpus`` (empty in older records).
    """

    model: str
    cfg: str
    seed: int
    settings: dict
    weights: str
    epochs_trained: int
    seconds: float
    resumed: bool
    finished_at: str
    coco: dict[str, float | None]
    voc: dict[str, float | None] = field(default_factory=dict)
    ultralytics: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    gt_source: str | None = None
    curve: dict[str, list[float]] = field(default_factory=lambda: {"epoch": [], "mAP50-95": [], "mAP50": []})
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)
    ran_on: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The record as ``run.json`` holds it (an older record without ``ran_on`` writes back as it was)."""
        d = asdict(self)
        if not d["ran_on"]:
            del d["ran_on"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> RunRecord:
        """A record from ``run.json`` contents; keys it does not know are ignored, later additions default.

        Raises:
            ValueError: not a run record (not an object, or a field before ``voc`` missing).
        """
        if not isinstance(d, dict):
            raise ValueError("a run record is a JSON object")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError as e:  # a required field is missing
            raise ValueError(f"not a run record: {e}") from None

    def metric(self, source: str, name: str) -> float | None:
        """One number of the record: ``source`` is ``coco``, ``voc`` or ``ultralytics`` (None if absent)."""
        return getattr(self, source).get(name)


def describe_place(ran_on: dict) -> str:
    """Where a run trained, for progress lines and the report: ``host node 1a2b3c4d GPU 0``, or "" if unknown.

    Ray nodes on one machine share its host name, so a Ray run names its node too.
    """
    if not ran_on:
        return ""
    parts = [str(ran_on.get("host", "?"))]
    if ran_on.get("node_id"):
        parts.append(f"node {str(ran_on['node_id'])[:8]}")
    gpus = ran_on.get("gpus") or []
    parts.append(f"GPU {','.join(str(g) for g in gpus)}" if gpus else str(ran_on.get("device", "")))
    return " ".join(p for p in parts if p)
