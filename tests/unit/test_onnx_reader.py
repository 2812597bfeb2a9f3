"""The ONNX reader on graphs built with onnx.helper, MACs computed by hand (no TensorFlow)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.core.errors import ModelFileError, UsageError
from edgekit.core.records import Report
from edgekit.core.shapes import parse_shape
from edgekit.readers.onnx_reader import read_onnx


def init(name, *shape, dtype=np.float32):
    return numpy_helper.from_array(np.zeros(shape, dtype=dtype), name)


def save(tmp_path, nodes, inputs, outputs, inits, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / name
    onnx.save(model, path)
    return path


def nchw_model(tmp_path, batch="N"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])
    nodes = [
        # grouped 3x3 conv, stride 2, pads 1: 8 -> 16 channels, 2 groups, 8x8 output
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", group=2,
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        # depthwise 3x3 (group = channels = 16), dilation 2, pads 2: keeps 8x8
        helper.make_node("Conv", ["r", "wd"], ["d"], name="dw", group=16,
                         kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("Add", ["d", "r"], ["sum"], name="add"),
        helper.make_node("MaxPool", ["sum"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    inits = [init("w1", 16, 4, 3, 3), init("b1", 16), init("s", 16), init("bb", 16),
             init("m", 16), init("v", 16), init("wd", 16, 1, 3, 3), init("wf", 10, 16),
             init("bf", 10)]
    return save(tmp_path, nodes, [x], [y], inits)


def test_nchw_graph_by_hand(tmp_path):
    records, outputs, info = read_onnx(nchw_model(tmp_path))
    by = {r.name: r for r in records}
    assert by["conv1"].output_shape == (1, 16, 8, 8)
    assert by["conv1"].macs == 3 * 3 * 4 * 16 * 64           # Cin/groups = 4
    assert by["dw"].op == "DepthwiseConv" and by["dw"].macs == 3 * 3 * 16 * 64
    assert by["fc"].macs == 16 * 10
    assert by["conv1"].params == 16 * 4 * 9 + 16
    assert (by["bn"].params_trainable, by["bn"].params_non_trainable) == (32, 32)
    assert by["add"].inputs == ["dw", "relu"]
    assert by["pool"].other_ops == 4 * 16 * 4 * 4
    assert by["flatten"].alias and outputs == ["fc"]
    assert info["input_shape"] == [1, 8, 16, 16] and info["batch"] == 1
    r = Report({"name": "m"}, records, outputs=outputs)
    assert r.totals()["macs"] == 3 * 3 * 4 * 16 * 64 + 3 * 3 * 16 * 64 + 160


def test_unbound_dimensions_are_named_or_bound(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="c",
                                            kernel_shape=[1, 1])],
                [x], [y], [init("w", 4, 3, 1, 1)])
    # unbound: the conv is listed, flagged and left out; nothing is guessed or negative
    records, _, info = read_onnx(path)
    assert info["unbound_inputs"] == {"x": [2, 3]} and info["input_shapes"] == {"x": "1x3x?x?"}
    conv = records[-1]
    assert conv.unknown_size and not conv.counted and conv.macs == 0
    t = Report({"name": "m"}, records).totals()
    assert t["macs"] == 0 and t["activation_bytes_total"] == 0
    assert t["unknown_size_layers"] == ["x", "c"]
    records, _, info = read_onnx(path, [parse_shape("2x3x10x12")])
    assert records[-1].output_shape == (2, 4, 10, 12) and records[-1].macs == 2 * 3 * 4 * 120
    assert info["input_shapes"] == {"x": "2x3x10x12"} and info["unbound_inputs"] == {}
    with pytest.raises(UsageError, match="fixed size 3 at position 1, 4 given"):
        read_onnx(path, [parse_shape("1x4x10x12")])
    with pytest.raises(UsageError, match="no input 'y'"):
        read_onnx(path, [parse_shape("y:1x3x10x12")])


def test_nhwc_matmul_model(tmp_path):
    # NHWC input, transposed to NCHW for a conv, then a MatMul on a 3-D tensor
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 6, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["t", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("Reshape", ["c", "shape"], ["r"], name="reshape"),
             helper.make_node("MatMul", ["r", "wm"], ["y"], name="mm")]
    inits = [init("w", 5, 2, 3, 3), numpy_helper.from_array(np.array([1, 5, 16]), "shape"),
             init("wm", 16, 7)]
    records, _, _ = read_onnx(save(tmp_path, nodes, [x], [y], inits))
    by = {r.name: r for r in records}
    assert by["conv"].macs == 9 * 2 * 5 * 16
    assert by["mm"].output_shape == (1, 5, 7) and by["mm"].macs == 16 * 7 * 5
    assert by["reshape"].params == 0  # a shape constant is not a weight


def test_qdq_model_reports_the_int8_layer(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    scale = numpy_helper.from_array(np.array(0.1, dtype=np.float32), "sc")
    zp = numpy_helper.from_array(np.array(0, dtype=np.int8), "zp")
    wq = numpy_helper.from_array(np.zeros((4, 3, 3, 3), dtype=np.int8), "wq")
    wsc = numpy_helper.from_array(np.full(4, 0.01, dtype=np.float32), "wsc")
    wzp = numpy_helper.from_array(np.zeros(4, dtype=np.int8), "wzp")
    nodes = [helper.make_node("QuantizeLinear", ["x", "sc", "zp"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "sc", "zp"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "wsc", "wzp"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "sc", "zp"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "sc", "zp"], ["y"])]
    records, outputs, _ = read_onnx(save(tmp_path, nodes, [x], [y], [scale, zp, wq, wsc, wzp]))
    assert [r.op for r in records] == ["Input", "Conv"]        # no Q/DQ noise
    conv = records[1]
    assert conv.params == 4 * 27 and conv.weight_dtype == "int8" and conv.act_dtype == "int8"
    assert conv.macs == 27 * 4 * 64 and conv.inputs == ["x"] and outputs == ["conv"]


def test_unknown_ops_are_listed_not_counted(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("Fancy", ["x"], ["y"], name="fancy", domain="com.example")
    graph = helper.make_graph([node], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, tmp_path / "f.onnx")
    records, _, _ = read_onnx(tmp_path / "f.onnx")
    assert records[-1].op == "Fancy" and not records[-1].counted


@pytest.mark.parametrize("content", [b"", b"garbage bytes", b"\x08\x07\x12\x03abc\x00\xff"])
def test_corrupt_onnx_is_one_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="cannot read ONNX model"):
        read_onnx(path)


def test_conv_transpose_and_qlinear_conv(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    # ConvTranspose weights are (Cin, Cout/groups, kh, kw): 4 -> 6 channels, 2x2 stride 2
    nodes = [helper.make_node("ConvTranspose", ["x", "wt", "bt"], ["y"], name="up",
                              kernel_shape=[2, 2], strides=[2, 2])]
    records, _, _ = read_onnx(save(tmp_path, nodes, [x], [y],
                                   [init("wt", 4, 6, 2, 2), init("bt", 6)], "t.onnx"))
    up = records[-1]
    assert up.output_shape == (1, 6, 10, 10)
    assert up.macs == 2 * 2 * 4 * 6 * 25 and up.params == 4 * 6 * 4 + 6

    xq = helper.make_tensor_value_info("xq", TensorProto.INT8, [1, 3, 6, 6])
    yq = helper.make_tensor_value_info("yq", TensorProto.INT8, None)
    s = numpy_helper.from_array(np.array(0.1, dtype=np.float32), "s")
    z = numpy_helper.from_array(np.array(0, dtype=np.int8), "z")
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), dtype=np.int8), "w")
    b = numpy_helper.from_array(np.zeros(8, dtype=np.int32), "b")
    node = helper.make_node("QLinearConv", ["xq", "s", "z", "w", "s", "z", "s", "z", "b"],
                            ["yq"], name="qconv", kernel_shape=[3, 3])
    records, _, _ = read_onnx(save(tmp_path, [node], [xq], [yq], [s, z, w, b], "q.onnx"))
    q = records[-1]
    assert q.op == "QLinearConv" and q.output_shape == (1, 8, 4, 4)
    assert q.macs == 27 * 8 * 16 and q.params == 8 * 27 + 8
    assert records[0].act_dtype == "int8"


def test_two_inputs_each_named_in_its_own_layout(tmp_path):
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Conv", ["image", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Mul", ["c", "mask"], ["y"], name="gate")]
    path = save(tmp_path, nodes, [image, mask], [y], [init("w", 1, 3, 1, 1)])
    records, _, info = read_onnx(path, [parse_shape("image:1x3x20x30"),
                                        parse_shape("mask:1x1x20x30")])
    by = {r.name: r for r in records}
    assert by["conv"].macs == 3 * 20 * 30 and by["gate"].other_ops == 600
    assert info["input_shapes"] == {"image": "1x3x20x30", "mask": "1x1x20x30"}
    with pytest.raises(UsageError, match="has 2 inputs"):
        read_onnx(path, [parse_shape("1x3x20x30")])


# ---- each class of file from other exporters, figures computed by hand -------------------

def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _read(tmp_path, model, **kw):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    records, outputs, info = read_onnx(path, **kw)
    return {r.name: r for r in records}, records, info


def test_decoded_weights_are_the_stored_int8_tensor(tmp_path):
    # int8 weights decoded by Cast -> Mul(per-channel scale), then reshaped: one Conv of
    # 8x3x3x3 (216 stored int8 numbers), not an activation and not a layer of its own
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    wq = numpy_helper.from_array(np.ones((8, 27), np.int8), "wq")
    scale = numpy_helper.from_array(np.full((8, 1), 0.5, np.float32), "scale")
    shape = numpy_helper.from_array(np.array([8, 3, 3, 3]), "shape")
    nodes = [helper.make_node("Cast", ["wq"], ["wf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["wf", "scale"], ["ws"]),
             helper.make_node("Reshape", ["ws", "shape"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])]
    by, records, _ = _read(tmp_path, _model(nodes, [x], [y], [wq, scale, shape]))
    assert [r.op for r in records] == ["Input", "Conv"]
    conv = by["conv"]
    assert conv.macs == 27 * 8 * 8 * 8 and conv.counted
    assert conv.params == 216 and conv.weight_dtype == "int8"


def test_a_shared_weight_counts_once(tmp_path):
    # one 4x4x3x3 initializer used by 5 convolutions: 144 params in the model, not 720
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    names = ["x"] + [f"c{i}" for i in range(5)]
    nodes = [helper.make_node("Conv", [names[i], "w"], [names[i + 1]], name=f"conv{i}",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]) for i in range(5)]
    nodes.append(helper.make_node("Identity", ["c4"], ["y"]))
    _, records, _ = _read(tmp_path, _model(nodes, [x], [y], [init("w", 4, 4, 3, 3)]))
    assert sum(r.params for r in records) == 144
    assert sum(r.macs for r in records) == 5 * 36 * 4 * 36


def test_the_first_axis_is_not_taken_for_a_batch(tmp_path):
    # frames x batch x features moved by a Transpose: every figure is for the whole call
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [7, "N", 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"], name="before"),
             helper.make_node("Transpose", ["a"], ["t"], name="move", perm=[1, 0, 2]),
             helper.make_node("MatMul", ["t", "w2"], ["y"], name="after")]
    model = _model(nodes, [x], [y], [init("w", 16, 8), init("w2", 8, 4)])
    by, _, info = _read(tmp_path, model)
    assert info["batch"] is None                     # axis 0 is a fixed 7: no batch axis
    assert info["unbound_inputs"] == {"x": [1]}      # N is left unknown, never guessed
    assert by["before"].unknown_size and by["before"].macs == 0
    by, _, _ = _read(tmp_path, model, input_shapes=[parse_shape("7x3x16")])
    assert by["before"].macs == 7 * 3 * 16 * 8 and by["after"].macs == 7 * 3 * 8 * 4
    with pytest.raises(UsageError, match="declares no batch axis"):
        _read(tmp_path, model, batch=2)


def test_a_state_input_shares_the_batch_by_its_symbol(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])
    h = helper.make_tensor_value_info("h", TensorProto.FLOAT, [2, "batch", 128])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
             helper.make_node("Relu", ["h"], ["hr"], name="state")]
    model = _model(nodes, [x, h], [y, helper.make_tensor_value_info("hr", 1, None)],
                   [init("w", 64, 32)])
    by, _, info = _read(tmp_path, model, batch=4)
    assert info["batch"] == 4 and info["input_shapes"] == {"x": "4x64", "h": "2x4x128"}
    assert by["mm"].macs == 4 * 64 * 32 and by["state"].output_shape == (2, 4, 128)
    # a given shape is honoured exactly (512 rows, not 1)
    by, _, _ = _read(tmp_path, model, input_shapes=[parse_shape("x:512x64"),
                                                    parse_shape("h:2x512x128")])
    assert by["mm"].macs == 512 * 64 * 32


def test_weights_given_as_graph_inputs_have_macs_not_params(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [6, 3, 3, 3])
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [5, 12])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [12, 7])
    out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "z")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3]),
             helper.make_node("MatMul", ["a", "b"], ["z"], name="mm")]
    by, _, _ = _read(tmp_path, _model(nodes, [x, w, a, b], out))
    assert by["conv"].macs == 2 * 27 * 6 * 36 and by["conv"].params == 0
    assert by["mm"].macs == 5 * 12 * 7                 # K = 12, not N = 7


def test_if_counts_the_branch_its_known_condition_takes(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)

    def branch(name, width):
        out = helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [1, width])
        node = helper.make_node("MatMul", ["x", f"{name}_w"], [f"{name}_y"], name=f"{name}_mm")
        return helper.make_graph([node], name, [], [out], [init(f"{name}_w", 8, width)])

    cond = numpy_helper.from_array(np.array(False), "cond")
    node = helper.make_node("If", ["cond"], ["y"], name="if",
                            then_branch=branch("big", 100), else_branch=branch("small", 3))
    by, records, _ = _read(tmp_path, _model([node], [x], [y], [cond]))
    assert by["if/else_branch/small_mm"].macs == 8 * 3
    # the taken branch is evaluated as part of the graph: its nodes replace the If
    assert "if/then_branch/big_mm" not in by and "if" not in by
    assert by["if/else_branch/small_mm"].attrs["control_flow"] == \
        "if: else_branch (its condition is known)"
    assert sum(r.macs for r in records) == 24 and sum(r.params for r in records) == 24
    # a condition given as an input decides it too; unknown: both listed, the larger counted
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    node = helper.make_node("If", ["c"], ["y"], name="if",
                            then_branch=branch("big", 100), else_branch=branch("small", 3))
    model = _model([node], [x, c], [y])
    path = tmp_path / "c.onnx"
    onnx.save(model, path)
    records, _, _ = read_onnx(path, values={"c": np.array(True)})
    assert sum(r.macs for r in records) == 800
    records, _, _ = read_onnx(path)
    by = {r.name: r for r in records}
    assert sum(r.macs for r in records) == 800 and by["if/else_branch/small_mm"].macs == 0
    assert "condition unknown" in by["if"].attrs["control_flow"]


def test_loop_counts_the_body_times_its_trip_count(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    body_in = [helper.make_tensor_value_info("i", TensorProto.INT64, []),
               helper.make_tensor_value_info("cin", TensorProto.BOOL, []),
               helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 16])]
    body_out = [helper.make_tensor_value_info("cout", TensorProto.BOOL, []),
                helper.make_tensor_value_info("h2", TensorProto.FLOAT, [1, 16])]
    body = helper.make_graph([helper.make_node("Identity", ["cin"], ["cout"]),
                              helper.make_node("MatMul", ["h", "w"], ["h2"], name="step")],
                             "body", body_in, body_out)
    trips = numpy_helper.from_array(np.array(5, np.int64), "M")
    true = numpy_helper.from_array(np.array(True), "T")
    node = helper.make_node("Loop", ["M", "T", "x"], ["y"], name="loop", body=body)
    by, _, _ = _read(tmp_path, _model([node], [x], [y], [trips, true, init("w", 16, 16)]))
    assert by["loop/body/step"].macs == 5 * 16 * 16
    assert by["loop"].attrs["control_flow"] == \
        "5 iterations; the body sized by a run of its first iteration"


def test_every_output_of_a_node_and_its_element_type(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])
    outs = [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None)
            for n in ("a", "b", "v", "i", "q")]
    k = numpy_helper.from_array(np.array([3], np.int64), "k")
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=1,
                              num_outputs=2),
             helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk"),
             helper.make_node("Cast", ["x"], ["q"], name="int4", to=TensorProto.INT4)]
    model = _model(nodes, [x], outs, [k], opset=21)
    by, records, _ = _read(tmp_path, model)
    report = Report({"name": "m"}, records, batch_in_shapes=True)
    assert [e["name"] for e in by["split"].extra_outputs] == ["b"]
    assert report.activation_bytes(by["split"]) == 5 * 4 + 5 * 4
    assert by["topk"].extra_outputs[0]["dtype"] == "int64"
    assert report.activation_bytes(by["topk"]) == 3 * 4 + 3 * 8
    assert by["int4"].act_dtype == "int4" and report.activation_bytes(by["int4"]) == 5


def test_recurrent_layers_count_their_gate_products(tmp_path):
    # LSTM, 6 steps x batch 2, 10 inputs, hidden 20, both directions, first output omitted
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 2, 10])
    y = helper.make_tensor_value_info("yh", TensorProto.FLOAT, None)
    node = helper.make_node("LSTM", ["x", "W", "R"], ["", "yh"], hidden_size=20,
                            direction="bidirectional")
    by, records, _ = _read(tmp_path, _model([node], [x], [y],
                                            [init("W", 2, 80, 10), init("R", 2, 80, 20)]))
    lstm = records[-1]
    assert lstm.name == "yh" and lstm.op == "LSTM"
    assert lstm.macs == 2 * 6 * 2 * 4 * 20 * (10 + 20)
    assert lstm.params == 2 * 80 * 10 + 2 * 80 * 20


def test_nothing_reaches_stderr_or_the_working_folder(tmp_path, capfd, monkeypatch):
    # a graph onnxruntime refuses to run (a type it lacks a kernel for): the analysis still
    # succeeds, silently, and writes nothing where it runs
    monkeypatch.chdir(tmp_path)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Fancy", ["x"], ["y"], name="fancy", domain="com.example")
    graph = helper.make_graph([node], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, tmp_path / "f.onnx")
    before = set(tmp_path.iterdir())
    records, _, _ = read_onnx(tmp_path / "f.onnx")
    assert capfd.readouterr().err == "" and set(tmp_path.iterdir()) == before
    report = Report({"name": "m"}, records, batch_in_shapes=True)
    assert report.totals()["uncounted_mac_layers"] == ["fancy"]
    from edgekit.report.analysis import totals_lines

    rows = dict(totals_lines(report))
    assert rows["MACs incomplete"].startswith("1 op(s)") and "fancy" in rows["MACs incomplete"]


@pytest.mark.parametrize("domain", ["com.vendor", "com.microsoft"])
def test_an_op_name_means_the_standard_op_only_in_its_domain(tmp_path, domain):
    # a vendor's "Conv" (or onnxruntime's contrib Attention: other inputs, other meaning)
    # is not the standard op: listed, not counted, flagged as possibly holding MACs
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 6, 6])
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", domain=domain)
    model = _model([node], [x], [y], [init("w", 6, 3, 3, 3)])
    model.opset_import.append(helper.make_opsetid(domain, 1))
    by, records, _ = _read(tmp_path, model)
    assert not by["conv"].counted and by["conv"].macs == 0
    report = Report({"name": "m"}, records, batch_in_shapes=True)
    assert report.totals()["uncounted_mac_layers"] == ["conv"]
    # its stored tensor is not a param edgekit can vouch for: named, not silently dropped
    assert by["conv"].params == 0 and by["conv"].attrs["uncounted_params"] == 6 * 27
    assert report.totals()["uncounted_param_layers"] == ["conv"]
    from edgekit.report.analysis import totals_lines

    assert "conv" in dict(totals_lines(report))["params incomplete"]


def test_every_standard_op_of_the_installed_onnx_has_a_place():
    # in the op table, or defined by ONNX as a function (expanded by the reader), or
    # control flow, or one of the few primitives that hold multiply-adds not counted
    from edgekit.core.onnx_ops import CONTROL_FLOW, KINDS, UNCOUNTED_MAC_OPS

    loose = sorted(s.name for s in onnx.defs.get_all_schemas()
                   if s.domain in ("", "ai.onnx") and s.name not in KINDS
                   and not (s.has_function or s.has_context_dependent_function)
                   and s.name not in CONTROL_FLOW | UNCOUNTED_MAC_OPS | {"Constant"})
    assert loose == []


def test_a_loop_body_that_inference_cannot_size_is_sized_by_running_it(tmp_path):
    # the body reshapes its state with a shape computed outside (Shape -> Concat), which
    # inference inside a subgraph cannot see: a run of the body on its first iteration can
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 24])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    body_in = [helper.make_tensor_value_info("i", TensorProto.INT64, []),
               helper.make_tensor_value_info("cin", TensorProto.BOOL, []),
               helper.make_tensor_value_info("h", TensorProto.FLOAT, None)]
    body_out = [helper.make_tensor_value_info("cout", TensorProto.BOOL, []),
                helper.make_tensor_value_info("h2", TensorProto.FLOAT, None)]
    body = helper.make_graph([
        helper.make_node("Identity", ["cin"], ["cout"]),
        helper.make_node("Reshape", ["h", "shape"], ["hr"]),
        helper.make_node("MatMul", ["hr", "w"], ["m"], name="step"),
        helper.make_node("Reshape", ["m", "back"], ["h2"])], "body", body_in, body_out)
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=0, end=1),
             helper.make_node("Concat", ["s", "minus1"], ["shape"], axis=0),
             helper.make_node("Shape", ["x"], ["back"]),
             helper.make_node("Loop", ["M", "T", "x"], ["y"], name="loop", body=body)]
    inits = [numpy_helper.from_array(np.array(3, np.int64), "M"),
             numpy_helper.from_array(np.array(True), "T"),
             numpy_helper.from_array(np.array([-1, 8], np.int64), "minus1"),
             init("w", 8, 8)]
    by, _, _ = _read(tmp_path, _model(nodes, [x], [y], inits))
    step = by["loop/body/step"]                    # [2, 3, 8] x [8, 8], 3 iterations
    assert step.counted and step.output_shape == (2, 3, 8)
    assert step.macs == 3 * (2 * 3 * 8 * 8)
    assert "first iteration" in by["loop"].attrs["control_flow"]


def _matmul_with(tmp_path, weight, name="m.onnx", **save_args):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                              "g", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / name
    onnx.save(model, path, **save_args)
    return path


@pytest.mark.parametrize(("dims", "data"), [
    ([2**31 + 1], {"raw_data": b"\0" * 4}),         # 2^31+1 elements over 4 bytes
    ([4, 2**29 + 1], {"raw_data": b"\0" * 16}),     # no dimension past 32 bits, 8 GiB
    ([4, 3], {"float_data": [0.0] * 11}),           # typed values, one short
    ([4, 3], {}),                                    # no data at all
])
def test_a_stored_tensor_must_hold_what_its_dims_declare(tmp_path, dims, data):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims, **data)
    with pytest.raises(ModelFileError, match=r"tensor 'w' declares [\d,]+ float32 elements"):
        read_onnx(_matmul_with(tmp_path, w))


def test_external_data_is_checked_counted_and_an_input(tmp_path):
    """Weights in a side file: counted from it; the file is an input of the command (no
    output may be written onto it); a tensor declaring more than the file holds, or a
    'length' that is not its size, is refused before anything is read."""
    def set_external_data(t, location, length=None):
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        t.external_data.add(key="location", value=location)
        if length is not None:
            t.external_data.add(key="length", value=length)

    from edgekit.core.inputs import forget_inputs, input_named

    path = _matmul_with(tmp_path, numpy_helper.from_array(np.ones((4, 3), np.float32), "w"),
                        save_as_external_data=True, location="m.onnx.data",
                        size_threshold=0)
    forget_inputs()
    records, _, _ = read_onnx(path)
    assert records[-1].params == 12 and records[-1].macs == 12
    assert input_named(tmp_path / "m.onnx.data") is not None
    forget_inputs()
    (tmp_path / "big.data").write_bytes(b"\0" * 48)
    for length, match in ((None, "holds 48 bytes from offset 0"),
                          ("4", "its external data is 4 bytes long")):
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**31 + 1])
        set_external_data(w, "big.data", length=length)
        model = onnx.load(path, load_external_data=False)
        model.graph.initializer[0].CopyFrom(w)
        onnx.save(model, tmp_path / "lie.onnx")
        with pytest.raises(ModelFileError, match=match):
            read_onnx(tmp_path / "lie.onnx")
    set_external_data(w, "../outside.data")
    model.graph.initializer[0].CopyFrom(w)
    onnx.save(model, tmp_path / "out.onnx")
    with pytest.raises(ModelFileError, match="outside the model's folder"):
        read_onnx(tmp_path / "out.onnx")


def test_a_local_function_that_calls_itself_is_one_line(tmp_path, cli):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    local = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    f = helper.make_function("local", "F", ["a"], ["b"], [
        helper.make_node("G", ["a"], ["c"], domain="local"),
        helper.make_node("Relu", ["c"], ["b"])], local)
    g = helper.make_function("local", "G", ["a"], ["b"], [
        helper.make_node("F", ["a"], ["b"], domain="local")], local)
    graph = helper.make_graph([helper.make_node("F", ["x"], ["y"], domain="local")], "g",
                              [x], [y])
    path = tmp_path / "loop.onnx"
    onnx.save(helper.make_model(graph, opset_imports=local, functions=[f, g]), path)
    with pytest.raises(ModelFileError, match=r"call themselves \(local::F -> local::G -> "
                                             r"local::F\)"):
        read_onnx(path)
    run = cli("analyze", path)
    assert run.code == 1 and len(run.err_lines) == 1 and "Traceback" not in run.err


def test_learned_tokens_and_embeddings_are_params(tmp_path):
    """Learned tensors that enter through data movement (issue 30, item 5): a class token
    expanded to the batch (Expand) and concatenated, a distillation token and 4 register
    tokens stored int8 behind a DequantizeLinear, position embeddings sliced to the
    sequence (Slice), a word-embedding table (Gather). Each counts once; the int64 shapes,
    starts and ends that arrange them, and the quantization scale, do not."""
    d, vocab, seq = 8, 50, 6
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", seq])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    e = helper.make_tensor_value_info("e", TensorProto.FLOAT, None)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "wpe"], ["pe"], name="patch", kernel_shape=[4, 4], strides=[4, 4]),
        n("Reshape", ["pe", "flat"], ["pf"], name="flat_all"),          # [N, d, 4]
        n("Transpose", ["pf"], ["tok"], name="tokens", perm=[0, 2, 1]),  # [N, 4, d]
        n("Shape", ["x"], ["xs"], name="xshape"),
        n("Slice", ["xs", "s0", "s1"], ["nb"], name="batch"),
        n("Concat", ["nb", "one_d"], ["to"], name="to", axis=0),                 # [N, 1, d]
        n("Expand", ["cls", "to"], ["cls_b"], name="cls_expand"),
        n("DequantizeLinear", ["extra_q", "extra_scale"], ["extra"], name="dq"),
        n("Concat", ["nb", "five_d"], ["to5"], name="to5_shape", axis=0),
        n("Expand", ["extra", "to5"], ["extra_b"], name="extra_expand"),
        n("Concat", ["cls_b", "extra_b", "tok"], ["h"], name="cls_concat", axis=1),
        n("Shape", ["h"], ["hs"], name="hshape"),
        n("Slice", ["hs", "s1", "s2"], ["len"], name="length"),
        n("Slice", ["pos", "zero", "len", "s1"], ["pos_used"], name="pos_slice"),
        n("Add", ["h", "pos_used"], ["y"], name="pos_add"),
        n("Gather", ["table", "ids"], ["e"], name="embed"),
    ]
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    inits = [init("wpe", d, 3, 4, 4), init("cls", 1, 1, d), init("pos", 1, 20, d),
             init("table", vocab, d), init("extra_q", 1, 5, d, dtype=np.int8),
             numpy_helper.from_array(np.array(0.1, np.float32), "extra_scale"),
             i64("s0", [0]), i64("s1", [1]), i64("s2", [2]), i64("zero", [0]),
             i64("one_d", [1, d]), i64("five_d", [5, d]), i64("flat", [0, d, 4])]
    graph = helper.make_graph(nodes, "g", [x, ids], [y, e], inits)
    path = tmp_path / "tokens.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    records, outputs, _ = read_onnx(path)
    by = {r.name: r for r in records}
    assert by["cls_expand"].params == d and by["extra_expand"].params == 5 * d
    assert by["extra_expand"].weight_dtype == "int8"
    assert by["pos_slice"].params == 20 * d          # the stored table, as stored
    assert by["embed"].params == vocab * d
    assert by["cls_concat"].params == 0 and by["to"].params == 0
    assert by["pos_add"].output_shape == (1, 1 + 5 + 4, d)
    total = Report({"name": "m"}, records, outputs=outputs).totals()["params"]
    assert total == d * 3 * 16 + d + 5 * d + 20 * d + vocab * d


def test_a_class_token_concatenated_directly_counts_once(tmp_path):
    """ViT's usual export: Concat(class token, patches) with the token stored [1, 1, D],
    and the same token read again by a second Concat: D params, once."""
    d = 16
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, d])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Concat", ["cls", "x"], ["h"], name="cat1", axis=1),
             helper.make_node("Concat", ["cls", "h"], ["y"], name="cat2", axis=1)]
    path = save(tmp_path, nodes, [x], [y], [init("cls", 1, 1, d)])
    records, _, _ = read_onnx(path)
    assert [r.params for r in records[1:]] == [d, 0]


def test_external_weights_past_the_read_limit_stay_in_their_file(tmp_path, monkeypatch):
    """A tensor whose external data is larger than edgekit reads (here the limit is
    lowered to 1 KiB for a 16 KiB weight; in use 256 MiB) is counted from its dims and its
    file's size, never read: the graph is evaluated without a run of it."""
    import edgekit.readers.onnx_stored as stored

    monkeypatch.setattr(stored, "READ_LIMIT", 1024)
    path = _matmul_with(tmp_path, numpy_helper.from_array(np.ones((4, 1024), np.float32),
                                                          "w"),
                        save_as_external_data=True, location="m.onnx.data",
                        size_threshold=0)
    from edgekit.readers.onnx_file import load_onnx

    (w,) = load_onnx(path).graph.initializer
    assert w.data_location == TensorProto.EXTERNAL and not w.raw_data     # never read
    records, _, info = read_onnx(path)
    assert records[-1].params == 4 * 1024 and records[-1].macs == 4 * 1024
    assert records[-1].output_shape == (1, 1024) and "too large" in info["shapes_from"]
    (tmp_path / "m.onnx.data").write_bytes(b"\0" * 100)      # the file no longer holds it
    with pytest.raises(ModelFileError, match="holds 100 bytes from offset 0"):
        read_onnx(path)
