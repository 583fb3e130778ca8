"""Significance wording: no verdict from 2 seeds, and which noise (seeds or val images) dominates."""

from __future__ import annotations

import math

import pytest

from ca_yolo.compare.significance import dominant_noise, noise_sentence
from ca_yolo.compare.stats import paired_difference


def test_two_seeds_give_the_differences_and_no_verdict():
    # the case that used to be called "higher": two nearly equal differences, a narrow t-interval
    d = paired_difference({0: 0.4088, 1: 0.4188}, {0: 0.4000, 1: 0.4100}, "ca", "AP_M")
    assert d.verdict == "no verdict (2 seeds)"
    assert d.n == 2 and d.mean == pytest.approx(0.0088) and d.ci_low > 0  # the interval alone excludes 0
    assert d.sentence == (
        "ca vs baseline on AP_M: differences +0.0088, +0.0088 (mean +0.0088); no higher/lower verdict from "
        "2 seeds, whose spread rests on a single degree of freedom (use 3 or more seeds)."
    )


def test_three_seeds_give_a_verdict():
    d = paired_difference({0: 0.41, 1: 0.42, 2: 0.43}, {0: 0.40, 1: 0.41, 2: 0.415}, "ca", "AP")
    assert d.verdict == "higher"


def test_dominant_noise():
    assert dominant_noise(0.004, 4, 0.001) == {"seed_se": 0.002, "val_se": 0.001, "dominant": "seed"}
    assert dominant_noise(0.002, 4, 0.003)["dominant"] == "val set"
    assert dominant_noise(None, 1, 0.003) == {"seed_se": None, "val_se": 0.003, "dominant": "unknown"}
    boot = {"mean": 0.01, "ci_low": 0.002, "ci_high": 0.018, "n_boot": 500, "exceeds": True}
    assert noise_sentence("ca", "AP", boot, dominant_noise(0.02, 2, 0.004)) == (
        "ca vs baseline on AP: +0.0100, val-image bootstrap 95% interval [+0.0020, +0.0180] (500 resamples): it "
        f"exceeds val-set sampling noise; seed noise (s.e. {0.02 / math.sqrt(2):.4f}) vs val-set noise (s.e. "
        "0.0040): seed noise dominates."
    )
