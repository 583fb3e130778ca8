"""Check a comparison before any training, and lay out its runs.

Everything that can be known to fail is checked here, before the first epoch: the dataset, every
model YAML (it must build), duplicate model names, the baseline, and a comparison folder that was
made with other settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ca_yolo.cli_args import ArgError
from ca_yolo.compare.config import CompareConfig, model_name
from ca_yolo.data.problems import DataError
from ca_yolo.data.yamlio import load_checked
from ca_yolo.errors import CaYoloError
from ca_yolo.evaluation.dataset import DatasetError, check_images, read_split


class PlanError(CaYoloError, ValueError):
    """A comparison that cannot start; the message says what to fix."""


@dataclass(frozen=True)
class Run:
    """One training run: a model trained with one seed, in ``dir`` (Ultralytics' save_dir)."""

    model: str  # display name (YAML stem)
    cfg: str  # the model YAML as given
    seed: int
    dir: Path

    @property
    def label(self) -> str:
        """``<model> seed <k>`` for progress lines."""
        return f"{self.model} seed {self.seed}"


@dataclass
class Plan:
    """A checked comparison: its config, resolved data YAML, model names and runs in training order."""

    config: CompareConfig
    data: Path
    names: list[str]
    baseline: str
    runs: list[Run]
    train_images: int
    val_images: int
    class_names: list[str]

    @property
    def challengers(self) -> list[str]:
        """The model names compared against the baseline, in plan order."""
        return [m for m in self.names if m != self.baseline]


def make_plan(config: CompareConfig, data: str | Path) -> Plan:
    """Check ``config`` against the dataset and models, and list its runs (seed-major order).

    Seed-major order (all models for seed 0, then seed 1, ...) means an interrupted comparison
    already has a paired result for every model of the finished seeds.

    Raises:
        PlanError: two models with one name, an unknown baseline, a missing or broken dataset,
            a model YAML that does not build, or an existing folder made with other settings.
    """
    for cfg in config.models:
        if Path(cfg).suffix.lower() not in {".yaml", ".yml"}:
            raise ArgError(f"models= takes model YAMLs (e.g. yolov8n.yaml); got '{cfg}'")
    names = [model_name(m) for m in config.models]
    seen: dict[str, str] = {}
    for cfg, name in zip(config.models, names):
        if name in seen:
            raise PlanError(
                f"two models are named '{name}' ({seen[name]} and {cfg}); model names are YAML file stems "
                "and must differ: rename one file"
            )
        seen[name] = cfg
    baseline = config.baseline or names[0]
    if baseline not in names:
        raise PlanError(f"baseline={baseline} is not one of the models {names}")
    data_path = Path(data).resolve()
    try:
        train = read_split(data_path, "train")
        val = read_split(data_path, "val")
        check_images(val, "val")  # every run is evaluated on them: an unreadable one fails now, not after training
    except DatasetError as e:
        raise PlanError(f"dataset: {e}") from None
    _check_labels(data_path)
    for cfg in config.models:
        _check_builds(cfg, len(val.names))
    if isinstance(config.train_args.get("pretrained"), str):
        _check_pretrained(config.train_args["pretrained"], config.models, len(val.names))
    _check_settings(config, data_path)
    runs = [
        Run(name, cfg, seed, config.out_dir / f"{name}-seed{seed}")
        for seed in config.seeds
        for cfg, name in zip(config.models, names)
    ]
    return Plan(config, data_path, names, baseline, runs, len(train.images), len(val.images), val.names)


def _check_labels(data: Path) -> None:
    """Every train and val label against the YAML's ``names``: Ultralytics would drop a file with an unknown
    class id and train on the rest, and the evaluation would only find it after every training run."""
    from ca_yolo.data.precheck import check_label_classes
    from ca_yolo.data.yamlio import load_checked

    try:
        check_label_classes(load_checked(data, "val"), data)
    except DataError as e:
        raise PlanError(f"dataset: {e}") from None


def _check_builds(cfg: str, nc: int) -> None:
    """Build the model from its YAML (with the dataset's class count) or raise PlanError saying why.

    A model of another task than detection is refused first: compare trains and evaluates boxes, and
    a segmentation model on box labels would fail only inside its first training step.
    """
    import ultralytics.nn.tasks as tasks
    from ultralytics.nn.tasks import DetectionModel, guess_model_task

    try:
        task = guess_model_task(tasks.yaml_model_load(cfg))
    except Exception:  # noqa: BLE001  (the build below reports an unreadable YAML)
        task = "detect"
    if task != "detect":
        raise PlanError(f"model '{cfg}' is a {task} model; compare trains and evaluates detection models")
    try:
        DetectionModel(cfg, nc=nc, verbose=False)
    except Exception as e:  # any failure of a user's YAML is reported the same way
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise PlanError(f"model '{cfg}' does not build: {type(e).__name__}: {msg}") from None


def _check_pretrained(path: str, models: list[str], nc: int) -> None:
    """Every model must accept ``pretrained=path``: the same model, or an attention variant of it."""
    from ultralytics.nn.tasks import DetectionModel

    from ca_yolo.errors import CheckpointError
    from ca_yolo.plugin.checkpoint import checkpoint_model, read_checkpoint
    from ca_yolo.plugin.load_hook import has_registered_layers
    from ca_yolo.transfer.align import TransferError
    from ca_yolo.transfer.weights import align_models

    try:
        source = checkpoint_model(read_checkpoint(path, "pretrained checkpoint"), path)
    except CheckpointError as e:  # a truncated, foreign or unsafe file: say which, in one line
        raise PlanError(str(e)) from None
    for cfg in models:
        model = DetectionModel(cfg, nc=nc, verbose=False)
        if has_registered_layers(model):
            try:
                align_models(source, model, f"pretrained={Path(path).name}")
            except TransferError as e:
                raise PlanError(f"model '{cfg}': {e}") from None


PLAN_FILE = "plan.json"


def run_settings(config: CompareConfig, data: Path) -> dict:
    """What every run of a comparison folder shares: the dataset and the training settings."""
    return json.loads(json.dumps({"data": str(Path(data).resolve()), **config.settings()}))  # JSON-normalized


def _check_settings(config: CompareConfig, data: Path) -> None:
    """Refuse a comparison folder that holds runs made with different settings."""
    path = config.out_dir / PLAN_FILE
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))["settings"]
    except (ValueError, KeyError, TypeError):
        raise PlanError(f"{path} is not a ca-yolo plan file; delete it or pass a new name=") from None
    new = run_settings(config, data)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        diff = ", ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in changed)
        raise PlanError(
            f"{config.out_dir} holds a comparison made with other settings ({diff}); "
            "pass a new name= or delete that folder"
        )


def data_for(config: CompareConfig) -> Path:
    """The data YAML of a comparison: ``data=`` as given, or the sample dataset (generated if missing)."""
    if config.data is not None:
        p = Path(config.data)
        try:  # a missing file or a folder: the loader names it (and the data YAML in a folder)
            load_checked(p, "val")
        except DataError as e:
            raise PlanError(f"dataset: {e}") from None
        return p
    from ca_yolo.data.sample import DEFAULT_OUT, make_sample

    try:
        return Path(make_sample(DEFAULT_OUT, log=print))
    except DataError as e:
        raise PlanError(f"sample dataset: {e}") from None
