"""Which backend trains the runs of a plan: this process (``local``) or a Ray cluster (``ray``).

Ray is imported only when ``backend=ray`` is asked for, so the local backend never loads it.
"""

from __future__ import annotations

from ca_yolo.compare.models import ModelCache
from ca_yolo.compare.plan import Plan
from ca_yolo.compare.record import RunRecord
from ca_yolo.compare.runner import run_all
from ca_yolo.evaluation.cocogt import GroundTruth


def run_plan(plan: Plan, gt: GroundTruth, models: ModelCache) -> list[RunRecord]:
    """Train (or resume) and evaluate every unfinished run of ``plan`` on its backend; every record in plan order.

    Args:
        models: the local backend keeps its trained models here for the steps after training.
    """
    if plan.config.backend == "ray":
        from ca_yolo.compare.ray_backend import run_all_ray

        return run_all_ray(plan, gt)
    return run_all(plan, gt, models=models)
