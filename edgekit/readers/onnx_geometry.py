"""The geometry the counting needs (:class:`edgekit.core.ops.Geometry`) of one ONNX node,
from the shapes of its inputs and output, whatever produces them: convolutions (NCHW, and
the channels-last forms onnxruntime writes), matrix products (Gemm, MatMul and their
quantized and fused forms), attention (the standard op and onnxruntime's), Einsum and the
recurrent layers. Which kind an op is comes from :mod:`edgekit.core.onnx_ops`."""

from __future__ import annotations

from edgekit.core import counting as C
from edgekit.core.ops import Geometry, Kind
from edgekit.readers.onnx_values import node_attrs

# where a conv-like op holds its filter and its bias (default: 1 and 2)
FILTER_AT = {"QLinearConv": 3}
BIAS_AT = {"QLinearConv": 8}
# matrix products: where B is; Gemm-like ops (transA/transB attributes, bias at C)
B_AT = {"QLinearMatMul": 3, "QGemm": 3}
GEMM_BIAS_AT = {"Gemm": 2, "FusedGemm": 2, "QGemm": 6}


def geometry(n, kind: Kind, ins: list[str], shape: list[tuple], in_shapes, out_shape,
             attrs: dict) -> tuple[Kind, Geometry, str]:
    """The kind (a Conv with one group per channel is depthwise), the geometry and the op
    label of node ``n`` (``shape``: the shape of each of its inputs, () where none)."""
    op = n.op_type
    ms = n.domain == "com.microsoft"
    if kind is Kind.CONV:
        return _conv(n, ins, shape, out_shape, attrs)
    if kind is Kind.TRANSPOSED_CONV:
        x, w = shape[0], shape[1]
        if len(w) < 3 or len(x) < 3:
            return Kind.UNKNOWN, Geometry(), op
        groups = int(attrs.get("group", 1))
        return kind, Geometry(kernel=w[2:], cin=w[0], cout=w[1] * groups, groups=groups,
                              in_spatial=x[2:], items=x[0]), op
    if kind is Kind.RECURRENT:
        return _recurrent(n, shape, attrs)
    if op == "Einsum":
        return _einsum(n, shape, out_shape)
    if op in ("Attention", "QAttention") and ms:
        return _packed_attention(n, shape, attrs)
    if op == "MultiHeadAttention" and ms:
        return _multi_head_attention(shape)
    if op == "Attention":
        return _attention(shape, attrs)
    if op == "MatMulNBits" and ms:     # B packed: K and N are attributes
        cout = int(attrs.get("N", 0))
        return Kind.DENSE, Geometry(cin=int(attrs.get("K", 0)), cout=cout,
                                    positions=C.numel(out_shape) // cout if cout else 0,
                                    bias=len(ins) > 5 and bool(ins[5])), op
    if kind is Kind.DENSE:
        return _dense(n, ins, shape, out_shape, attrs)
    g = Geometry()
    if kind is Kind.POOL:
        g.window = tuple(attrs.get("kernel_shape", [1]))
    elif kind is Kind.GLOBAL_POOL:
        g.in_elements = C.numel(in_shapes[0]) if in_shapes else 0
    elif kind is Kind.ELEMENTWISE:
        g.n_inputs = 2 if op.startswith("QLinear") else max(len([i for i in ins if i]), 2)
    return kind, g, op


def packed_weights(attrs: dict) -> tuple[int, str]:
    """(weights, their element type) of onnxruntime's MatMulNBits: K x N of ``bits``."""
    return int(attrs.get("K", 0)) * int(attrs.get("N", 0)), f"uint{int(attrs.get('bits', 4))}"


def _conv(n, ins, shape, out_shape, attrs):
    """Conv, QLinearConv, ConvInteger, FusedConv (NCHW, filter [M, C/g, k...]);
    onnxruntime's channels-last QLinearConv (NHWC, the same filter) and NhwcConv (NHWC,
    filter [M, k..., C/g])."""
    op = n.op_type
    w = shape[FILTER_AT.get(op, 1)] if len(shape) > FILTER_AT.get(op, 1) else ()
    if len(w) < 3 or len(out_shape) < 3:
        return Kind.UNKNOWN, Geometry(), op
    groups = int(attrs.get("group", 1))
    nhwc_filter = op == "NhwcConv"
    last = nhwc_filter or bool(attrs.get("channels_last", 0))
    kernel = w[1:-1] if nhwc_filter else w[2:]
    cin = (w[-1] if nhwc_filter else w[1]) * groups
    spatial = out_shape[1:-1] if last else out_shape[2:]
    at = BIAS_AT.get(op, 2)
    bias = len(ins) > at and bool(ins[at])
    if groups > 1 and groups == cin:
        label = "DepthwiseConv" if op == "Conv" and not n.domain else f"{op}(depthwise)"
        return Kind.DEPTHWISE, Geometry(kernel=kernel, cin=cin, multiplier=w[0] // cin,
                                        out_spatial=spatial, bias=bias,
                                        items=out_shape[0]), label
    return Kind.CONV, Geometry(kernel=kernel, cin=cin, cout=w[0], groups=groups,
                               out_spatial=spatial, bias=bias, items=out_shape[0]), op


def _dense(n, ins, shape, out_shape, attrs):
    """Gemm-like (Gemm, QGemm, FusedGemm: transA), MatMul-like (MatMul, QLinearMatMul,
    MatMulInteger, FusedMatMul: transA, DynamicQuantizeMatMul, MatMulIntegerToFloat):
    the reduction length x the output elements."""
    op = n.op_type
    a = shape[0] if shape else ()
    trans_a = int(attrs.get("transA", 0))
    if op in GEMM_BIAS_AT:
        k_dim = (a[0] if trans_a else a[-1]) if a else 0
    else:
        k_dim = (a[-2] if trans_a and len(a) >= 2 else a[-1]) if a else 0
    at = B_AT.get(op, 1)
    b = shape[at] if len(shape) > at else ()
    cout = out_shape[-1] if len(b) >= 2 and out_shape else 1
    positions = C.numel(out_shape) // cout if cout else 0
    bias_at = GEMM_BIAS_AT.get(op)
    bias = bias_at is not None and len(ins) > bias_at and bool(ins[bias_at])
    return Kind.DENSE, Geometry(cin=k_dim, cout=cout, positions=positions, bias=bias), op


def _packed_attention(n, shape, attrs):
    """onnxruntime's Attention / QAttention: the packed Q, K, V projection (input
    [batch, seq, hidden] x weights [hidden, q+k+v hidden]) and the attention itself,
    Q x K^T and the weights x V over every head: batch x seq x kv_seq x (q + v hidden),
    kv_seq including a given past ([2, batch, heads, past, head size])."""
    x, w = (shape + [(), ()])[:2]
    if len(x) != 3 or len(w) != 2:
        return Kind.UNKNOWN, Geometry(), n.op_type
    batch, seq, hidden = x
    sizes = attrs.get("qkv_hidden_sizes") or [w[1] // 3] * 3
    q_hidden, v_hidden = int(sizes[0]), int(sizes[2])
    past_at = 8 if n.op_type == "QAttention" else 4
    past = shape[past_at] if len(shape) > past_at else ()
    kv_seq = seq + (past[3] if len(past) == 5 else 0)
    total = batch * seq * hidden * w[1] + batch * seq * kv_seq * (q_hidden + v_hidden)
    return Kind.DENSE, Geometry(cin=total, cout=1, positions=1), n.op_type


def _multi_head_attention(shape):
    """onnxruntime's MultiHeadAttention with separate 3-D query, key and value (the
    projections are MatMuls of their own): Q x K^T and the weights x V over every head,
    batch x q_seq x kv_seq x (q hidden + v hidden). Packed or cached forms: not counted."""
    q, k, v = (shape + [(), (), ()])[:3]
    if not (len(q) == len(k) == len(v) == 3):
        return Kind.UNKNOWN, Geometry(), "MultiHeadAttention"
    return Kind.DENSE, Geometry(cin=q[2] + v[2], cout=k[1], positions=q[0] * q[1]), \
        "MultiHeadAttention"


def _recurrent(n, shape, attrs):
    """LSTM/GRU/RNN: X is [steps, batch, inputs] (layout 0) or [batch, steps, inputs];
    R is [directions, gates*hidden, hidden] (onnxruntime's DynamicQuantizeLSTM stores it
    transposed: [directions, hidden, gates*hidden])."""
    from edgekit.core.onnx_ops import GATES

    x, r = shape[0], shape[2] if len(shape) > 2 else ()
    if len(x) != 3 or len(r) != 3:
        return Kind.UNKNOWN, Geometry(), n.op_type
    steps, batch = (x[1], x[0]) if int(attrs.get("layout", 0)) else (x[0], x[1])
    hidden = r[1] if n.op_type == "DynamicQuantizeLSTM" else r[2]
    return Kind.RECURRENT, Geometry(gates=GATES[n.op_type], hidden=hidden, cin=x[2],
                                    steps=steps * batch, directions=r[0]), n.op_type


def _attention(shape, attrs):
    """Attention (opset 23): Q x K^T and the weights x V for every query head, i.e.
    batch x q_heads x q_seq x kv_seq x (head_size + v_head_size); kv_seq includes a given
    past. Inputs are 4-D [batch, heads, seq, size] or 3-D [batch, seq, heads*size]."""
    q, k, v = (shape + [(), (), ()])[:3]
    past = shape[4] if len(shape) > 4 else ()
    if len(q) == len(k) == len(v) == 4:
        batch, heads, q_seq, size = q
        kv_seq, v_size = k[2], v[3]
    elif len(q) == len(k) == len(v) == 3 and attrs.get("q_num_heads") \
            and attrs.get("kv_num_heads"):
        heads, kv_heads = int(attrs["q_num_heads"]), int(attrs["kv_num_heads"])
        batch, q_seq, size = q[0], q[1], q[2] // heads
        kv_seq, v_size = k[1], v[2] // kv_heads
    else:
        return Kind.UNKNOWN, Geometry(), "Attention"
    kv_seq += past[2] if len(past) == 4 else 0
    return Kind.DENSE, Geometry(cin=size + v_size, cout=kv_seq,
                                positions=batch * heads * q_seq), "Attention"


def _einsum(n, shape, out_shape):
    """Einsum: the naive product of every index size (one multiply-add per combination)."""
    eq = str(node_attrs(n, strings=True).get("equation", "")).replace(" ", "")
    lhs = eq.split("->")[0].split(",")
    if len(lhs) == 1:       # one operand: a transpose, diagonal or sum, no multiply-adds
        return Kind.SHAPE, Geometry(), "Einsum"
    if "." in eq or len(lhs) != len(shape):
        return Kind.UNKNOWN, Geometry(), "Einsum"
    sizes: dict[str, int] = {}
    for letters, dims in zip(lhs, shape, strict=False):
        for letter, d in zip(letters, dims, strict=False):
            sizes[letter] = max(sizes.get(letter, 1), d)
    out_letters = eq.split("->")[1] if "->" in eq else ""
    contracted = C.numel(v for k, v in sizes.items() if k not in out_letters)
    return Kind.DENSE, Geometry(cin=contracted, cout=1, positions=C.numel(out_shape)), "Einsum"
