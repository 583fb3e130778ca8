"""Seed statistics: mean ± std per model, and paired differences to the baseline with a 95% CI.

Student's t quantile is computed here (numerical integration of the t density plus bisection) so
no statistics package is needed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom (p in (0.5, 1)).

    Accurate to ~1e-6 for df >= 1 (e.g. ``t_quantile(0.975, 1) = 12.7062``, ``(0.975, 2) = 4.3027``).
    """
    if not 0.5 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df >= 1, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(60):  # bisection: the CDF is increasing
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def _t_cdf(x: float, df: int) -> float:
    """P(T <= x) for x >= 0: 0.5 plus the density integrated over [0, x] by Simpson's rule.

    The integral is taken in u = atan(t / sqrt(df)), where the integrand
    ``cos(u)^(df-1)`` is smooth and bounded, so a few hundred panels are plenty.
    """
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)
    b = math.atan(x / math.sqrt(df))
    n = 400
    h = b / n
    total = sum((1 if i in (0, n) else 4 if i % 2 else 2) * math.cos(i * h) ** (df - 1) for i in range(n + 1))
    return 0.5 + c * total * h / 3


@dataclass
class Summary:
    """Mean and sample standard deviation (ddof=1; None for one value) of ``n`` values."""

    n: int
    mean: float
    std: float | None

    def text(self, digits: int = 3) -> str:
        """``mean ± std`` (or just the mean for one value)."""
        return f"{self.mean:.{digits}f}" if self.std is None else f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def summarize(values: list[float]) -> Summary:
    """Mean and sample standard deviation of ``values`` (at least one)."""
    if not values:
        raise ValueError("summarize needs at least one value")
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return Summary(n, mean, std)


@dataclass
class PairedDiff:
    """``model - baseline`` on the same seeds.

    Attributes:
        n: number of seeds both have.
        mean, std: of the per-seed differences (std None for n = 1).
        ci_low, ci_high: 95% Student-t confidence interval of the mean difference (None for n = 1).
        verdict: "higher", "lower", "not distinguishable" (3+ seeds), "no verdict (2 seeds)" or
            "no conclusion (1 seed)".
        sentence: the verdict in words, with the numbers.
    """

    n: int
    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    sentence: str

    def as_dict(self) -> dict:
        """JSON-ready fields."""
        return asdict(self)


def paired_difference(
    model: dict[int, float], baseline: dict[int, float], label: str = "model", metric: str = "metric",
    confidence: float = 0.95,
) -> PairedDiff:  # fmt: skip
    """Paired difference ``model[seed] - baseline[seed]`` over the seeds both have.

    With n >= 2 seeds: mean ± t(1 - alpha/2, n-1) * std / sqrt(n). From 3 seeds on, the difference
    is called distinguishable from seed noise ("higher"/"lower") only when that interval excludes 0.
    With 2 seeds the interval is given but no verdict ("no verdict (2 seeds)"); with one seed no
    interval exists and the verdict says no conclusion can be drawn.

    Raises:
        ValueError: the two share no seed.
    """
    seeds = sorted(set(model) & set(baseline))
    if not seeds:
        raise ValueError(f"{label} and the baseline share no seed")
    diffs = [model[s] - baseline[s] for s in seeds]
    s = summarize(diffs)
    if s.n == 1:
        return PairedDiff(1, s.mean, None, None, None, "no conclusion (1 seed)",
                          f"{label} vs baseline on {metric}: one seed only, so seed-to-seed noise is unknown "
                          "and no conclusion can be drawn (use seeds=0,1,2 or more).")  # fmt: skip
    half = t_quantile(0.5 + confidence / 2, s.n - 1) * s.std / math.sqrt(s.n)
    lo, hi = s.mean - half, s.mean + half
    pct = f"{round(confidence * 100)}%"
    ci = f"{s.mean:+.4f}, {pct} CI [{lo:+.4f}, {hi:+.4f}] over {s.n} paired seeds"
    if s.n == 2:
        # Two differences estimate their spread from one degree of freedom: two nearly equal ones give a
        # narrow interval by chance, so a verdict from them would be fragile whatever the interval says.
        each = ", ".join(f"{d:+.4f}" for d in diffs)
        return PairedDiff(2, s.mean, s.std, lo, hi, "no verdict (2 seeds)",
                          f"{label} vs baseline on {metric}: differences {each} (mean {s.mean:+.4f}); no "
                          "higher/lower verdict from 2 seeds, whose spread rests on a single degree of freedom "
                          "(use 3 or more seeds).")  # fmt: skip
    if lo > 0 or hi < 0:
        verdict = "higher" if lo > 0 else "lower"
        sentence = f"{label} is {verdict} than the baseline on {metric} ({ci}): distinguishable from seed noise."
    else:
        verdict = "not distinguishable"
        sentence = (f"{label} vs baseline on {metric}: {ci}; the interval contains 0, so the difference is "
                    "not distinguishable from seed noise.")  # fmt: skip
    return PairedDiff(s.n, s.mean, s.std, lo, hi, verdict, sentence)
