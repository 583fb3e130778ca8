"""Per-epoch statistics of every attention layer while Ultralytics trains: what the gates do.

:class:`AttentionStats` attaches to a trainer and writes ``attention_stats.csv`` (and, at the end,
``attention_stats.png``) into the run folder. For each attention layer, at the start (epoch 0) and
after every epoch, one row per gate:

- gate values on a fixed probe batch (the first ``n_images`` validation images, letterboxed as the
  validator does), computed by the EMA model in eval mode - the model Ultralytics validates and
  saves: mean, std, min, max, the fractions below 0.05 and above 0.95;
- ``gate_drift``: L2 distance of the gate-producing parameters from their initial values, and
  ``param_rel_drift``: of all the layer's parameters, relative to their initial norm;
- ``grad_rms``: root-mean-square gradient of the layer's parameters over the epoch's optimizer
  steps (after unscaling and clipping), and ``grad_ratio``: that divided by the mean RMS gradient of
  the model layers just before and after it (a layer that learns much slower than its neighbours
  shows a ratio << 1).

It only reads: gradients are read in an optimizer step pre-hook, the probe pass runs under
``torch.no_grad`` on the EMA model in eval mode (no BatchNorm statistics change) with all random
generators saved and restored, so a run with statistics trains exactly like one without.

Enable it with ``attn_stats=True`` on ``ca-yolo train`` or ``ca-yolo compare``, or in Python::

    model = YOLO("yolov8n-ca.yaml")
    model.add_callback("on_train_start", ca_yolo.diagnose.attach)
    model.train(...)
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ca_yolo.atomic_io import write_text_atomic
from ca_yolo.diagnose.gates import gate_parameters, is_attention, layer_gates

CSV_NAME = "attention_stats.csv"
PNG_NAME = "attention_stats.png"
ENV_FLAG = "CA_YOLO_ATTN_STATS"  # set by 'attn_stats=True'; read in every (also DDP worker) process
COLUMNS = (
    "epoch", "layer", "type", "gate", "mean", "std", "min", "max", "frac_lt_0.05", "frac_gt_0.95",
    "gate_drift", "param_rel_drift", "grad_rms", "grad_ratio",
)  # fmt: skip


@contextmanager
def _rng_untouched() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's (CPU and CUDA) random states afterwards."""
    py, npy = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


class AttentionStats:
    """Collects the statistics of one training run (see the module docstring).

    Args:
        trainer: An Ultralytics trainer, after its model, optimizer and loaders exist (on_train_start).
        n_images: Validation images in the probe batch.
    """

    def __init__(self, trainer, n_images: int = 8):
        self.trainer = trainer
        self.save_dir = Path(trainer.save_dir)
        layers = list(_unwrap(trainer.model).model)
        self.positions = [i for i, m in enumerate(layers) if is_attention(m)]
        self.rows: list[dict] = []
        self.start = {i: self._params(layers[i]) for i in self.positions}
        self.start_gate = {
            i: {k: p.detach().clone() for k, p in gate_parameters(layers[i]).items()} for i in self.positions
        }
        watched = set(self.positions) | {j for i in self.positions for j in (i - 1, i + 1) if 0 <= j < len(layers)}
        self.watched = sorted(watched)
        self.grad_sq = {i: 0.0 for i in self.watched}
        self.grad_n = {i: 0 for i in self.watched}
        self.steps = 0
        self.probe = self._probe_batch(n_images)
        self._hook = trainer.optimizer.register_step_pre_hook(self._on_step)
        start_epoch = int(getattr(trainer, "start_epoch", 0) or 0)
        previous = self.save_dir / CSV_NAME
        if start_epoch > 0 and previous.is_file():  # a resumed run: keep the rows of the epochs before
            from ca_yolo.diagnose.plots import read_stats

            self.rows = [r for r in read_stats(previous) if r["epoch"] <= start_epoch]
        else:
            self._record(epoch=0)

    @staticmethod
    def _params(module: nn.Module) -> list[torch.Tensor]:
        return [p.detach().clone() for p in module.parameters()]

    def _probe_batch(self, n: int) -> torch.Tensor | None:
        """The first n validation images as the validator feeds them, (n, 3, H, W) float in [0, 1]."""
        loader = getattr(self.trainer, "test_loader", None)
        dataset = getattr(loader, "dataset", None)
        if dataset is None or len(dataset) == 0:
            return None
        with _rng_untouched():
            batch = dataset.collate_fn([dataset[i] for i in range(min(n, len(dataset)))])
        return batch["img"].float() / 255

    def _on_step(self, optimizer, args, kwargs) -> None:
        """Optimizer pre-step hook: accumulate each watched layer's squared gradient."""
        layers = _unwrap(self.trainer.model).model
        for i in self.watched:
            grads = [p.grad for p in layers[i].parameters() if p.grad is not None]
            if grads:
                self.grad_sq[i] += float(sum(g.float().pow(2).sum() for g in grads))
                self.grad_n[i] += sum(g.numel() for g in grads)
        self.steps += 1

    def _gates(self) -> dict[int, dict[str, torch.Tensor]]:
        """Gates of every attention layer on the probe batch, from the EMA model in eval mode."""
        if self.probe is None:
            return {}
        ema = getattr(self.trainer, "ema", None)
        model = ema.ema if ema is not None else _unwrap(self.trainer.model)
        layers = model.model
        found: dict[int, dict[str, torch.Tensor]] = {}

        def hook(i):
            def pre(module, inputs):
                found[i] = {k: g.float().cpu() for k, g in layer_gates(module, inputs[0]).items()}

            return pre

        handles = [layers[i].register_forward_pre_hook(hook(i)) for i in self.positions]
        was_training = model.training
        try:
            param = next(model.parameters())
            with _rng_untouched(), torch.no_grad():
                model.eval()
                model(self.probe.to(param.device, param.dtype))
        finally:
            model.train(was_training)
            for h in handles:
                h.remove()
        return found

    def _record(self, epoch: int) -> None:
        """Add this epoch's rows and rewrite the CSV (atomically)."""
        layers = _unwrap(self.trainer.model).model
        rms = {i: math.sqrt(self.grad_sq[i] / self.grad_n[i]) if self.grad_n[i] else float("nan") for i in self.watched}
        gates = self._gates()
        for i in self.positions:
            m = layers[i]
            now = self._params(m)
            num = sum(float((a - b).float().pow(2).sum()) for a, b in zip(now, self.start[i]))
            den = sum(float(b.float().pow(2).sum()) for b in self.start[i])
            gate_now = gate_parameters(m)
            gate_drift = math.sqrt(
                sum(float((gate_now[k].detach() - v).float().pow(2).sum()) for k, v in self.start_gate[i].items())
            )
            neighbours = [
                rms[j] for j in (i - 1, i + 1) if j in rms and j not in self.positions and not math.isnan(rms[j])
            ]
            ratio = (
                rms[i] / (sum(neighbours) / len(neighbours)) if neighbours and not math.isnan(rms[i]) else float("nan")
            )
            for name, g in gates.get(i, {}).items():
                self.rows.append({
                    "epoch": epoch, "layer": i, "type": type(m).__name__, "gate": name,
                    "mean": float(g.mean()), "std": float(g.std()), "min": float(g.min()), "max": float(g.max()),
                    "frac_lt_0.05": float((g < 0.05).float().mean()), "frac_gt_0.95": float((g > 0.95).float().mean()),
                    "gate_drift": gate_drift, "param_rel_drift": math.sqrt(num / den) if den else float("nan"),
                    "grad_rms": rms[i], "grad_ratio": ratio,
                })  # fmt: skip
        self.grad_sq = {i: 0.0 for i in self.watched}
        self.grad_n = {i: 0 for i in self.watched}
        self._write()

    def _write(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        write_text_atomic(self.save_dir / CSV_NAME, buf.getvalue())

    # Trainer callbacks
    def on_fit_epoch_end(self, trainer) -> None:
        epoch = trainer.epoch + 1
        # Ultralytics fires this event once more for its final validation of best.pt: skip that one.
        if epoch <= trainer.epochs and (not self.rows or epoch > self.rows[-1]["epoch"]):
            self._record(epoch=epoch)

    def on_train_end(self, trainer) -> None:
        self._hook.remove()
        if self.rows:
            from ca_yolo.diagnose.plots import plot_attention_stats

            plot_attention_stats(self.save_dir / CSV_NAME, self.save_dir / PNG_NAME)


def attach(trainer) -> AttentionStats | None:
    """Trainer callback (``on_train_start``): collect attention statistics for this run.

    Does nothing on non-zero DDP ranks or for a model without attention layers.
    """
    if getattr(trainer, "args", None) is not None and int(os.environ.get("RANK", -1)) > 0:
        return None
    stats = AttentionStats(trainer)
    if not stats.positions:
        stats._hook.remove()
        return None
    trainer.add_callback("on_fit_epoch_end", stats.on_fit_epoch_end)
    trainer.add_callback("on_train_end", stats.on_train_end)
    return stats


def attach_if_requested(trainer) -> None:
    """Default trainer callback: :func:`attach` when ``attn_stats=True`` set :data:`ENV_FLAG`."""
    if os.environ.get(ENV_FLAG, "") in ("1", "true", "True"):
        attach(trainer)
