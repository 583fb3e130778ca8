"""Training throughput: images/s of a CA model against its baseline on one fixed batch.

One step is what Ultralytics' trainer does per batch, minus data loading: forward in train
mode, the model's own detection loss, backward, an SGD step. The batch (random images, a few
random boxes per image) is made once and reused, so both models do exactly the same work.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ca_yolo.bench.timing import paired_ratio, summary, timed_rounds


def synthetic_batch(batch: int, imgsz: int, boxes_per_image: int = 4, seed: int = 0, device: str = "cpu") -> dict:
    """A detection batch in Ultralytics' collated form.

    Returns:
        ``{"img": (B, 3, S, S) in [0, 1), "batch_idx": (N,), "cls": (N, 1), "bboxes": (N, 4)
        normalised xywh}`` with N = B * boxes_per_image.
    """
    g = torch.Generator().manual_seed(seed)
    n = batch * boxes_per_image
    wh = torch.rand(n, 2, generator=g) * 0.4 + 0.05
    xy = wh / 2 + torch.rand(n, 2, generator=g) * (1 - wh)
    return {
        "img": torch.rand(batch, 3, imgsz, imgsz, generator=g).to(device),
        "batch_idx": torch.arange(batch).repeat_interleave(boxes_per_image).float().to(device),
        "cls": torch.randint(0, 80, (n, 1), generator=g).float().to(device),
        "bboxes": torch.cat((xy, wh), 1).to(device),
    }


def build_trainable(name: str, device: str = "cpu") -> torch.nn.Module:
    """Detection model ``name`` (YAML) in train mode with Ultralytics' default loss hyperparameters."""
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    import ca_yolo  # noqa: F401

    model = DetectionModel(name, verbose=False).to(device).train()
    model.args = get_cfg()  # box/cls/dfl gains the loss reads, as the trainer sets them
    return model


def train_step_fn(model: torch.nn.Module, batch: dict) -> Callable[[], None]:
    """A callable doing one training step of ``model`` on ``batch`` (forward, loss, backward, SGD)."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = model.loss(batch)
        loss.sum().backward()
        opt.step()

    return step


def bench_train(
    pairs: list[tuple[str, str]],
    batch: int,
    imgsz: int,
    repeats: int,
    device: str = "cpu",
    sync: Callable[[], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Images/s of each (CA, baseline) pair, the two interleaved.

    Returns:
        Per pair ``{"model", "baseline", "batch", "imgsz", "step_ms": {name: summary},
        "images_per_s", "baseline_images_per_s", "ratio", "ratio_p25", "ratio_p75"}``: images/s
        from the median step times; ratio = CA / baseline images/s, the median over rounds of the
        per-round baseline / CA step-time ratio (see :func:`ca_yolo.bench.timing.paired_ratio`).
    """
    data = synthetic_batch(batch, imgsz, device=device)
    rows = []
    for ca, base in pairs:
        torch.manual_seed(0)
        steps = {name: train_step_fn(build_trainable(name, device), data) for name in (ca, base)}
        samples = timed_rounds(steps, repeats, warmup=2, sync=sync)
        stats = {k: summary(v) for k, v in samples.items()}
        ips = {k: batch / (v["median"] / 1e3) for k, v in stats.items()}
        r = paired_ratio(samples[base], samples[ca])  # time ratio base / CA = throughput ratio CA / base
        rows.append(
            {
                "model": ca,
                "baseline": base,
                "batch": batch,
                "imgsz": imgsz,
                "step_ms": stats,
                "images_per_s": ips[ca],
                "baseline_images_per_s": ips[base],
                "ratio": r["median"],
                "ratio_p25": r["p25"],
                "ratio_p75": r["p75"],
                "ratio_of_medians": ips[ca] / ips[base],
            }
        )
        log(f"train {ca}: {ips[ca]:.2f} img/s vs {base}: {ips[base]:.2f} img/s (ratio {r['median']:.3f})")
    return rows
