"""A latency table for a new machine from a small sample (after LitePred, NSDI 2024: a
predictor built on one platform, adapted to the next from a few measured kernels).

A reference table (measured elsewhere, or with other settings) holds every kernel of a
grid. On the new machine only a few kernels per kernel type are timed
(:func:`choose_kernels`: spread over the type's range of work) and a few models whole
(:func:`choose_models`). :func:`adapt` then writes the new machine's table:

- each kernel type's time scales by the median ratio new/reference over its sampled
  kernels (with four or more, a power of the work too: a type can speed up more for
  large kernels than for small ones; with RIDGE_SAMPLES or more, a ridge regression of
  the ratio on the kernel's sizes and channels, kept within the sampled ratios); a type
  without a sampled kernel takes the median ratio of all sampled kernels of its dtype;
- the sampled kernels and models keep their measured times;
- the other models' whole times are the reference's scaled by their new sum of kernels
  and by the median whole-vs-sum change of the sampled models of their dtype, and are
  marked ``whole_estimated``: they shape the whole-vs-sum line but never the interval of a
  prediction (which needs models timed whole on this machine).
Pure Python and numpy.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from edgekit.core.lut_features import MAC_FEATURES, MOVE_FEATURES, describe, parse_key


def _type(e: dict) -> str:
    return describe(e["key"], e.get("macs")).type


def choose_kernels(data: dict, per_type: int) -> list[int]:
    """Indices of ``per_type`` kernels of every type of the table, evenly spread over the
    type's kernels sorted by work (the smallest and the largest always among them)."""
    by_type: dict[str, list[int]] = {}
    for i, e in enumerate(data["kernels"]):
        by_type.setdefault(_type(e), []).append(i)
    out = []
    for idx in by_type.values():
        idx.sort(key=lambda i: data["kernels"][i]["work"])
        if len(idx) <= per_type:
            out += idx
        elif per_type == 1:
            out.append(idx[len(idx) // 2])
        else:
            out += sorted({idx[round(j * (len(idx) - 1) / (per_type - 1))]
                           for j in range(per_type)})
    return sorted(out)


def choose_models(data: dict, per_dtype: int = 2) -> list[int]:
    """Indices of ``per_dtype`` models of each dtype timed whole in the table, spread over
    their sums of kernels (the smallest and the largest for two)."""
    by_dtype: dict[str, list[int]] = {}
    for n, m in enumerate(data["models"]):
        if m.get("whole_ms") and m.get("sum_ms"):
            by_dtype.setdefault(m.get("dtype") or "", []).append(n)
    out = []
    for idx in by_dtype.values():
        idx.sort(key=lambda n: data["models"][n]["sum_ms"])
        k = min(per_dtype, len(idx))
        out += sorted({idx[round(j * (len(idx) - 1) / max(k - 1, 1))] for j in range(k)})
    return sorted(out)


# with this many sampled kernels of a type, the ratio new/reference is a ridge regression
# on a few of the kernel's features (a type does not speed up by one factor: XNNPACK's
# int8 GEMMs against LiteRT's builtin ones gain most on wide channels), not a power of the
# work alone; its prediction kept within the sampled ratios. On the project's host,
# builtin -> XNNPACK, the same sampled times: 24 a type 33 -> 39 of 80 within 10 %, 12 a
# type 31 -> 29 (hence from 16 on)
RIDGE_SAMPLES = 16
RATIO_FEATURES = ("log MACs", "log input channels", "log output channels",
                  "log output pixels", "kernel size", "stride", "log input elements",
                  "log output elements", "broadcast (log of largest over smallest input)")


def _ratio_ridge(xs: np.ndarray, names, r: np.ndarray):
    """(columns, mean, scale, coef, intercept, lo, hi) of a ridge of the log ratios ``r``
    on the RATIO_FEATURES of the sampled kernels ``xs``, or None where none varies."""
    from edgekit.core.lut_model import ridge_loo

    cols = np.array([i for i, n in enumerate(names) if n in RATIO_FEATURES
                     and xs[:, i].std() > 1e-9], int)
    if not len(cols):
        return None
    mean, scale = xs[:, cols].mean(axis=0), xs[:, cols].std(axis=0)
    coef, b, *_ = ridge_loo((xs[:, cols] - mean) / scale, r)
    return cols, mean, scale, coef, b, float(r.min()), float(r.max())


def _ratio(law, x: np.ndarray, work: float) -> float:
    """The log ratio new/reference a type's law gives a kernel (features ``x``)."""
    if law[0] == "ridge":
        cols, mean, scale, coef, b, lo, hi = law[1]
        return min(max(float(b + ((x[cols] - mean) / scale) @ coef), lo), hi)
    _, c, d, mean = law
    return c + d * (math.log(work) - mean)


def _laws(data: dict, kernel_ms: dict[int, float]) -> tuple[dict, dict]:
    """Per type: (c, d) of log(new / reference) = c + d·(log work - mean log work of its
    sample), and that mean; per dtype: the median log ratio (for unsampled types)."""
    samples: dict[str, list[tuple[float, float, np.ndarray]]] = {}
    by_dtype: dict[str, list[float]] = {}
    for i, ms in kernel_ms.items():
        e = data["kernels"][i]
        if ms <= 0 or e["ms"] <= 0:
            continue
        r = math.log(ms / e["ms"])
        x = describe(e["key"], e.get("macs")).x
        samples.setdefault(_type(e), []).append((math.log(e["work"]), r, x))
        by_dtype.setdefault(parse_key(e["key"]).act_dtype, []).append(r)
    laws = {}
    for t, pts in samples.items():
        w = np.array([p[0] for p in pts])
        r = np.array([p[1] for p in pts])
        same = len({len(p[2]) for p in pts}) == 1     # one class of features
        ridge = None
        if same and len(pts) >= RIDGE_SAMPLES:
            xs = np.array([p[2] for p in pts])
            names = MAC_FEATURES if xs.shape[1] == len(MAC_FEATURES) else MOVE_FEATURES
            ridge = _ratio_ridge(xs, names, r)
        if ridge is not None:
            laws[t] = ("ridge", ridge)
        elif len(pts) >= 4 and w.std() > 1e-9:
            d, c = np.polyfit(w - w.mean(), r, 1)
            laws[t] = ("power", float(c), float(d), float(w.mean()))
        else:
            laws[t] = ("power", float(np.median(r)), 0.0, 0.0)
    return laws, {t: statistics.median(v) for t, v in by_dtype.items()}


def adapt(data: dict, kernel_ms: dict[int, float], whole_ms: dict[int, float]) -> dict:
    """The reference table ``data`` adapted to a machine where the kernels ``kernel_ms``
    ({index: ms}) and the models ``whole_ms`` ({index: ms}) were measured."""
    laws, by_dtype = _laws(data, kernel_ms)
    every = statistics.median(by_dtype.values()) if by_dtype else 0.0
    kernels, factors = [], {}
    for i, e in enumerate(data["kernels"]):
        t = _type(e)
        if i in kernel_ms:
            ms = kernel_ms[i]
        elif t in laws:
            ms = e["ms"] * math.exp(_ratio(laws[t], describe(e["key"], e.get("macs")).x,
                                           e["work"]))
        else:
            ms = e["ms"] * math.exp(by_dtype.get(parse_key(e["key"]).act_dtype, every))
        factors.setdefault(t, []).append(ms / e["ms"] if e["ms"] else 1.0)
        kernels.append({**e, "ms": ms})
    models = [_model(data, kernels, n, m) for n, m in enumerate(data["models"])]
    change: dict[str, list[float]] = {}
    for n, ms in whole_ms.items():
        m = models[n]
        if m.get("whole_ms") and ms > 0:
            change.setdefault(m.get("dtype") or "", []).append(ms / m["whole_ms"])
            m.update(whole_ms=ms, whole_estimated=False)
    everywhere = statistics.median(x for v in change.values() for x in v) if change else 1.0
    for n, m in enumerate(models):
        if n not in whole_ms and m.get("whole_ms"):
            g = statistics.median(change.get(m.get("dtype") or "", [everywhere]))
            m.update(whole_ms=m["whole_ms"] * g, whole_estimated=True, whole_ci95_ms=None)
    return {**data, "kernels": kernels, "models": models,
            "adapted": {"kernels_measured": len(kernel_ms), "models_measured": len(whole_ms),
                        "factors": {t: statistics.median(f) for t, f in factors.items()}}}


def _model(data: dict, kernels: list[dict], n: int, m: dict) -> dict:
    """Model ``n`` with its sum of kernels and its whole time moved to the new kernels
    (the whole by the ratio of the sums, before the sampled models correct it)."""
    counts = m.get("kernels")
    if counts is None or not m.get("sum_ms"):
        return {**m, "whole_estimated": True}
    new_sum = sum(kernels[i]["ms"] * c for i, c in counts)
    ratio = new_sum / m["sum_ms"]
    return {**m, "sum_ms": new_sum,
            "whole_ms": m["whole_ms"] * ratio if m.get("whole_ms") else None}
