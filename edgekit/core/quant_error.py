"""The error one tensor of a quantized model carries against the same tensor of the float
model (numpy only): the figures of ``edgekit export --per-layer`` and of the model-level
figure on the logits.

For ``ref`` (float model) and ``out`` (the quantized file, dequantized), shaped (N, ..., C)
with channels last:

* sqnr_db: 10*log10(sum ref^2 / sum (ref-out)^2) over every element (inf when identical);
* channel_sqnr_db: the same per channel (last axis), each capped at 100 dB, averaged over
  the channels that carry signal: one channel whose range swamps the others cannot hide
  them (it dominates the plain SQNR, which then looks fine while the rest are noise);
* cosine: mean over samples of the cosine of the flattened tensors;
* max_abs_error: the largest absolute difference;
* clipped_share: the share of float values outside the range the quantized tensor can hold
  (step * (qmin - zero_point) .. step * (qmax - zero_point), half a step of rounding
  allowed);
* collapsed_share: the share of channels whose float values vary but whose quantized values
  all sit on one level (the channel's information is gone: its range is far below the
  step that the largest channel set);
* range_ratio: how many times the widest channel's range (max - min of the float values)
  is the median channel's: a per-tensor step serves them all, so a large ratio leaves the
  narrow channels a few levels or one;
* tie_share: the share of samples whose two largest float outputs are less than one
  output step apart: the quantized file cannot order them, its arg-max is a tie.
"""

from __future__ import annotations

import math

import numpy as np

CHANNEL_CAP_DB = 100.0


def _flat(ref, out) -> tuple[np.ndarray, np.ndarray]:
    """Both as float arrays of one shape: float32 stays float32 (sums are taken in
    float64), anything else becomes float64."""
    r = np.asarray(ref)
    r = r if r.dtype in (np.float32, np.float64) else r.astype(np.float64)
    o = np.asarray(out).astype(r.dtype, copy=False).reshape(r.shape)
    return r, o


def sqnr_from(signal: float, noise: float) -> float:
    """10*log10(signal/noise): inf when there is no noise, -inf when there is no signal."""
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal > 0 else -math.inf


def sqnr_db(ref, out) -> float:
    r, o = _flat(ref, out)
    return sqnr_from(float(np.sum(np.square(r), dtype=np.float64)),
                     float(np.sum(np.square(r - o), dtype=np.float64)))


def channel_sqnr_db(ref, out) -> float | None:
    """Mean over channels (last axis) of each channel's SQNR, capped at 100 dB; channels
    without signal are left out (None when none has any)."""
    r, o = _flat(ref, out)
    if r.ndim < 2:
        return sqnr_db(r, o)
    r2 = r.reshape(-1, r.shape[-1])
    o2 = o.reshape(-1, r.shape[-1])
    signal = np.sum(np.square(r2), axis=0, dtype=np.float64)
    noise = np.sum(np.square(r2 - o2), axis=0, dtype=np.float64)
    live = signal > 0
    if not live.any():
        return None
    with np.errstate(divide="ignore"):
        db = np.where(noise[live] > 0,
                      10 * np.log10(signal[live] / np.where(noise[live] > 0, noise[live], 1)),
                      CHANNEL_CAP_DB)
    return float(np.mean(np.minimum(db, CHANNEL_CAP_DB)))


def cosine(ref, out) -> float:
    r, o = _flat(ref, out)
    n = r.shape[0]
    r, o = r.reshape(n, -1), o.reshape(n, -1)
    denom = np.sqrt(np.sum(np.square(r), axis=1, dtype=np.float64)
                    * np.sum(np.square(o), axis=1, dtype=np.float64))
    safe = np.where(denom > 0, denom, 1.0)
    cos = np.where(denom > 0, np.sum(r * o, axis=1, dtype=np.float64) / safe,
                   np.all(r == o, axis=1).astype(np.float64))
    return float(np.mean(cos))


def max_abs_error(ref, out) -> float:
    r, o = _flat(ref, out)
    return float(np.max(np.abs(r - o))) if r.size else 0.0


def clipped_share(ref, step: float | None, zero_point: int = 0, qmin: int = -128,
                  qmax: int = 127) -> float | None:
    """Share of float values outside what the quantized tensor can hold (None: not a
    quantized tensor)."""
    if not step:
        return None
    r = np.asarray(ref)
    lo = step * (qmin - zero_point) - step / 2
    hi = step * (qmax - zero_point) + step / 2
    return float(np.mean((r < lo) | (r > hi))) if r.size else 0.0


def collapsed_share(ref, out, step: float | None) -> float | None:
    """Share of channels (last axis) whose float values vary while the quantized values are
    all one level (None without a step)."""
    if not step:
        return None
    r, o = _flat(ref, out)
    c = r.shape[-1] if r.ndim >= 2 else 1
    r2, o2 = r.reshape(-1, c), o.reshape(-1, c)
    varies = np.ptp(r2, axis=0) > 0
    if not varies.any():
        return 0.0
    one_level = np.ptp(o2, axis=0) < step / 2
    return float(np.mean(one_level[varies]))


def range_ratio(ref) -> float | None:
    """The widest channel's range over the median channel's (channels that vary only)."""
    r = np.asarray(ref)
    c = r.shape[-1] if r.ndim >= 2 else 1
    spans = np.ptp(r.reshape(-1, c), axis=0)
    spans = spans[spans > 0]
    return float(spans.max() / np.median(spans)) if spans.size else None


def tie_share(ref, step: float | None) -> float | None:
    """Share of samples whose two largest float outputs are less than one step apart."""
    if not step:
        return None
    r = np.asarray(ref, dtype=np.float64)
    r = r.reshape(r.shape[0], -1)
    if r.shape[1] < 2:
        return 0.0
    top2 = np.sort(r, axis=1)[:, -2:]
    return float(np.mean(top2[:, 1] - top2[:, 0] < step))


def finite_or_none(v: float | None, digits: int = 2):
    """A figure for JSON: rounded; +-inf as the strings 'inf'/'-inf'; None stays None."""
    if v is None:
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if math.isnan(v):
        return None
    return round(float(v), digits)


def as_float(v) -> float | None:
    """A JSON figure back as a number ('inf' -> inf)."""
    if v is None:
        return None
    if isinstance(v, str):
        return math.inf if v == "inf" else -math.inf if v == "-inf" else None
    return float(v)


def tensor_error(ref, out, step: float | None = None, zero_point: int = 0,
                 qmin: int = -128, qmax: int = 127) -> dict:
    """Every figure of one tensor, as numbers (inf where identical); the same definitions
    as the functions above, with the float64 copies and the difference made once."""
    r, o = _flat(ref, out)
    err = r - o
    return {
        "sqnr_db": sqnr_from(float(np.sum(np.square(r), dtype=np.float64)),
                             float(np.sum(np.square(err), dtype=np.float64))),
        "cosine": cosine(r, o),
        "max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
        "step": step or None,
        "clipped_share": clipped_share(r, step, zero_point, qmin, qmax),
        "collapsed_share": collapsed_share(r, o, step),
        "range_ratio": range_ratio(r),
    }


def layer_row(layer: str, op: str, e: dict, isolated_sqnr_db: float | None = None,
              isolated_cosine: float | None = None) -> dict:
    """One row of a per-layer table (Keras, TFLite and ONNX sources alike): a tensor's
    figures from :func:`tensor_error`, rounded for the table and JSON (inf as None)."""
    f = finite_or_none
    return {"layer": layer, "op": op,
            "sqnr_db": f(e["sqnr_db"]), "cosine": f(e["cosine"], 5),
            "max_abs_error": f(e["max_abs_error"], 6),
            "step": None if e["step"] is None else float(f"{e['step']:.6g}"),
            "clipped_share": f(e["clipped_share"], 4),
            "collapsed_share": f(e["collapsed_share"], 4),
            "range_ratio": f(e["range_ratio"], 1),
            "isolated_sqnr_db": f(isolated_sqnr_db),
            "isolated_cosine": f(isolated_cosine, 5)}


def worst(rows: list[dict], key: str = "isolated_sqnr_db") -> dict | None:
    """The row with the lowest ``key`` (rows without it left out)."""
    scored = [r for r in rows if as_float(r.get(key)) is not None]
    return min(scored, key=lambda r: as_float(r[key])) if scored else None


STANDS_OUT_DB = 30.0     # an isolated SQNR above this is plain int8 rounding (~6 dB/bit)


def standing_out(rows: list[dict]) -> dict | None:
    """The worst layer (isolated view) when it stands out from plain rounding (below
    STANDS_OUT_DB, or with channels collapsed or values clipped); None when none does."""
    w = worst(rows)
    if w is None or (as_float(w["isolated_sqnr_db"]) >= STANDS_OUT_DB
                     and not w.get("collapsed_share") and not w.get("clipped_share")):
        return None
    return w


def why(row: dict) -> str:
    """One clause naming the measured reason a layer's error is large: collapse, clipping
    or range (the step against the values)."""
    parts = []
    collapsed = row.get("collapsed_share")
    clipped = row.get("clipped_share")
    step = row.get("step")
    if collapsed:
        ratio = row.get("range_ratio")
        wide = (f"; its widest channel spans {ratio:.0f}x the median one's range"
                if ratio else "")
        parts.append(f"{collapsed:.0%} of its output channels collapse to one level "
                     f"(step {step:.3g}{wide})")
    if clipped:
        parts.append(f"{clipped:.1%} of its values are clipped (outside the range the "
                     "calibration saw)")
    if not parts:
        if step:
            parts.append(f"the output step {step:.3g} is coarse against its values "
                         f"(max error {row.get('max_abs_error', 0):.3g})")
        else:
            parts.append("no fixed output step (a float or run-time quantized output): the "
                         "error comes from its weights or its run-time input quantization")
    return "; ".join(parts)
