"""Shared fixtures: a tiny YOLO dataset made on the fly and one short CA training run.

Everything is built locally (no download): models from YAML, images drawn with numpy.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

# Without a GPU, Triton kernels run on CPU tensors in Triton's interpreter; it must be chosen before any
# kernel is defined (at import of ca_yolo.nn.triton_coord_att), so here, first.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the network from Ultralytics
# One intra-op thread: the tests use tiny tensors, where OpenMP threads only add overhead, and on a
# busy 2-core machine spinning threads slowed single tests 5-20x. Subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
# The settings of every short CPU training run in the tests (64 px images of the tiny dataset). amp=False
# only says what CPU training does anyway (Ultralytics' AMP check is for CUDA).
TINY_TRAIN = dict(imgsz=64, batch=4, workers=0, device="cpu", plots=False, amp=False)


def script_module(name: str):
    """A study script of ``scripts/`` (outside the package, not in the wheel) imported as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli_args(**settings) -> list[str]:
    """``key=value`` words of a ``ca-yolo`` command line, in the order given."""
    return [f"{k}={v}" for k, v in settings.items()]


def make_tiny_dataset(root: Path, n_train: int = 8, n_val: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Write a 2-class dataset of coloured rectangles (YOLO layout) and return its data YAML."""
    import cv2

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            img = np.full((size, size, 3), 40, np.uint8)
            lines = []
            for _ in range(2):
                cls = int(rng.integers(2))
                w, h = rng.integers(size // 5, size // 2, 2)
                x0, y0 = rng.integers(0, size - w), rng.integers(0, size - h)
                img[y0 : y0 + h, x0 : x0 + w] = (0, 0, 230) if cls == 0 else (230, 160, 0)
                lines.append(f"{cls} {(x0 + w / 2) / size:.6f} {(y0 + h / 2) / size:.6f} {w / size:.6f} {h / size:.6f}")
            cv2.imwrite(str(root / "images" / split / f"{split}{k}.jpg"), img)
            (root / "labels" / split / f"{split}{k}.txt").write_text("\n".join(lines) + "\n")
    yaml_path = root / "data.yaml"
    yaml_path.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: blue\n")
    return yaml_path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Data YAML of a tiny 2-class dataset (8 train / 4 val images, 64 px)."""
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


class _StopAfterFirstEpoch(Exception):
    pass


@pytest.fixture(scope="session")
def ca_run(tmp_path_factory, tiny_data) -> Path:
    """Run folder of yolov8n-ca trained 1 of 2 epochs, then interrupted: best.pt and a resumable last.pt."""
    from ultralytics import YOLO

    import ca_yolo  # noqa: F401

    project = tmp_path_factory.mktemp("runs")
    model = YOLO("yolov8n-ca.yaml")

    def stop(trainer):
        raise _StopAfterFirstEpoch

    model.add_callback("on_fit_epoch_end", stop)
    with pytest.raises(_StopAfterFirstEpoch):
        model.train(
            data=str(tiny_data), epochs=2, project=str(project), name="ca", val=True, verbose=False, **TINY_TRAIN
        )
    run = project / "ca"
    assert (run / "weights" / "last.pt").is_file()
    return run


@contextmanager
def ultralytics_log(caplog) -> Iterator[list[str]]:
    """Capture what Ultralytics' logger writes (INFO and up) in the block: the list yielded gets the
    messages on exit. Ultralytics' logger does not propagate to the root logger, so caplog alone sees none."""
    from ultralytics.utils import LOGGER

    messages: list[str] = []
    LOGGER.addHandler(caplog.handler)
    caplog.clear()
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER.name):
            yield messages
    finally:
        LOGGER.removeHandler(caplog.handler)
        messages += [r.getMessage() for r in caplog.records]


def trained_like(cls, c: int = 64, seed: int = 0, **kwargs) -> torch.nn.Module:
    """An attention layer ``cls(c, init="paper", **kwargs)`` with random weights of O(1) effect and non-trivial
    BatchNorm statistics, in eval mode: what fused forms are checked against."""
    torch.manual_seed(seed)
    m = cls(c, init="paper", **kwargs)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        if hasattr(m, "bn1"):
            m.bn1.running_mean.copy_(torch.randn_like(m.bn1.running_mean) * 0.2)
            m.bn1.running_var.copy_(torch.rand_like(m.bn1.running_var) + 0.5)
    return m.eval()


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference of a and b, relative to b's largest magnitude."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def run_python(code: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    """Run ``code`` in a fresh Python process; return the CompletedProcess (text output)."""
    full_env = {**os.environ, "YOLO_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )


def run_cli(args: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    """Run ``ca-yolo ARGS`` in a fresh process (the installed console script's entry point)."""
    return run_python(f"import sys; from ca_yolo.cli import main; sys.exit(main({args!r}))", env, cwd, timeout)


def train_cli(model, data, project, name: str, cwd: Path | None = None, **extra):
    """``ca-yolo train`` of ``model`` on ``data`` for one epoch at the tiny settings, in a fresh process."""
    settings = {"model": model, "data": data, "epochs": 1, "project": project, "name": name, **TINY_TRAIN, **extra}
    return run_cli(["train", *cli_args(**settings)], cwd=cwd)


def pytest_collection_modifyitems(config, items):
    """Tests that use the trained ``ca_run`` fixture are slow (it trains a model); others mark themselves."""
    slow = pytest.mark.slow
    for item in items:
        if "ca_run" in getattr(item, "fixturenames", ()):
            item.add_marker(slow)
