"""What a latency table's kernel is, read from its key (``core.lut.key_of``), and the
features each kernel type's regression (:mod:`edgekit.core.lut_model`) sees: MACs, bytes
moved, channels (with hinges where a CPU library changes kernels with the width), output
pixels, kernel size, stride, fused activation, MACs per byte; element counts, inputs,
broadcast and pooling window for kernels without MACs. A kernel's type is its op and
dtypes, and ``|one pixel`` for a kernel with MACs and a single output pixel.
Pure Python and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit.core.counting import ELEMENT_BITS


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
# ... and where a convolution's reduction depth (kernel size x input channels: the K of
# its GEMM) leaves the stems' 27: a 3-channel 3x3 stem runs at 5-20 GMAC/s, a full 3x3
# convolution of 32 channels (K 288) at 200-650 (MobileNet v4's int8 stages were
# predicted 2.2x too slow from the stems without it)
DEPTH = (128,)
MAC_FEATURES = ("log MACs", "log input bytes", "log output bytes", "log weights",
                "log input channels", "log output channels", "log output pixels",
                "kernel size", "stride", "fused activation",
                *(f"~input channels past {k}" for k in KNOTS),
                *(f"~output channels past {k}" for k in KNOTS),
                *(f"~MACs per byte below {k}" for k in INTENSITY),
                *(f"~reduction depth past {k}" for k in DEPTH))
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
        weights = weight_count(k)
        depth = macs / max(out, 1)
        moved = activation_bytes(k) + weight_bytes(k, macs)
        return np.array([_log(macs), _log(elems[0] * bits), _log(out * bits), _log(weights),
                         _log(cin), _log(cout), _log(pixels),
                         float(max(k.kernel_hw or (1,))), float(max(k.strides or (1,))),
                         float(bool(k.activation)),
                         *(max(0.0, _log(cin) - math.log(t)) for t in KNOTS),
                         *(max(0.0, _log(cout) - math.log(t)) for t in KNOTS),
                         *(max(0.0, math.log(t) - math.log(macs / moved)) for t in INTENSITY),
                         *(max(0.0, _log(depth) - math.log(t)) for t in DEPTH)])
    return np.array([_log(sum(elems)), _log(out), float(len(k.inputs)),
                     _log(max(elems) / max(min(elems), 1)), _log(_numel(k.pool))])


def work_of(k: Kernel, macs: int | None = None) -> float:
    macs = mac_count(k) if macs is None else macs
    return float(macs) if macs else float(sum(_numel(s) for s in k.inputs) + _numel(k.output))


def weight_count(k: Kernel) -> int:
    """The weights of a kernel with MACs, from its kernel size and channels."""
    cin = k.inputs[0][-1] if k.inputs and k.inputs[0] else 1
    cout = k.output[-1] if k.output else 1
    return _numel(k.kernel_hw) * cout * (1 if k.op == "DEPTHWISE_CONV_2D" else cin)


def weight_bytes(k: Kernel, macs: int | None = None) -> float:
    """The bytes of a kernel's weights (0 for a kernel without MACs)."""
    if not (mac_count(k) if macs is None else macs):
        return 0.0
    return weight_count(k) * ELEMENT_BITS.get(k.weight_dtype, 32) / 8


def activation_bytes(k: Kernel) -> float:
    """The activation bytes a kernel reads and writes: its first input and its output."""
    return ((_numel(k.inputs[0]) if k.inputs else 0) + _numel(k.output)) \
        * ELEMENT_BITS.get(k.act_dtype, 32) / 8


def cached_weights_mib(keys, limit: float) -> float:
    """MiB of weights of a model's ops (one key per op, repeats counted) whose whole
    working set (input, output and weights) is under ``limit`` bytes: timed alone, such
    an op finds its weights in the cache each run; inside the model, every other op's
    data has passed through the cache since its last run, so it reads them from further
    away (core.lut_line's cache line: fp32 MobileNet v1 α 0.25, whose layers all fit,
    runs at 1.2-1.3 the sum of its kernels; v2 α 0.35, a third of its time in a 5 MB
    classifier that streams from memory alone as in the model, at 1.0-1.05)."""
    total = 0.0
    for key in keys:
        k = parse_key(key)
        w = weight_bytes(k)
        if w and activation_bytes(k) + w < limit:
            total += w
    return total / 2 ** 20


def bytes_per_op(keys) -> float | None:
    """log of the mean activation bytes an op reads and writes (its first input and its
    output) over a model's ops, from their table keys (one key per op, repeats counted):
    the model's activation footprint per op, against the cache. A kernel timed alone
    reruns on an input already in cache; inside the whole model its input is what the op
    before wrote, still in cache when small, not when large: the whole-vs-sum ratio grows
    with it (core.lut's footprint line). None without ops."""
    total, n = 0.0, 0
    for key in keys:
        total += activation_bytes(parse_key(key))
        n += 1
    return math.log(max(total / n, 1.0)) if n else None


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
