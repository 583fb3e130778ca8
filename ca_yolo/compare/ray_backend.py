"""``backend=ray``: every unfinished run of a plan is one Ray task, placed wherever the cluster has room.

The driver (this process) reads the plan's folder exactly as the local backend does (:func:`survey`),
checks that every node shares the comparison folder (:mod:`ca_yolo.compare.ray_storage`), submits one
task per run with ``cpus_per_run``/``gpus_per_run`` and prints one line per run start and finish with
the node it ran on and an ETA. Each task runs :func:`~ca_yolo.compare.runner.train_and_evaluate`, the
local backend's own per-run path (see :mod:`ca_yolo.compare.ray_worker`).

Faults: Ray re-runs a task whose worker process or node died (``MAX_RETRIES``), and the retry resumes
from the run's ``last.pt``; a run that raises (its own failure) is reported and the others go on; Ctrl-C
cancels every task still on the cluster (their ``last.pt`` stay for the next run of the command).
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable
from typing import Any

from ca_yolo.compare.config import RAY_INSTALL_HINT
from ca_yolo.compare.plan import Plan, PlanError
from ca_yolo.compare.progress import Progress
from ca_yolo.compare.ray_storage import check_shared_storage
from ca_yolo.compare.ray_worker import run_in_worker
from ca_yolo.compare.record import RunRecord, describe_place
from ca_yolo.compare.runner import read_run, survey
from ca_yolo.errors import CaYoloError, one_line

# Retries after a worker process or node died (not after a run's own error): enough for a node
# lost or two, few enough that a run that kills its worker every time (out of memory) gives up.
MAX_RETRIES = 3
# Environment variables a worker needs to behave like this process (Ultralytics reads its settings from these).
FORWARDED_ENV_PREFIXES = ("YOLO_", "ULTRALYTICS_")


class RunsFailedError(CaYoloError):
    """Some runs failed on the cluster; the others finished and are kept."""


def import_ray() -> Any:
    """The ``ray`` module, or an error in one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise PlanError(f"backend=ray needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def run_all_ray(plan: Plan, gt: Any, log: Callable[[str], None] = print) -> list[RunRecord]:
    """Train (or resume) and evaluate every unfinished run as a Ray task; return every record in plan order.

    Raises:
        StorageError: a node does not share ``project=`` or ``data=``.
        PlanError: no node has room for one run, or the cluster cannot be reached.
        RunsFailedError: runs failed for reasons of their own (the others are finished and kept).
    """
    ray = import_ray()
    cfg = plan.config
    connect(ray, cfg.ray_address)
    pending: dict[Any, int] = {}
    try:
        nodes = check_shared_storage(ray, cfg.out_dir, plan.data)
        _, states = survey(plan, log)  # the workers derive the settings again, from the plan they get
        gpus = gpus_per_run(ray, cfg.gpus_per_run, cfg.device)
        slots = run_slots(ray.nodes(), cfg.cpus_per_run, gpus)
        if slots == 0:
            raise PlanError(
                f"no node of the Ray cluster has {cfg.cpus_per_run:g} CPUs and {gpus:g} GPUs for one run; "
                "lower cpus_per_run= or gpus_per_run="
            )
        total = ray.cluster_resources()
        log(
            f"ca-yolo compare: Ray cluster {ray.get_runtime_context().gcs_address}: {nodes} nodes, "
            f"{total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; each run holds "
            f"cpus_per_run={cfg.cpus_per_run:g} gpus_per_run={gpus:g}: up to {slots} runs at once"
        )
        progress = Progress([left for _, left in states], log, slots=slots)
        records: list[RunRecord | None] = [None] * len(plan.runs)
        for i, (run, (state, _)) in enumerate(zip(plan.runs, states)):
            if state == "done":
                progress.skip(i, run.label)
                records[i] = read_run(run)
        from ray.util.queue import Queue

        events = Queue(actor_options={"num_cpus": 0})  # holds no CPU a run could use
        task = ray.remote(run_in_worker).options(
            num_cpus=cfg.cpus_per_run, num_gpus=gpus, max_retries=MAX_RETRIES, retry_exceptions=False
        )
        plan_ref, gt_ref = ray.put(plan), ray.put(gt)
        cwd = os.getcwd()
        pending = {
            task.remote(plan_ref, gt_ref, i, cwd, events): i for i, (state, _) in enumerate(states) if state != "done"
        }
        failures = _wait_all(ray, plan, states, pending, events, progress, records, log)
    except KeyboardInterrupt:
        for ref in pending:  # force: the worker process is killed, its run keeps the last.pt it saved
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.shutdown()
    if failures:
        raise RunsFailedError(
            f"{len(failures)} of {len(plan.runs)} runs failed ({'; '.join(failures)}); "
            "the other runs are finished and kept: fix the cause and re-run the same command"
        )
    return records  # type: ignore[return-value]  (every None was filled or counted as a failure)


def _wait_all(
    ray: Any,
    plan: Plan,
    states: list[tuple[str, int]],
    pending: dict[Any, int],
    events: Any,
    progress: Progress,
    records: list,
    log: Callable[[str], None],
) -> list[str]:
    """Print the workers' events as they come and collect the tasks' records; return the failures' lines.

    ``pending`` shrinks as tasks end, so the caller can cancel what is left on Ctrl-C.
    """
    failures: list[str] = []
    started: set[int] = set()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        # finish lines first: a run that starts on the slot one just freed must not be printed before it
        for ref in ready:
            i = pending.pop(ref)
            run = plan.runs[i]
            if i not in started:  # a run quicker than one poll: its start line first
                _print_events(events, plan, progress, started, log)
            try:
                record = RunRecord.from_json(ray.get(ref))
            except ray.exceptions.RayError as e:
                why = _failure(e)
                failures.append(f"{run.label}: {why}")
                progress.left[i] = 0
                log(f"ca-yolo compare [{i + 1}/{progress.n}] {run.label}: failed: {why}")
                continue
            records[i] = record
            where = describe_place(record.ran_on)
            progress.finish(i, run.label, record.seconds, states[i][1], record.coco, record.ultralytics, where)
        _print_events(events, plan, progress, started, log)
    return failures


def _print_events(events: Any, plan: Plan, progress: Progress, started: set[int], log: Callable[[str], None]) -> None:
    """Print what the workers reported since the last call; note which runs have started."""
    while not events.empty():
        event = events.get_nowait()
        if event[0] == "start":
            _, i, state, left, place = event
            started.add(i)
            progress.start(i, plan.runs[i].label, state, left, describe_place(place))
        else:
            log(event[1])


def _failure(e: Exception) -> str:
    """A failed task in a few words: the run's own exception, or what Ray says happened to its worker."""
    cause = getattr(e, "cause", None)
    if cause is not None:
        return one_line(cause)
    return (
        f"{type(e).__name__}: its worker died {MAX_RETRIES + 1} times" if "Crashed" in type(e).__name__ else one_line(e)
    )


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address`` (None: the one ``ray.init()`` finds, else a local one it starts).

    Workers' own output goes to Ray's log files, not here: several runs at once would interleave it.
    """
    check_reachable(address)
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env={"env_vars": env} if env else None,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise PlanError(f"ray_address={address}: cannot join a Ray cluster there ({one_line(e)})") from None


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in one line, at once, when nothing listens at ``ray_address=host:port``.

    Ray itself keeps retrying an address where no cluster runs for minutes before it gives up.
    Addresses that are not ``host:port`` (``auto``, none) are left to Ray.

    Raises:
        PlanError: the address refuses or does not answer within ``timeout`` seconds.
    """
    if not address:
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise PlanError(
            f"ray_address={address}: no Ray cluster answers there ({why}); start one with "
            f"`ray start --head --port={port}` or give the head's address"
        ) from None


def gpus_per_run(ray: Any, given: float | None, device: str | None) -> float:
    """``gpus_per_run=`` as given; by default 1 when the cluster has GPUs (and device= is not cpu), else 0."""
    if given is not None:
        return given
    return 1.0 if device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def run_slots(nodes: list[dict], cpus: float, gpus: float) -> int:
    """How many runs the live nodes hold at once with ``cpus`` CPUs and ``gpus`` GPUs each."""
    slots = 0
    for node in nodes:
        if not node.get("Alive"):
            continue
        have = node.get("Resources", {})
        fits = [math.floor(have.get("CPU", 0) / cpus + 1e-9)] if cpus > 0 else []
        if gpus > 0:
            fits.append(math.floor(have.get("GPU", 0) / gpus + 1e-9))
        slots += min(fits) if fits else 0
    return slots
