"""How a latency table turns the sum of a model's isolated kernel times into its whole
time: the whole-vs-sum line, fitted per dtype on the table's models that were timed whole
(what isolation cannot see: a run's fixed cost counted once per op in the sum, caches,
fusion). Three lines, each fitted by least squares on the relative error:

- plain: whole ≈ a·sum + b;
- footprint: whole ≈ sum·(a + c·g), g the log of the model's mean activation bytes per
  op (core.lut_features.bytes_per_op);
- cache: whole ≈ sum·(a + c·g) + d·w, w the MiB of weights of the ops whose working
  set fits CACHE_SHARE of the machine's L2 (core.lut_features.cached_weights_mib): alone
  they find their weights in cache each run, in the model they read them from further
  away. On the Xeon this was written on (2 MiB of L2 a core), with four tables of 40
  fp32 models each, it took leave-one-model-out from 133 to 149 of 160 within ±10 %
  (the footprint line alone) and leave-one-family-out from 119 to 145; the share of L2
  was the best of 1/8 to 4x L2 (1/2: 119, 1: 128, 2: 109 leave-one-family-out).

``choose`` keeps the footprint line unless the plain one's leave-one-model-out error is
under PLAIN_MARGIN of its own, and the cache line where it is known (the table says the
machine's L2) and its error is under the other two's (tables without the models' kernel
counts: plain). Pure Python and numpy.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from edgekit.core.lut_model import loo_ratio

CACHE_SHARE = 0.75   # an op's working set under this share of L2 stays in it alone
PLAIN_MARGIN = 0.5   # the plain whole-vs-sum line replaces the footprint line only where
#                      its leave-one-out error is under this share of the footprint's


@dataclass(frozen=True)
class Point:
    """A model timed whole: its kernels' sum and whole time (ms), its footprint g and its
    weights in cache alone (MiB; each None where not known)."""

    sum_ms: float
    whole_ms: float
    footprint: float | None = None
    cached_mib: float | None = None


def plain(points: list[Point]) -> tuple[float, float]:
    """(a, b) of whole ≈ a·sum + b: least squares on the relative error, the median
    ratio with under 3 models, (1, 0) with none."""
    if len(points) >= 3:
        # minimise sum(((a s + b) / w - 1)^2): linear in (a, b) with rows (s/w, 1/w)
        xs = [(p.sum_ms / p.whole_ms, 1 / p.whole_ms) for p in points]
        sxx = sum(x * x for x, _ in xs)
        sxy = sum(x * y for x, y in xs)
        syy = sum(y * y for _, y in xs)
        sx, sy = sum(x for x, _ in xs), sum(y for _, y in xs)
        det = sxx * syy - sxy * sxy
        if det > 1e-12:
            return (sx * syy - sy * sxy) / det, (sy * sxx - sx * sxy) / det
    if points:
        return statistics.median(p.whole_ms / p.sum_ms for p in points), 0.0
    return 1.0, 0.0


def choose(points: list[Point]) -> dict:
    """The line for these models: {'line': 'plain', 'a', 'b'}, {'line': 'footprint',
    'a', 'c'} or {'line': 'cache', 'a', 'c', 'd'}, with 'loo' (each line's rms relative
    leave-one-model-out error, where computed)."""
    a, b = plain(points)
    out: dict = {"line": "plain", "a": a, "b": b}
    if len(points) < 4 or any(p.footprint is None for p in points):
        return out
    r = np.array([p.sum_ms / p.whole_ms for p in points])
    w = np.array([p.whole_ms for p in points])
    flat = loo_ratio(np.column_stack([r, 1 / w]))
    foot = loo_ratio(np.column_stack([r, r * np.array([p.footprint for p in points])]))
    cache = None
    if len(points) >= 6 and all(p.cached_mib is not None for p in points):
        cache = loo_ratio(np.column_stack([
            r, r * np.array([p.footprint for p in points]),
            np.array([p.cached_mib for p in points]) / w]))
    if foot is not None and (flat is None or flat[1] >= PLAIN_MARGIN * foot[1]):
        out = {"line": "footprint", "a": float(foot[0][0]), "c": float(foot[0][1])}
    if cache is not None and cache[1] < min(x[1] for x in (flat, foot) if x is not None):
        out = {"line": "cache", "a": float(cache[0][0]), "c": float(cache[0][1]),
               "d": float(cache[0][2])}
    out["loo"] = {"plain": flat and flat[1], "footprint": foot and foot[1],
                  "cache": cache and cache[1]}
    return out


def apply(line: dict, total: float, footprint: float | None,
          cached_mib: float | None = None) -> tuple[float, dict] | None:
    """(whole ms, what was used) of a model whose kernels sum to ``total`` ms, by
    ``line``; None where the line cannot be used for it (no footprint or cached
    weights, a model without time, or a scale under 0.5: outside what the fit saw)."""
    if total <= 0:
        return None
    if line["line"] == "cache" and footprint is not None and cached_mib is not None:
        ms = total * (line["a"] + line["c"] * footprint) + line["d"] * cached_mib
        said = {"line": "cache", "log_bytes_per_op": footprint,
                "cached_weights_mib": cached_mib}
    elif line["line"] == "footprint" and footprint is not None:
        ms = total * (line["a"] + line["c"] * footprint)
        said = {"line": "footprint", "log_bytes_per_op": footprint}
    else:
        return None
    return (ms, said) if ms > 0.5 * total else None
