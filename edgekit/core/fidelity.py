"""How closely an exported model answers like the original (numpy only).

For outputs ``ref`` (the Keras model) and ``out`` (the artefact), shaped (N, ...):

* max_abs_err: the largest absolute difference over all elements;
* cosine: the mean over samples of the cosine similarity of the flattened outputs;
* top1_agreement: the fraction of samples whose arg-max class is the same (N-way outputs);
* sqnr_db: signal-to-quantization-noise ratio, 10*log10(sum ref^2 / sum (ref-out)^2)
  (infinite when identical; ~6 dB per bit of precision kept);
* accuracy: with labels, the fraction of samples whose arg-max is the label.
"""

from __future__ import annotations

import math

import numpy as np

from edgekit.core import quant_error as qe


def compare(ref: np.ndarray, out: np.ndarray, labels: np.ndarray | None = None) -> dict:
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
    n = ref.shape[0]
    r, o = ref.reshape(n, -1), out.reshape(n, -1)
    err = r - o
    result = {
        "samples": int(n),
        "max_abs_err": float(np.max(np.abs(err))) if err.size else 0.0,
        "mean_abs_err": float(np.mean(np.abs(err))) if err.size else 0.0,
        "cosine": qe.cosine(r, o),
        "top1_agreement": float(np.mean(np.argmax(r, axis=1) == np.argmax(o, axis=1))),
        "sqnr_db": qe.sqnr_from(float(np.sum(r**2)), float(np.sum(err**2))),
    }
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        result["accuracy"] = float(np.mean(np.argmax(o, axis=1) == labels))
        result["reference_accuracy"] = float(np.mean(np.argmax(r, axis=1) == labels))
    return result


def json_safe(metrics: dict) -> dict:
    """inf is not JSON: write it as the string 'inf'."""
    return {k: (("inf" if v > 0 else "-inf") if isinstance(v, float) and math.isinf(v) else v)
            for k, v in metrics.items()}
