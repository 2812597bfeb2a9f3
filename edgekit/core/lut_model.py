"""A latency predictor per kernel type, fitted on a latency table (after nn-Meter,
MobiSys 2021: one learned predictor per kernel type; LitePred, NSDI 2024: a new platform
adapted from a small sample).

A kernel's *type* is its op and dtypes (``CONV_2D|int8|int8``); everything else about it
(sizes, channels, kernel size, stride, fused activation, MACs, bytes moved) is a feature.
Each type gets a ridge regression of log(ms) on its features, so a kernel that was never
timed, of any size, is predicted from the kernels of its type that were; the fit is in
logarithms, so it minimises relative error, which is what "within ±10 %" asks.

- Fewer kernels of a type than its features need: a power law in the work alone
  (log ms = c + k·log work), then a fixed time per unit of work.
- A type with no measured kernel at all (hard-swish in a table of MobileNet v1/v2) is
  predicted from the pooled kernels of the same dtype and the same class (with MACs,
  without) by their work, and flagged ``borrowed``.
- A feature outside the range the type's kernels span (a 5x5 depthwise kernel when only
  3x3 ones were timed, a squeeze-excite multiply with a broadcast operand never timed) is
  flagged ``extrapolated`` with the feature, its value and the measured range.

The regularisation of each fit is chosen by exact leave-one-out (the ridge hat matrix).
Pure Python and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit.core.lut_features import MAC_FEATURES, MOVE_FEATURES, Described

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
RANGE_SLACK = 0.15      # in log units: ~16 % outside the measured range is still inside
LEVERAGE = 2.0          # a kernel past twice the largest measured leverage: a simpler fit
OFFSETS = (0.0, 0.5, 0.8, 0.95)   # tried fixed costs, as shares of a type's fastest time


@dataclass
class Fit:
    """One kernel type's regression: log ms = intercept + coef · (x - mean) / scale over
    the columns ``used``; ``lo``/``hi``: the measured range of every feature."""

    kind: str               # 'ridge' | 'power' | 'rate'
    n: int
    used: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    lo: np.ndarray
    hi: np.ndarray
    loo_rms: float          # leave-one-kernel-out error, in log units
    names: tuple[str, ...] = ()
    work_law: tuple[float, float] = (0.0, 1.0)   # 'power'/'rate': log ms = c + k·log work
    # 'ridge': (eigenvectors, eigenvalues + penalty, the largest leverage of a measured
    # kernel); a kernel whose leverage is far beyond it lies off the measured kernels'
    # shapes (v2's 16 -> 96 expansions for a table of v1's square layers), where a rich
    # fit extrapolates wildly: it goes to ``fallback`` (fewer features) on ``fallback_cols``
    leverage: tuple | None = None
    offset: float = 0.0     # ms: the type's fixed cost per run, outside the law
    fallback_cols: np.ndarray | None = None
    make_fallback: object = None
    _fallback: Fit | None = None

    @property
    def fallback(self) -> Fit | None:
        if self._fallback is None and self.make_fallback is not None:
            self._fallback = self.make_fallback()
        return self._fallback

    def predict_log(self, x: np.ndarray) -> float:
        z = (x[self.used] - self.mean) / self.scale
        return float(self.intercept + z @ self.coef)

    def too_far(self, x: np.ndarray) -> bool:
        if self.leverage is None or self.make_fallback is None:
            return False
        V, denom, most = self.leverage
        z = (x[self.used] - self.mean) / self.scale
        return float(((z @ V) ** 2 / denom).sum()) > LEVERAGE * most

    def outside(self, x: np.ndarray) -> list[str]:
        """The features of ``x`` beyond the measured range (a log feature by more than
        RANGE_SLACK; a count or size by any amount)."""
        said = []
        for i, (v, lo, hi) in enumerate(zip(x, self.lo, self.hi, strict=True)):
            if self.names[i].startswith("~"):
                continue
            slack = RANGE_SLACK if self.names[i].startswith("log") else 1e-9
            if v < lo - slack or v > hi + slack:
                show = (lambda t: f"{math.exp(t):.3g}") if self.names[i].startswith("log") \
                    else (lambda t: f"{t:g}")
                said.append(f"{self.names[i].removeprefix('log ')} {show(v)} (measured "
                            f"{show(lo)}..{show(hi)})")
        return said


def ridge_loo(X: np.ndarray, y: np.ndarray) -> tuple:
    """Ridge on standardised columns with an unpenalised intercept, its penalty chosen by
    exact leave-one-out; (coefficients, intercept, leave-one-out rms, leverage data,
    leave-one-out predictions). Through the
    eigenvectors of the small Gram matrix (p x p), not an SVD of X: LAPACK's SVD spreads
    over threads and, on a busy machine, took 25 ms for 400 x 24."""
    n = len(y)
    ym = y.mean()
    s2, V = np.linalg.eigh(X.T @ X)
    s2 = np.maximum(s2, 0.0)
    XV = X @ V
    vy = XV.T @ (y - ym)
    XV2 = XV * XV
    best = None
    for lam in LAMBDAS:
        d = 1.0 / (s2 + lam * n)
        fitted = XV @ (d * vy)
        hat = XV2 @ d + 1 / n
        loo = (y - ym - fitted) / np.maximum(1 - hat, 1e-6)
        rms = float(np.sqrt(np.mean(loo ** 2)))
        if best is None or rms < best[0]:
            best = (rms, V @ (d * vy), (V, s2 + lam * n, float((hat - 1 / n).max())),
                    y - loo)
    return best[1], float(ym), best[0], best[2], best[3]


def fit_type(rows: list[tuple[np.ndarray, float, float]], names: tuple[str, ...],
             offset: float | None = None) -> Fit:
    """Fit one kernel type on (features, work, ms) rows (ms > 0): log(ms - offset) on the
    features, where ``offset`` is the type's fixed cost per run (a kernel of a few
    hundred MACs costs what any call costs: a law in the work alone cannot reach both it
    and a 20-M-MAC one); chosen as the share of the type's fastest time that predicts best
    by leave-one-out, unless given."""
    X = np.array([r[0] for r in rows], dtype=float)
    ms = np.array([max(r[2], 1e-6) for r in rows])
    logw = np.log([max(r[1], 1.0) for r in rows])
    lo, hi = X.min(axis=0), X.max(axis=0)
    varying = np.flatnonzero(X.std(axis=0) > 1e-9)
    n = len(rows)
    if n >= len(varying) + 4 and len(varying):
        mean, scale = X[:, varying].mean(axis=0), X[:, varying].std(axis=0)
        Z = (X[:, varying] - mean) / scale
        tries = [offset] if offset is not None else [f * ms.min() for f in OFFSETS]
        best = None
        for o in tries:
            coef, b, _, lev, loo = ridge_loo(Z, np.log(ms - o))
            rms = float(np.sqrt(np.mean((np.log(o + np.exp(loo)) - np.log(ms)) ** 2)))
            if best is None or rms < best[0]:
                best = (rms, o, coef, b, lev)
        rms, o, coef, b, lev = best
        fit = Fit("ridge", n, varying, mean, scale, coef, b, lo, hi, rms, names, leverage=lev,
                  offset=o)
        # the fallback (fitted when first needed): without the hinges, then a power law
        # in the work
        core = np.array([i for i, name in enumerate(names) if not name.startswith("~")])
        if len(core) < len(names):
            fit.fallback_cols = core
            fit.make_fallback = lambda: fit_type(
                [(r[0][core], r[1], r[2]) for r in rows], tuple(names[i] for i in core), o)
        else:
            fit.fallback_cols = np.array([], int)
            fit.make_fallback = lambda: fit_type(
                [(np.zeros(0), r[1], r[2]) for r in rows], (), o)
        return fit
    # a power law in the work, or a fixed rate
    o = offset or 0.0
    y = np.log(np.maximum(ms - o, 1e-9))
    w = logw
    if n >= 3 and w.std() > 1e-9:
        k, c = np.polyfit(w, y, 1)
        resid = y - (c + k * w)
        rms = float(np.sqrt(np.mean(resid ** 2) * n / max(n - 2, 1)))
        return _on_work(Fit("power", n, np.array([], int), np.array([]), np.array([]),
                            np.array([]), 0.0, lo, hi, rms, names, offset=o), c, k)
    c = float(np.mean(y - w))
    rms = float(np.std(y - w) * math.sqrt(n / max(n - 1, 1))) if n > 1 else float("nan")
    return _on_work(Fit("rate", n, np.array([], int), np.array([]), np.array([]),
                        np.array([]), 0.0, lo, hi, rms, names, offset=o), c, 1.0)


def _on_work(fit: Fit, c: float, k: float) -> Fit:
    fit.work_law = (float(c), float(k))
    return fit


def predict_log(fit: Fit, x: np.ndarray, work: float) -> float:
    """log ms of a kernel: the type's fixed cost plus its law."""
    if fit.kind == "ridge":
        core = fit.predict_log(x)
    else:
        c, k = fit.work_law
        core = c + k * math.log(max(work, 1.0))
    return math.log(fit.offset + math.exp(core))


def conformal_halfwidth(log_errors: list[float], coverage: float = 0.9) -> float | None:
    """Half-width (log units) of a symmetric interval that holds ``coverage`` of new
    cases, from leave-one-out errors (split-conformal: the ceil((n+1)·coverage)-th
    smallest |error|); None when too few errors for that rank to exist."""
    errs = sorted(abs(e) for e in log_errors)
    rank = math.ceil((len(errs) + 1) * coverage)
    if rank > len(errs) or not errs:
        return None
    return errs[rank - 1]


def loo_ratio(X: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least squares of 1 on the rows of ``X`` (a model's sum/whole-type columns: the
    fit minimises the relative error of the whole time), and the rms of its exact
    leave-one-out relative errors (through the hat matrix); None if singular."""
    G = X.T @ X
    if abs(np.linalg.det(G)) <= 1e-12 * max(float(np.prod(np.diag(G))), 1e-300):
        return None
    inv = np.linalg.inv(G)
    coef = inv @ X.sum(axis=0)
    hat = np.einsum("ij,jk,ik->i", X, inv, X)
    loo = (X @ coef - 1) / np.maximum(1 - hat, 1e-6)
    return coef, float(np.sqrt(np.mean(loo ** 2)))


@dataclass
class KernelPrediction:
    ms: float
    how: str                # 'ridge' | 'power' | 'rate' | 'borrowed' | 'missing'
    kernel_type: str
    note: str | None = None  # what had no measured neighbour


# ops that do the same arithmetic as another op: a fully-connected layer is a 1x1
# convolution of a 1x1 image, MUL/SUB are element-wise binary ops like ADD
RELATED = {"FULLY_CONNECTED": "CONV_2D", "MUL": "ADD", "SUB": "ADD", "ADD": "MUL",
           "SQUARED_DIFFERENCE": "SUB"}


class Predictor:
    """Every kernel type's fit, from (Described, ms) pairs of a table's kernels; a type's
    kernels are pooled per dtype and class (with MACs or without) for the types that have
    no measured kernel."""

    def __init__(self, measured: list[tuple[Described, float]]):
        by_type: dict[str, list] = {}
        pooled: dict[tuple[str, bool], list] = {}
        for d, ms in measured:
            if ms <= 0:
                continue
            row = (d.x, d.work, ms)
            same = by_type.setdefault(d.type, [])
            if not same or len(same[0][0]) == len(d.x):
                same.append(row)
            pooled.setdefault((d.act_dtype, d.macs), []).append(row)
        self.fits = {t: fit_type(rows, _names(rows)) for t, rows in by_type.items()}
        # borrowed: a power law in the work over every kernel of the dtype and class
        self.pooled = {key: fit_type([(np.zeros(0), w, ms) for _, w, ms in rows], ())
                       for key, rows in pooled.items()}

    def kernel(self, d: Described) -> KernelPrediction:
        fit = self.fits.get(d.type)
        if fit is not None and len(fit.lo) == len(d.x):
            beyond = fit.outside(d.x)
            note = ("no measured neighbour in " + ", ".join(beyond)) if beyond else None
            x, simpler = d.x, 0
            while fit.too_far(x):
                x, fit, simpler = x[fit.fallback_cols], fit.fallback, simpler + 1
            if simpler:
                note = (f"{note}; " if note else "") + ("its shape lies off the measured "
                                                        f"kernels': a simpler law ({fit.kind}"
                                                        f", {len(x)} features)")
            return KernelPrediction(math.exp(predict_log(fit, x, d.work)), fit.kind,
                                    d.type, note)
        op, _, dtypes = d.type.partition("|")
        kin = RELATED.get(op, "") + "|" + dtypes
        fit = self.fits.get(kin)
        if fit is not None and len(fit.lo) == len(d.x):
            beyond = fit.outside(d.x)
            x = d.x
            while fit.too_far(x):
                x, fit = x[fit.fallback_cols], fit.fallback
            return KernelPrediction(
                math.exp(predict_log(fit, x, d.work)), "borrowed", d.type,
                f"no measured kernel of its type: predicted as {RELATED[op]} (the same "
                "arithmetic)" + ("; no measured neighbour in " + ", ".join(beyond)
                                 if beyond else ""))
        dtype = d.act_dtype if (d.act_dtype, d.macs) in self.pooled else next(
            (t for t, c in self.pooled if c == d.macs), None)
        what = "MAC" if d.macs else "data-movement"
        if dtype is None:
            return KernelPrediction(0.0, "missing", d.type,
                                    f"no measured kernel of its type or any {what} kernel")
        pool = self.pooled[dtype, d.macs]
        return KernelPrediction(math.exp(predict_log(pool, np.zeros(0), d.work)),
                                "borrowed", d.type, f"no measured kernel of its type: "
                                f"predicted from every {what} kernel of {dtype} by its "
                                "work")


def _names(rows) -> tuple[str, ...]:
    return MAC_FEATURES if len(rows[0][0]) == len(MAC_FEATURES) else MOVE_FEATURES
