"""Versions and hardware, for the report."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else the platform's word)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Python, package versions, OS, CPU (cores usable by this process) and GPUs."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    return {
        "python": sys.version.split()[0],
        "ca-yolo": _version("ca-yolo"),
        "ultralytics": _version("ultralytics"),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "pycocotools": _version("pycocotools"),
        "numpy": _version("numpy"),
        "opencv": _version("opencv-python")
        if _version("opencv-python") != "not installed"
        else _version("opencv-python-headless"),
        "os": platform.platform(),
        "cpu": cpu_name(),
        "cpu_cores_usable": cores,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": gpus,
    }
