"""The shared op kinds, and the counting of one layer from its kind and geometry.

Readers only translate: each maps its format's op names to a :class:`Kind` (a table, no
arithmetic) and reads the :class:`Geometry` a MAC-carrying kind needs from its weights and
shapes (kernel, channels, groups, ...). The MACs and "other ops" of every layer of every
format are then computed here, once, with the formulas of :mod:`edgekit.core.counting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edgekit.core import counting as C


class Kind(StrEnum):
    INPUT = "input"
    CONV = "conv"                        # standard or grouped convolution
    DEPTHWISE = "depthwise"              # depthwise convolution (channel multiplier)
    SEPARABLE = "separable"              # depthwise + 1x1 pointwise in one layer (Keras)
    TRANSPOSED_CONV = "transposed_conv"
    DENSE = "dense"                      # dense, fully connected, (batch) matrix multiply
    RECURRENT = "recurrent"              # LSTM, GRU, simple RNN: gate matrix products
    NORM = "norm"                        # batch/layer/instance norm, rescaling
    ACTIVATION = "activation"            # and other element-wise unary functions
    POOL = "pool"                        # windowed pooling
    GLOBAL_POOL = "global_pool"          # global pooling and reductions
    ELEMENTWISE = "elementwise"          # n-ary element-wise arithmetic (add, mul, ...)
    VIEW = "view"                        # reshape, flatten, dropout: a view of the input
    SHAPE = "shape"                      # data movement without arithmetic (pad, concat...)
    UNKNOWN = "unknown"                  # listed, not counted


# TFLite ops that only decode a stored constant (fp16, int8, sparse) into the weight tensor
# another op consumes: part of that op, not a layer of their own
TFLITE_WEIGHT_DECODERS = frozenset({"DEQUANTIZE", "DENSIFY"})

def each(kind: Kind, names: str) -> dict[str, Kind]:
    """{op name: kind} for a space-separated list of op names (the op tables' rows)."""
    return dict.fromkeys(names.split(), kind)


MAC_KINDS = frozenset({Kind.CONV, Kind.DEPTHWISE, Kind.SEPARABLE, Kind.TRANSPOSED_CONV,
                       Kind.DENSE, Kind.RECURRENT})


@dataclass
class Geometry:
    """What the counting of one layer needs; shapes are per item, without the items axis
    (``items``: how many independent items one call applies the layer to, e.g. the batch
    of an ONNX convolution whose shapes hold it)."""

    kernel: tuple[int, ...] = ()       # spatial kernel size (conv kinds)
    cin: int = 0                       # input channels (conv kinds), input features (dense)
    cout: int = 0                      # output channels / features
    groups: int = 1
    multiplier: int = 1                # depthwise channel multiplier
    out_spatial: tuple[int, ...] = ()  # output spatial size (conv kinds)
    in_spatial: tuple[int, ...] = ()   # input spatial size (transposed conv)
    positions: int = 1                 # positions a dense layer is applied at
    window: tuple[int, ...] = ()       # pooling window
    n_inputs: int = 2                  # operands of an element-wise op
    in_elements: int = 0               # input elements of a global pool / reduction
    bias: bool = False                 # a bias add fused into a MAC-carrying layer
    activation: bool = False           # an activation fused into the layer
    items: int = 1                     # independent items per call
    gates: int = 1                     # recurrent: 4 LSTM, 3 GRU, 1 RNN
    hidden: int = 0                    # recurrent hidden size
    steps: int = 1                     # recurrent time steps (x batch)
    directions: int = 1                # recurrent directions


def _macs(kind: Kind, g: Geometry) -> int:
    return _item_macs(kind, g) * g.items


def _item_macs(kind: Kind, g: Geometry) -> int:
    if kind is Kind.RECURRENT:
        return C.recurrent_macs(g.gates, g.hidden, g.cin, g.steps, g.directions)
    if kind is Kind.CONV:
        return C.conv_macs(g.kernel, g.cin, g.cout, g.out_spatial, g.groups)
    if kind is Kind.DEPTHWISE:
        return C.depthwise_macs(g.kernel, g.cin, g.multiplier, g.out_spatial)
    if kind is Kind.SEPARABLE:
        return (C.depthwise_macs(g.kernel, g.cin, g.multiplier, g.out_spatial)
                + C.conv_macs((1,) * len(g.kernel), g.cin * g.multiplier, g.cout,
                              g.out_spatial))
    if kind is Kind.TRANSPOSED_CONV:
        return C.transposed_conv_macs(g.kernel, g.cin, g.cout, g.in_spatial, g.groups)
    if kind is Kind.DENSE:
        return C.dense_macs(g.cin, g.cout, g.positions)
    return 0


def _other(kind: Kind, g: Geometry, out_elements: int) -> int:
    if kind is Kind.NORM:
        return C.batchnorm_ops(out_elements)
    if kind is Kind.ACTIVATION:
        return C.activation_ops(out_elements)
    if kind is Kind.POOL:
        return C.pool_ops(g.window, out_elements)
    if kind is Kind.GLOBAL_POOL:
        return g.in_elements          # one op per input element
    if kind is Kind.ELEMENTWISE:
        return C.elementwise_ops(g.n_inputs, out_elements)
    return 0


def count(kind: Kind, g: Geometry, out_elements: int) -> tuple[int, int]:
    """(MACs, other ops) of one layer per batch item."""
    macs = _macs(kind, g)
    other = _other(kind, g, out_elements)
    if macs and g.bias:
        other += C.bias_ops(out_elements)
    if g.activation:
        other += C.activation_ops(out_elements)
    return macs, other
