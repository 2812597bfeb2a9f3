"""onnxruntime's own operators (com.microsoft) as a class (issue 30, item 4): a small CNN, a
small ViT, onnxruntime's packed Attention and a bidirectional LSTM, built here with
onnx.helper, go through onnxruntime's quantizer in every mode
(static QOperator and QDQ, per tensor and per channel, 16-bit QDQ; dynamic, per tensor and
per channel),
its graph optimizer at every level (basic, extended, layout, all: the files it saves with
``optimized_model_filepath``), and its transformer fusions; every file it writes must count
the MACs and params of the float file it came from (params as stored weights: scales and
zero points apart), or name what it does not count. The test also checks that the files
really hold the com.microsoft ops it is about."""

from __future__ import annotations

import collections
import contextlib
import logging
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

from edgekit.core.onnx_ops import NCHWC_DOMAIN, kind_of  # noqa: E402
from edgekit.core.records import Report  # noqa: E402
from edgekit.readers.onnx_reader import read_onnx  # noqa: E402

LEVELS = ("BASIC", "EXTENDED", "LAYOUT", "ALL")
# what the generated files must hold (the class this test is about)
EXPECTED_MS_OPS = {
    "QGemm", "QLinearConv", "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearSigmoid",
    "QLinearLeakyRelu", "QLinearSoftmax", "QLinearAveragePool", "QLinearGlobalAveragePool",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "FusedConv", "FusedGemm", "FusedMatMul",
    "Gelu", "QuickGelu", "BiasGelu", "FastGelu", "SkipLayerNormalization", "Attention",
    "QAttention", "DynamicQuantizeLSTM", "QuantizeLinear", "DequantizeLinear"}


def _weights(rng, name, *shape):
    return nh.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)


def _const(name, value, dtype=np.float32):
    return nh.from_array(np.array(value, dtype), name)


def cnn():
    """Conv stem, depthwise conv with hard-swish, squeeze-excite, 1x1 projection with a
    residual, conv + x*sigmoid(1.702x) + LeakyRelu, average and max pooling, concat,
    global pooling, Gemm + Relu + Gemm, softmax."""
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="stem", kernel_shape=[3, 3],
          strides=[2, 2], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"], name="relu1"),
        n("Conv", ["r1", "wd", "bd"], ["d"], name="dw", group=16, kernel_shape=[3, 3],
          pads=[1, 1, 1, 1]),
        n("HardSigmoid", ["d"], ["hs"], name="hsig", alpha=1 / 6, beta=0.5),
        n("Mul", ["d", "hs"], ["hsw"], name="hswish"),
        n("GlobalAveragePool", ["hsw"], ["se0"], name="se_pool"),
        n("Conv", ["se0", "wse1", "bse1"], ["se1"], name="se_reduce", kernel_shape=[1, 1]),
        n("Relu", ["se1"], ["se2"], name="se_relu"),
        n("Conv", ["se2", "wse2", "bse2"], ["se3"], name="se_expand", kernel_shape=[1, 1]),
        n("Sigmoid", ["se3"], ["se4"], name="se_gate"),
        n("Mul", ["hsw", "se4"], ["se"], name="se_scale"),
        n("Conv", ["se", "wp", "bp"], ["p"], name="project", kernel_shape=[1, 1]),
        n("Add", ["p", "r1"], ["res"], name="residual"),
        n("Conv", ["res", "w3", "b3"], ["c3"], name="conv3", kernel_shape=[3, 3],
          pads=[1, 1, 1, 1]),
        n("Mul", ["c3", "k1702"], ["q0"], name="qg_scale"),
        n("Sigmoid", ["q0"], ["q1"], name="qg_sigmoid"),
        n("Mul", ["c3", "q1"], ["q2"], name="qg_mul"),
        n("LeakyRelu", ["q2"], ["l3"], name="leaky", alpha=0.1),
        n("AveragePool", ["l3"], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        n("MaxPool", ["ap"], ["mp"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Concat", ["mp", "mp"], ["cat"], name="concat", axis=1),
        n("GlobalAveragePool", ["cat"], ["g"], name="gap"),
        n("Flatten", ["g"], ["f"], name="flatten"),
        n("Gemm", ["f", "wf1", "bf1"], ["h"], name="fc1", transB=1),
        n("Relu", ["h"], ["hr"], name="fc1_relu"),
        n("Gemm", ["hr", "wf2", "bf2"], ["logits"], name="fc2", transB=1),
        n("Softmax", ["logits"], ["y"], name="softmax"),
    ]
    w = lambda name, *shape: _weights(rng, name, *shape)  # noqa: E731
    inits = [w("w1", 16, 3, 3, 3), w("b1", 16), w("wd", 16, 1, 3, 3), w("bd", 16),
             w("wse1", 4, 16, 1, 1), w("bse1", 4), w("wse2", 16, 4, 1, 1), w("bse2", 16),
             w("wp", 16, 16, 1, 1), w("bp", 16), w("w3", 24, 16, 3, 3), w("b3", 24),
             _const("k1702", 1.702), w("wf1", 32, 48), w("bf1", 32), w("wf2", 10, 32),
             w("bf2", 10)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    graph = helper.make_graph(nodes, "cnn", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), [1, 3, 32, 32]


def vit(d=32, heads=4, tokens=16):
    """Patch-embedding conv, a learned class token concatenated in front, position
    embeddings, one encoder block (layer norm, multi-head attention, layer norm, MLP with
    erf GELU), the class token's output through a linear head."""
    rng = np.random.default_rng(1)
    n = helper.make_node
    hd = d // heads
    seq = tokens + 1
    nodes = [
        n("Conv", ["x", "wpe", "bpe"], ["pe"], name="patch_embed", kernel_shape=[4, 4],
          strides=[4, 4]),
        n("Reshape", ["pe", "shp_flat"], ["pef"], name="pe_flat"),
        n("Transpose", ["pef"], ["tok"], name="pe_t", perm=[0, 2, 1]),
        n("Concat", ["cls", "tok"], ["cat"], name="cls_concat", axis=1),
        n("Add", ["cat", "pos"], ["h0"], name="pos_add"),
        n("LayerNormalization", ["h0", "ln1s", "ln1b"], ["ln1"], name="ln1", epsilon=1e-5),
    ]
    for x in "qkv":
        perm = [0, 2, 3, 1] if x == "k" else [0, 2, 1, 3]
        nodes += [n("MatMul", ["ln1", f"w{x}"], [f"{x}0"], name=x),
                  n("Add", [f"{x}0", f"b{x}"], [f"{x}1"], name=f"{x}_bias"),
                  n("Reshape", [f"{x}1", "shp_heads"], [f"{x}2"], name=f"{x}_split"),
                  n("Transpose", [f"{x}2"], [f"{x}3"], name=f"{x}_t", perm=perm)]
    nodes += [
        n("MatMul", ["q3", "k3"], ["s0"], name="qk"),
        n("Div", ["s0", "scale"], ["s1"], name="scale_div"),
        n("Softmax", ["s1"], ["p"], name="softmax", axis=-1),
        n("MatMul", ["p", "v3"], ["o0"], name="pv"),
        n("Transpose", ["o0"], ["o1"], name="o_t", perm=[0, 2, 1, 3]),
        n("Reshape", ["o1", "shp_merge"], ["o2"], name="o_merge"),
        n("MatMul", ["o2", "wo"], ["o3"], name="o"),
        n("Add", ["o3", "bo"], ["o4"], name="o_bias"),
        n("Add", ["h0", "o4"], ["h1"], name="res1"),
        n("LayerNormalization", ["h1", "ln2s", "ln2b"], ["ln2"], name="ln2", epsilon=1e-5),
        n("MatMul", ["ln2", "w1"], ["f0"], name="fc1"),
        n("Add", ["f0", "b1"], ["f1"], name="fc1_bias"),
        n("Div", ["f1", "sqrt2"], ["g0"], name="gelu_div"),
        n("Erf", ["g0"], ["g1"], name="gelu_erf"),
        n("Add", ["g1", "one"], ["g2"], name="gelu_add"),
        n("Mul", ["f1", "g2"], ["g3"], name="gelu_mul"),
        n("Mul", ["g3", "half"], ["g4"], name="gelu_half"),
        n("MatMul", ["g4", "w2"], ["f2"], name="fc2"),
        n("Add", ["f2", "b2"], ["f3"], name="fc2_bias"),
        n("Add", ["h1", "f3"], ["h2"], name="res2"),
        n("Gather", ["h2", "zero"], ["clsout"], name="cls_pick", axis=1),
        n("Gemm", ["clsout", "wh", "bh"], ["y"], name="head", transB=1),
    ]
    w = lambda name, *shape: _weights(rng, name, *shape)  # noqa: E731
    i64 = lambda name, v: _const(name, v, np.int64)  # noqa: E731
    inits = [w("wpe", d, 3, 4, 4), w("bpe", d), i64("shp_flat", [1, d, tokens]),
             w("cls", 1, 1, d), w("pos", 1, seq, d), _const("ln1s", np.ones(d)), w("ln1b", d),
             w("wq", d, d), w("bq", d), w("wk", d, d), w("bk", d), w("wv", d, d), w("bv", d),
             i64("shp_heads", [1, seq, heads, hd]), _const("scale", np.sqrt(hd)),
             i64("shp_merge", [1, seq, d]), w("wo", d, d), w("bo", d),
             _const("ln2s", np.ones(d)), w("ln2b", d), w("w1", d, 4 * d), w("b1", 4 * d),
             _const("sqrt2", np.sqrt(2)), _const("one", 1.0), _const("half", 0.5),
             w("w2", 4 * d, d), w("b2", d), i64("zero", 0), w("wh", 10, d), w("bh", 10)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    graph = helper.make_graph(nodes, "vit", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), [1, 3, 16, 16]


def packed_attention(d=32, heads=4, seq=12):
    """onnxruntime's Attention op (packed QKV weights), as its transformer fusions write
    it, then a projection: the source for QAttention (quantize_dynamic)."""
    rng = np.random.default_rng(2)
    n = helper.make_node
    nodes = [n("Attention", ["x", "wqkv", "bqkv"], ["a"], name="attention",
               domain="com.microsoft", num_heads=heads),
             n("MatMul", ["a", "wo"], ["y"], name="out")]
    inits = [_weights(rng, "wqkv", d, 3 * d), _weights(rng, "bqkv", 3 * d),
             _weights(rng, "wo", d, d)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, d])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, d])
    graph = helper.make_graph(nodes, "attn", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    return model, [1, seq, d]


def recurrent(hidden=16, inputs=8, steps=5):
    """A bidirectional LSTM over a sequence, then a projection of its last output."""
    rng = np.random.default_rng(5)
    n = helper.make_node
    nodes = [n("LSTM", ["x", "W", "R", "B"], ["h"], name="lstm", hidden_size=hidden,
               direction="bidirectional"),
             n("Reshape", ["h", "flat"], ["hf"], name="flat"),
             n("MatMul", ["hf", "wo"], ["y"], name="out")]
    inits = [_weights(rng, "W", 2, 4 * hidden, inputs), _weights(rng, "R", 2, 4 * hidden, hidden),
             _weights(rng, "B", 2, 8 * hidden), _const("flat", [steps, 2 * hidden], np.int64),
             _weights(rng, "wo", 2 * hidden, 4)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, 1, inputs])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [steps, 4])
    graph = helper.make_graph(nodes, "lstm", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), [steps, 1,
                                                                                 inputs]


def _quantized(src, folder, name, shape):
    """Every file onnxruntime's quantizer writes from ``src``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Samples(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(3)
            self.items = [{"x": rng.standard_normal(shape).astype(np.float32)}
                          for _ in range(2)]

        def get_next(self):
            return self.items.pop() if self.items else None

    pre = folder / f"{name}_pre.onnx"
    quant_pre_process(str(src), str(pre))
    out = []
    for fmt in ("QOperator", "QDQ"):
        for per_channel in (False, True):
            dst = folder / f"{name}_static_{fmt}{'_pc' if per_channel else ''}.onnx"
            quantize_static(str(pre), str(dst), Samples(), per_channel=per_channel,
                            quant_format=getattr(QuantFormat, fmt),
                            activation_type=QuantType.QUInt8 if fmt == "QOperator"
                            else QuantType.QInt8, weight_type=QuantType.QInt8)
            out.append(dst)
    dst = folder / f"{name}_static_QDQ16.onnx"     # 16-bit: com.microsoft's Q/DQ ops
    quantize_static(str(pre), str(dst), Samples(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt16, weight_type=QuantType.QInt16,
                    extra_options={"UseQDQContribOps": True})
    out.append(dst)
    for per_channel in (False, True):
        dst = folder / f"{name}_dynamic{'_pc' if per_channel else ''}.onnx"
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8,
                         per_channel=per_channel)
        out.append(dst)
    return out


def _optimized(src, level):
    dst = src.with_name(f"{src.stem}_opt{level}.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_ENABLE_{level}")
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    return dst


def _fused(src, folder):
    """onnxruntime's transformer fusions (SkipLayerNormalization, BiasGelu; with the GELU
    approximation, FastGelu)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    out = []
    for approximate in (False, True):
        options = FusionOptions("bert")
        options.enable_gelu_approximation = approximate
        m = optimize_model(str(src), model_type="bert", num_heads=4, hidden_size=32,
                           opt_level=0, optimization_options=options, use_gpu=False)
        dst = folder / f"{src.stem}_fused{'_fast' if approximate else ''}.onnx"
        m.save_model_to_file(str(dst))
        out.append(dst)
    return out


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    """{file: the float file it came from}: every file the quantizer, the optimizer and
    the transformer fusions write from the four sources."""
    folder = tmp_path_factory.mktemp("ort_ops")
    logging.disable(logging.WARNING)
    out = {}
    try:   # in its own folder: onnxruntime's tools may save scratch files where they run
        with warnings.catch_warnings(), contextlib.chdir(folder):
            warnings.simplefilter("ignore")
            for name, (model, shape) in (("cnn", cnn()), ("vit", vit()),
                                         ("attn", packed_attention()),
                                         ("lstm", recurrent())):
                src = folder / f"{name}.onnx"
                onnx.save(model, src)
                bases = [src] + _quantized(src, folder, name, shape)
                if name == "vit":
                    fused = _fused(src, folder)
                    bases += fused + _quantized(fused[1], folder, "vit_fast", shape)
                for base in bases:
                    out[base] = src
                    for level in LEVELS:
                        out[_optimized(base, level)] = src
    finally:
        logging.disable(logging.NOTSET)
    return out


def _figures(path):
    records, outputs, _ = read_onnx(path)
    return records, Report({"name": path.stem}, records, outputs=outputs).totals()


def _ms_ops(path) -> set[str]:
    return {(n.domain, n.op_type) for n in onnx.load(str(path)).graph.node
            if n.domain not in ("", "ai.onnx")}


def test_the_files_hold_the_class(produced):
    """The generated files really hold onnxruntime's operators: each one the issue names
    that this onnxruntime writes on CPU."""
    held = {op for path in produced for domain, op in _ms_ops(path)
            if domain == "com.microsoft"}
    assert EXPECTED_MS_OPS <= held, EXPECTED_MS_OPS - held


def test_every_file_counts_its_float_source(produced):
    """MACs and params of every quantized or optimized file equal its float source's (the
    source counted by the standard ops alone); onnxruntime's NCHWc convolutions (layout
    level on x86: weights padded to the CPU's vector block) are named as not counted,
    and are all that is missing."""
    source = {src: _figures(src) for src in set(produced.values())}
    for path, src in sorted(produced.items()):
        src_records, src_totals = source[src]
        records, totals = _figures(path)
        nchwc = [r for r in records if r.attrs.get("not_counted")]
        assert all(r.name in totals["uncounted_mac_layers"] for r in nchwc), path.name
        assert set(totals["uncounted_mac_layers"]) == {r.name for r in nchwc}, path.name
        assert set(totals["uncounted_param_layers"]) == {r.name for r in nchwc}, path.name
        assert not totals["unknown_size_layers"], path.name
        if not nchwc:
            assert (totals["macs"], totals["params"]) == (
                src_totals["macs"], src_totals["params"]), path.name
            continue
        # what the NCHWc convolutions leave out is the source's convolutions, exactly
        convs = [r for r in src_records if r.op in ("Conv", "DepthwiseConv")]
        assert len(convs) == len(nchwc), path.name
        assert totals["macs"] + sum(r.macs for r in convs) == src_totals["macs"], path.name
        assert totals["params"] + sum(r.params for r in convs) == src_totals["params"], \
            path.name


def test_every_ms_op_written_is_in_the_table(produced):
    """No operator of onnxruntime's domains in these files is unknown to the op table,
    but the NCHWc Conv, which is named as not counted."""
    unknown = {(d, op) for path in produced for d, op in _ms_ops(path)
               if kind_of(op, d) is None and (d, op) != (NCHWC_DOMAIN, "Conv")}
    assert not unknown


def test_quantized_params_are_the_stored_weights(produced):
    """The QOperator CNN by hand: every weight of the float model is stored as int8 (int32
    biases), once; scales and zero points are not params."""
    path = next(p for p in produced if p.name == "cnn_static_QOperator_pc.onnx")
    records, totals = _figures(path)
    by_op = collections.Counter()
    for r in records:
        by_op[r.op.split("(")[0]] += r.params
    assert by_op["QGemm"] == 32 * 48 + 32 + 10 * 32 + 10
    assert by_op["QLinearConv"] == (16 * 27 + 16) + (16 * 9 + 16) + (4 * 16 + 4) + (
        16 * 4 + 16) + (16 * 16 + 16) + (24 * 16 * 9 + 24)
    assert totals["params"] == by_op["QGemm"] + by_op["QLinearConv"]


def test_packed_attention_by_hand(produced):
    """onnxruntime's Attention: the packed projection (12 x 32 x 96) and the attention
    (12 x 12 x (32 + 32)); QAttention the same."""
    want = 12 * 32 * 96 + 12 * 12 * 64 + 12 * 32 * 32
    for name in ("attn.onnx", "attn_dynamic.onnx"):
        path = next(p for p in produced if p.name == name)
        _, totals = _figures(path)
        assert totals["macs"] == want, name
        assert totals["params"] == 32 * 96 + 96 + 32 * 32, name


def test_four_bit_weights_count_as_their_matrix(tmp_path):
    """MatMulNBits (onnxruntime's weight-only 4-bit quantization): B is stored packed,
    N x blocks x bytes; the layer is the K x N matrix product of the float MatMul it
    replaces, and its params are the K x N weights (at 4 bits), not the packed bytes."""
    k, n_out, block = 32, 16, 16
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    rng = np.random.default_rng(4)
    float_path = tmp_path / "float.onnx"
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g", [x], [y],
        [_weights(rng, "w", k, n_out)]), opset_imports=[helper.make_opsetid("", 17)]),
        float_path)
    packed = nh.from_array(rng.integers(0, 255, (n_out, k // block, block // 2),
                                        dtype=np.uint8), "b")
    scales = nh.from_array(np.full(n_out * k // block, 0.01, np.float32), "scales")
    node = helper.make_node("MatMulNBits", ["x", "b", "scales"], ["y"], name="mm",
                            domain="com.microsoft", K=k, N=n_out, bits=4, block_size=block)
    nbits_path = tmp_path / "nbits.onnx"
    onnx.save(helper.make_model(
        helper.make_graph([node], "g", [x], [y], [packed, scales]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]),
        nbits_path)
    (ref,), (got,) = (_figures(p)[0][1:] for p in (float_path, nbits_path))
    assert got.counted and got.output_shape == ref.output_shape == (1, 4, n_out)
    assert got.macs == ref.macs == 4 * k * n_out
    assert got.params == ref.params == k * n_out and got.weight_dtype == "uint4"


def _ms_model(tmp_path, name, nodes, inputs, inits):
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [y], inits)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]), path)
    return path


def test_multi_head_attention_and_embeddings_by_hand(tmp_path):
    """onnxruntime's MultiHeadAttention (query 7 x 32, key and value 9 x 32, 4 heads):
    7 x 9 x (32 + 32) multiply-adds, its bias a param; EmbedLayerNormalization (BERT's
    embeddings fused): the word (50 x 32), position (16 x 32) and segment (2 x 32) tables
    and the norm's gamma and beta are params, no MACs."""
    rng = np.random.default_rng(6)
    f = TensorProto.FLOAT
    q, kv, d = 7, 9, 32
    mha = _ms_model(tmp_path, "mha", [helper.make_node(
        "MultiHeadAttention", ["q", "k", "v", "bias"], ["y"], name="mha",
        domain="com.microsoft", num_heads=4)],
        [helper.make_tensor_value_info("q", f, [1, q, d]),
         helper.make_tensor_value_info("k", f, [1, kv, d]),
         helper.make_tensor_value_info("v", f, [1, kv, d])], [_weights(rng, "bias", 3 * d)])
    (rec,) = _figures(mha)[0][3:]
    assert rec.counted and rec.output_shape == (1, q, d)
    assert rec.macs == q * kv * (d + d) and rec.params == 3 * d
    ids = [helper.make_tensor_value_info(n, TensorProto.INT32, [1, 16])
           for n in ("ids", "segments")]
    embed = _ms_model(tmp_path, "embed", [helper.make_node(
        "EmbedLayerNormalization", ["ids", "segments", "word", "position", "segment",
                                    "gamma", "beta"], ["y", "mask_index"], name="embed",
        domain="com.microsoft", epsilon=1e-5)], ids,
        [_weights(rng, "word", 50, d), _weights(rng, "position", 16, d),
         _weights(rng, "segment", 2, d), _weights(rng, "gamma", d), _weights(rng, "beta", d)])
    records, totals = _figures(embed)
    assert records[-1].counted and records[-1].output_shape == (1, 16, d)
    assert records[-1].extra_outputs[0]["shape"] == [1]        # the mask index
    assert totals["macs"] == 0 and totals["params"] == (50 + 16 + 2 + 2) * d


def test_channels_last_conv_counts_as_its_nchw_form(tmp_path):
    """NhwcConv (onnxruntime's channels-last Conv: input [N, H, W, C], filter [M, kH, kW,
    C/group], written by its NHWC fusions for GPUs; this CPU build has no kernel for it,
    so its output size is the one the file declares) counts as the NCHW Conv it is."""
    rng = np.random.default_rng(7)
    f = TensorProto.FLOAT
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    nchw = tmp_path / "nchw.onnx"
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", kernel_shape=[3, 3],
                          strides=[2, 2], pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", f, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", f, None)],
        [nh.from_array(w, "w"), _weights(rng, "b", 16)]),
        opset_imports=[helper.make_opsetid("", 17)]), nchw)
    nhwc = tmp_path / "nhwc.onnx"
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("NhwcConv", ["x", "w", "b"], ["y"], name="conv",
                          domain="com.microsoft", kernel_shape=[3, 3], strides=[2, 2],
                          pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", f, [1, 32, 32, 3])],
        [helper.make_tensor_value_info("y", f, [1, 16, 16, 16])],
        [nh.from_array(w.transpose(0, 2, 3, 1).copy(), "w"), _weights(rng, "b", 16)]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]),
        nhwc)
    (ref,), (got,) = (_figures(p)[0][1:] for p in (nchw, nhwc))
    assert got.counted and ref.macs == 3 * 3 * 3 * 16 * 16 * 16
    assert (got.macs, got.params, got.other_ops) == (ref.macs, ref.params, ref.other_ops)


def test_too_large_to_run_counts_the_same(produced, monkeypatch):
    """Evaluated as a graph too large to run is (no input fed; only what shapes and
    constants need computed; onnxruntime's ops sized by the standard op whose shape rule
    they follow), every file below the layout level counts what the run counts, layer by
    layer; at the layout level (channels-last and NCHWc forms) and for the packed
    Attention some sizes stay unknown, but no figure is ever different."""
    import edgekit.readers.onnx_graph as onnx_graph

    run = {path: _figures(path)[0] for path in produced}
    monkeypatch.setattr(onnx_graph, "run_cost", lambda model, tensors: 1 << 62)
    for path in sorted(produced):
        records = _figures(path)[0]
        assert [r.name for r in records] == [r.name for r in run[path]], path.name
        for got, want in zip(records, run[path], strict=True):
            if not got.unknown_size:
                assert (got.output_shape, got.macs, got.params) == (
                    want.output_shape, want.macs, want.params), (path.name, got.name)
        layout = "_optLAYOUT" in path.name or "_optALL" in path.name
        if not layout and not path.name.startswith("attn"):
            assert not [r.name for r in records if r.unknown_size], path.name
