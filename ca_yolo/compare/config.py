"""What ``ca-yolo compare`` was asked to do: its arguments, their defaults, the embedded default job."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ca_yolo.cli_args import (
    ArgError,
    check_device,
    check_ultralytics_settings,
    parse_kv,
    quiet_ultralytics,
    split_list,
)

# The embedded default job (``ca-yolo compare`` with no data=): the generated sample dataset, small
# enough to train 2 models x 2 seeds on 2 CPU cores in minutes. Any of these can be overridden.
SAMPLE_DEFAULTS: dict[str, object] = {
    "models": "yolov8n.yaml,yolov8n-ca.yaml",
    "seeds": "0,1",
    "epochs": 12,
    "imgsz": 160,
    "batch": 16,
    "device": "cpu",
    "workers": 0,
    "name": "sample",
}
# Extra Ultralytics train settings of the embedded default, everything else Ultralytics' defaults:
# nbs=16 makes every batch of 16 an optimizer step (Ultralytics' nominal batch 64 would accumulate
# 4 batches: only ~45 steps in 12 epochs of 240 images, too few to learn from scratch);
# close_mosaic=4 keeps mosaic for the first 8 epochs (Ultralytics' 10 is most of a short schedule);
# plots off: they cost CPU time the runs need.
SAMPLE_TRAIN_ARGS: dict[str, object] = {"nbs": 16, "close_mosaic": 4, "plots": False}

# Defaults when the user names a dataset: Ultralytics' own schedule, three seeds.
FULL_DEFAULTS: dict[str, object] = {
    "models": "yolov8n.yaml,yolov8n-ca.yaml",
    "seeds": "0,1,2",
    "epochs": 100,
    "imgsz": 640,
    "batch": 16,
    "device": None,
    "workers": 8,
}

# Keys compare sets itself for every run; a user passing them would break the comparison.
RESERVED = {
    "model": "use models=a.yaml,b.yaml",
    "seed": "use seeds=0,1,2",
    "deterministic": "compare always trains with deterministic=True",
    "resume": "compare resumes interrupted runs by itself; re-run the same command",
    "exist_ok": "compare manages its run folders itself",
    "save_dir": "use project= and name=",
    "mode": "compare always trains",
    "task": "compare trains detectors",
}
# Where runs execute; they never change what a run trains, so they are not settings of the comparison.
BACKEND_KEYS = {"backend", "ray_address", "gpus_per_run", "cpus_per_run"}
OWN_KEYS = {"data", "models", "seeds", "baseline", "project", "name", "epochs", "imgsz", "batch", "device",
            "workers", "latency_runs", "grid_images", "attn_stats"} | BACKEND_KEYS  # fmt: skip
RAY_INSTALL_HINT = 'pip install "ca-yolo[ray]"'


@dataclass
class CompareConfig:
    """A parsed ``ca-yolo compare`` command.

    Attributes:
        data: data YAML path, or None for the generated sample dataset.
        models: model YAMLs, in report order.
        seeds: training seeds; every model is trained once per seed.
        baseline: the model name differences are taken against (default: the first model).
        project, name: the comparison folder is ``project/name``.
        epochs, imgsz, batch, device, workers: identical for every run.
        train_args: any other Ultralytics train settings, passed unchanged to every run.
        latency_runs: timed forward passes per model for the latency figure.
        grid_images: val images in the prediction grid.
        attn_stats: write each run's attention statistics (``attention_stats.csv``/``.png``, see
            :mod:`ca_yolo.diagnose`); they do not change training, so they are not a setting.
        command: the command line as typed, for the report.
        backend: ``local`` (runs one after another in this process) or ``ray`` (each run a Ray task).
        ray_address: the Ray cluster to use (None: the one ``ray.init()`` finds, else a local one).
        gpus_per_run, cpus_per_run: what each Ray task asks for (gpus None: 1 where the cluster has GPUs).
    """

    data: str | None
    models: list[str]
    seeds: list[int]
    baseline: str | None = None
    project: str = "runs/compare"
    name: str = "compare"
    epochs: int = 100
    imgsz: int = 640
    batch: int | float = 16
    device: str | None = None
    workers: int = 8
    train_args: dict = field(default_factory=dict)
    latency_runs: int = 50
    grid_images: int = 4
    attn_stats: bool = False
    command: str = "ca-yolo compare"
    backend: str = "local"
    ray_address: str | None = None
    gpus_per_run: float | None = None
    cpus_per_run: float = 1.0

    @property
    def out_dir(self) -> Path:
        """The comparison folder (absolute)."""
        return (Path(self.project) / self.name).resolve()

    def settings(self) -> dict:
        """The settings every run must share; a comparison folder refuses runs made with others."""
        return {"epochs": self.epochs, "imgsz": self.imgsz, "batch": self.batch, **self.train_args}


def model_name(cfg: str) -> str:
    """Display name of a model: its YAML file stem (``path/yolov8n-ca.yaml`` -> ``yolov8n-ca``)."""
    return Path(cfg).stem


def parse_compare_args(argv: list[str]) -> CompareConfig:
    """Parse ``key=value`` arguments into a :class:`CompareConfig`.

    Without ``data=`` the embedded sample defaults apply (and ``data`` stays None); with it,
    Ultralytics' default schedule and three seeds. Keys other than compare's own are Ultralytics
    train settings, checked against Ultralytics' list and given to every run.

    Raises:
        ArgError: malformed or reserved keys, unknown Ultralytics keys, bad seeds or numbers.
    """
    given = parse_kv(argv)
    for key, why in RESERVED.items():
        if key in given:
            raise ArgError(f"'{key}=' cannot be set: {why}")
    sample = given.get("data") in (None, "")
    merged = {**(SAMPLE_DEFAULTS if sample else FULL_DEFAULTS), **given}
    train_args = {k: v for k, v in merged.items() if k not in OWN_KEYS}
    if sample:
        train_args = {**SAMPLE_TRAIN_ARGS, **train_args}
    _check_ultralytics_keys(train_args)
    _resolve_pretrained(train_args)
    models = split_list(merged["models"])
    if not models:
        raise ArgError("'models=' is empty; give model YAMLs, e.g. models=yolov8n.yaml,yolov8n-ca.yaml")
    try:
        seeds = [int(s) for s in split_list(str(merged["seeds"]))]
    except ValueError:
        raise ArgError(f"seeds={merged['seeds']} must be integers separated by commas, e.g. seeds=0,1,2") from None
    if not seeds:
        raise ArgError("'seeds=' is empty; e.g. seeds=0,1,2")
    if len(set(seeds)) != len(seeds):
        raise ArgError(f"seeds={merged['seeds']} repeats a seed")
    if min(seeds) < 0:
        raise ArgError(f"seeds={merged['seeds']}: seeds must be >= 0 (Ultralytics rejects negative seeds)")
    device = None if merged.get("device") in (None, "") else str(merged["device"])
    backend = _backend(given, device)
    if backend == "local":
        check_device(device)  # Ultralytics' own device selection, now rather than when run 1 starts
    _check_optimizer(train_args.get("optimizer"))
    data = None if sample else str(merged["data"])
    name = merged.get("name") or _default_name(data, merged)
    return CompareConfig(
        data=data,
        models=models,
        seeds=seeds,
        baseline=None if merged.get("baseline") is None else str(merged["baseline"]),
        project=str(merged.get("project") or "runs/compare"),
        name=str(name),
        epochs=_positive_int(merged, "epochs"),
        imgsz=_positive_int(merged, "imgsz"),
        batch=_batch(merged["batch"]),
        device=device,
        workers=_int(merged, "workers", minimum=0),
        train_args=train_args,
        latency_runs=_positive_int({"latency_runs": 50, **merged}, "latency_runs"),
        grid_images=_int({"grid_images": 4, **merged}, "grid_images", minimum=0),
        attn_stats=_bool(merged.get("attn_stats", False), "attn_stats"),
        command=shlex.join(["ca-yolo", "compare", *argv]),
        backend=backend,
        ray_address=None if given.get("ray_address") in (None, "") else str(given["ray_address"]),
        gpus_per_run=None if given.get("gpus_per_run") is None else _resources(given, "gpus_per_run", zero_ok=True),
        cpus_per_run=_resources({"cpus_per_run": 1.0, **given}, "cpus_per_run", zero_ok=False),
    )


def _backend(given: dict, device: str | None) -> str:
    """``backend=`` checked against the keys that go with it; for ``ray``, that Ray is installed.

    Only the import machinery is asked about Ray (``find_spec``): the local backend imports nothing of it.
    """
    backend = str(given.get("backend", "local"))
    if backend not in ("local", "ray"):
        raise ArgError(f"backend={backend} must be local or ray")
    if backend == "local":
        for key in sorted(BACKEND_KEYS - {"backend"}):
            if key in given:
                raise ArgError(f"{key}= is for backend=ray")
        return backend
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ArgError(f"backend=ray needs Ray, which is not installed: {RAY_INSTALL_HINT}")
    if device not in (None, "cpu"):
        # Ray hands each task its own GPUs (CUDA_VISIBLE_DEVICES); an index chosen here would not be one of them
        raise ArgError(f"device={device}: with backend=ray each run gets its GPU from Ray; use gpus_per_run= "
                       "(or device=cpu)")  # fmt: skip
    if device == "cpu" and given.get("gpus_per_run") not in (None, 0):
        raise ArgError(f"gpus_per_run={given['gpus_per_run']} with device=cpu: the runs would hold GPUs they never use")
    return backend


def _resources(merged: dict, key: str, zero_ok: bool) -> float:
    """A Ray resource amount (``gpus_per_run``, ``cpus_per_run``): a number > 0, or >= 0 when ``zero_ok``."""
    value = merged[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
        raise ArgError(f"{key}={value} must be a number {'>=' if zero_ok else '>'} 0")
    return float(value)


def _bool(value: object, key: str) -> bool:
    """A True/False setting, or an ArgError naming the key."""
    if isinstance(value, bool):
        return value
    raise ArgError(f"{key}={value} must be True or False")


def _resolve_pretrained(train_args: dict) -> None:
    """``pretrained=FILE`` must exist; it is stored as an absolute path so every run finds it."""
    value = train_args.get("pretrained")
    if isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise ArgError(f"pretrained={value}: no such checkpoint file")
        train_args["pretrained"] = str(path.resolve())


def _default_name(data: str | None, merged: dict) -> str:
    """A stable folder name, so re-running the same command finds (and completes) the same folder."""
    return f"{Path(str(data)).stem}-{merged['epochs']}ep-{merged['imgsz']}px"


def _batch(value: object) -> int | float:
    """Ultralytics' batch: images per batch (int >= 1), -1 for autobatch, or a GPU-memory fraction (0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value >= 1 or value == -1 or 0 < value < 1)
    ):
        raise ArgError(f"batch={value} must be a positive integer, -1 (auto) or a fraction in (0, 1)")
    return int(value) if value >= 1 or value == -1 else float(value)


def _int(merged: dict, key: str, minimum: int) -> int:
    """``merged[key]`` as an int >= ``minimum``, or an ArgError naming the key."""
    value = merged[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArgError(f"{key}={value} must be an integer >= {minimum}")
    return value


def _check_optimizer(name: object) -> None:
    """Ultralytics' own optimizer lookup (its trainer's ``build_optimizer``) on a one-layer model."""
    if name is None or str(name).lower() == "auto":
        return
    import torch
    from ultralytics.engine.trainer import BaseTrainer

    try:  # for a named optimizer build_optimizer uses only its arguments, not the trainer
        with quiet_ultralytics():
            BaseTrainer.build_optimizer(None, torch.nn.Linear(1, 1), name=str(name))
    except NotImplementedError as e:
        raise ArgError(f"optimizer={name}: {str(e).split(' {')[0]}") from None


def _positive_int(merged: dict, key: str) -> int:
    """``merged[key]`` as a positive int, or an ArgError naming the key."""
    value = merged[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgError(f"{key}={value} must be a positive integer")
    return value


def _check_ultralytics_keys(train_args: dict) -> None:
    """Fail now, not after hours of training, on a key Ultralytics' train does not know."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    unknown = sorted(k for k in train_args if k not in DEFAULT_CFG_DICT)
    if unknown:
        raise ArgError(
            f"unknown key(s) {unknown}: not compare's own ({', '.join(sorted(OWN_KEYS))}) "
            "nor an Ultralytics train setting"
        )
    check_ultralytics_settings(train_args)  # Ultralytics' own type and range checks (e.g. lr0=abc, momentum=5)
