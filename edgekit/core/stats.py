"""Latency statistics (numpy only)."""

from __future__ import annotations

import numpy as np


def summarize(samples_ms) -> dict:
    """min, p50, p90, p99, max, mean, stdev (sample, n-1) and coefficient of variation.

    Percentiles use linear interpolation between order statistics (numpy's default), so
    p50 of [1, 2, 3, 4] is 2.5.
    """
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no samples")
    mean = float(a.mean())
    stdev = float(a.std(ddof=1)) if a.size > 1 else 0.0
    p50, p90, p99 = (float(v) for v in np.percentile(a, [50, 90, 99]))
    return {"min": float(a.min()), "p50": p50, "p90": p90, "p99": p99, "max": float(a.max()),
            "mean": mean, "stdev": stdev, "cv": stdev / mean if mean else 0.0,
            "n": int(a.size)}


def regression(old_p50: float, new_p50: float, old_stdev: float, new_stdev: float,
               min_change: float = 0.05) -> str:
    """'slower' / 'faster' / 'same': a change counts when it is beyond both a relative
    threshold and the noise (2 x the larger of the two standard deviations)."""
    delta = new_p50 - old_p50
    noise = 2 * max(old_stdev, new_stdev)
    if abs(delta) <= noise or abs(delta) <= min_change * old_p50:
        return "same"
    return "slower" if delta > 0 else "faster"


def median_ci(samples_ms, confidence: float = 0.95, resamples: int = 2000,
              seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median: ``resamples`` resamples of
    the samples (with replacement, seeded), their medians, and the two tails. Resamples
    are drawn in blocks so that memory stays at a few MB for long runs."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no samples")
    if a.size == 1:
        return float(a[0]), float(a[0])
    rng = np.random.default_rng(seed)
    block = max(1, 500_000 // a.size)
    medians = np.concatenate([
        np.median(a[rng.integers(0, a.size, (min(block, resamples - i), a.size))], axis=1)
        for i in range(0, resamples, block)])
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)
