"""ONNX analysis at any declared size (issue 28): graph evaluation holds at most its memory
budget; beyond it only what shapes and constants need is computed and the rest is sized
by inference. Graphs are built with onnx.helper at sizes no machine can allocate (any
attempt is a MemoryError); figures are checked by hand, and against the full run of the
same graph at a small size with the bounded evaluation forced."""

import json
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit.readers.onnx_graph as onnx_graph
from edgekit.core.records import Report
from edgekit.readers.onnx_reader import read_onnx

HUGE = 1_000_000          # 1x3x10^6x10^6 fp32 is 10.9 TiB


def init(name, *shape, dtype=np.float32, value=0.0):
    return numpy_helper.from_array(np.full(shape, value, dtype=dtype), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def save(path, nodes, inputs, inits, opset=17):
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [out], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def image(h, w, c=3):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])


def conv_only(path, h, w):
    return save(path, [helper.make_node("Conv", ["x", "w"], ["y"], name="conv",
                                        kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                [image(h, w)], [init("w", 8, 3, 3, 3)])


def pytorch_flatten(path, h, w):
    """Conv -> Relu -> GAP -> x.view(x.size(0), -1) -> Linear, the shape computed from
    Shape/Gather/Unsqueeze/Concat as PyTorch exports it; and ConstantOfShape(Shape(x))
    added to the input (a determined tensor as large as the input)."""
    nodes = [
        helper.make_node("Shape", ["x"], ["xs"], name="xshape"),
        helper.make_node("ConstantOfShape", ["xs"], ["zeros"], name="zeros",
                         value=numpy_helper.from_array(np.array([0.5], np.float32))),
        helper.make_node("Add", ["x", "zeros"], ["xa"], name="add"),
        helper.make_node("Conv", ["xa", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Shape", ["g"], ["gs"], name="gshape"),
        helper.make_node("Gather", ["gs", "zero"], ["n"], name="n", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="n1"),
        helper.make_node("Concat", ["n1", "minus1"], ["to"], name="to", axis=0),
        helper.make_node("Reshape", ["g", "to"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    inits = [init("w", 16, 3, 3, 3), init("b", 16), ints("zero", 0), ints("axes", [0]),
             ints("minus1", [-1]), init("wf", 10, 16), init("bf", 10)]
    return save(path, nodes, [image(h, w)], inits)


def upsample_tokens(path, h, w):
    """Resize by 2 (scales), a 1x1 conv, a reshape to tokens computed from the shape,
    MatMul per token, Transpose, Softmax, ConvTranspose from another small input."""
    tokens = helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4, 5, 5])
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["u"], name="up", mode="nearest"),
        helper.make_node("Conv", ["u", "w"], ["c"], name="proj", kernel_shape=[1, 1]),
        helper.make_node("Shape", ["c"], ["cs"], name="cshape"),
        helper.make_node("Slice", ["cs", "s0", "s2", "s0"], ["nc"], name="nc"),
        helper.make_node("Concat", ["nc", "minus1"], ["to"], name="to", axis=0),
        helper.make_node("Reshape", ["c", "to"], ["seq"], name="seq"),
        helper.make_node("Transpose", ["seq"], ["tok"], name="tok", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["tok", "wm"], ["m"], name="mm"),
        helper.make_node("Softmax", ["m"], ["sm"], name="softmax", axis=-1),
        helper.make_node("ConvTranspose", ["t", "wt"], ["ct"], name="deconv",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("ReduceMean", ["sm"], ["y"], name="mean", keepdims=0),
    ]
    inits = [init("scales", 4, value=0), init("w", 8, 3, 1, 1), init("wm", 8, 32),
             ints("s0", [0]), ints("s2", [2]), ints("minus1", [-1]), init("wt", 4, 6, 2, 2)]
    inits[0] = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    return save(path, nodes, [image(h, w), tokens], inits, opset=18)


def figures(path):
    records, outputs, info = read_onnx(path)
    return records, Report({"name": "m"}, records, outputs=outputs).totals(), info


def test_one_conv_at_a_declared_10_tib_input_is_counted(tmp_path):
    records, totals, info = figures(conv_only(tmp_path / "huge.onnx", HUGE, HUGE))
    conv = records[-1]
    assert conv.counted and not conv.unknown_size
    assert conv.output_shape == (1, 8, HUGE, HUGE)
    assert conv.macs == 3 * 3 * 3 * 8 * HUGE * HUGE and conv.params == 8 * 3 * 3 * 3
    assert totals["activation_bytes_total"] == 4 * (3 + 8) * HUGE * HUGE
    assert totals["peak_activation_bytes"] == 4 * (3 + 8) * HUGE * HUGE
    assert "GiB" in info["shapes_from"]      # says why no run: the budget


def test_shapes_computed_from_a_huge_tensor_are_folded(tmp_path):
    records, totals, _ = figures(pytorch_flatten(tmp_path / "flat.onnx", HUGE, HUGE))
    by = {r.name: r for r in records}
    assert not [r.name for r in records if r.unknown_size]
    half, quarter = HUGE // 2, HUGE // 4
    assert by["conv"].output_shape == (1, 16, half, half)
    assert by["conv"].macs == 3 * 3 * 3 * 16 * half * half
    assert by["pool"].output_shape == (1, 16, quarter, quarter)
    assert by["flatten"].output_shape == (1, 16) and by["fc"].macs == 160
    assert by["add"].output_shape == (1, 3, HUGE, HUGE)
    assert totals["params"] == 16 * 27 + 16 + 160 + 10
    assert totals["macs"] == 3 * 3 * 3 * 16 * half * half + 160


def test_resize_reshape_matmul_at_a_huge_size(tmp_path):
    h = w = 300_000
    records, totals, _ = figures(upsample_tokens(tmp_path / "tok.onnx", h, w))
    by = {r.name: r for r in records}
    assert not [r.name for r in records if r.unknown_size]
    n = (2 * h) * (2 * w)
    assert by["up"].output_shape == (1, 3, 2 * h, 2 * w)
    assert by["seq"].output_shape == (1, 8, n) and by["tok"].output_shape == (1, n, 8)
    assert by["mm"].macs == n * 8 * 32 and by["proj"].macs == 3 * 8 * n
    assert by["deconv"].output_shape == (1, 6, 10, 10)
    assert by["deconv"].macs == 4 * 25 * 6 * 4
    assert totals["macs"] == n * 8 * 32 + 3 * 8 * n + 4 * 25 * 6 * 4


@pytest.mark.parametrize("build", [conv_only, pytorch_flatten, upsample_tokens])
def test_the_bounded_evaluation_agrees_with_a_full_run(tmp_path, monkeypatch, build):
    """At a small size the graph runs whole; with the run's cost taken as over budget the
    same graph is evaluated bounded: every record the same (shapes, MACs, params)."""
    path = build(tmp_path / "small.onnx", 16, 16)
    full, _, info = read_onnx(path)
    assert info["shapes_from"] == "one run in onnxruntime"
    monkeypatch.setattr(onnx_graph, "run_cost", lambda model, tensors: 1 << 62)
    bounded, _, info = read_onnx(path)
    assert "GiB" in info["shapes_from"]
    assert [(r.name, r.output_shape, r.macs, r.params, r.unknown_size) for r in bounded] == \
        [(r.name, r.output_shape, r.macs, r.params, r.unknown_size) for r in full]


def test_node_tests_bounded_count_as_when_run(monkeypatch):
    """The ONNX backend node tests of MAC-bearing and shape-computing ops, on their own
    input values: evaluated bounded, their MACs and params are the full run's, and every
    size the bounded evaluation gives is the size the run found."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_onnx_node_suite import analyzed, cases

    wanted = ("test_conv", "test_gemm", "test_matmul", "test_reshape", "test_expand",
              "test_resize", "test_attention", "test_einsum", "test_lstm", "test_gru",
              "test_tile", "test_flatten", "test_constantofshape", "test_range",
              "test_slice", "test_if", "test_loop")
    names = [n for n in sorted(cases()) if n.startswith(wanted)]
    assert len(names) > 150
    full = {n: analyzed(cases()[n])[0] for n in names}
    monkeypatch.setattr(onnx_graph, "run_cost", lambda model, tensors: 1 << 62)
    for n in names:
        bounded = analyzed(cases()[n])[0]
        assert [r.name for r in bounded] == [r.name for r in full[n]], n
        assert sum(r.macs for r in bounded) == sum(r.macs for r in full[n]), n
        assert sum(r.params for r in bounded) == sum(r.params for r in full[n]), n
        for b, f in zip(bounded, full[n], strict=True):
            if not b.unknown_size:
                assert b.output_shape == f.output_shape, (n, b.name)


def test_the_cli_counts_a_huge_input(tmp_path, cli):
    path = conv_only(tmp_path / "huge.onnx", HUGE, HUGE)
    run = cli("analyze", path, "--json")
    assert run.code == 0 and run.err == ""
    doc = json.loads(run.out)
    assert doc["totals"]["macs"] == 216 * HUGE * HUGE
    assert doc["totals"]["params"] == 216


def test_a_branch_decided_by_a_huge_size_is_taken(tmp_path):
    """An If whose condition is computed from the input's size (H > 1000, as traced
    PyTorch code exports it): at 10^6 x 10^6 the condition is known without a run, the
    taken branch's Conv is counted and the other branch's weights are not params."""
    x = image(HUGE, HUGE)

    def branch(name, channels):
        w = init(f"w_{name}", channels, 3, 1, 1)
        return helper.make_graph(
            [helper.make_node("Conv", ["x", w.name], [f"c_{name}"], name=f"conv_{name}",
                              kernel_shape=[1, 1])], name, [],
            [helper.make_tensor_value_info(f"c_{name}", TensorProto.FLOAT, None)], [w])

    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "two"], ["h"], name="h", axis=0),
             helper.make_node("Greater", ["h", "limit"], ["big"], name="big"),
             helper.make_node("If", ["big"], ["y"], name="if",
                              then_branch=branch("then", 4), else_branch=branch("else", 64))]
    path = save(tmp_path / "if.onnx", nodes, [x], [ints("two", 2), ints("limit", 1000)])
    records, totals, _ = figures(path)
    taken = [r for r in records if r.op == "Conv"]
    assert [r.name for r in taken] == ["if/then_branch/conv_then"]
    assert taken[0].macs == 3 * 4 * HUGE * HUGE and totals["params"] == 12


def test_an_op_no_evaluator_runs_does_not_stop_the_others(tmp_path):
    """A vendor's op on a stored tensor (sized by the file, run by nothing here) sits in
    the same round as the PyTorch flatten's shape computation: the round falls back to
    one node at a time, and the Reshape is still sized at 10^6 x 10^6."""
    path = pytorch_flatten(tmp_path / "flat.onnx", HUGE, HUGE)
    model = onnx.load(path)
    # the batch through Div (which ONNX's data propagation does not follow): only a
    # computed value tells the Reshape its shape
    for k, node in enumerate(model.graph.node):
        if node.name == "n1":
            node.output[0] = "n1_raw"
            model.graph.node.insert(k + 1, helper.make_node("Div", ["n1_raw", "one"], ["n1"],
                                                            name="n1_div"))
            break
    model.graph.initializer.append(ints("one", [1]))
    model.graph.node.insert(0, helper.make_node("Mystery", ["wf"], ["m"], name="mystery",
                                                domain="com.example"))
    model.graph.value_info.append(helper.make_tensor_value_info("m", TensorProto.FLOAT,
                                                                [10, 16]))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(model, path)
    records, totals, _ = figures(path)
    by = {r.name: r for r in records}
    assert by["flatten"].output_shape == (1, 16) and not by["fc"].unknown_size
    assert by["fc"].macs == 160 and totals["params"] == 16 * 27 + 16 + 160 + 10
