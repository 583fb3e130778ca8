"""Which noise a paired difference has to beat: seeds (training) or the val sample (evaluation)."""

from __future__ import annotations

import math


def dominant_noise(seed_std: float | None, n_seeds: int, val_se: float) -> dict:
    """Compare the two standard errors of a mean paired difference and name the larger.

    Args:
        seed_std: standard deviation of the per-seed differences (None with one seed).
        n_seeds: how many seeds the mean is over.
        val_se: the bootstrap standard error of the same mean over resampled val images.

    Returns:
        ``{"seed_se", "val_se", "dominant"}``: ``dominant`` is "seed", "val set" or "unknown" (one seed).
    """
    if seed_std is None or n_seeds < 2:
        return {"seed_se": None, "val_se": val_se, "dominant": "unknown"}
    seed_se = seed_std / math.sqrt(n_seeds)
    return {"seed_se": seed_se, "val_se": val_se, "dominant": "seed" if seed_se >= val_se else "val set"}


def noise_sentence(model: str, metric: str, boot: dict, noise: dict) -> str:
    """One line: does the difference exceed val-set sampling noise, and which noise is larger."""
    exceeds = "exceeds" if boot["exceeds"] else "does not exceed"
    line = (f"{model} vs baseline on {metric}: {boot['mean']:+.4f}, val-image bootstrap 95% interval "
            f"[{boot['ci_low']:+.4f}, {boot['ci_high']:+.4f}] ({boot['n_boot']} resamples): it {exceeds} "
            "val-set sampling noise")  # fmt: skip
    if noise["dominant"] == "unknown":
        return line + "; seed noise is unknown from one seed."
    return line + (f"; seed noise (s.e. {noise['seed_se']:.4f}) vs val-set noise (s.e. {noise['val_se']:.4f}): "
                   f"{noise['dominant']} noise dominates.")  # fmt: skip
