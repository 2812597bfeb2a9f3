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
    "MACs: multiply-accumulates for one call; conv = Kh*Kw*(Cin/groups)*Cout*Hout*Wout, "
    "depthwise = Kh*Kw*Cin*multiplier*Hout*Wout, dense = in*out, per item x batch; "
    "LSTM/GRU/RNN = steps*directions*gates*hidden*(inputs+hidden). FLOPs = 2*MACs.",
    "Other ops (not MACs): bias add 1/element, batch norm 2/element (scale+shift), "
    "activation 1/element, pooling k*k/output element, element-wise n-1/element.",
    "Params: as Keras counts them; non-trainable = batch-norm moving statistics.",
    "Activation memory: output tensor bytes at the activation dtype (sub-byte types rounded up "
    "per tensor) x batch. Peak = largest sum of "
    "live tensors over the execution order (a tensor lives from its producer to its last consumer; "
    "the model input included; reshape/flatten/dropout alias their input).",
    "Weights: params x 4 / 2 / 1 bytes for fp32 / fp16 / int8 (quantization scales not included).",
)

# bits per element of every element type a reader can meet, by numpy/ml_dtypes name (ONNX
# names its types the same way through onnx.helper.tensor_dtype_to_np_dtype); a tensor of a
# sub-byte type takes ceil(elements * bits / 8) bytes
ELEMENT_BITS: dict[str, int] = {
    "float64": 64, "float32": 32, "float16": 16, "bfloat16": 16,
    "int64": 64, "uint64": 64, "int32": 32, "uint32": 32, "int16": 16, "uint16": 16,
    "int8": 8, "uint8": 8, "bool": 8, "complex64": 64, "complex128": 128,
    "float8_e4m3fn": 8, "float8_e4m3fnuz": 8, "float8_e5m2": 8, "float8_e5m2fnuz": 8,
    "float8_e8m0fnu": 8, "float6_e2m3fn": 6, "float6_e3m2fn": 6, "float4_e2m1fn": 4,
    "int4": 4, "uint4": 4, "int2": 2, "uint2": 2,
}

# the activation dtypes a user may choose (--dtype): whole bytes per element
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
    """Bytes per element of a dtype a user can choose ('float32', 'int8', ...)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        from edgekit.core.errors import UsageError

        raise UsageError(
            f"unknown dtype {dtype!r}; expected one of: {', '.join(DTYPE_BYTES)}"
        ) from None


def element_bits(dtype: str) -> int | None:
    """Bits per element of any element type; None for one without a fixed size (strings)."""
    return ELEMENT_BITS.get(dtype)


def tensor_bytes(elements: int, dtype: str) -> int:
    """Bytes of a tensor: sub-byte types rounded up per tensor; 0 for a type without a
    fixed element size (a string tensor's bytes are not known from its shape)."""
    bits = ELEMENT_BITS.get(dtype)
    return 0 if bits is None else -(-elements * bits // 8)


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


def recurrent_macs(gates: int, hidden: int, inputs: int, steps: int, directions: int = 1
                   ) -> int:
    """LSTM (4 gates), GRU (3), simple RNN (1): the gate matrix products of every step and
    direction, gates*hidden x (inputs + hidden) per step; peepholes, biases and the gate
    activations are element-wise (other ops)."""
    return directions * steps * gates * hidden * (inputs + hidden)


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
