"""Interleaved timing: every candidate runs once per round, in rotating order, medians reported.

Running candidates back to back in one process and one loop means they see the same machine
state (other processes' load, CPU frequency, allocator state), so their *ratio* is meaningful
even on a noisy machine; the median per candidate discards the rounds hit by interruptions.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed_rounds(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    burst: int = 1,
) -> dict[str, list[float]]:
    """Run each of ``fns`` ``warmup`` + ``repeats`` rounds, interleaved; return seconds per call.

    Round r calls the candidates starting at index r mod n (A B C, B C A, C A B, ...) so that no
    candidate always runs right after the same neighbour (cache and allocator state carry over).

    With ``burst`` > 1 a candidate is called ``burst`` times in a row per round and the first
    call of each burst is not timed: the others see the memory the previous call just freed, so
    the figure is the steady-state cost of a call, free of the page faults a fresh full-size
    allocation costs on CPU right after a *different* candidate reshaped the heap (that cost
    depends on the neighbour, not on the candidate; whole-model timings keep it, burst=1).

    Args:
        fns: name -> zero-argument callable to time.
        repeats: timed rounds (each candidate gets one sample per round).
        warmup: untimed rounds first (first-call costs: allocation, lazy init, caches).
        burst: calls per candidate per round; the first of each burst is untimed when > 1.
        sync: called before reading the clock (e.g. ``torch.cuda.synchronize``); None on CPU.
        clock: the timer (injectable for tests).

    Returns:
        name -> list of ``repeats * max(1, burst - 1)`` durations in seconds, in call order.

    Raises:
        ValueError: ``repeats`` < 1, ``warmup`` < 0, ``burst`` < 1 or no candidates.
    """
    if repeats < 1 or warmup < 0 or burst < 1:
        raise ValueError(
            f"repeats and burst must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}, burst={burst}"
        )
    if not fns:
        raise ValueError("nothing to time: no candidates given")
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            for call in range(burst):
                if sync:
                    sync()
                t0 = clock()
                fns[name]()
                if sync:
                    sync()
                dt = clock() - t0
                if r >= warmup and (call > 0 or burst == 1):
                    samples[name].append(dt)
    return samples


def summary(samples: list[float], scale: float = 1e3) -> dict[str, float]:
    """Median, quartiles and min of ``samples`` (seconds), scaled (default to milliseconds).

    Returns:
        ``{"median", "p25", "p75", "min", "n"}``.
    """
    qs = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else [samples[0]] * 3
    return {
        "median": statistics.median(samples) * scale,
        "p25": qs[0] * scale,
        "p75": qs[2] * scale,
        "min": min(samples) * scale,
        "n": len(samples),
    }


def paired_ratio(a: list[float], b: list[float]) -> dict[str, float]:
    """Median and quartiles of the per-round ratios a[r] / b[r] of two interleaved sample lists.

    The two samples of one round were taken seconds apart, so a change of machine load between
    rounds cancels in their ratio; the median over rounds is then a steadier estimate of a / b
    than the ratio of the two medians when the machine is shared.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired samples must be non-empty and of equal length, got {len(a)} and {len(b)}")
    r = [x / y for x, y in zip(a, b)]
    qs = statistics.quantiles(r, n=4, method="inclusive") if len(r) > 1 else [r[0]] * 3
    return {"median": statistics.median(r), "p25": qs[0], "p75": qs[2]}


def form_ratios(samples: dict[str, list[float]], base: str = "base", scale: float = 1e3) -> dict:
    """Medians and paired ratios of interleaved samples: each non-``base`` key against ``base``.

    Args:
        samples: label -> seconds per call, one sample per round (as ``timed_rounds`` returns them),
            ``base`` among the labels.
        scale: factor from seconds to the reported unit (default milliseconds).

    Returns:
        ``{"base_ms", "ca_ms": {label: median}, "ratio": {label: median of per-round label / base},
        "ratio_p25": {...}, "ratio_p75": {...}, "n"}``, labels in ``samples``' order.

    Raises:
        ValueError: ``base`` missing, or a label's sample count differs from ``base``'s.
    """
    if base not in samples:
        raise ValueError(f"no {base!r} samples among {', '.join(samples) or 'none'}")
    out: dict = {"base_ms": statistics.median(samples[base]) * scale, "ca_ms": {}, "ratio": {}}
    out["ratio_p25"], out["ratio_p75"] = {}, {}
    for label, values in samples.items():
        if label == base:
            continue
        r = paired_ratio(values, samples[base])
        out["ca_ms"][label] = statistics.median(values) * scale
        out["ratio"][label], out["ratio_p25"][label], out["ratio_p75"][label] = r["median"], r["p25"], r["p75"]
    out["n"] = len(samples[base])
    return out
