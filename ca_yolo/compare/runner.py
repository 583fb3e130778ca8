"""Train and evaluate every run of a plan: skip finished runs, resume interrupted ones.

A run's state lives in its folder: ``run.json`` (written atomically, last) means finished and
evaluated; ``weights/last.pt`` with optimizer state means interrupted mid-training (Ultralytics
resumes it); ``last.pt`` without it means training finished but evaluation did not.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ca_yolo.atomic_io import write_json_atomic
from ca_yolo.compare.analysis import DETECTIONS_FILE
from ca_yolo.compare.models import ModelCache
from ca_yolo.compare.plan import Plan, PlanError, Run, run_settings
from ca_yolo.compare.progress import Progress
from ca_yolo.compare.record import RunRecord
from ca_yolo.evaluation.checkpoint import checkpoint_problem
from ca_yolo.evaluation.cocogt import GroundTruth
from ca_yolo.evaluation.evaluate import evaluate_checkpoint

RUN_FILE = "run.json"
PREVIOUS_FILE = "last.prev.pt"  # the epoch before last.pt's, while Ultralytics writes the new one


def run_state(run: Run, settings: dict, epochs: int, log: Callable[[str], None] = print) -> tuple[str, int]:
    """Where a run stands, and how many epochs it still has to train.

    A run folder whose checkpoints cannot be used is never a dead end: it is reported in one line
    naming the run and the file, set aside (renamed ``<run>.broken-<k>``, nothing deleted) and the
    run is trained again, or evaluated from its ``best.pt`` when training had in fact finished (or
    when its ``run.json`` is not a whole record).

    Returns:
        ("done", 0) finished and evaluated; ("evaluate", 0) trained, not evaluated;
        ("resume", k) interrupted with k epochs left; ("new", epochs) not started.

    Raises:
        PlanError: its ``run.json`` was made with other settings.
    """
    weights = run.dir / "weights"
    best, last = weights / "best.pt", weights / "last.pt"
    _restore_previous(run, log)
    raw = _read_json(run.dir / RUN_FILE)
    if raw is not None:
        if raw.get("settings") != settings:
            raise PlanError(f"{run.dir / RUN_FILE} was made with other settings; pass a new name= or delete it")
        problem = checkpoint_problem(best)
        if problem is None:
            if _record(raw) is not None:
                return "done", 0
            log(f"ca-yolo compare: {run.label}: its {RUN_FILE} is not a whole run record; evaluating its best.pt again")
            return "evaluate", 0
        return _retrain(run, f"{_rel(run, best)} is {problem}", log), epochs
    if not last.is_file():
        if (run.dir / "results.csv").is_file():  # Ultralytics appends to it: a retrain would repeat epochs
            _set_aside(run)
        return "new", epochs
    problem = checkpoint_problem(last)
    epoch, resumable = _checkpoint_epoch(last) if problem is None else (-1, False)
    if epoch == -2:
        problem = "not a readable Ultralytics checkpoint"
    if problem:
        return _retrain(run, f"{_rel(run, last)} is {problem}", log), epochs
    left = max(epochs - (epoch + 1), 0)
    if resumable and left > 0:
        return "resume", left
    # Training finished: last.pt is stripped, or (killed while Ultralytics validated or stripped after
    # the final epoch) it is the final epoch's checkpoint, which has nothing left to resume.
    problem = checkpoint_problem(best)
    if problem is None:
        if resumable:
            log(f"ca-yolo compare: {run.label}: {_rel(run, last)} holds the final epoch; evaluating its best.pt")
        return "evaluate", 0
    return _retrain(run, f"training finished but {_rel(run, best)} is {problem}", log), epochs


def _keep_previous(trainer) -> None:
    """``on_train_epoch_end``: move the last epoch's (whole) ``last.pt`` aside before Ultralytics saves this one.

    Ultralytics writes ``last.pt`` in place; a process killed during that write (a lost node, a
    SIGKILL) would leave a cut-short file and nothing to resume from. Moved aside, the previous
    epoch's checkpoint survives until :func:`_restore_previous` or the next epoch replaces it.
    """
    last = Path(trainer.last)
    if last.is_file():
        os.replace(last, last.with_name(PREVIOUS_FILE))


def _restore_previous(run: Run, log: Callable[[str], None]) -> None:
    """Put the previous epoch's ``last.pt`` back where the current one is missing or cut short; else drop it."""
    weights = run.dir / "weights"
    previous, last = weights / PREVIOUS_FILE, weights / "last.pt"
    if not previous.is_file():
        return
    if last.is_file() and checkpoint_problem(last) is None:
        previous.unlink()  # the newer checkpoint is whole
        return
    os.replace(previous, last)
    log(f"ca-yolo compare: {run.label}: training stopped while it saved an epoch; resuming from the epoch before")


def _rel(run: Run, path: Path) -> str:
    """``<run folder>/weights/x.pt`` relative to the comparison folder, for messages."""
    return str(path.relative_to(run.dir.parent))


def _set_aside(run: Run) -> Path:
    """Rename a run folder that cannot be used to ``<name>.broken-<k>`` (kept for inspection) and return it."""
    k = 1
    while (aside := run.dir.with_name(f"{run.dir.name}.broken-{k}")).exists():
        k += 1
    run.dir.rename(aside)
    return aside


def _retrain(run: Run, why: str, log: Callable[[str], None]) -> str:
    """Say in one line why a run is trained again, set its folder aside, and return the state "new"."""
    aside = _set_aside(run)
    log(f"ca-yolo compare: {run.label}: {why}; training it again (old folder kept as {aside.name})")
    return "new"


def _read_json(path: Path) -> dict | None:
    """A JSON object file's contents, or None when it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_run(run: Run) -> RunRecord | None:
    """The run's finished record, or None if it has none or one that is not a whole record (a run with
    such a ``run.json`` and a good ``best.pt`` is evaluated again, see :func:`run_state`)."""
    return _record(_read_json(run.dir / RUN_FILE))


def _record(raw: dict | None) -> RunRecord | None:
    """``run.json`` contents as a :class:`RunRecord`, or None when absent or not a whole record."""
    try:
        return None if raw is None else RunRecord.from_json(raw)
    except ValueError:
        return None


def survey(plan: Plan, log: Callable[[str], None] = print) -> tuple[dict, list[tuple[str, int]]]:
    """The runs' shared settings and where each run stands (see :func:`run_state`), announced in one line.

    Both backends start with it, so a comparison folder is read the same way whoever trains its runs.
    """
    cfg = plan.config
    settings = run_settings(cfg, plan.data)
    states = [run_state(r, settings, cfg.epochs, log) for r in plan.runs]
    counts = {s: sum(1 for st, _ in states if st == s) for s in ("done", "evaluate", "resume", "new")}
    log(
        f"ca-yolo compare: {len(plan.runs)} runs ({len(plan.names)} models x {len(cfg.seeds)} seeds) in {cfg.out_dir}: "
        f"{counts['done']} finished, {counts['resume']} to resume, {counts['evaluate']} to evaluate, "
        f"{counts['new']} new"
    )
    return settings, states


def run_all(
    plan: Plan, gt: GroundTruth, log: Callable[[str], None] = print, models: ModelCache | None = None
) -> list[RunRecord]:
    """Train (or resume) and evaluate every unfinished run, one after another in this process; return
    every run's record in plan order.

    Args:
        models: where evaluation loads checkpoints from (a cache that keeps some for later users).
    """
    models = models or ModelCache()
    settings, states = survey(plan, log)
    progress = Progress([left for _, left in states], log)
    ran_on = local_place(plan.config.device)
    records = []
    for i, (run, (state, left)) in enumerate(zip(plan.runs, states)):
        if state == "done":
            progress.skip(i, run.label)
            records.append(read_run(run))
            continue
        progress.start(i, run.label, state, left)
        record = train_and_evaluate(run, plan, gt, settings, (state, left), models, ran_on)
        progress.finish(i, run.label, record.seconds, left, record.coco, record.ultralytics)
        records.append(record)
    return records


def local_place(device: str | None) -> dict:
    """``run.json``'s ``ran_on`` for a run trained in this process."""
    return {"backend": "local", "host": socket.gethostname(), "device": device or "auto"}


def train_and_evaluate(
    run: Run,
    plan: Plan,
    gt: GroundTruth,
    settings: dict,
    stage: tuple[str, int],
    models: ModelCache,
    ran_on: dict,
) -> RunRecord:
    """Train one run (state new or resume; evaluate: only evaluate), evaluate it, write its ``run.json``.

    The one path of a run, whichever backend calls it: the local loop, or a Ray worker on another
    machine, so settings, seeds, resume and evaluation cannot differ between the two.

    Args:
        stage: ``(state, epochs left)`` from :func:`run_state` (state not "done").
        models: where the trained model is kept and evaluation loads checkpoints from.
        ran_on: where it runs, recorded in ``run.json``.
    """
    t0 = time.time()
    state, left = stage
    if state == "resume":
        keep_epochs(run.dir / "results.csv", plan.config.epochs - left)
    if state in ("new", "resume"):
        models.add(run.dir / "weights" / "best.pt", _train(run, plan, resume=state == "resume"))
        (run.dir / "weights" / PREVIOUS_FILE).unlink(missing_ok=True)  # training ended: last.pt is whole
    record = _evaluate(run, plan, gt, settings, models, resumed=state == "resume", seconds=time.time() - t0)
    record.ran_on = ran_on
    write_json_atomic(run.dir / RUN_FILE, record.to_json(), indent=2)
    return record


def _train(run: Run, plan: Plan, resume: bool):
    """Train one run from scratch, or resume it from its ``last.pt`` with its saved settings.

    Returns:
        the ``ultralytics.YOLO``, which holds the run's best checkpoint once ``train()`` returns.
    """
    from ultralytics import YOLO

    cfg = plan.config
    where = {"device": cfg.device} if cfg.device is not None else {}
    model = YOLO(str(run.dir / "weights" / "last.pt") if resume else run.cfg)
    model.add_callback("on_train_epoch_end", _keep_previous)
    if cfg.attn_stats:
        from ca_yolo.diagnose import attach

        model.add_callback("on_train_start", attach)
    if resume:  # Ultralytics restores epochs, optimizer, seed, ... from the checkpoint itself
        model.train(resume=True, data=str(plan.data), workers=cfg.workers, **where)
        return model
    model.train(
        data=str(plan.data),
        **cfg.settings(),  # epochs, imgsz, batch and the Ultralytics settings given: what run.json records
        workers=cfg.workers,
        seed=run.seed,
        deterministic=True,
        project=str(run.dir.parent),  # absolute: Ultralytics nests relative projects under its runs_dir
        name=run.dir.name,
        exist_ok=True,
        **where,
    )
    return model


def _evaluate(
    run: Run, plan: Plan, gt: GroundTruth, settings: dict, models: ModelCache, resumed: bool, seconds: float
) -> RunRecord:
    """Evaluate the run's ``best.pt`` (one pass of Ultralytics' validator) and return its record."""
    cfg = plan.config
    best = run.dir / "weights" / "best.pt"
    if not best.is_file():
        raise PlanError(f"{run.label}: training ended without {best}")
    result = evaluate_checkpoint(
        models.get(best).yolo, plan.data, imgsz=cfg.imgsz, batch=cfg.batch if cfg.batch >= 1 else 16,
        device=cfg.device, gt=gt,
    )  # fmt: skip
    # kept for the comparison's analysis (TIDE, bootstrap), which would otherwise need a second inference pass
    write_json_atomic(run.dir / DETECTIONS_FILE, result.detections_list)
    curve = read_curve(run.dir / "results.csv")
    return RunRecord(
        model=run.model,
        cfg=run.cfg,
        seed=run.seed,
        settings=settings,
        weights=str(best.relative_to(run.dir)),
        epochs_trained=len(curve["epoch"]),
        seconds=round(seconds, 1),
        resumed=resumed,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        coco=result.coco,
        voc={k: result.voc.get(k) for k in ("mAP50_07", "mAP50_all")},
        ultralytics=result.ultralytics,
        counts={"images": result.images, "gt_objects": result.gt_objects, "detections": result.detections},
        gt_source=result.gt_source,
        curve=curve,
        per_class=result.per_class,
    )


def read_curve(results_csv: Path) -> dict[str, list[float]]:
    """Per-epoch validation mAP from Ultralytics' ``results.csv`` (empty lists if absent).

    One entry per epoch, in epoch order: an epoch written twice (a folder resumed before
    :func:`keep_epochs` existed) counts once, with its last row; a row cut short by a kill is skipped.
    """
    by_epoch: dict[int, tuple[float, float]] = {}
    for row in _csv_rows(results_csv)[1]:
        try:
            epoch = int(float(row["epoch"]))
            by_epoch[epoch] = (float(row.get("metrics/mAP50-95(B)") or 0), float(row.get("metrics/mAP50(B)") or 0))
        except (KeyError, TypeError, ValueError):
            continue
    epochs = sorted(by_epoch)
    return {
        "epoch": epochs,
        "mAP50-95": [by_epoch[e][0] for e in epochs],
        "mAP50": [by_epoch[e][1] for e in epochs],
    }


def _csv_rows(results_csv: Path) -> tuple[list[str], list[dict[str, str]]]:
    """``results.csv``'s header and rows (keys stripped; rows with missing cells dropped); empty if absent."""
    if not results_csv.is_file():
        return [], []
    with open(results_csv, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        keys = [k.strip() for k in header]
        rows = [dict(zip(keys, r)) for r in reader if len(r) == len(keys)]
    return header, rows


def keep_epochs(results_csv: Path, epochs_done: int) -> None:
    """Before a resume: drop ``results.csv`` rows of epochs after ``epochs_done`` (and rows cut short).

    Ultralytics appends an epoch's row before it writes that epoch's ``last.pt``; a run stopped in
    between resumes at that epoch and would append its row a second time. Rewritten atomically.
    """
    header, rows = _csv_rows(results_csv)
    kept = [r for r in rows if _epoch_of(r) is not None and _epoch_of(r) <= epochs_done]
    if not header or len(kept) == len(_raw_lines(results_csv)) - 1:
        return  # nothing to drop
    from ca_yolo.atomic_io import write_text_atomic

    keys = [k.strip() for k in header]
    lines = [",".join(header)] + [",".join(r[k] for k in keys) for r in kept]
    write_text_atomic(results_csv, "\n".join(lines) + "\n")


def _epoch_of(row: dict[str, str]) -> int | None:
    """A results.csv row's epoch number (1-based, as Ultralytics writes it), or None when unreadable."""
    try:
        return int(float(row["epoch"]))
    except (KeyError, ValueError):
        return None


def _raw_lines(path: Path) -> list[str]:
    """The file's non-empty lines."""
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _checkpoint_epoch(path: Path) -> tuple[int, bool]:
    """(last completed epoch index, whether Ultralytics can resume from it) for a ``last.pt``.

    Ultralytics strips the optimizer and sets epoch -1 when training finishes, so a checkpoint with
    optimizer state is an interrupted run. Returns ``(-2, False)`` for a file that is a whole zip
    archive but does not unpickle as a checkpoint.

    Raises:
        UnsafeCheckpointError: the file is refused as unsafe (see :func:`read_checkpoint`). Training
            never writes such a file, so it is not set aside and retrained over: the user must look.
    """
    from ca_yolo.plugin.checkpoint import UnsafeCheckpointError, read_checkpoint

    try:
        ckpt = read_checkpoint(path, model=False)
        epoch = int(ckpt.get("epoch", -1))
    except UnsafeCheckpointError:
        raise
    except Exception:  # noqa: BLE001  (whatever the reason, the file cannot be resumed from)
        return -2, False
    return epoch, epoch >= 0 and ckpt.get("optimizer") is not None
