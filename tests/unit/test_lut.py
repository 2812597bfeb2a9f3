"""Latency tables (core/lut.py): kernel keys, look-up, prediction from the kernel type,
leaving models out, and the whole-vs-sum line; and layer names in TFLite tensor names."""

import pytest

from edgekit.core import lut as L
from edgekit.core.layermatch import layer_in_tensor_name
from edgekit.core.records import LayerRecord


def conv(hw: int, cin: int, cout: int, dtype="float32", k=1, name="c"):
    return LayerRecord(0, name, "CONV_2D", input_shapes=[(hw, hw, cin)],
                       output_shape=(hw, hw, cout), macs=hw * hw * cin * cout * k * k,
                       attrs={"kernel": [cout, k, k, cin], "strides": [1, 1],
                              "activation": "relu6"}, act_dtype=dtype, weight_dtype=dtype)


def table(kernels, models=()):
    return L.Table("t", {"format": L.FORMAT, "version": L.VERSION, "models": list(models),
                         "kernels": kernels, "threads": 1, "provider": "xnnpack"})


def test_keys_tell_kernels_apart_and_kinds_ignore_sizes():
    a, b = conv(8, 16, 32), conv(16, 16, 32)
    assert L.key_of(a) != L.key_of(b) and L.kind_of(a) == L.kind_of(b)
    assert L.kind_of(conv(8, 16, 32, dtype="int8")) != L.kind_of(a)
    assert L.kind_of(conv(8, 16, 32, k=3)) != L.kind_of(a)


def test_lookup_then_the_types_law_in_the_work():
    # three kernels of one type: too few for the full regression, a power law in the
    # MACs through them (here exactly ms = MACs / 32,768)
    t = table([L.entry(conv(8, 16, 32), 1.0, [0]), L.entry(conv(16, 16, 32), 4.0, [1]),
               L.entry(conv(64, 16, 32), 64.0, [2])])
    assert t.kernel_ms(conv(8, 16, 32)) == (1.0, "measured")
    ms, how = t.kernel_ms(conv(12, 16, 32))
    assert how == "power" and ms == pytest.approx(12 * 12 * 16 * 32 / 32768)
    # one kernel: a fixed time per MAC
    one = table([L.entry(conv(8, 16, 32), 1.0, [0])])
    assert one.kernel_ms(conv(16, 16, 32)) == (pytest.approx(4.0), "rate")
    # an int8 kernel borrows from the float32 MAC kernels (said in the prediction)
    assert t.kernel_ms(conv(8, 16, 32, dtype="int8"))[1] == "borrowed"
    assert table([]).kernel_ms(conv(8, 16, 32)) == (0.0, "missing")


def test_leaving_a_model_out_uses_only_the_others():
    t = table([L.entry(conv(8, 16, 32), 1.0, [0]), L.entry(conv(16, 16, 32), 4.0, [0, 1])])
    assert t.kernel_ms(conv(8, 16, 32), exclude={0}) == (pytest.approx(1.0), "rate")
    assert t.kernel_ms(conv(16, 16, 32), exclude={0}) == (4.0, "measured")  # 1 has it too
    assert t.kernel_ms(conv(16, 16, 32), exclude={0, 1}) == (0.0, "missing")


def test_whole_vs_sum_line_is_fitted_on_the_tables_models():
    # whole = 0.9 sum - 0.1 exactly, on four float models: the fit finds it
    models = [{"dtype": "float32", "sum_ms": s, "whole_ms": 0.9 * s - 0.1}
              for s in (1.0, 2.0, 4.0, 8.0)]
    t = table([L.entry(conv(8, 16, 32), 2.0, [0])], models)
    a, b = t.correction("float32")
    assert a == pytest.approx(0.9) and b == pytest.approx(-0.1)
    p = t.predict([conv(8, 16, 32)], "float32")
    assert p["ms"] == pytest.approx(0.9 * 2.0 - 0.1) and p["sum_ms"] == 2.0
    assert p["measured"] == 1 and p["ops"][0]["found"] == "measured"
    # fewer than three models: the median of their ratios, 0.8 and 0.85
    t = table([], models[:2])
    assert t.correction("float32") == (pytest.approx(0.825), 0.0)
    assert table([]).correction("float32") == (1.0, 0.0)


def test_load_refuses_other_files(tmp_path):
    bad = tmp_path / "x.lut.json"
    bad.write_text("{}")
    with pytest.raises(Exception, match="not an edgekit latency table"):
        L.Table.load(bad)
    bad.write_text("{")
    with pytest.raises(Exception, match="not JSON"):
        L.Table.load(bad)


def test_layer_names_in_tflite_tensor_names():
    name = ("mobilenet_1/conv_dw_1_relu_1/Relu6;mobilenet_1/conv_dw_1_bn_1/batchnorm/add_1;"
            "mobilenet_1/conv_dw_1_1/depthwise")
    assert layer_in_tensor_name(name) == "conv_dw_1"
    assert layer_in_tensor_name("model/conv_preds_1/convolution1") == "conv_preds"
    assert layer_in_tensor_name("model/dense/MatMul;model/dense_2/BiasAdd") == "dense"
    assert layer_in_tensor_name("StatefulPartitionedCall_1:0") is None
    assert layer_in_tensor_name("conv2d") is None
