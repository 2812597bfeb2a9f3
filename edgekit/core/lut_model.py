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

from edgekit.core.counting import ELEMENT_BITS

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
RANGE_SLACK = 0.15      # in log units: ~16 % outside the measured range is still inside
LEVERAGE = 2.0          # a kernel past twice the largest measured leverage: a simpler fit
OFFSETS = (0.0, 0.5, 0.8, 0.95)   # tried fixed costs, as shares of a type's fastest time


@dataclass(frozen=True)
class Kernel:
    """A kernel as a table's key spells it (``core.lut.key_of``)."""

    op: str
    act_dtype: str
    weight_dtype: str
    kernel_hw: tuple[int, ...]
    strides: tuple[int, ...]
    activation: str
    pool: tuple[int, ...]
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]

    @property
    def type(self) -> str:
        return f"{self.op}|{self.act_dtype}|{self.weight_dtype}"


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(d) if d.isdigit() else 1   # not user text: the table's own keys
                 for d in text.split("x")) if text else ()


def parse_key(key: str) -> Kernel:
    """The kernel a table key describes (op, dtypes, kernel size, strides, activation,
    pooling window, ranks, then the input and output sizes)."""
    f = key.split("|")
    if len(f) != 10:
        raise ValueError(f"not a kernel key: {key!r}")
    op, act, weight, hw, strides, activation, pool, ranks, ins, out = f
    n_in = max(len(ranks.split(",")) - 1, 0)
    parts = ins.split(";") if n_in else []
    return Kernel(op, act, weight, _dims(hw), _dims(strides), activation, _dims(pool),
                  tuple(_dims(p) for p in parts[:n_in]), _dims(out))


def _log(x: float) -> float:
    return math.log(max(float(x), 1.0))


def _numel(s) -> int:
    return math.prod(s) if s else 1


def mac_count(k: Kernel) -> int:
    """Multiply-accumulates of a convolution, depthwise convolution or fully-connected
    kernel from its shapes (the table keeps them too; this is for keys alone)."""
    out = _numel(k.output)
    cin = k.inputs[0][-1] if k.inputs and k.inputs[0] else 1
    kh = _numel(k.kernel_hw)
    if k.op == "DEPTHWISE_CONV_2D":
        return out * kh
    if k.op in ("CONV_2D", "TRANSPOSE_CONV"):
        return out * kh * cin
    if k.op in ("FULLY_CONNECTED", "BATCH_MATMUL"):
        return out * cin
    return 0


# Where a CPU library changes kernels with the channel counts (XNNPACK's int8 GEMMs run on
# AMX tiles on Sapphire Rapids from some width on: 800 GMAC/s against 30 below), the time
# is not a power law in them: hinges max(0, log c - log knot) let each type's fit bend
# there. Hinges are not range-checked (the channel counts themselves are).
KNOTS = (8, 16, 32, 64, 128, 256, 512)
# ... and where it stops computing and starts waiting for memory: hinges in the MACs per
# byte moved (a 1x1 convolution of a 1x1 image streams its weights: 0.25 MAC a byte)
INTENSITY = (0.5, 2.0, 8.0, 32.0)
MAC_FEATURES = ("log MACs", "log input bytes", "log output bytes", "log weights",
                "log input channels", "log output channels", "log output pixels",
                "kernel size", "stride", "fused activation",
                *(f"~input channels past {k}" for k in KNOTS),
                *(f"~output channels past {k}" for k in KNOTS),
                *(f"~MACs per byte below {k}" for k in INTENSITY))
MOVE_FEATURES = ("log input elements", "log output elements", "inputs",
                 "broadcast (log of largest over smallest input)", "log pooling window")


def has_macs(k: Kernel, macs: int | None = None) -> bool:
    return bool(macs if macs is not None else mac_count(k))


def features(k: Kernel, macs: int | None = None) -> np.ndarray:
    """The regression features of a kernel: for kernels with MACs, MAC_FEATURES; for the
    others (element-wise, pooling, reshapes), MOVE_FEATURES."""
    macs = mac_count(k) if macs is None else macs
    elems = [_numel(s) for s in k.inputs] or [1]
    out = _numel(k.output)
    if macs:
        bits = ELEMENT_BITS.get(k.act_dtype, 32) / 8
        cin = k.inputs[0][-1] if k.inputs and k.inputs[0] else 1
        cout = k.output[-1] if k.output else 1
        pixels = out // max(cout, 1)
        weights = _numel(k.kernel_hw) * cout * (1 if k.op == "DEPTHWISE_CONV_2D" else cin)
        moved = (elems[0] + out) * bits + weights * ELEMENT_BITS.get(k.weight_dtype, 32) / 8
        return np.array([_log(macs), _log(elems[0] * bits), _log(out * bits), _log(weights),
                         _log(cin), _log(cout), _log(pixels),
                         float(max(k.kernel_hw or (1,))), float(max(k.strides or (1,))),
                         float(bool(k.activation)),
                         *(max(0.0, _log(cin) - math.log(t)) for t in KNOTS),
                         *(max(0.0, _log(cout) - math.log(t)) for t in KNOTS),
                         *(max(0.0, math.log(t) - math.log(macs / moved)) for t in INTENSITY)])
    return np.array([_log(sum(elems)), _log(out), float(len(k.inputs)),
                     _log(max(elems) / max(min(elems), 1)), _log(_numel(k.pool))])


def work_of(k: Kernel, macs: int | None = None) -> float:
    macs = mac_count(k) if macs is None else macs
    return float(macs) if macs else float(sum(_numel(s) for s in k.inputs) + _numel(k.output))


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


def _ridge(X: np.ndarray, y: np.ndarray) -> tuple:
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
            coef, b, _, lev, loo = _ridge(Z, np.log(ms - o))
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


@dataclass(frozen=True)
class Described:
    """A kernel with its features, computed once: type, dtype, class (with MACs or not),
    features and work."""

    type: str
    act_dtype: str
    macs: bool
    x: np.ndarray
    work: float


def describe(key: str, macs: int | None = None) -> Described:
    """A kernel's type and features. A kernel with MACs and a single output pixel (a
    fully-connected layer, a 1x1 convolution of a 1x1 image: squeeze-excite, classifier
    heads) is a type of its own, ``...|one pixel``: it streams its weights once, a regime
    of its own that one law with the image-sized kernels does not fit."""
    k = parse_key(key)
    x = features(k, macs)
    kind = k.type
    if len(x) == len(MAC_FEATURES) and x[MAC_FEATURES.index("log output pixels")] == 0:
        kind += "|one pixel"
    return Described(kind, k.act_dtype, has_macs(k, macs), x, work_of(k, macs))


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
