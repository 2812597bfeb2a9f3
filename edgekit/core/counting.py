"""The per-layer arithmetic, in one place, for every reader (Keras, ONNX, TFLite).

Conventions (also printed under every analysis table, see ``CONVENTIONS``):

* MACs are multiply-accumulates per batch item. Only convolutions, depthwise convolutions
  and dense (matrix) layers have MACs.
* Bias adds, batch norm, activations, pooling and element-wise ops are "other ops": one
  op per arithmetic operation on an output element, so nothing is hidden.
* FLOPs = 2 x MACs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import prod

CONVENTIONS: tuple[str, ...] = (
    "MACs: multiply-accumulates per batch item x batch; conv = Kh*Kw*(Cin/groups)*Cout*Hout*Wout, "
    "depthwise = Kh*Kw*Cin*multiplier*Hout*Wout, dense = in*out. FLOPs = 2*MACs.",
    "Other ops (not MACs): bias add 1/element, batch norm 2/element (scale+shift), "
    "activation 1/element, pooling k*k/output element, element-wise n-1/element.",
    "Params: as Keras counts them; non-trainable = batch-norm moving statistics.",
    "Activation memory: output tensor bytes at the activation dtype x batch. Peak = largest sum of "
    "live tensors over the execution order (a tensor lives from its producer to its last consumer; "
    "the model input included; reshape/flatten/dropout alias their input).",
    "Weights: params x 4 / 2 / 1 bytes for fp32 / fp16 / int8 (quantization scales not included).",
)

DTYPE_BYTES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
}


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype name ('float32', 'int8', ...)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        from edgekit.core.errors import UsageError

        raise UsageError(
            f"unknown dtype {dtype!r}; expected one of: {', '.join(DTYPE_BYTES)}"
        ) from None


def numel(shape: Iterable[int]) -> int:
    """Number of elements of a shape (per batch item: the shape has no batch dimension)."""
    return prod(int(d) for d in shape)


def conv_macs(kernel_spatial: Sequence[int], cin: int, cout: int,
              out_spatial: Sequence[int], groups: int = 1) -> int:
    """Standard (grouped) convolution: prod(K) * (Cin/groups) * Cout * prod(out spatial)."""
    if cin % groups or cout % groups:
        raise ValueError(f"channels ({cin}, {cout}) not divisible by groups={groups}")
    return numel(kernel_spatial) * (cin // groups) * cout * numel(out_spatial)


def depthwise_macs(kernel_spatial: Sequence[int], cin: int, multiplier: int,
                   out_spatial: Sequence[int]) -> int:
    """Depthwise convolution: prod(K) * Cin * multiplier * prod(out spatial)."""
    return numel(kernel_spatial) * cin * multiplier * numel(out_spatial)


def transposed_conv_macs(kernel_spatial: Sequence[int], cin: int, cout: int,
                         in_spatial: Sequence[int], groups: int = 1) -> int:
    """Transposed convolution: every input pixel is scattered through the whole kernel."""
    return numel(kernel_spatial) * cin * (cout // groups) * numel(in_spatial)


def dense_macs(n_in: int, n_out: int, positions: int = 1) -> int:
    """Dense / matrix multiply: in * out, times the number of positions it is applied at."""
    return n_in * n_out * positions


# ---- other ops -------------------------------------------------------------------------

def bias_ops(out_elements: int) -> int:
    return out_elements


def batchnorm_ops(out_elements: int) -> int:
    return 2 * out_elements


def activation_ops(out_elements: int) -> int:
    return out_elements


def pool_ops(window: Sequence[int], out_elements: int) -> int:
    return numel(window) * out_elements


def elementwise_ops(n_inputs: int, out_elements: int) -> int:
    return max(n_inputs - 1, 0) * out_elements
