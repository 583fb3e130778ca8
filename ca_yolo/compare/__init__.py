"""``ca-yolo compare``: baseline vs CA (or any models), trained alike over seeds, with a report.

Pipeline: :mod:`config` (arguments) -> :mod:`plan` (checks, runs) -> :mod:`runner` (train/resume,
evaluate; each run's :class:`~ca_yolo.compare.record.RunRecord`) -> :mod:`measure` (params, GFLOPs,
latency) -> :mod:`results` + :mod:`stats` (mean ± std, paired differences) -> :mod:`report` and
:mod:`plots` (files). :mod:`models` loads each checkpoint once for all of them.
"""

from ca_yolo.compare.config import CompareConfig, parse_compare_args
from ca_yolo.compare.plan import Plan, PlanError, Run, make_plan
from ca_yolo.compare.record import RunRecord
from ca_yolo.compare.stats import PairedDiff, Summary, paired_difference, summarize, t_quantile

__all__ = [
    "CompareConfig",
    "PairedDiff",
    "Plan",
    "PlanError",
    "Run",
    "RunRecord",
    "Summary",
    "make_plan",
    "paired_difference",
    "parse_compare_args",
    "summarize",
    "t_quantile",
]
