"""One run of a comparison inside a Ray worker: the local backend's own per-run path, on that node.

This module imports nothing of Ray at import time; Ray loads it in the worker when it unpickles
:func:`run_in_worker`, so the worker has ca-yolo (and its registration) before any model is built.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from pathlib import Path
from typing import Any


def run_in_worker(plan: Any, gt: Any, index: int, cwd: str, events: Any) -> dict:
    """Bring run ``index`` of ``plan`` to its end (train or resume, evaluate, ``run.json``); return its record.

    Where the run stands is read here, from its folder on shared storage, not on the driver: when
    Ray retries the task after a worker or node died, the retry resumes from the run's ``last.pt``.

    Args:
        plan: the :class:`~ca_yolo.compare.plan.Plan`.
        gt: the val split's :class:`~ca_yolo.evaluation.cocogt.GroundTruth`, built once by the driver.
        index: the run's position in ``plan.runs``.
        cwd: the driver's working directory: relative model YAML paths resolve there, as they do locally.
        events: a ``ray.util.queue.Queue`` the driver prints progress from (``("start", ...)``, ``("log", ...)``).
    """
    from ca_yolo.compare.models import ModelCache
    from ca_yolo.compare.runner import run_state, train_and_evaluate
    from ca_yolo.plugin.register import is_registered, register

    # Unpickling this function imported the ca_yolo package, which registers; a worker that never
    # registered would fail on the first YAML naming CoordAtt, so make sure before any model is built.
    if not is_registered():
        register()

    place = worker_place(plan.config.device)
    # the worker trains on the device Ray gave it; device is not a setting, so resume still matches
    plan = dataclasses.replace(plan, config=dataclasses.replace(plan.config, device=place["device"]))
    run = plan.runs[index]
    here = contextlib.chdir(cwd) if Path(cwd).is_dir() else contextlib.nullcontext()
    with here:
        from ca_yolo.compare.plan import run_settings

        settings = run_settings(plan.config, plan.data)
        state, left = run_state(run, settings, plan.config.epochs, lambda line: events.put(("log", line)))
        events.put(("start", index, state, left, place))
        record = train_and_evaluate(run, plan, gt, settings, (state, left), ModelCache(), place)
    return record.to_json()


def worker_place(device: str | None) -> dict:
    """Which node and GPUs this Ray task holds, and the Ultralytics device that uses exactly those.

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the task's GPUs, so inside the task they are devices 0..n-1.
    """
    import ray

    context = ray.get_runtime_context()
    gpus = [str(g) for g in context.get_accelerator_ids().get("GPU", [])]
    if device == "cpu" or not gpus:
        used = "cpu"  # a task that holds no GPU must not take one another task holds
    else:
        used = ",".join(str(k) for k in range(len(gpus)))
    return {
        "backend": "ray",
        "host": socket.gethostname(),
        "ip": ray.util.get_node_ip_address(),
        "node_id": context.get_node_id(),
        "gpus": gpus,
        "device": used,
        "pid": os.getpid(),
    }
