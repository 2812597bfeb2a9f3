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
