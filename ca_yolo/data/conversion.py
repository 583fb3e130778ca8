"""What every converter (VOC, COCO) writes beside the images and labels: ``conversion.json`` and ``data.yaml``."""

from __future__ import annotations

import json
from pathlib import Path

from .problems import Problems
from .yamlio import write_data_yaml


def write_conversion_files(
    tmp: Path, root: Path, out: Path, summary: dict, problems: Problems, data: dict, header: str
) -> None:
    """Write a converted dataset's ``conversion.json`` and ``data.yaml`` into ``tmp``.

    Args:
        tmp: the temporary output folder of :func:`ca_yolo.data.atomic.atomic_output_dir`.
        root: the source folder, recorded as ``source``.
        out: the final output folder, the data YAML's ``path``.
        summary: the converter's counts and settings, between ``source`` and ``skipped`` in the JSON.
        problems: the items left out, recorded as ``skipped``.
        data: the data YAML's keys after ``path``.
        header: the data YAML's comment lines.
    """
    record = {"source": str(root), **summary, "skipped": [{"item": f, "problem": m} for f, m in problems.items]}
    (tmp / "conversion.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    write_data_yaml(tmp / "data.yaml", {"path": str(out), **data}, header=header)
